"""Join engineering: make each join of a chain land like a DJ's. No Qt.

For every join between chunk A (outgoing) and chunk B (incoming), :func:`plan_joins` decides

* **where to cut**: on a beat; the cut point is searched within ±1 beat on each side for the
  best-matching pair of beats (the Infinite Jukebox idea: the beat B starts with should
  sound like the beat that would have followed in A, and the beat before it like the one
  before), comparing short chroma + MFCC means over each beat. With bars as the unit
  (``bars:N`` chunks start on bar lines) both sides move by the same number of beats,
  so a downbeat still meets a downbeat.
* **tempo**: B is time-stretched to the running tempo with Rubber Band (``pedalboard``'s
  ``time_stretch``, not resampling) when the (half/double-folded) ratio is within
  ``max_stretch`` (±8 %); beyond that B keeps its own tempo (the search in
  :mod:`.chain` avoids such joins: they cost more).
* **key**: with "stay in key", B is pitch-shifted by up to ±2 semitones toward a key
  compatible with the start chunk's (the same key or its relative major/minor).
* **loudness**: every song is brought to the median integrated loudness of the songs used
  (:func:`musiclab.audio.loudness.integrated_lufs`, within ±9 dB), and B's gain then so
  that its first 3 s match the last 3 s of A as played (BS.1770 short-term loudness:
  K-weighting by ``pyloudnorm``'s filters, 3 s mean square), within ±6 dB more.
* **crossfade length from the material**: the onset strength at the cut against the music
  around it: on a transient a short fade (down to half the nominal), on sustained sound a
  long one (up to three times the nominal, at most half a beat); equal-power.

:func:`source_audio` gives a song at the output quality (the source file reloaded at its
own rate and channels; the analysis copy where the file is gone), so the render is at the
sources' sample rate and channel count while the analysis runs at 22.05 kHz mono.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

MAX_STRETCH = 0.08  # at most ±8 % tempo change by time-stretching
MAX_SHIFT = 2  # semitones, with "stay in key"
MAX_GAIN_DB = 9.0  # song-level gain (to the median level of the songs used)
MAX_CORR_DB = 6.0  # local match at a join, on top of the song's gain
LOUD_W = 3.0  # s, short-term loudness window
FADE_MIN, FADE_MAX = 0.5, 3.0  # times the nominal crossfade
MIN_PIECE_S = 0.25  # a cut search never leaves a chunk shorter than this


@dataclass
class SongAnalysis:
    """What the join engineering needs of one song (analysis rate), computed once."""

    chroma: np.ndarray  # (12, T) frame chroma (frame i covers [i*HOP, i*HOP+N_FFT))
    mfcc: np.ndarray  # (12, T) MFCC 1..12
    flux: np.ndarray  # (T,) onset strength
    kw_cumsq: np.ndarray  # (n+1,) cumulative sum of the squared K-weighted signal
    beats: np.ndarray  # beat positions (samples), may be empty
    period: float  # median beat period (samples), nan without beats
    lufs: float = float("nan")  # integrated loudness of the whole song (BS.1770, gated)


def _k_weighted(y: np.ndarray, sr: int) -> np.ndarray:
    try:
        from .seams import _k_weighted as kw  # the audit's BS.1770 filters (pyloudnorm)

        return kw(y, sr)
    except Exception:  # pragma: no cover - pyloudnorm missing: plain power
        return np.asarray(y, np.float64)


def analyse_song(song) -> SongAnalysis:
    cached = getattr(song, "analysis", None)
    if isinstance(cached, SongAnalysis):
        return cached
    from .features import mfcc_from_logmel
    from .pool import ensure_beats

    logmel, chroma, flux = _frames(song.y, song.sr)
    mf = mfcc_from_logmel(__import__("torch").from_numpy(logmel[None].astype(np.float32)))[0].numpy() \
        if logmel.shape[1] else np.zeros((13, 0))
    try:
        beats = np.asarray(ensure_beats(song), np.int64)
    except Exception:
        beats = np.zeros(0, np.int64)
    period = beat_period(beats) if len(beats) >= 3 else float("nan")
    kw = _k_weighted(song.y, song.sr)
    cs = np.concatenate([[0.0], np.cumsum(kw * kw)])
    lufs = _gated_lufs(cs, song.sr)
    a = SongAnalysis(chroma, mf[1:13].astype(np.float64), flux, cs, beats, period, lufs)
    try:
        song.analysis = a
    except Exception:  # pragma: no cover
        pass
    return a


def _frames(y: np.ndarray, sr: int, block: int = 2048):
    """Log-mel (as :func:`.features.frame_features`), chroma and onset strength of a whole song,
    frame ``i`` covering ``[i*HOP, i*HOP+N_FFT)``, with numpy's FFT in blocks of frames
    (several times faster than the torch path for one long signal)."""
    from .features import N_FFT, _filters
    from .pool import HOP

    mel_fb, chroma_fb, _ = _filters(sr)
    mel_fb, chroma_fb = mel_fb.numpy(), chroma_fb.numpy()
    y = np.asarray(y, np.float32)
    T = 1 + (len(y) - N_FFT) // HOP if len(y) >= N_FFT else 0
    win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    logmel = np.zeros((mel_fb.shape[0], T), np.float32)
    chroma = np.zeros((12, T), np.float32)
    if T:
        fr = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP][:T]
        for a in range(0, T, block):
            spec = np.fft.rfft(fr[a: a + block] * win, axis=1)
            power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32).T
            m = 10.0 * np.log10(mel_fb @ power + 1e-10)
            logmel[:, a: a + block] = (np.maximum(m, -100.0) + 20.0) / 20.0
            c = chroma_fb @ power
            chroma[:, a: a + block] = c / (c.max(axis=0, keepdims=True) + 1e-8)
    flux = np.zeros(T, np.float64)
    if T > 1:
        flux[1:] = 4.0 * np.maximum(logmel[:, 1:] - logmel[:, :-1], 0).mean(axis=0)
    return logmel, chroma.astype(np.float64), flux


def _gated_lufs(cumsq: np.ndarray, sr: int) -> float:
    """BS.1770 integrated loudness from the cumulative K-weighted energy: 400 ms blocks, 75 %
    overlap, absolute gate -70 LUFS, relative gate -10 LU (what ``pyloudnorm`` computes,
    vectorised over the blocks; :func:`musiclab.audio.loudness.integrated_lufs` for a signal)."""
    n = len(cumsq) - 1
    w, step = int(0.4 * sr), int(0.1 * sr)
    if n < w:
        return float("nan")
    st = np.arange(0, n - w + 1, step)
    ms = (cumsq[st + w] - cumsq[st]) / w
    lk = -0.691 + 10 * np.log10(np.maximum(ms, 1e-12))
    keep = lk > -70
    if not keep.any():
        return float("nan")
    rel = -0.691 + 10 * np.log10(ms[keep].mean()) - 10
    keep &= lk > rel
    return float(-0.691 + 10 * np.log10(ms[keep].mean())) if keep.any() else float("nan")


def short_term_lufs(a: SongAnalysis, sr: int, s0: int, s1: int) -> float:
    """BS.1770 loudness (ungated mean square of the K-weighted signal) of samples [s0, s1)."""
    n = len(a.kw_cumsq) - 1
    s0, s1 = max(0, min(n, s0)), max(0, min(n, s1))
    if s1 - s0 < int(0.1 * sr):
        return float("nan")
    ms = (a.kw_cumsq[s1] - a.kw_cumsq[s0]) / (s1 - s0)
    return -0.691 + 10 * math.log10(ms) if ms > 1e-12 else -70.0


def local_period(a: SongAnalysis, s: int, e: int) -> float:
    """Median beat period (samples) inside [s, e), else the song's; nan without beats."""
    b = a.beats
    if len(b) >= 3:
        i0, i1 = np.searchsorted(b, [s, e])
        if i1 - i0 >= 3:
            return beat_period(b[i0:i1])
    return a.period


