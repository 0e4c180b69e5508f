"""Content fingerprints of files: cache keys that survive a move or a copy, and the way an
``eval`` recognises material a model trained on. No Qt.

A fingerprint is the file's size plus a SHA-1 of three 64 KiB samples (start, middle, end),
so a 5 MB song costs three small reads, and a moved, renamed or re-copied file keeps its
fingerprint while any edit of its audio changes it (except, rarely, one that keeps the
size and leaves the three sampled blocks alone).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable, Optional, Union

PathLike = Union[str, os.PathLike]
BLOCK = 65536
VERSION = "fp1"


def fingerprint(path: PathLike) -> str:
    """``"fp1-<size>-<sha1 of start|middle|end samples>"`` of a file (raises OSError if unreadable)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha1()
    with open(p, "rb") as f:
        for off in sorted({0, max(0, size // 2 - BLOCK // 2), max(0, size - BLOCK)}):
            f.seek(off)
            h.update(f.read(BLOCK))
    return f"{VERSION}-{size}-{h.hexdigest()[:24]}"


def fingerprints(paths: Iterable[PathLike]) -> dict[str, str]:
    """``{fingerprint: path}`` of the readable files among ``paths``."""
    out: dict[str, str] = {}
    for p in paths:
        try:
            out[fingerprint(p)] = str(p)
        except OSError:
            continue
    return out


def resolve_trained_on(entries: Iterable[str], base: Optional[Path] = None) -> list[Path]:
    """Folders/files a model's ``trained_on`` metadata names, resolved against the repository
    root (where relative paths like ``../shared/data/...`` were written) and the working folder;
    only those that exist."""
    from .composer.events import M21_PREFIX, corpus_path
    from .paths import resources_dir, shared_data_dir

    roots = [base] if base is not None else []
    roots += [resources_dir().parent, Path.cwd()]  # the repository root, then the working folder
    found: list[Path] = []
    for e in entries:
        p = Path(e)
        cands = [p] if p.is_absolute() else [(r / p) for r in roots]
        if str(e).startswith(M21_PREFIX):  # music21's own corpus, wherever it is installed
            cands = [corpus_path(e)]
        parts = p.parts
        if len(parts) > 3 and parts[:3] == ("..", "shared", "data"):  # MUSICLAB_DATA may move it
            cands.append(shared_data_dir().joinpath(*parts[3:]))
        for c in cands:
            if c.exists():
                found.append(c.resolve())
                break
    return found


def known_fingerprints(trained: Iterable[str] = (), trained_on: Iterable[str] = (),
                       extensions: Optional[set] = None) -> tuple[set, bool]:
    """The fingerprints of a model's training material: those stored in its metadata
    (``trained``) plus those of the folders/files its ``trained_on`` names (fingerprinted now,
    for models saved before fingerprints were stored). Also whether anything could be checked."""
    from .audio.io import expand_paths

    known = set(trained)
    checked = bool(known)
    if trained_on:
        roots = resolve_trained_on(trained_on)
        if roots:
            checked = True
            known |= set(fingerprints(expand_paths(roots, extensions)))
    return known, checked


def in_sample(eval_paths: Iterable[PathLike], trained: Iterable[str] = (), trained_on: Iterable[str] = (),
              extensions: Optional[set] = None) -> dict:
    """Which of ``eval_paths`` a model trained on (see :func:`known_fingerprints`).

    Returns ``{"in_sample": n, "files": [paths], "known": bool}``; ``known`` is False when the
    model's metadata names nothing that can be checked (then ``in_sample`` is 0 but unknown).
    """
    known, checked = known_fingerprints(trained, trained_on, extensions)
    hits = [str(p) for p in eval_paths if checked and fp_or_none(p) in known]
    return {"in_sample": len(hits), "files": hits, "known": checked}


def fp_or_none(p: PathLike) -> Optional[str]:
    try:
        return fingerprint(p)
    except OSError:
        return None
