"""Key finding by the Krumhansl-Schmuckler method, in one place for every workbench.

The Krumhansl & Kessler (1982) probe-tone profiles of C major and C minor, rotated to each
tonic, are correlated with a 12-bin pitch-class weight (note durations of a tune, or the mean
chroma of audio); the best-correlated key wins. Used by the composer's judge and MIDI writer
(:mod:`musiclab.composer.judge`, :mod:`musiclab.composer.midifile`) and by the stitcher's key
of a chunk (:mod:`musiclab.stitcher.pool`).
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PROFILES = {"major": KK_MAJOR, "minor": KK_MINOR}
#: every key, major tonics C..B then minor ones (the order ties are broken in)
ALL_KEYS = tuple((t, m) for m in ("major", "minor") for t in range(12))


def best_key(hist, candidates: Optional[Iterable[tuple[int, str]]] = None) -> tuple[int, str, float]:
    """(tonic pitch class, "major"/"minor", correlation) of the 12-bin weight ``hist``;
    ``candidates``: only these (tonic, mode) pairs, in the order ties go to (default
    :data:`ALL_KEYS`). A flat or empty ``hist`` gives the first candidate with correlation 0."""
    h = np.asarray(hist, dtype=np.float64).reshape(12)
    cands = list(candidates) if candidates is not None else list(ALL_KEYS)
    if not cands:
        return 0, "major", 0.0
    if h.sum() <= 0 or np.allclose(h, h[0]):
        return cands[0][0], cands[0][1], 0.0
    best = (-2.0, cands[0][0], cands[0][1])
    for tonic, mode in cands:
        r = float(np.corrcoef(h, np.roll(PROFILES[mode], tonic))[0, 1])
        if r > best[0]:
            best = (r, tonic, mode)
    return best[1], best[2], best[0]