def beat_period(beats: np.ndarray) -> float:
    """Mean beat period (samples) over the intervals within 25 % of the median: finer than the
    median, which is quantised to the beat tracker's 23 ms frames."""
    d = np.diff(np.asarray(beats, np.float64))
    if len(d) == 0:
        return float("nan")
    med = float(np.median(d))
    keep = d[np.abs(d - med) <= 0.25 * med]
    return float(keep.mean()) if len(keep) else med


def fold_ratio(r: float) -> float:
    """A tempo ratio folded for half/double time into [2/3, 4/3)."""
    if not np.isfinite(r) or r <= 0:
        return float("nan")
    while r >= 4 / 3:
        r /= 2
    while r < 2 / 3:
        r *= 2
    return r


def _beat_vec(a: SongAnalysis, b0: int, b1: int):
    from .pool import HOP

    T = a.chroma.shape[1]
    f0 = min(max(0, b0 // HOP), max(0, T - 1))
    f1 = min(T, max(f0 + 1, b1 // HOP - 2))
    if T == 0:
        return None
    c = a.chroma[:, f0:f1].mean(1)
    m = a.mfcc[:, f0:f1].mean(1)
    return c / (np.linalg.norm(c) + 1e-9), m


def _vdist(u, v) -> float:
    if u is None or v is None:
        return 1.0
    dc = 1.0 - float(u[0] @ v[0])
    dm = float(np.linalg.norm(u[1] - v[1]) / (np.linalg.norm(u[1]) + np.linalg.norm(v[1]) + 1e-9))
    return dc + dm


def timbre_distance(a: SongAnalysis, b: SongAnalysis, ta: int, tb: int, sr: int, w: float = 1.0) -> float:
    """Relative MFCC distance of the ``w`` s before ``ta`` in A and after ``tb`` in B."""
    from .pool import HOP

    def mean(an, f0, f1):
        T = an.mfcc.shape[1]
        f0, f1 = max(0, min(T, f0)), max(0, min(T, f1))
        return an.mfcc[:, f0:f1].mean(1) if f1 > f0 else None

    n = int(w * sr / HOP)
    u, v = mean(a, ta // HOP - n, ta // HOP), mean(b, tb // HOP, tb // HOP + n)
    if u is None or v is None:
        return float("nan")
    return float(np.linalg.norm(u - v) / (np.linalg.norm(u) + np.linalg.norm(v) + 1e-9))


def best_cut(a: SongAnalysis, b: SongAnalysis, ea: int, sb: int, lo_a: int, hi_b: int, sr: int,
             same_shift: bool = False) -> tuple[int, int, int, int, float]:
    """Cut points ``(ea', sb', da, db, distance)``: A's end and B's start on beats within
    ±1 beat of their nominal places (``ea`` and ``sb`` snapped to the nearest beat first),
    the pair whose beats match best (A's cut moves no later than B's, in beats, so a join never
    lengthens the song beyond its nearest-beat cut). ``lo_a``/``hi_b`` bound how far A may shrink and B
    start late. Without beats on a side that side keeps its nominal place."""
    tol = 0.3 * sr

    def cands(an, x, lo, hi):
        bt = an.beats
        if len(bt) < 3:
            return {0: x}
        j = int(np.argmin(np.abs(bt - x)))
        if abs(int(bt[j]) - x) > max(tol, 0.5 * (an.period if np.isfinite(an.period) else 0)):
            return {0: x}
        out = {}
        for d in (-1, 0, 1):
            if 0 <= j + d < len(bt) and lo <= int(bt[j + d]) <= hi:
                out[d] = int(bt[j + d])
        return out or {0: x}

    ca = cands(a, ea, lo_a, len(a.kw_cumsq) - 1)
    cb = cands(b, sb, 0, hi_b)
    pa = a.period if np.isfinite(a.period) else 0.5 * sr
    pb = b.period if np.isfinite(b.period) else 0.5 * sr
    best = None
    for da, xa in ca.items():
        va_next = _beat_vec(a, xa, int(xa + pa))  # what would have followed in A
        va_prev = _beat_vec(a, int(xa - pa), xa)
        for db, xb in cb.items():
            if same_shift and da != db and len(ca) > 1 and len(cb) > 1:
                continue
            if da > db:  # a join never adds material: the song stays within its planned length
                continue
            vb = _beat_vec(b, xb, int(xb + pb))
            vb_prev = _beat_vec(b, int(xb - pb), xb)
            d = _vdist(va_next, vb) + 0.5 * _vdist(va_prev, vb_prev) + 0.05 * (abs(da) + abs(db))
            if best is None or d < best[4]:
                best = (xa, xb, da, db, d)
    return best if best is not None else (ea, sb, 0, 0, float("nan"))


def fade_seconds(a: SongAnalysis, b: SongAnalysis, ta: int, tb: int, sr: int, nominal_s: float,
                 beat_s: float) -> float:
    """Crossfade length from the material: short on transients, long on sustained sound."""
    from .pool import HOP

    def transient(an, t):
        T = len(an.flux)
        if T == 0:
            return 1.0
        f = min(T - 1, max(0, t // HOP))
        near = an.flux[max(0, f - 4): f + 3].max()  # frames are not centred: an onset at t shows from frame t//HOP - 3
        ctx = an.flux[max(0, f - 86): f + 87]
        # against the 90th percentile around (the audit's flux-spike measure): how far the onset
        # at the cut stands out of the music's own onsets
        return float((near + 1e-3) / (np.quantile(ctx, 0.9) + 1e-3))

    tau = max(transient(a, ta), transient(b, tb))
    factor = float(np.interp(tau, [1.0, 3.0], [FADE_MAX, FADE_MIN]))
    s = nominal_s * factor
    if np.isfinite(beat_s) and beat_s > 0:
        s = min(s, 0.5 * beat_s)
    return max(0.004, s)


def key_shift(song_key: int, anchor_key: int, max_shift: int = MAX_SHIFT) -> Optional[int]:
    """Fewest semitones (|s| <= max_shift) that bring ``song_key`` to the anchor's key or its
    relative major/minor; None where none does."""
    from .chain import _compatible_keys

    ok = _compatible_keys(int(anchor_key))
    for s in sorted(range(-max_shift, max_shift + 1), key=abs):
        k = (song_key % 12 + s) % 12 + (12 if song_key >= 12 else 0)
        if k in ok:
            return s
    return None


@dataclass
class JoinPlan:
    """How one join is made, and what it was like before the engineering."""

    cut_a: int  # A's end (analysis samples)
    cut_b: int  # B's start
    beat_offset_a: int = 0  # beats moved (negative: earlier)
    beat_offset_b: int = 0
    beat_match: float = float("nan")  # beat-pair distance (0 = the same)
    tempo_pct: float = float("nan")  # B's tempo against the running tempo, before stretching (%)
    speed: float = 1.0  # Rubber Band stretch factor applied to B (>1: faster)
    stretched: bool = False
    shift: int = 0  # semitones
    key_from: Optional[int] = None
    key_to: Optional[int] = None
    loudness_db: float = float("nan")  # B's start minus A's end as played, before gain (dB)
    gain_db: float = 0.0  # gain change applied at this join
    timbre: float = float("nan")
    fade_s: float = 0.06

    def as_dict(self) -> dict:
        from .seams import key_relation

        def r(x, nd=2):
            return None if x is None or not np.isfinite(x) else round(float(x), nd)

        return {"tempo_pct": r(self.tempo_pct, 1), "stretch_pct": round(100 * (self.speed - 1), 1),
                "beat_offset": f"{self.beat_offset_a:+d}/{self.beat_offset_b:+d}",
                "beat_match": r(self.beat_match, 3), "key_relation": key_relation(self.key_from, self.key_to),
                "shift_st": int(self.shift), "loudness_db": r(self.loudness_db, 1), "gain_db": r(self.gain_db, 1),
                "timbre": r(self.timbre, 3), "fade_ms": round(1000 * self.fade_s)}


@dataclass
class PiecePlan:
    start: int  # analysis samples in the source song
    end: int
    speed: float = 1.0
    shift: int = 0
    gain_db: float = 0.0
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0


@dataclass
class Plan:
    pieces: list[PiecePlan] = field(default_factory=list)
    joins: list[JoinPlan] = field(default_factory=list)


def plan_joins(pool, items: list[int], crossfade_ms: float, bars: bool = False, stay_key: bool = False,
               keys: Optional[np.ndarray] = None, max_stretch: float = MAX_STRETCH,
               memo: Optional[dict] = None) -> Plan:
    """The plan of every join of ``items``. ``memo``: a dict kept between calls for the same
    pool (a chain planned again after it grew): a cut search whose inputs are the same is
    taken from it (the same result, without searching again)."""
    sr = pool.sr
    songs = [pool.chunks[i].song for i in items]
    an = {s: analyse_song(pool.songs[s]) for s in set(songs)}
    spans = [[pool.chunks[i].start, pool.chunks[i].end] for i in items]
    plan = Plan()
    # cut points, join by join
    cuts = []
    for k in range(1, len(items)):
        A, B = an[songs[k - 1]], an[songs[k]]
        sa, ea = spans[k - 1]
        sb, eb = spans[k]
        lo_a = sa + int(MIN_PIECE_S * sr)
        hi_b = eb - int(MIN_PIECE_S * sr)
        key = (items[k - 1], items[k], ea, sb, lo_a, hi_b, bool(bars))
        hit = memo.get(key) if memo is not None else None
        if hit is None:
            hit = best_cut(A, B, ea, sb, lo_a, hi_b, sr, same_shift=bars)
            if memo is not None:
                memo[key] = hit
        xa, xb, da, db, d = hit
        spans[k - 1][1], spans[k][0] = xa, xb
        cuts.append((xa, xb, da, db, d))
    # tempo, key, loudness, fades
    anchor_key = int(keys[songs[0]]) if keys is not None else None
    run_period = local_period(an[songs[0]], *spans[0])
    # loudness: every song brought to the level of the songs used (their median integrated
    # loudness, within ±MAX_GAIN_DB), then each incoming chunk matched locally at its join
    # (short-term loudness, within ±MAX_CORR_DB of its song's gain): no drift along the song
    levels = [an[s].lufs for s in set(songs) if np.isfinite(an[s].lufs)]
    ref = float(np.median(levels)) if levels else float("nan")

    def song_gain(s):
        return float(np.clip(ref - an[s].lufs, -MAX_GAIN_DB, MAX_GAIN_DB)) if np.isfinite(ref) and \
            np.isfinite(an[s].lufs) else 0.0

    gain = song_gain(songs[0])
    pieces = [PiecePlan(spans[0][0], spans[0][1], gain_db=gain)]
    for k in range(1, len(items)):
        A, B = an[songs[k - 1]], an[songs[k]]
        xa, xb, da, db, d = cuts[k - 1]
        per_b = local_period(B, *spans[k])
        speed, stretched, tempo_pct = 1.0, False, float("nan")
        if np.isfinite(per_b) and np.isfinite(run_period) and run_period > 0:
            ratio = fold_ratio(per_b / run_period)  # > 1: B is slower than the running tempo
            tempo_pct = 100 * (1 / ratio - 1)
            if abs(ratio - 1) <= max_stretch:
                speed = ratio if abs(ratio - 1) > 0.003 else 1.0
                stretched = speed != 1.0
            else:
                run_period = per_b  # too far to stretch: B sets the new running tempo
        shift = 0
        kf = int(keys[songs[k - 1]]) if keys is not None else None
        kt = int(keys[songs[k]]) if keys is not None else None
        if stay_key and keys is not None and anchor_key is not None:
            s = key_shift(kt, anchor_key)
            shift = int(s or 0)
        w = int(LOUD_W * sr)
        la_raw = short_term_lufs(A, sr, xa - w, xa)
        lb_raw = short_term_lufs(B, sr, xb, xb + w)
        la = la_raw + gain  # A's end as played
        ldiff = lb_raw - la_raw if np.isfinite(la_raw) and np.isfinite(lb_raw) else float("nan")
        g_b = song_gain(songs[k])
        if np.isfinite(la_raw) and np.isfinite(lb_raw) and la_raw > -60 and lb_raw > -60:
            corr = float(np.clip(la - (lb_raw + g_b), -MAX_CORR_DB, MAX_CORR_DB))
            gain = float(np.clip(g_b + corr, -MAX_GAIN_DB - MAX_CORR_DB, MAX_GAIN_DB + MAX_CORR_DB))
        else:
            gain = g_b
        beat_s = (run_period / sr) if np.isfinite(run_period) else float("nan")
        fade = fade_seconds(A, B, xa, xb, sr, crossfade_ms / 1000.0, beat_s)
        seg_a = (spans[k - 1][1] - spans[k - 1][0]) / sr
        seg_b = (spans[k][1] - spans[k][0]) / sr
        fade = min(fade, 0.5 * seg_a, 0.5 * seg_b)
        jp = JoinPlan(xa, xb, da, db, d, tempo_pct, speed, stretched, shift, kf, kt, ldiff,
                      gain - pieces[-1].gain_db, timbre_distance(A, B, xa, xb, sr), fade)
        plan.joins.append(jp)
        pieces[-1].fade_out_s = fade
        pieces.append(PiecePlan(spans[k][0], spans[k][1], speed, shift, gain, fade))
    plan.pieces = pieces
    return plan


def plain_plan(pool, items: list[int], crossfade_ms: float, beat_align: bool) -> Plan:
    """No engineering: nominal (or nearest-beat) cuts, the nominal crossfade everywhere."""
    from .chain import _snap
    from .pool import ensure_beats

    sr = pool.sr
    f = crossfade_ms / 1000.0
    pieces = []
    for k, i in enumerate(items):
        c = pool.chunks[i]
        s, e = c.start, c.end
        if beat_align:
            song = pool.songs[c.song]
            try:
                ensure_beats(song)
            except Exception:
                pass
            mid = (s + e) // 2
            if k > 0:
                s = _snap(s, song.beats, sr, 0, mid)
            if k < len(items) - 1:
                e = _snap(e, song.beats, sr, mid, len(song.y))
        pieces.append(PiecePlan(s, e, fade_in_s=f if k > 0 else 0.0, fade_out_s=f if k < len(items) - 1 else 0.0))
    return Plan(pieces, [])


# -- the sources at full quality -------------------------------------------------------------

_HQ: "OrderedDict[str, tuple[np.ndarray, int]]" = OrderedDict()
_HQ_MAX = 8


def _native(song) -> tuple[np.ndarray, int]:
    """The song's own file at its own rate and channels ``(ch, n)``, or the analysis copy."""
    p = Path(song.path)
    key = f"{p}:{len(song.y)}"
    if key in _HQ:
        _HQ.move_to_end(key)
        return _HQ[key]
    y, sr = None, song.sr
    if p.is_file():
        try:
            from ..audio.io import load_audio

            z, zsr = load_audio(p, sr=None, mono=False)
            z = np.atleast_2d(np.asarray(z, np.float32))
            if z.shape[0] > 2:
                z = z[:2]
            if abs(z.shape[1] / zsr - len(song.y) / song.sr) < 0.25:  # the same audio as analysed
                y, sr = np.nan_to_num(z), int(zsr)
        except Exception:
            y = None
    if y is None:
        y, sr = song.y[None].astype(np.float32), int(song.sr)
    _HQ[key] = (y, sr)
    while len(_HQ) > _HQ_MAX:
        _HQ.popitem(last=False)
    return y, sr


def output_format(pool, song_ids) -> tuple[int, int]:
    """``(sample rate, channels)`` of the render: the highest among the songs used."""
    rates, chans = [], []
    for s in song_ids:
        y, sr = _native(pool.songs[s])
        rates.append(sr)
        chans.append(y.shape[0])
    return (max(rates) if rates else pool.sr), (max(chans) if chans else 1)


def source_audio(song, sr: int, ch: int) -> np.ndarray:
    """The song at ``sr`` with ``ch`` channels, ``(ch, n)`` float32."""
    y, nsr = _native(song)
    if nsr != sr:
        from ..audio.io import resample

        y = np.atleast_2d(resample(y, nsr, sr))
    if y.shape[0] < ch:
        y = np.repeat(y[:1], ch, axis=0)
    elif y.shape[0] > ch:
        y = y.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(y, np.float32)


def stretch(x: np.ndarray, sr: int, speed: float, shift: int) -> np.ndarray:
    """Rubber Band time-stretch (``speed`` > 1: faster/shorter) and pitch shift of ``(ch, n)``."""
    if abs(speed - 1.0) < 1e-4 and shift == 0:
        return x
    from pedalboard import time_stretch

    return np.asarray(time_stretch(np.ascontiguousarray(x, np.float32), float(sr), stretch_factor=float(speed),
                                   pitch_shift_in_semitones=float(shift), high_quality=False), np.float32)
