"""Loudness normalisation for audio musiclab writes (rendered MIDI, stitched mixes). Qt-free.

:func:`normalize_loudness` brings a signal to a target integrated loudness (ITU-R BS.1770-4
via ``pyloudnorm``, default −14 LUFS, the level streaming services play at) with its true
peak at or below a ceiling (default −1 dBFS). The true peak is approximated, as BS.1770's
annex does, by the sample peak of the signal oversampled 4x
(:func:`scipy.signal.resample_poly`).

Rendered MIDI has a high crest factor (a piano at −14 LUFS can peak above 0 dBFS), so a
gain alone cannot meet both targets; the rare peaks above the ceiling are turned down by a
smooth look-ahead gain curve (a transparent peak limiter: a minimum filter of the gain each
sample needs, then a moving average of the same width, so the curve never exceeds what any
sample needs), and the loudness is measured again.

Arrays follow musiclab's convention: mono ``(n,)`` or ``(channels, n)`` float32.
"""

from __future__ import annotations

import math

import numpy as np

TARGET_LUFS = -14.0
CEILING_DBFS = -1.0


def _frames(y: np.ndarray) -> np.ndarray:
    """``(n,)`` or ``(channels, n)`` -> ``(n, channels)`` float64 for pyloudnorm."""
    a = np.asarray(y, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a.T


def integrated_lufs(y: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS; ``-inf`` for silence or audio shorter than one 400 ms block."""
    import pyloudnorm

    x = _frames(y)
    if x.shape[0] < int(0.4 * sr) + 1 or not np.any(x):
        return -math.inf
    return float(pyloudnorm.Meter(int(sr)).integrated_loudness(x))


def _sample_true_peaks(y: np.ndarray, threshold: float, factor: int = 4, block: int = 512,
                       ctx: int = 32) -> np.ndarray:
    """Per sample, the largest ``|value|`` over channels and the ``factor`` sub-samples
    around it (the signal oversampled with :func:`scipy.signal.resample_poly`).

    Only blocks whose sample peak reaches ``threshold`` are oversampled (all of them in one
    call, each with ``ctx`` samples of context); elsewhere the sample values stand in, as an
    inter-sample peak is never far above the samples around it in real audio."""
    from scipy.signal import resample_poly

    a = np.atleast_2d(np.asarray(y, dtype=np.float32))
    ch, n = a.shape
    nb = -(-n // block)
    base = np.zeros(nb * block, dtype=np.float32)
    base[:n] = np.abs(a).max(axis=0)
    base = base.reshape(nb, block)
    sel = np.nonzero(base.max(axis=1) >= threshold)[0]
    if sel.size:
        padded = np.zeros((ch, nb * block + 2 * ctx), dtype=np.float32)
        padded[:, ctx: ctx + n] = a
        idx = (sel * block)[:, None] + np.arange(block + 2 * ctx)[None, :]
        up = np.abs(resample_poly(padded[:, idx], factor, 1, axis=2))
        core = up[:, :, ctx * factor: (ctx + block) * factor].reshape(ch, sel.size, block, factor)
        base[sel] = np.maximum(base[sel], core.max(axis=(0, 3)))
    return base.ravel()[:n]


def true_peak_dbfs(y: np.ndarray, oversample: int = 4) -> float:
    """Approximate true peak in dBFS: the peak of the signal oversampled ``oversample``
    times (where its samples come within 6 dB of their own peak)."""
    a = np.asarray(y, dtype=np.float32)
    if a.size == 0:
        return -math.inf
    sample_peak = float(np.abs(a).max())
    if sample_peak <= 0:
        return -math.inf
    peak = float(_sample_true_peaks(a, sample_peak / 2, oversample).max())
    return 20 * math.log10(peak)


def _limit(y: np.ndarray, sr: int, ceiling: float, window_s: float = 0.02, hop: int = 32) -> np.ndarray:
    """``y`` times a smooth gain curve that keeps every (oversampled) peak at or below
    ``ceiling`` (linear).

    The gain each hop of ``hop`` samples needs goes through a minimum filter of
    ``2*(h+1)+1`` hops and a centred moving average of ``2*h+1`` hops (``h`` hops = half of
    ``window_s``): the average only mixes minima whose windows cover both the hop and its
    neighbour, so the curve, interpolated linearly between hops, never exceeds what any
    sample needs."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    a = np.atleast_2d(np.asarray(y, dtype=np.float32))
    n = a.shape[1]
    peaks = _sample_true_peaks(a, ceiling / 2)  # per sample, over channels and sub-samples
    if peaks.max() <= ceiling:
        return np.asarray(y, dtype=np.float32)
    nh = -(-n // hop)
    need = np.ones(nh * hop, dtype=np.float64)
    need[:n] = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    need = need.reshape(nh, hop).min(axis=1)
    h = max(1, int(window_s * sr / 2 / hop))
    gain = minimum_filter1d(need, size=2 * (h + 1) + 1, mode="nearest")
    gain = np.minimum(uniform_filter1d(gain, size=2 * h + 1, mode="nearest"), need)
    centres = np.arange(nh) * hop  # each hop's gain holds from its first sample to the next hop's
    curve = np.interp(np.arange(n), centres, gain).astype(np.float32)
    # the hop's own minimum bounds every sample of it; interpolation towards the next hop
    # stays under both hops' minima, so it holds for the samples in between too
    out = a * np.minimum(curve, np.repeat(need, hop)[:n].astype(np.float32))[None, :]
    return out[0] if np.asarray(y).ndim == 1 else out


def normalize_loudness(y: np.ndarray, sr: int, target_lufs: float = TARGET_LUFS,
                       ceiling_dbfs: float = CEILING_DBFS, rounds: int = 4) -> np.ndarray:
    """``y`` at ``target_lufs`` integrated loudness with its true peak <= ``ceiling_dbfs``.

    Silence and clips shorter than 0.4 s (which have no integrated loudness) are only kept
    under the ceiling. Returns float32 of the same shape."""
    a = np.asarray(y, dtype=np.float32)
    if a.size == 0:
        return a
    ceiling = 10 ** (ceiling_dbfs / 20)
    out = a
    limited = False
    for _ in range(max(1, rounds)):
        lufs = integrated_lufs(out, sr)
        if not math.isfinite(lufs):
            break
        gain_db = target_lufs - lufs
        if limited and abs(gain_db) < 0.1:
            break
        out = _limit(out * np.float32(10 ** (gain_db / 20)), sr, ceiling)
        limited = True
    # last guard: what the gain curve left (or a clip too short to measure) stays under the ceiling
    tp = true_peak_dbfs(out)
    if math.isfinite(tp) and tp > ceiling_dbfs:
        out = out * np.float32(10 ** ((ceiling_dbfs - tp - 0.01) / 20))
    return np.ascontiguousarray(out, dtype=np.float32)


def loudness_report(y: np.ndarray, sr: int) -> dict:
    """``{"lufs": integrated loudness, "true_peak_dbfs": ...}`` (for JSON output and tests)."""
    return {"lufs": integrated_lufs(y, sr), "true_peak_dbfs": true_peak_dbfs(y)}
