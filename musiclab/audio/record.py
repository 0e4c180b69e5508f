"""Record a take from an input source (the microphone) into memory, and keep it as a WAV. No Qt.

A :class:`Take` drains an :class:`~musiclab.audio.sources.AudioSource` (a
:class:`~musiclab.audio.sources.SoundDeviceSource` for the microphone, a
:class:`~musiclab.audio.sources.FakeSource` in tests) into a growing list of blocks: the
caller (a GUI timer, :func:`record` in a job or the CLI) calls :meth:`Take.poll` often
enough that the source's ring buffer never overflows; each poll returns the newest peak
level for a meter. :meth:`Take.samples` is the mono take, at most ``seconds`` long.
:func:`save_take` writes it as a WAV in the user's cache folder, the file the Composer
transcribes and the user can export.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import MusiclabError, NoAudioDeviceError
from ..jobs import OnProgress, ShouldStop, check_stop, report

DEFAULT_SECONDS = 8.0
MAX_SECONDS = 60.0
#: a take whose peak stays below this is called silent (a muted or unplugged microphone)
SILENT_DBFS = -60.0


def open_microphone(device: Optional[int] = None, capacity_s: float = 10.0):
    """The default (or given) input device as a source; :class:`NoAudioDeviceError` with
    words for the user when there is none (no PortAudio, no input, a refused rate)."""
    from .sources import SoundDeviceSource

    return SoundDeviceSource(device=device, channels=1, capacity_s=capacity_s)


@dataclass
class Take:
    """What one recording collects from ``source``; at most ``seconds`` seconds."""

    source: object
    seconds: float = DEFAULT_SECONDS
    blocks: list = field(default_factory=list)
    frames: int = 0
    level_db: float = -np.inf  # the newest poll's peak
    peak_db: float = -np.inf  # the take's peak
    started: bool = False

    @property
    def sr(self) -> int:
        return int(self.source.sr)

    @property
    def recorded(self) -> float:
        """Seconds recorded so far."""
        return self.frames / self.sr if self.sr else 0.0

    @property
    def full(self) -> bool:
        return self.frames >= int(round(self.seconds * self.sr))

    def start(self) -> None:
        """Start the source (:class:`NoAudioDeviceError` when the device cannot be opened)."""
        if not self.started:
            if hasattr(self.source, "reset_position"):
                self.source.reset_position()  # nothing from before the take (a device resets itself too)
            self.source.start()
            self.started = True

    def poll(self) -> float:
        """Move what the source delivered into the take; returns the newest peak (dBFS).
        A device that failed raises :class:`NoAudioDeviceError`."""
        x = self.source.read()  # raises NoAudioDeviceError for a vanished device
        limit = int(round(self.seconds * self.sr))
        if x.size and self.frames < limit:
            x = x[: limit - self.frames]
            self.blocks.append(np.asarray(x, dtype=np.float32).copy())
            self.frames += len(x)
            peak = float(np.max(np.abs(x)))
            with np.errstate(divide="ignore"):
                self.level_db = float(20 * np.log10(max(peak, 1e-10)))
            self.peak_db = max(self.peak_db, self.level_db)
        return self.level_db

    def stop(self) -> None:
        try:
            self.source.stop()
        except Exception:  # a device that already went away
            pass

    def samples(self) -> np.ndarray:
        if not self.blocks:
            return np.zeros(0, np.float32)
        return np.concatenate(self.blocks).astype(np.float32, copy=False)

    def problem(self) -> str:
        """Why the take cannot be transcribed ("" when it can): nothing recorded, or silence."""
        if self.frames == 0:
            return "Nothing was recorded: the input delivered no audio."
        if self.peak_db < SILENT_DBFS:
            level = f"peak {self.peak_db:.0f} dBFS" if np.isfinite(self.peak_db) else "no signal at all"
            return (f"The take is silent ({level}): is the microphone muted, or the input level turned down?")
        return ""


def record(source, seconds: float = DEFAULT_SECONDS, poll_s: float = 0.05, should_stop: ShouldStop = None,
           on_progress: OnProgress = None, on_level: Optional[Callable[[float], None]] = None,
           timeout_s: Optional[float] = None) -> tuple[np.ndarray, int]:
    """Record ``seconds`` from ``source`` (blocking; for jobs and the CLI): ``(mono samples, sr)``.
    Stops early when ``should_stop()`` (what was recorded is kept) or the source ends."""
    take = Take(source, float(seconds))
    take.start()
    deadline = time.monotonic() + (timeout_s if timeout_s is not None else seconds * 2 + 5)
    try:
        while not take.full:
            if should_stop is not None and should_stop():
                break
            level = take.poll()
            if on_level is not None:
                on_level(level)
            report(on_progress, int(take.recorded * 10), int(seconds * 10), f"recording {take.recorded:.1f} s")
            if getattr(source, "finished", False) and source.available() == 0:
                break
            if time.monotonic() > deadline:
                raise NoAudioDeviceError(f"The input delivered only {take.recorded:.1f} s in "
                                         f"{seconds * 2 + 5:.0f} s (is the device working?).")
            time.sleep(poll_s)
        take.poll()
    finally:
        take.stop()
    return take.samples(), take.sr


def takes_dir() -> Path:
    from ..paths import user_cache_dir

    return user_cache_dir() / "recordings"


def save_take(y: np.ndarray, sr: int, path=None, should_stop: ShouldStop = None,
              on_progress: OnProgress = None) -> Path:
    """Write the take as a WAV (``path``, or a new file in :func:`takes_dir` named by the
    time of day); returns its path."""
    from .io import save_audio

    check_stop(should_stop)
    a = np.asarray(y, dtype=np.float32)
    if a.size == 0:
        raise MusiclabError("Nothing was recorded.")
    if path is None:
        d = takes_dir()
        d.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H-%M-%S")
        path = d / f"take {stamp}.wav"
        k = 2
        while Path(path).exists():
            path = d / f"take {stamp} ({k}).wav"
            k += 1
    return save_audio(Path(path), a, int(sr))


def export_take(src, dst, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Path:
    """Copy the take ``src`` to ``dst`` (the user's name); another extension (.flac, .mp3,
    .ogg) converts it. Returns ``dst``."""
    import os
    import shutil

    from .io import load_audio, save_audio

    s, d = Path(src), Path(dst)
    if not s.is_file():
        raise MusiclabError(f"The take '{s.name}' is gone (was the cache folder cleared?).")
    check_stop(should_stop)
    if d.suffix.lower() == s.suffix.lower():
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.with_name(f".{d.stem}.partial{d.suffix}")
        try:
            shutil.copyfile(s, tmp)
            os.replace(tmp, d)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MusiclabError(f"Could not write '{d.name}' ({exc.strerror or exc}).") from exc
        return d
    y, sr = load_audio(s, sr=None, mono=False)
    return save_audio(d, y, sr)
