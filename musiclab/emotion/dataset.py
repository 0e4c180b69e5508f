"""Labelled emotion data: folders Q1..Q4 or a CSV, and a feature cache. No Qt.

Accepted layouts of a labelled data set:

* a folder with subfolders ``Q1`` .. ``Q4`` (any case) holding audio files; a
  ``metadata.csv`` beside them with ``Song`` (file stem) and ``Artist`` columns is used
  to group clips by artist for validation splits;
* a CSV file (or a folder holding exactly one CSV with such columns) with a file column
  (``file``, ``path``, ``filename``, ``song`` or ``clip``) and either a quadrant column
  (``quadrant``, ``label``, ``class``: values Q1..Q4 or 1..4) or numeric ``valence`` and
  ``arousal`` columns. Relative file names are resolved against the CSV's folder (also
  without extension, and inside subfolders). Numeric labels are turned into quadrants
  around the middle of their observed range; Spearman correlation is reported on them.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..audio.io import AUDIO_EXTENSIONS, load_audio
from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
FILE_COLS = ("file", "path", "filename", "file_name", "song", "clip", "audio")
QUAD_COLS = ("quadrant", "label", "class", "quad", "emotion")
GROUP_COLS = ("artist", "group", "performer")


class DataError(MusiclabError):
    """A labelled data set could not be read."""


@dataclass
class Item:
    path: Path
    label: Optional[int] = None  # 0..3 for Q1..Q4
    valence: Optional[float] = None
    arousal: Optional[float] = None
    group: str = ""


@dataclass
class LabelledSet:
    items: list[Item]
    skipped: list[str] = field(default_factory=list)  # human-readable reasons
    numeric: bool = False

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=np.int64)


def parse_quadrant(value) -> Optional[int]:
    s = str(value).strip().upper()
    if s in QUADRANTS:
        return QUADRANTS.index(s)
    if s in ("1", "2", "3", "4"):
        return int(s) - 1
    return None


def quadrant_from_va(v: float, a: float) -> int:
    if a >= 0:
        return 0 if v >= 0 else 1
    return 3 if v >= 0 else 2


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _read_groups(folder: Path) -> dict[str, str]:
    meta = folder / "metadata.csv"
    if not meta.is_file():
        return {}
    try:
        with open(meta, newline="", encoding="utf-8", errors="replace") as fh:
            rows = list(csv.DictReader(fh))
    except Exception:
        return {}
    out = {}
    for r in rows:
        low = {k.strip().lower(): v for k, v in r.items() if k}
        key = next((low[c] for c in ("song", "file", "filename") if c in low), None)
        grp = next((low[c] for c in GROUP_COLS if c in low), None)
        if key and grp:
            out[Path(key).stem] = grp.strip()
    return out


def load_labelled(source, should_stop: ShouldStop = None) -> LabelledSet:
    """Read a labelled folder or CSV (see the module docstring)."""
    src = Path(source)
    if not src.exists():
        raise DataError(f"'{src}': no such folder or file.")
    if src.is_file():
        if src.suffix.lower() != ".csv":
            raise DataError(f"'{src.name}' is neither a folder with Q1..Q4 subfolders nor a CSV file.")
        return _load_csv(src)
    subs = {p.name.upper(): p for p in src.iterdir() if p.is_dir()}
    if any(q in subs for q in QUADRANTS):
        groups = _read_groups(src)
        items, skipped = [], []
        for i, q in enumerate(QUADRANTS):
            if q not in subs:
                skipped.append(f"no folder {q} in '{src.name}'")
                continue
            for p in _audio_files(subs[q]):
                check_stop(should_stop)
                items.append(Item(p, i, group=groups.get(p.stem, p.stem)))
        others = [n for n in subs if n not in QUADRANTS]
        for n in others:
            skipped.append(f"folder '{n}' is not a quadrant (Q1..Q4): ignored")
        if not items:
            raise DataError(f"'{src.name}' has Q1..Q4 folders but no audio files in them.")
        return LabelledSet(items, skipped)
    csvs = [p for p in src.glob("*.csv")]
    for c in csvs:
        try:
            return _load_csv(c)
        except DataError:
            continue
    raise DataError(
        f"'{src.name}' has no subfolders Q1..Q4 and no CSV with a file column and a quadrant "
        "or valence/arousal columns."
    )


def _resolve(base: Path, name: str, index: dict) -> Optional[Path]:
    p = Path(name)
    if not p.is_absolute():
        p = base / name
    if p.is_file():
        return p
    return index.get(Path(name).name) or index.get(Path(name).stem)


def _load_csv(path: Path) -> LabelledSet:
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            rows = list(csv.DictReader(fh))
    except Exception as exc:
        raise DataError(f"'{path.name}' could not be read as CSV ({exc}).") from exc
    if not rows:
        raise DataError(f"'{path.name}' has no rows.")
    cols = {k.strip().lower(): k for k in rows[0].keys() if k}
    fcol = next((cols[c] for c in FILE_COLS if c in cols), None)
    qcol = next((cols[c] for c in QUAD_COLS if c in cols), None)
    vcol, acol = cols.get("valence"), cols.get("arousal")
    gcol = next((cols[c] for c in GROUP_COLS if c in cols), None)
    if fcol is None:
        raise DataError(f"'{path.name}' has no file column (one of {', '.join(FILE_COLS)}).")
    if qcol is None and (vcol is None or acol is None):
        raise DataError(f"'{path.name}' has neither a quadrant column nor valence and arousal columns.")
    base = path.parent
    index: dict[str, Path] = {}
    for p in _audio_files(base):
        index.setdefault(p.name, p)
        index.setdefault(p.stem, p)
    items, skipped = [], []
    numeric = qcol is None
    vals = []
    for n, r in enumerate(rows, start=2):
        name = (r.get(fcol) or "").strip()
        if not name:
            skipped.append(f"line {n}: empty file name")
            continue
        p = _resolve(base, name, index)
        if p is None:
            skipped.append(f"line {n}: '{name}' not found")
            continue
        grp = (r.get(gcol) or "").strip() if gcol else ""
        if not numeric:
            lab = parse_quadrant(r.get(qcol, ""))
            if lab is None:
                skipped.append(f"line {n}: unknown label {r.get(qcol)!r} for '{name}'")
                continue
            it = Item(p, lab, group=grp or p.stem)
            try:
                if vcol and acol:
                    it.valence, it.arousal = float(r[vcol]), float(r[acol])
            except (TypeError, ValueError):
                pass
            items.append(it)
        else:
            try:
                v, a = float(r[vcol]), float(r[acol])
                if not (np.isfinite(v) and np.isfinite(a)):
                    raise ValueError
            except (TypeError, ValueError):
                skipped.append(f"line {n}: missing or non-numeric valence/arousal for '{name}'")
                continue
            items.append(Item(p, None, v, a, grp or p.stem))
            vals.append((v, a))
    if numeric and vals:
        arr = np.array(vals)
        centre = (arr.min(axis=0) + arr.max(axis=0)) / 2
        for it in items:
            it.label = quadrant_from_va(it.valence - centre[0], it.arousal - centre[1])
    if not items:
        raise DataError(f"'{path.name}': no usable labelled files ({'; '.join(skipped[:3])}).")
    has_va = all(it.valence is not None for it in items)
    return LabelledSet(items, skipped, numeric=numeric or has_va)


# -- feature cache -------------------------------------------------------------------------

def _cache_key(path: Path) -> str:
    """By the file's content (:func:`musiclab.fingerprint.fingerprint`), not its path or
    time stamp: a moved or re-copied folder of clips is still a cache hit."""
    from ..fingerprint import fingerprint

    return hashlib.sha1(f"{fingerprint(path)}|v2".encode()).hexdigest()[:20]


def default_cache_dir() -> Path:
    from ..paths import user_cache_dir

    d = user_cache_dir() / "emotion-features"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _cached(path: Path, cache_dir: Optional[Path], suffix: str, compute, valid=lambda z: True) -> dict:
    """Arrays of ``compute()`` for a file, kept in ``cache_dir`` as ``<key><suffix>.npz``
    (written atomically; an unreadable or invalid cache file is recomputed)."""
    cf = Path(cache_dir) / f"{_cache_key(Path(path))}{suffix}.npz" if cache_dir is not None else None
    if cf is not None and cf.is_file():
        try:
            with np.load(cf) as z:
                arrays = {k: z[k] for k in z.files}
            if valid(arrays):
                return arrays
        except Exception:
            pass
    arrays = compute()
    if cf is not None:
        cf.parent.mkdir(parents=True, exist_ok=True)
        tmp = cf.with_name(cf.stem + f".{os.getpid()}.partial.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cf)
    return arrays


def clip_features(path: Path, cache_dir: Optional[Path] = None, max_seconds: float = 60.0):
    """``(logmel float16 (128,T), ff float32 (88,T))`` of the first ``max_seconds`` of a
    file, cached on disk (training clips are short; long files use predict's streaming)."""
    from .features import SR, frame_features

    def compute():
        y, _ = load_audio(path, sr=SR, mono=True, duration=max_seconds)
        logmel, ff = frame_features(y, SR)
        return {"logmel": logmel.astype(np.float16), "ff": ff}

    z = _cached(path, cache_dir, "", compute)
    return z["logmel"], z["ff"]


def clip_musicnn(path: Path, cache_dir: Optional[Path] = None, max_seconds: float = 60.0, backbone: str = "msd"):
    """musicnn patch start times and features (:func:`musiclab.emotion.musicnn.patch_features`)
    of the first ``max_seconds`` of a file with one ``backbone`` (``msd`` or ``mtt``), computed
    as prediction computes them (decoded at the analysis rate, resampled to 16 kHz) and
    cached on disk."""
    from . import musicnn
    from .features import SR
    from .model import musicnn_mel

    def compute():
        y, _ = load_audio(path, sr=SR, mono=True, duration=max_seconds)
        times, feats = musicnn.patch_features(musicnn.load_net(backbone=backbone), None, mel=musicnn_mel(y))
        return {"times": times, "feats": feats.astype(np.float16)}

    prefix = "" if backbone == "msd" else f"{backbone}-"  # the MSD cache files keep their first name
    z = _cached(path, cache_dir, f".{prefix}musicnn{musicnn.PATCH_HOP}", compute,
                valid=lambda a: a["feats"].shape[1:] == (musicnn.FEATURE_DIM,))
    return z["times"], z["feats"].astype(np.float32)


def _worker(args):
    path, cache_dir = args
    try:
        clip_features(path, cache_dir)
        return None
    except MusiclabError as exc:
        return str(exc)
    except Exception as exc:  # decoding libraries raise many types
        return f"'{Path(path).name}': {type(exc).__name__}: {exc}"


def extract_all(paths, cache_dir: Optional[Path] = None, workers: int = 1,
                should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """Fill the cache for every path; returns ``{path: error message}`` for failures."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    paths = [Path(p) for p in paths]
    errors: dict = {}
    total = len(paths)
    if workers > 1 and total > 4:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(_worker, (p, cache_dir)) for p in paths]
            for i, (p, fut) in enumerate(zip(paths, futs), start=1):
                while True:
                    try:
                        err = fut.result(timeout=0.2)
                        break
                    except TimeoutError:
                        if should_stop is not None and should_stop():
                            for f in futs:
                                f.cancel()
                            check_stop(should_stop)
                if err:
                    errors[p] = err
                report(on_progress, i, total, f"features {p.name}")
    else:
        for i, p in enumerate(paths, start=1):
            check_stop(should_stop)
            err = _worker((p, cache_dir))
            if err:
                errors[p] = err
            report(on_progress, i, total, f"features {p.name}")
    return errors
