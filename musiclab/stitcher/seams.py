"""Seam audit: would a listener notice the joins of a stitched song? No Qt.

At every join of a stitched song, seven statistics compare the audio just before the
join with the audio just after it:

==============  ==============================================================  =========
statistic       what                                                            window
==============  ==============================================================  =========
``tempo``       local tempo after / before (librosa beat tracking on each side;  4 s
                half/double time folded), as ``|log2 ratio|`` times the
                smaller pulse clarity of the two sides (each on its own beats)
``beat``        where the onsets of the 2 s after the join sit on the beat grid  4 s / 2 s
                continued from the beats tracked before it, relative to where
                the onsets before the join sit on it, as a fraction of a beat
                (0 = on the beat, 0.5 = exactly between two beats), times the
                pulse clarity (0..1: how strongly the onsets gather on the grid)
``key``         estimated key (Krumhansl-Schmuckler on chroma) before vs after,  4 s
                as steps on the circle of fifths (relative major/minor = 0)
``chroma``      1 - correlation of the mean chroma before and after              4 s
``loudness``    BS.1770 short-term loudness (K-weighted, ``pyloudnorm``'s        3 s
                filters) after minus before, in dB (LU)
``timbre``      distance of the mean MFCC (1..19) before and after               2 s
``flux``        spectral-flux spike: the largest onset strength within 46 ms of  ±3 s
                the join over the 90th percentile of the onset strength around
==============  ==============================================================  =========

Each statistic is turned into a percentile of the same statistic, with the same
windows, at *natural moments* inside the source songs (random beat positions: the
stitcher joins on beats). A join is **audible** when its highest percentile is beyond
the threshold ``q``; ``q`` is calibrated so that natural moments are audible 5 % of the
time *overall* (the union over statistics, not each statistic alone): the reference
moments are split in two, the percentiles are taken from one half (``fit``) and ``q``
is the 95th percentile of the highest percentile of each moment of the other half
(``held-out``). So natural music scores ~5 % audible by construction, and a song's own
continuous audio cut at other random moments (``audit_natural``) checks it.

Join times come from the CSV that ``musiclab-cli stitcher stitch`` writes beside the
audio (:func:`read_chunks_csv`) or, without one, from a novelty-based guess
(:func:`guess_joins`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report

HOP = 512
N_FFT = 2048
STATS = ("tempo", "beat", "key", "chroma", "loudness", "timbre", "flux")
TEMPO_W = 4.0  # s each side, beat tracking
KEY_W = 4.0  # s each side, chroma / key
LOUD_W = 3.0  # s each side: BS.1770 short-term loudness
TIMBRE_W = 2.0  # s each side, MFCC
FLUX_NEAR = 2  # frames each side of the join (2 * 23 ms)
FLUX_CTX = 3.0  # s each side: the onset strength the spike is compared with
MARGIN = max(TEMPO_W, KEY_W, LOUD_W, TIMBRE_W, FLUX_CTX)  # natural moments stay this far from the ends
NATURAL_SHARE = 0.05  # the share of natural moments that is "audible" by construction
_LONG_KEYS = [n + m for m in (" major", " minor") for n in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A",
                                                                "Bb", "B")]


class SeamAuditError(Exception):
    pass


def _err(msg: str) -> Exception:
    try:
        from .pool import StitcherError

        return StitcherError(msg)
    except Exception:  # pragma: no cover - pool moved
        return SeamAuditError(msg)


# -- analysis of one signal ------------------------------------------------------------------

@dataclass
class Analysis:
    """Frame-level features of one mono signal (frame ``f`` is centred at ``f * HOP``)."""

    y: np.ndarray
    sr: int
    onset: np.ndarray  # (T,) onset strength (log-mel spectral flux)
    chroma: np.ndarray  # (12, T)
    mfcc: np.ndarray  # (19, T) coefficients 1..19
    kw_cumsq: np.ndarray  # (n+1,) cumulative sum of the squared K-weighted signal
    beats: Optional[np.ndarray] = None  # beat frames of the whole signal (natural moments)

    @property
    def n_frames(self) -> int:
        return len(self.onset)

    @property
    def duration(self) -> float:
        return len(self.y) / self.sr


def _k_weighted(y: np.ndarray, sr: int) -> np.ndarray:
    """The BS.1770 K-weighting (pyloudnorm's two filter stages)."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)
    z = np.asarray(y, dtype=np.float64).copy()
    for stage in meter._filters.values():
        z = stage.apply_filter(z)
    return z


def analyse(y: np.ndarray, sr: int, beats: bool = False) -> Analysis:
    import librosa

    y = np.ascontiguousarray(np.nan_to_num(np.asarray(y, dtype=np.float32)))
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=sr, n_mels=64)
    logmel = librosa.power_to_db(mel, ref=1.0, top_db=None, amin=1e-10)
    onset = librosa.onset.onset_strength(S=logmel, sr=sr, hop_length=HOP)
    chroma = librosa.feature.chroma_stft(S=S, sr=sr, hop_length=HOP)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=20)[1:]
    try:
        z = _k_weighted(y, sr)
    except Exception:  # pyloudnorm missing or changed: unweighted mean square (still in dB)
        z = y.astype(np.float64)
    cs = np.concatenate([[0.0], np.cumsum(z * z)])
    a = Analysis(y, sr, onset.astype(np.float64), chroma.astype(np.float64), mfcc.astype(np.float64), cs)
    if beats:
        try:
            _, bf = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=HOP)
            a.beats = np.asarray(bf, dtype=np.int64)
        except Exception:
            a.beats = np.zeros(0, np.int64)
    return a


