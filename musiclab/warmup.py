"""Compile librosa's numba kernels ahead of time, in a separate low-priority process.

librosa compiles its numba kernels (beat tracking, peak picking, ...) on first use and
caches them on disk (``cache=True``). That first compile takes ~10 s on a slow CPU, and
once, in a fresh environment, a first compile inside a service thread hung (both threads
waiting for the GIL). So on the first start of a new installation the app launches
``python -m musiclab.warmup`` in the background: it fills numba's disk cache, and the
app's own calls later load the compiled kernels instead of compiling them in a thread.

The cache goes to ``NUMBA_CACHE_DIR`` (the app points it at the user cache folder when
the library folder is not writable, e.g. in a frozen build). A marker file per
librosa/numba/Python version says the work is done.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"py{sys.version_info[0]}{sys.version_info[1]}"]
    for pkg in ("librosa", "numba"):
        try:
            parts.append(f"{pkg}{version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg}-none")
    return "-".join(parts)


def marker_path() -> Path:
    from .paths import user_cache_dir

    return user_cache_dir() / f"numba-warm-{_versions()}.done"


def configure_cache_dir() -> None:
    """Point numba's disk cache at the user cache folder when librosa's own folder is
    not writable (numba reads ``NUMBA_CACHE_DIR`` when it is first imported)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    try:
        import importlib.util

        spec = importlib.util.find_spec("librosa")
        lib_dir = Path(spec.origin).parent if spec and spec.origin else None
    except (ImportError, ValueError):
        lib_dir = None
    if lib_dir is not None and os.access(lib_dir, os.W_OK):
        return
    from .paths import user_cache_dir

    d = user_cache_dir() / "numba"
    d.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(d)


def warm() -> None:
    """Run the librosa functions the app uses once (compiles and caches their kernels)."""
    import numpy as np

    import librosa

    sr = 22050
    y = np.zeros(sr * 4, dtype=np.float32)
    y[:: sr // 2] = 1.0
    librosa.beat.beat_track(y=y, sr=sr)
    librosa.onset.onset_detect(y=y, sr=sr)
    librosa.feature.chroma_stft(y=y, sr=sr)
    librosa.feature.zero_crossing_rate(y)
    librosa.util.peak_pick(np.abs(y[:2048]), pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.1, wait=10)


def start_in_background() -> Optional[subprocess.Popen]:
    """Launch the warm-up process unless this installation is already warm (or the user
    switched it off with ``MUSICLAB_NO_WARMUP=1``). Returns the process, or None."""
    if os.environ.get("MUSICLAB_NO_WARMUP") or getattr(sys, "frozen", False):
        return None
    configure_cache_dir()
    try:
        if marker_path().exists():
            return None
        kw = {}
        if sys.platform.startswith("win"):
            kw["creationflags"] = getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0)
        return subprocess.Popen([sys.executable, "-m", "musiclab.warmup"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ), **kw)
    except OSError:
        return None


def main() -> int:
    try:
        os.nice(10)  # never compete with the app's own work
    except (AttributeError, OSError):
        pass
    configure_cache_dir()
    warm()
    marker_path().write_text("librosa kernels compiled and cached\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