def _frame(t: float, sr: int) -> int:
    return int(round(t * sr / HOP))


def short_term_lufs(a: Analysis, t0: float, t1: float) -> float:
    """BS.1770 loudness (LUFS, ungated: one short-term block) of ``[t0, t1)``; -70 for silence."""
    i0, i1 = max(0, int(t0 * a.sr)), min(len(a.y), int(t1 * a.sr))
    if i1 - i0 < a.sr * 0.4:
        return float("nan")
    ms = (a.kw_cumsq[i1] - a.kw_cumsq[i0]) / (i1 - i0)
    return float(max(-70.0, -0.691 + 10 * np.log10(ms + 1e-20)))


def _local_beats(a: Analysis, f0: int, f1: int) -> tuple[float, np.ndarray]:
    """Beat tracking on frames ``[f0, f1)``: (tempo bpm or nan, beat frames, absolute)."""
    import librosa

    f0, f1 = max(0, f0), min(a.n_frames, f1)
    env = a.onset[f0:f1]
    if f1 - f0 < 32 or float(env.max(initial=0.0)) <= 1e-6:
        return float("nan"), np.zeros(0, np.int64)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tempo, bf = librosa.beat.beat_track(onset_envelope=env, sr=a.sr, hop_length=HOP, trim=False)
    except Exception:
        return float("nan"), np.zeros(0, np.int64)
    bf = np.asarray(bf, dtype=np.int64) + f0
    if len(bf) >= 3:
        period = float(np.polyfit(np.arange(len(bf)), bf.astype(np.float64), 1)[0])  # fractional frames
        bpm = 60.0 * a.sr / (HOP * period) if period > 0 else float("nan")
    else:
        t = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
        bpm = t if t > 0 else float("nan")
    return bpm, bf


PHASE_AFTER = 2.0  # s after the join whose onsets are placed on the continued beat grid


def _onset_phase(a: Analysis, f0: int, f1: int, anchor: float, period: float) -> Optional[complex]:
    """Onset-strength-weighted mean of ``exp(2 pi i phase)`` over frames ``[f0, f1)``,
    where ``phase`` is the position on the beat grid ``anchor + k * period``."""
    f0, f1 = max(0, f0), min(a.n_frames, f1)
    if f1 - f0 < 4:
        return None
    env = a.onset[f0:f1]
    w = np.maximum(env - np.median(env), 0.0)
    if w.sum() <= 1e-9:
        return None
    ph = (np.arange(f0, f1) - anchor) / period
    return complex(np.sum(w * np.exp(2j * np.pi * ph)) / w.sum())


def _grid(beats: np.ndarray) -> tuple[float, float]:
    """(period, position of the last beat) in frames of a least-squares line through the
    last 8 beats: a fractional period, where the median of frame differences is whole frames."""
    b = np.asarray(beats[-8:], dtype=np.float64)
    if len(b) < 3:
        return float("nan"), float("nan")
    k = np.arange(len(b))
    slope, icept = np.polyfit(k, b, 1)
    return float(slope), float(icept + slope * k[-1])


def _own_clarity(a: Analysis, beats: np.ndarray, f0: int, f1: int) -> float:
    """How strongly the onsets of frames ``[f0, f1)`` gather on the grid of their own beats (0..1)."""
    period, anchor = _grid(beats)
    if not period > 0:
        return 0.0
    p = _onset_phase(a, f0, f1, anchor, period)
    return 0.0 if p is None else float(abs(p))


def _beat_phase(a: Analysis, f: int, before: np.ndarray, wb: int) -> tuple[float, float]:
    """How far the music after the join sits from the beat grid continued from before it,
    in beats (-0.5..0.5; + = late), and the pulse clarity (the smaller of the two onset-phase
    concentrations, 0..1): the onsets after the join (PHASE_AFTER s) are placed
    on the grid of the beats tracked before it, and their mean phase is compared with the
    mean phase of the onsets before the join on the same grid (so a tracker that puts its
    beats a little before or after the onsets does not count)."""
    if len(before) < 3:
        return float("nan"), 0.0
    period, anchor = _grid(before)
    if not period > 0:
        return float("nan"), 0.0
    pb = _onset_phase(a, f - wb, f, anchor, period)
    pa = _onset_phase(a, f, f + int(round(PHASE_AFTER * a.sr / HOP)), anchor, period)
    if pb is None or pa is None or abs(pb) < 1e-6 or abs(pa) < 1e-6:
        return float("nan"), 0.0
    d = np.angle(pa / pb) / (2 * np.pi)
    return float(d), float(min(abs(pb), abs(pa)))


def _fold_ratio(r: float) -> float:
    """A tempo ratio with half/double time folded into [1/sqrt 2, sqrt 2)."""
    if not np.isfinite(r) or r <= 0:
        return float("nan")
    return float(r * 2.0 ** (-np.round(np.log2(r))))


def _estimate_key(chroma_mean: np.ndarray) -> Optional[int]:
    c = np.asarray(chroma_mean, dtype=np.float64)
    if not np.all(np.isfinite(c)) or c.std() <= 1e-9:
        return None
    from .pool import estimate_key

    return int(estimate_key(c))


def _fifths_position(k: int) -> int:
    """Position on the circle of fifths of a key's signature (a minor key = its relative major)."""
    tonic = k % 12 if k < 12 else (k - 12 + 3) % 12
    return (tonic * 7) % 12


def key_distance(a: Optional[int], b: Optional[int]) -> float:
    if a is None or b is None:
        return float("nan")
    d = abs(_fifths_position(a) - _fifths_position(b)) % 12
    return float(min(d, 12 - d))


def key_relation(a: Optional[int], b: Optional[int]) -> str:
    """In words: same key, relative major/minor, a fifth apart, parallel major/minor, other."""
    if a is None or b is None:
        return "unknown"
    if a == b:
        return "same key"
    if _fifths_position(a) == _fifths_position(b):
        return "relative major/minor"
    if (a < 12) == (b < 12) and (a - b) % 12 in (5, 7):
        return "a fifth apart"
    if a % 12 == b % 12:
        return "parallel major/minor"
    d = int(key_distance(a, b))
    if d == 1:
        return "neighbouring key (one step on the circle of fifths)"
    return f"other ({d} step{'s' if d != 1 else ''} on the circle of fifths)"


def _side_mean(x: np.ndarray, f0: int, f1: int) -> Optional[np.ndarray]:
    f0, f1 = max(0, f0), min(x.shape[1], f1)
    if f1 - f0 < 4:
        return None
    return x[:, f0:f1].mean(axis=1)


def moment_stats(a: Analysis, t: float) -> dict:
    """All statistics for a cut at ``t`` seconds of ``a`` (before = ``[t-W, t)``, after = ``[t, t+W)``)."""
    sr = a.sr
    f = _frame(t, sr)
    out: dict = {}
    # tempo and beat phase
    wb = int(round(TEMPO_W * sr / HOP))
    bpm0, b0 = _local_beats(a, f - wb, f)
    bpm1, b1 = _local_beats(a, f, f + wb)
    r = _fold_ratio(bpm1 / bpm0) if np.isfinite(bpm0) and np.isfinite(bpm1) else float("nan")
    out["tempo_before"], out["tempo_after"] = bpm0, bpm1
    out["tempo_ratio"] = r
    # weighted by how clearly each side keeps its own beat (0..1): local tempo estimates of
    # music without a clear pulse wander, a tempo change under a clear pulse is heard
    tc = min(_own_clarity(a, b0, f - wb, f), _own_clarity(a, b1, f, f + wb))
    out["tempo_clarity"] = tc
    out["tempo"] = abs(float(np.log2(r))) * tc if np.isfinite(r) else float("nan")
    phase, clarity = _beat_phase(a, f, b0[b0 < f], wb)
    out["beat_phase"], out["pulse_clarity"] = phase, clarity
    # weighted by how clear the pulse is on both sides (0..1): half a beat off in music
    # with a sharp beat is heard, in ambient music without one it is not
    out["beat"] = abs(phase) * clarity if np.isfinite(phase) else float("nan")
    # key / chroma
    wk = int(round(KEY_W * sr / HOP))
    c0, c1 = _side_mean(a.chroma, f - wk, f), _side_mean(a.chroma, f, f + wk)
    k0 = _estimate_key(c0) if c0 is not None else None
    k1 = _estimate_key(c1) if c1 is not None else None
    out["key_before"], out["key_after"] = k0, k1
    out["key"] = key_distance(k0, k1)
    if c0 is not None and c1 is not None and c0.std() > 1e-9 and c1.std() > 1e-9:
        out["chroma"] = float(1.0 - np.corrcoef(c0, c1)[0, 1])
    else:
        out["chroma"] = float("nan")
    # loudness (signed jump kept for the words)
    l0, l1 = short_term_lufs(a, t - LOUD_W, t), short_term_lufs(a, t, t + LOUD_W)
    out["lufs_before"], out["lufs_after"] = l0, l1
    out["loudness_jump"] = l1 - l0 if np.isfinite(l0) and np.isfinite(l1) else float("nan")
    out["loudness"] = abs(out["loudness_jump"]) if np.isfinite(out["loudness_jump"]) else float("nan")
    # timbre
    wt = int(round(TIMBRE_W * sr / HOP))
    m0, m1 = _side_mean(a.mfcc, f - wt, f), _side_mean(a.mfcc, f, f + wt)
    out["timbre"] = (float(np.linalg.norm(m1 - m0) / np.sqrt(len(m0)))
                     if m0 is not None and m1 is not None else float("nan"))
    # flux spike
    wc = int(round(FLUX_CTX * sr / HOP))
    lo, hi = max(0, f - FLUX_NEAR), min(a.n_frames, f + FLUX_NEAR + 1)
    ctx = np.r_[a.onset[max(0, f - wc): max(0, f - FLUX_NEAR - 1)], a.onset[min(a.n_frames, f + FLUX_NEAR + 2):
                                                                             min(a.n_frames, f + wc)]]
    if hi > lo and len(ctx) >= 8:
        out["flux"] = float(a.onset[lo:hi].max() / (np.percentile(ctx, 90) + 1e-3))
    else:
        out["flux"] = float("nan")
    return out


# -- the natural reference -----------------------------------------------------------------

def natural_positions(a: Analysis, n: int, rng: np.random.Generator, margin: float = MARGIN) -> np.ndarray:
    """Up to ``n`` random moments (s) inside a song, on its beats where it has any, at
    least ``margin`` seconds from either end."""
    dur = a.duration
    if dur < 2 * margin + 0.5:
        return np.zeros(0)
    beats_t = (a.beats * HOP / a.sr) if a.beats is not None and len(a.beats) else np.zeros(0)
    beats_t = beats_t[(beats_t >= margin) & (beats_t <= dur - margin)]
    if len(beats_t) >= max(8, n // 4):
        return np.sort(rng.choice(beats_t, size=min(n, len(beats_t)), replace=False))
    return np.sort(rng.uniform(margin, dur - margin, size=n))


@dataclass
class Reference:
    """Natural-moment statistics of the source songs and the calibrated threshold."""

    fit: dict  # stat -> sorted values (the half the percentiles come from)
    threshold: float  # a join is audible when its highest percentile is > threshold
    moments: int
    songs: list[str]
    holdout_share: float  # share of held-out natural moments over the threshold (~5 %)
    per_stat_share: dict = field(default_factory=dict)  # held-out share over the threshold, per stat
    medians: dict = field(default_factory=dict)

    def percentile(self, stat: str, v: float) -> float:
        """The share of natural moments below ``v`` (mid-rank for ties); above the
        reference's 90th percentile, an exponential tail fitted to its top 10 % (peaks
        over threshold), so that values beyond every natural moment still rank."""
        ref = self.fit.get(stat)
        if ref is None or len(ref) == 0 or not np.isfinite(v):
            return 0.0
        u, excess = _tail(ref)
        if excess > 0 and v > u:
            return float(1.0 - TAIL * np.exp(-(v - u) / excess))
        if v > ref[-1] + 1e-9 * (1.0 + abs(ref[-1])):
            return 1.0  # a statistic that barely varies in natural music: beyond it is beyond all
        lo = np.searchsorted(ref, v, side="left")
        hi = np.searchsorted(ref, v, side="right")
        return float(min(1.0 - TAIL, (lo + 0.5 * (hi - lo)) / len(ref)))

    def percentiles(self, stats: dict) -> dict:
        return {s: self.percentile(s, stats.get(s, float("nan"))) for s in STATS}


TAIL = 0.10  # the top share of the reference that is modelled by an exponential tail


def _tail(ref: np.ndarray) -> tuple[float, float]:
    """(the 90th percentile, the mean excess over it) of sorted reference values."""
    u = float(np.quantile(ref, 1.0 - TAIL))
    top = ref[ref > u]
    return u, (float(np.mean(top - u)) if len(top) >= 3 else 0.0)


def _max_pct(fit: dict, rows: list[dict]) -> np.ndarray:
    ref = Reference(fit, 1.0, 0, [], 0.0)
    return np.array([max(ref.percentiles(r).values()) for r in rows]) if rows else np.zeros(0)


def calibrate(rows: list[dict], songs: Sequence[str], share: float = NATURAL_SHARE, seed: int = 0) -> Reference:
    """Percentiles from one half of the natural moments, the threshold from the other."""
    if len(rows) < 20:
        raise _err(f"Too little source audio for a natural reference ({len(rows)} moments; songs must be "
                   f"longer than {2 * MARGIN:.0f} s).")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(rows))
    fit_rows = [rows[i] for i in idx[: len(rows) // 2]]
    held = [rows[i] for i in idx[len(rows) // 2:]]
    fit = {s: np.sort(np.array([r[s] for r in fit_rows if np.isfinite(r.get(s, np.nan))], dtype=np.float64))
           for s in STATS}
    mp = _max_pct(fit, held)
    thr = min(float(np.quantile(mp, 1.0 - share, method="higher")), 1.0 - 1e-9)
    ref = Reference(fit, thr, len(rows), list(songs), float(np.mean(mp > thr)))
    ref.per_stat_share = {s: round(float(np.mean([ref.percentile(s, r[s]) > thr for r in held])), 4) for s in STATS}
    ref.medians = {s: (float(np.median(v)) if len(v) else None) for s, v in fit.items()}
    return ref


def build_reference(analyses: Sequence[tuple[str, Analysis]], moments: int = 1600, seed: int = 0,
                    should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Reference:
    """Natural moments of the songs (their number split evenly over the songs, at least 40 each)."""
    rng = np.random.default_rng(seed)
    usable = [(n, a) for n, a in analyses if a.duration >= 2 * MARGIN + 0.5]
    if not usable:
        raise _err(f"No source song is long enough for a natural reference (at least {2 * MARGIN + 0.5:.1f} s).")
    per = max(40, moments // len(usable))
    rows = []
    for k, (name, a) in enumerate(usable):
        check_stop(should_stop)
        report(on_progress, k, len(usable), f"natural moments: {name}")
        for t in natural_positions(a, per, rng):
            rows.append(moment_stats(a, float(t)))
    report(on_progress, len(usable), len(usable), "natural reference")
    return calibrate(rows, [n for n, _ in usable], seed=seed)


# -- joins ---------------------------------------------------------------------------------

@dataclass
class JoinInfo:
    time: float
    src_from: str = ""
    src_to: str = ""
    from_end_s: Optional[float] = None
    to_start_s: Optional[float] = None
    score: Optional[float] = None


def read_chunks_csv(path) -> list[JoinInfo]:
    """Joins from a ``stitcher stitch`` CSV (``position_s, source, start_s, end_s, score``;
    one row per chunk: the join k is at the position of row k, k >= 1)."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise _err(f"Cannot read the chunk list '{p.name}' ({exc}).") from exc
    need = {"position_s", "source", "start_s", "end_s"}
    if not rows or not need <= set(rows[0]):
        raise _err(f"'{p.name}' is not a chunk list written by 'stitcher stitch' "
                   f"(needs the columns {', '.join(sorted(need))}).")
    joins = []
    try:
        for prev, row in zip(rows, rows[1:]):
            sc = row.get("score") or ""
            joins.append(JoinInfo(float(row["position_s"]), prev["source"], row["source"], float(prev["end_s"]),
                                  float(row["start_s"]), float(sc) if sc.strip() else None))
    except ValueError as exc:
        raise _err(f"'{p.name}' has an unreadable row ({exc}).") from exc
    return joins


def guess_joins(a: Analysis, min_gap_s: float = 2.0, z: float = 2.0) -> list[JoinInfo]:
    """Without a chunk list: peaks of a timbre+harmony novelty curve (1 s either side),
    at least ``min_gap_s`` apart and ``z`` standard deviations above its mean."""
    from scipy.signal import find_peaks

    feats = np.vstack([a.mfcc / (a.mfcc.std(axis=1, keepdims=True) + 1e-6), 3 * a.chroma])
    w = max(2, int(round(1.0 * a.sr / HOP)))
    T = feats.shape[1]
    if T < 2 * w + 2:
        return []
    cs = np.concatenate([np.zeros((feats.shape[0], 1)), np.cumsum(feats, axis=1)], axis=1)
    idx = np.arange(w, T - w)
    nov = np.zeros(T)
    nov[idx] = np.linalg.norm((cs[:, idx + w] - cs[:, idx]) / w - (cs[:, idx] - cs[:, idx - w]) / w, axis=0)
    v = nov[idx]
    peaks, _ = find_peaks(nov, height=float(v.mean() + z * v.std()), distance=max(1, int(min_gap_s * a.sr / HOP)))
    return [JoinInfo(round(float(p * HOP / a.sr), 3)) for p in peaks]


def _fmt_key(k) -> str:
    return _LONG_KEYS[k] if isinstance(k, (int, np.integer)) and 0 <= k < 24 else "?"


_PLAIN = {"tempo": "tempo change", "beat": "off the beat", "key": "key change", "chroma": "harmony change",
          "loudness": "loudness jump", "timbre": "timbre jump", "flux": "flux spike"}


def describe(stats: dict, pct: dict, flagged: Sequence[str]) -> str:
    """A join in units a musician reads; the flagged statistics first."""
    parts = []
    order = list(flagged) + [s for s in sorted(STATS, key=lambda s: -pct.get(s, 0)) if s not in flagged]
    for s in order[: max(len(flagged), 2)]:
        p = pct.get(s, 0.0)
        tag = f" (p{100 * p:.0f})" if p < 0.99 else f" (p{min(99.99, 100 * p):.{1 if p < 0.999 else 2}f})"
        if s == "tempo" and np.isfinite(stats.get("tempo_ratio", np.nan)):
            b0, b1 = stats["tempo_before"], stats["tempo_after"]
            heard = b0 * stats["tempo_ratio"]  # the after tempo folded to half/double time
            fold = f", heard as {heard:.0f}" if abs(heard - b1) > 1.0 else ""
            parts.append(f"tempo {100 * (stats['tempo_ratio'] - 1):+.0f} % ({b0:.0f} → {b1:.0f} bpm{fold}){tag}")
        elif s == "beat" and np.isfinite(stats.get("beat_phase", np.nan)):
            ph = stats["beat_phase"]
            parts.append(f"off the beat by {abs(ph):.2f} beat ({'late' if ph > 0 else 'early'}){tag}")
        elif s in ("key", "chroma") and (stats.get("key_before") is not None or s == "chroma"):
            txt = (f"key {_fmt_key(stats.get('key_before'))} → {_fmt_key(stats.get('key_after'))}, "
                   f"{key_relation(stats.get('key_before'), stats.get('key_after'))}")
            if s == "chroma":
                txt = f"harmony change {stats.get('chroma', float('nan')):.2f} ({txt})"
            if txt not in " ".join(parts):
                parts.append(txt + tag)
        elif s == "loudness" and np.isfinite(stats.get("loudness_jump", np.nan)):
            j = stats["loudness_jump"]
            parts.append(f"{abs(j):.1f} dB {'louder' if j > 0 else 'quieter'}{tag}")
        elif s == "timbre" and np.isfinite(stats.get("timbre", np.nan)):
            parts.append(f"timbre jump {stats['timbre']:.1f}{tag}")
        elif s == "flux" and np.isfinite(stats.get("flux", np.nan)):
            parts.append(f"flux spike ×{stats['flux']:.1f}{tag}")
        else:
            parts.append(f"{_PLAIN[s]}: not measurable")
    return ", ".join(parts)


def _r(x, nd=3):
    if x is None:
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return round(x, nd) if np.isfinite(x) else None


def judge(stats: dict, ref: Reference) -> dict:
    pct = ref.percentiles(stats)
    flagged = [s for s in STATS if pct[s] > ref.threshold]
    flagged.sort(key=lambda s: -pct[s])
    return {"percentiles": pct, "flagged": flagged, "audible": bool(flagged),
            "severity": max(pct.values()) + 0.01 * sum(pct[s] for s in flagged), "why": describe(stats, pct, flagged)}


def audit_joins(a: Analysis, joins: Sequence[JoinInfo], ref: Reference, should_stop: ShouldStop = None,
                on_progress: OnProgress = None) -> dict:
    rows = []
    for k, j in enumerate(joins):
        check_stop(should_stop)
        report(on_progress, k, len(joins), "joins")
        st = moment_stats(a, j.time)
        jd = judge(st, ref)
        rows.append({"join": k + 1, "time": round(j.time, 3), "from": j.src_from, "to": j.src_to,
                     "from_end_s": _r(j.from_end_s), "to_start_s": _r(j.to_start_s), "score": _r(j.score, 4),
                     "audible": jd["audible"], "flagged": jd["flagged"], "why": jd["why"],
                     "severity": round(jd["severity"], 4),
                     "tempo_before": _r(st["tempo_before"], 1), "tempo_after": _r(st["tempo_after"], 1),
                     "tempo_clarity": _r(st["tempo_clarity"]),
                     "tempo_change_pct": _r(100 * (st["tempo_ratio"] - 1), 1)
                     if np.isfinite(st["tempo_ratio"]) else None,
                     "beat_phase": _r(st["beat_phase"]), "pulse_clarity": _r(st["pulse_clarity"]),
                     "key_before": _fmt_key(st["key_before"]), "key_after": _fmt_key(st["key_after"]),
                     "key_relation": key_relation(st["key_before"], st["key_after"]),
                     "chroma": _r(st["chroma"]), "lufs_before": _r(st["lufs_before"], 1),
                     "lufs_after": _r(st["lufs_after"], 1), "loudness_jump_db": _r(st["loudness_jump"], 1),
                     "timbre": _r(st["timbre"]), "flux": _r(st["flux"]),
                     **{f"p_{s}": round(jd["percentiles"][s], 3) for s in STATS}})
    report(on_progress, len(joins), len(joins), "joins")
    n = len(rows)
    aud = sum(r["audible"] for r in rows)
    worst = max(rows, key=lambda r: r["severity"]) if rows else None
    minutes = a.duration / 60
    return {"joins": n, "audible": aud, "share_audible": round(aud / n, 4) if n else None,
            "audible_per_minute": round(aud / minutes, 2) if minutes > 0 else None,
            "seconds": round(a.duration, 2),
            "worst": None if worst is None else {"join": worst["join"], "time": worst["time"], "from": worst["from"],
                                                 "to": worst["to"], "audible": worst["audible"], "why": worst["why"]},
            "by_stat": {s: sum(s in r["flagged"] for r in rows) for s in STATS},
            "rows": rows}


def _ref_summary(ref: Reference) -> dict:
    return {"songs": len(ref.songs), "moments": ref.moments, "threshold_percentile": round(100 * ref.threshold, 2),
            "natural_share_heldout": round(ref.holdout_share, 4), "natural_share_per_stat": ref.per_stat_share,
            "natural_median": {s: _r(v) for s, v in ref.medians.items()}}


# -- songs -----------------------------------------------------------------------------------

def _load(paths, sr: int, should_stop=None, on_progress=None):
    from .pool import load_songs

    songs, msgs = load_songs(paths, sr, should_stop=should_stop, on_progress=on_progress)
    return songs, msgs


def _names_match(csv_name: str, song) -> bool:
    return csv_name in (Path(song.path).name, song.name, Path(song.path).stem)


def audit_file(out_path, song_paths: Sequence, chunks_csv=None, sr: int = 22050, moments: int = 1600,
               seed: int = 0, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """The whole audit of a stitched file against its source songs (see the module doc)."""
    from ..audio.io import load_audio

    y, _ = load_audio(out_path, sr=sr, mono=True)
    a = analyse(y, sr)
    msgs: list[str] = []
    if chunks_csv is not None:
        joins = read_chunks_csv(chunks_csv)
        source = "csv"
    else:
        joins = guess_joins(a)
        source = "guessed"
        msgs.append(f"no chunk list: {len(joins)} joins guessed from novelty peaks.")
    used = {j.src_from for j in joins} | {j.src_to for j in joins}
    if source == "csv":  # decode only the sources the chunk list names (when they are there)
        named = [p for p in song_paths if Path(p).name in used or Path(p).stem in used]
        song_paths = named or list(song_paths)
    songs, lmsgs = _load(song_paths, sr, should_stop, on_progress)
    msgs += lmsgs
    if not songs:
        raise _err("No usable source song. " + " ".join(lmsgs))
    chosen = [s for s in songs if any(_names_match(n, s) for n in used if n)] if source == "csv" else []
    if source == "csv" and not chosen:
        msgs.append("none of the chunk list's sources is among --songs: the reference uses all of them.")
    ref_songs = chosen or songs
    ref = build_reference([(s.name, _song_analysis(s)) for s in ref_songs], moments, seed, should_stop, on_progress)
    res = audit_joins(a, joins, ref, should_stop, on_progress)
    return {"file": str(out_path), "join_source": source, **res, "reference": _ref_summary(ref), "messages": msgs}


def _song_analysis(song) -> Analysis:
    a = analyse(song.y, song.sr)
    try:
        from .pool import ensure_beats

        b = ensure_beats(song)
        a.beats = np.round(np.asarray(b) / HOP).astype(np.int64)
    except Exception:
        a.beats = np.zeros(0, np.int64)
    return a


def audit_rendered(pool, rendered, chain=None, moments: int = 1000, seed: int = 0, should_stop: ShouldStop = None,
                   on_progress: OnProgress = None) -> dict:
    """The audit of a song still in memory (a pool and what :func:`.chain.render` made of it),
    for the GUI's seams panel and the benchmark: the same figures as :func:`audit_file`,
    the reference from the pool's songs that the song uses."""
    segs = list(rendered.segments)
    songs_used = sorted({pool.chunks[i].song for _, _, i, _, _ in segs})
    joins = []
    for k in range(1, len(segs)):
        pa, pb = segs[k - 1], segs[k]
        sa, sb = pool.songs[pool.chunks[pa[2]].song], pool.songs[pool.chunks[pb[2]].song]
        sc = chain.scores[k] if chain is not None and k < len(chain.scores) else None
        joins.append(JoinInfo(float(rendered.joins[k - 1]), Path(sa.path).name, Path(sb.path).name,
                              pa[4] / pool.sr, pb[3] / pool.sr,
                              float(sc) if sc is not None and np.isfinite(sc) else None))
    y, sr = np.asarray(rendered.y, dtype=np.float32), int(rendered.sr)
    if y.ndim == 2:  # (channels, n)
        y = y.mean(axis=0)
    if sr != pool.sr:  # analyse at the rate of the songs' analysis (the reference's)
        from ..audio.io import resample

        y, sr = np.asarray(resample(y, sr, pool.sr), dtype=np.float32), pool.sr
    a = analyse(y, sr)
    ref = build_reference([(pool.songs[s].name, _song_analysis(pool.songs[s])) for s in songs_used], moments, seed,
                          should_stop, on_progress)
    res = audit_joins(a, joins, ref, should_stop, on_progress)
    return {"join_source": "chain", **res, "reference": _ref_summary(ref), "messages": []}


def audit_natural(song_paths: Sequence, per_song: int = 30, sr: int = 22050, moments: int = 1600, seed: int = 0,
                  should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """Natural continuity: ``per_song`` random beat moments inside each song, judged
    against a reference of other random moments of the same songs (~5 % by construction)."""
    songs, msgs = _load(song_paths, sr, should_stop, on_progress)
    if not songs:
        raise _err("No usable song. " + " ".join(msgs))
    an = [(s.name, _song_analysis(s)) for s in songs]
    ref = build_reference(an, moments, seed, should_stop, on_progress)
    rng = np.random.default_rng(seed + 1000)
    rows = []
    for name, a in an:
        check_stop(should_stop)
        for t in natural_positions(a, per_song, rng):
            jd = judge(moment_stats(a, float(t)), ref)
            rows.append({"song": name, "time": round(float(t), 3), "audible": jd["audible"], "flagged": jd["flagged"],
                         "why": jd["why"]})
    n = len(rows)
    aud = sum(r["audible"] for r in rows)
    return {"natural": True, "joins": n, "audible": aud, "share_audible": round(aud / n, 4) if n else None,
            "by_stat": {s: sum(s in r["flagged"] for r in rows) for s in STATS},
            "reference": _ref_summary(ref), "messages": msgs, "rows": rows}


CSV_FIELDS = ["join", "time", "from", "to", "from_end_s", "to_start_s", "score", "audible", "why", "tempo_before",
              "tempo_after", "tempo_change_pct", "tempo_clarity", "beat_phase", "pulse_clarity", "key_before",
              "key_after", "key_relation", "chroma", "lufs_before", "lufs_after", "loudness_jump_db", "timbre", "flux"] + [f"p_{s}" for s in STATS]


def write_seams_csv(path, res: dict) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in res["rows"]:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    return p
