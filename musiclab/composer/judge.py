"""Musicality report: how much a set of tunes (or one tune) resembles a reference corpus.

The method follows Yang & Lerch 2018, "On the evaluation of generative models in music"
(MGEval): compute per-piece features, then for every feature

* the *intra-reference* distances (between every two reference pieces) and
* the *generated-to-reference* distances (from every judged piece to every reference piece),

smooth both with a Gaussian kernel density estimate (the kernel and Scott's bandwidth of
``scipy.stats.gaussian_kde``, as in MGEval, computed by binning on a 512-point grid: within
1e-3 of scipy's and ~100x faster; at most 4,000 seeded samples per distribution) and report their **overlapped area** (OA, 1 = the judged pieces are
as far from the corpus as the corpus is from itself, 0 = nothing in common) and the
Kullback-Leibler divergence KL(intra || judged). The summary number is the mean OA over the
features. Beside it the **ceiling**: real held-out tunes of the reference judged against the
rest of the reference by the same computation ("your tunes 0.62 vs real tunes 0.88").

Per-piece features (times in quarter notes; the *melody* is the skyline: the highest note at
each onset):

==========================  ==================================================================
``pitch_class_hist``        12 bins, share of notes per pitch class
``interval_hist``           25 bins, melody steps -12..+12 semitones (larger ones clipped)
``note_length_hist``        12 MGEval classes (whole, half, ..., dotted, triplets), all notes
``ioi_hist``                the same 12 classes for the melody's inter-onset intervals
``pitch_range``             highest minus lowest pitch (semitones)
``pitch_count``             distinct pitches used
``in_key``                  share of notes in the scale of the key (Krumhansl-Kessler profiles
                            on the duration-weighted pitch-class histogram)
``metric_regularity``       share of onsets on the eighth-note grid (within 1/24 quarter)
``bar_rhythm_repetition``   share of non-empty bars whose melody rhythm occurred in an earlier bar
``phrase_repetition``       share of non-empty 4-bar phrases whose melody (onset, pitch) set has
                            Jaccard similarity >= 0.8 with an earlier phrase
``longest_repeated_note``   longest run of consecutive melody notes of the same pitch
``silence_share``           share of the time from 0 to the last note's end where nothing sounds
==========================  ==================================================================

Distances are Euclidean (histograms) and absolute differences (scalars), as in MGEval.

Entry points:

* :func:`judge_paths` (the ``musiclab-cli composer judge`` command),
* :func:`build_reference` + :meth:`Reference.judge_notes` for one tune given as a list of
  ``(onset, duration, pitch)`` notes in quarter notes (what
  :func:`musiclab.composer.generate.events_to_notes` returns), e.g. for a Composer panel::

      ref = build_reference(["../shared/data/midi/nottingham"])     # slow: run it in a job
      rep = ref.judge_notes(events_to_notes(events))                # fast (~0.1 s)
      rep["mean_oa"], rep["oa"]["in_key"], rep["features"]["pitch_range"]

Pure numpy/scipy + mido; no torch, no Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..analysis.keys import best_key
from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report

GRID = 12  # steps per quarter for rhythm features
#: MGEval's 12 note-length classes, in quarter notes
LENGTH_CLASSES = np.array([4, 2, 1, 0.5, 0.25, 3, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3], dtype=np.float64)
HIST_FEATURES = ("pitch_class_hist", "interval_hist", "note_length_hist", "ioi_hist")
SCALAR_FEATURES = ("pitch_range", "pitch_count", "in_key", "metric_regularity", "bar_rhythm_repetition",
                   "phrase_repetition", "longest_repeated_note", "silence_share")
FEATURES = HIST_FEATURES + SCALAR_FEATURES
MAX_KDE_SAMPLES = 4000  # distances per distribution given to the KDE (a seeded subsample)
KDE_GRID = 512
MAX_NOTES = 200_000  # a longer file is judged on its first MAX_NOTES notes

_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the raised leading note
PC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


class JudgeError(MusiclabError):
    """A piece cannot be judged (no notes, unreadable); the message is the reason."""


# --------------------------------------------------------------------------- reading MIDI
@dataclass
class Tune:
    """Notes of one piece: arrays of onset and duration (quarter notes) and MIDI pitch."""

    name: str
    onset: np.ndarray
    dur: np.ndarray
    pitch: np.ndarray
    bars: list = field(default_factory=lambda: [(0.0, 4.0)])  # (start quarter, bar length) changes

    @property
    def n(self) -> int:
        return int(self.pitch.size)


def tune_from_notes(notes: Iterable, name: str = "tune", beats_per_bar: float = 4.0) -> Tune:
    """A :class:`Tune` from ``(onset, duration, pitch)`` triples in quarter notes."""
    arr = np.asarray([tuple(n)[:3] for n in notes], dtype=np.float64).reshape(-1, 3)
    ok = np.isfinite(arr).all(axis=1) & (arr[:, 1] > 0) & (arr[:, 2] >= 0) & (arr[:, 2] <= 127)
    arr = arr[ok]
    order = np.lexsort((arr[:, 2], arr[:, 0]))
    arr = arr[order][:MAX_NOTES]
    bpb = float(beats_per_bar) if beats_per_bar and beats_per_bar > 0 else 4.0
    return Tune(name, arr[:, 0] - (arr[:, 0].min() if len(arr) and arr[:, 0].min() < 0 else 0.0), arr[:, 1],
                arr[:, 2].astype(np.int64), [(0.0, bpb)])


def read_midi(path) -> Tune:
    """Notes of every non-drum channel of a MIDI file (times in quarter notes, so tempo changes
    do not matter; time-signature changes give the bars). Overlapping notes of the same pitch
    and channel are paired first-in first-out; a note never released ends at its track's end.
    Raises :class:`JudgeError` with the reason when the file has no usable notes."""
    import mido

    p = Path(path)
    try:
        mf = mido.MidiFile(str(p), clip=True)
    except Exception as exc:  # mido raises many kinds (OSError, EOFError, ValueError, KeyError)
        msg = str(exc).strip().splitlines()
        raise JudgeError(f"unreadable MIDI ({(msg[0][:100] if msg else type(exc).__name__)})") from exc
    tpq = int(mf.ticks_per_beat or 0)
    if tpq <= 0:
        raise JudgeError("unsupported MIDI timing (no ticks per quarter note)")
    rows: list = []
    ts: list = []
    drums = 0
    for track in mf.tracks:
        now = 0
        open_: dict = {}
        for msg in track:
            now += msg.time
            t = msg.type
            if t == "time_signature":
                ts.append((now, msg.numerator * 4.0 / msg.denominator))
            elif t == "note_on" and msg.velocity > 0:
                if msg.channel == 9:
                    drums += 1
                    continue
                open_.setdefault((msg.channel, msg.note), []).append(now)
            elif t == "note_off" or (t == "note_on" and msg.velocity == 0):
                st = open_.get((msg.channel, msg.note))
                if st:
                    s = st.pop(0)
                    rows.append((s, now - s, msg.note))
        for (_, pitch), starts in open_.items():
            for s in starts:
                rows.append((s, max(now - s, 1), pitch))
        if len(rows) > MAX_NOTES * 2:
            break
    rows = [r for r in rows if r[1] > 0] or [(r[0], 1, r[2]) for r in rows]
    if not rows:
        raise JudgeError("drums only (channel 10)" if drums else "no notes")
    arr = np.asarray(rows, dtype=np.float64)
    arr[:, :2] /= tpq
    order = np.lexsort((arr[:, 2], arr[:, 0]))
    arr = arr[order][:MAX_NOTES]
    bars = []
    for tick, length in sorted(ts):
        q = tick / tpq
        if length <= 0:
            continue
        if bars and abs(bars[-1][0] - q) < 1e-9:
            bars[-1] = (q, length)
        else:
            bars.append((q, length))
    if not bars or bars[0][0] > 0:
        bars.insert(0, (0.0, 4.0))
    return Tune(p.name, arr[:, 0], arr[:, 1], arr[:, 2].astype(np.int64), bars)


# --------------------------------------------------------------------------- features
def estimate_key(pitch: np.ndarray, weight: Optional[np.ndarray] = None,
                 candidates: Optional[Iterable[tuple[int, str]]] = None) -> tuple[int, str, float]:
    """(tonic pitch class, "major"/"minor", correlation) by the Krumhansl-Schmuckler method
    (:func:`musiclab.analysis.keys.best_key`) over the pitch classes of ``pitch`` weighted by
    ``weight``; ``candidates``: only these (tonic, mode) pairs (e.g. the two keys of a key signature)."""
    hist = np.bincount(np.asarray(pitch, dtype=np.int64) % 12, weights=weight, minlength=12).astype(np.float64)
    return best_key(hist, candidates)


def _length_hist(lengths: np.ndarray) -> np.ndarray:
    h = np.zeros(len(LENGTH_CLASSES))
    lengths = lengths[lengths > 0]
    if lengths.size:
        d = np.abs(np.log2(np.minimum(lengths, 8.0))[:, None] - np.log2(LENGTH_CLASSES)[None, :])
        h = np.bincount(d.argmin(axis=1), minlength=len(LENGTH_CLASSES)).astype(np.float64)
        h /= h.sum()
    return h


def _bar_starts(bars: list, end: float) -> np.ndarray:
    """Start of every bar up to ``end`` from ``[(start, length), ...]`` time-signature changes."""
    out: list[float] = []
    for i, (s, length) in enumerate(bars):
        stop = bars[i + 1][0] if i + 1 < len(bars) else end
        t = s
        while t < stop - 1e-9 and len(out) < 100_000:
            out.append(t)
            t += length
    if not out:
        out = [0.0]
    return np.asarray(out)


def _melody(t: Tune) -> tuple[np.ndarray, np.ndarray]:
    """(grid onsets, pitches) of the skyline: the highest note at each onset (1/12-quarter grid)."""
    q = np.round(t.onset * GRID).astype(np.int64)
    if q.size == 0:
        return q, q
    order = np.lexsort((-t.pitch, q))
    qs, ps = q[order], t.pitch[order]
    first = np.ones(qs.size, dtype=bool)
    first[1:] = qs[1:] != qs[:-1]
    return qs[first], ps[first]


def ending_features(t: Tune) -> dict:
    """How a tune ends (not part of the OA features): ``final_tonic`` (1 when its last melody
    note is the tonic of its Krumhansl-Schmuckler key), ``final_in_tonic_chord`` (the tonic,
    third or fifth), ``final_length`` (quarters; the longest note at the last melody onset),
    ``final_held`` (1 when that lasts a quarter or more) and ``ends_on_bar`` (1 when the last
    note ends on a bar line of the file's metre). Raises :class:`JudgeError` without notes."""
    if t.n == 0:
        raise JudgeError("no notes")
    tonic, mode, _ = estimate_key(t.pitch, t.dur)
    q, p = _melody(t)
    d = int(p[-1] - tonic) % 12
    at = np.abs(t.onset - q[-1] / GRID) < 0.5 / GRID  # the notes struck with the last melody note
    length = float(t.dur[at].max()) if at.any() else 0.0
    end = float((t.onset + t.dur).max())
    start, bar = next(((s0, L) for s0, L in reversed(t.bars) if s0 <= end + 1e-9), t.bars[0])
    k = (end - start) / bar if bar > 0 else 0.0
    return {"final_tonic": float(d == 0), "final_in_tonic_chord": float(d in (0, 4 if mode == "major" else 3, 7)),
            "final_length": length, "final_held": float(length >= 1.0 - 1e-6),
            "ends_on_bar": float(abs(k - round(k)) < 1e-3)}


def piece_features(t: Tune) -> dict:
    """The features of one tune (see the module docstring). Raises :class:`JudgeError` for a
    tune without notes."""
    if t.n == 0:
        raise JudgeError("no notes")
    pitch, onset, dur = t.pitch, t.onset, t.dur
    mq, mp = _melody(t)
    f: dict = {}
    pc = np.bincount(pitch % 12, minlength=12).astype(np.float64)
    f["pitch_class_hist"] = pc / pc.sum()
    ih = np.zeros(25)
    if mp.size >= 2:
        steps = np.clip(np.diff(mp), -12, 12) + 12
        ih = np.bincount(steps, minlength=25).astype(np.float64)
        ih /= ih.sum()
    f["interval_hist"] = ih
    f["note_length_hist"] = _length_hist(dur)
    f["ioi_hist"] = _length_hist(np.diff(mq) / GRID) if mq.size >= 2 else np.zeros(len(LENGTH_CLASSES))
    f["pitch_range"] = float(pitch.max() - pitch.min())
    f["pitch_count"] = float(np.unique(pitch).size)
    tonic, mode, _ = estimate_key(pitch, dur)
    scale = np.array([(tonic + s) % 12 for s in (_MAJOR_SCALE if mode == "major" else _MINOR_SCALE)])
    f["in_key"] = float(np.isin(pitch % 12, scale).mean())
    oq = np.unique(np.round(onset * 2 * GRID).astype(np.int64))  # 1/24-quarter resolution
    f["metric_regularity"] = float(np.mean(oq % GRID == 0))  # on the eighth grid (12/24 quarter)
    end = float((onset + dur).max())
    starts = _bar_starts(t.bars, max(end, 1e-6))
    bar_of = np.searchsorted(starts * GRID, mq, side="right") - 1
    bar_of = np.maximum(bar_of, 0)
    rel = mq - np.round(starts[bar_of] * GRID).astype(np.int64)
    seen: set = set()
    rep = nb = 0
    for b in np.unique(bar_of):
        pat = tuple(rel[bar_of == b].tolist())
        nb += 1
        rep += pat in seen
        seen.add(pat)
    f["bar_rhythm_repetition"] = rep / nb if nb else 0.0
    phrase_of = bar_of // 4
    prev: list = []
    rep = nph = 0
    for ph in np.unique(phrase_of):
        m = phrase_of == ph
        s0 = int(round(starts[min(int(ph) * 4, len(starts) - 1)] * GRID))
        cur = set(zip((mq[m] - s0).tolist(), mp[m].tolist()))
        nph += 1
        if any(len(cur & o) / len(cur | o) >= 0.8 for o in prev):
            rep += 1
        prev.append(cur)
    f["phrase_repetition"] = rep / nph if nph else 0.0
    run = best = 1
    for a, b in zip(mp[:-1].tolist(), mp[1:].tolist()):
        run = run + 1 if a == b else 1
        best = max(best, run)
    f["longest_repeated_note"] = float(best)
    order = np.argsort(onset)
    s, e = onset[order], (onset + dur)[order]
    covered = 0.0
    cur_s, cur_e = s[0], e[0]
    for a, b in zip(s[1:].tolist(), e[1:].tolist()):
        if a > cur_e:
            covered += cur_e - cur_s
            cur_s, cur_e = a, b
        else:
            cur_e = max(cur_e, b)
    covered += cur_e - cur_s
    f["silence_share"] = float(max(0.0, 1.0 - covered / end)) if end > 0 else 1.0
    return f


def empty_features() -> dict:
    """The features given to a tune without notes when failures are to count: empty
    histograms, no range, nothing in key or on the grid, no repetition, all silence."""
    f = {k: np.zeros(n) for k, n in (("pitch_class_hist", 12), ("interval_hist", 25),
                                     ("note_length_hist", len(LENGTH_CLASSES)), ("ioi_hist", len(LENGTH_CLASSES)))}
    f.update({k: 0.0 for k in SCALAR_FEATURES})
    f["silence_share"] = 1.0
    return f


def _matrix(feats: list, name: str) -> np.ndarray:
    return np.asarray([np.atleast_1d(np.asarray(f[name], dtype=np.float64)) for f in feats])


# --------------------------------------------------------------------------- distributions
def _kde(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Density of samples ``x`` on ``grid``: a Gaussian KDE with the kernel and bandwidth of
    ``scipy.stats.gaussian_kde`` (Scott's rule: std (ddof 1) x n^-1/5, as MGEval uses),
    evaluated directly (scipy's ``evaluate`` is far slower for 1-D data); a narrow fixed-width
    kernel when the samples have (almost) no spread."""
    x = np.asarray(x, dtype=np.float64)
    span = float(grid[-1] - grid[0]) or 1.0
    sd = float(np.std(x, ddof=1)) if x.size >= 2 else 0.0
    bw = sd * x.size ** (-0.2) if sd > 1e-9 * max(1.0, float(np.abs(x).max())) else span / 200.0
    # linear binning onto the (uniform) grid, then a convolution with the sampled kernel:
    # O(grid) instead of O(samples x grid), within ~1e-3 of the direct sum
    dx = float(grid[1] - grid[0])
    pos = np.clip((x - grid[0]) / dx, 0, grid.size - 1 - 1e-9)
    i0 = np.floor(pos).astype(np.int64)
    w1 = pos - i0
    counts = np.bincount(i0, 1 - w1, minlength=grid.size) + np.bincount(i0 + 1, w1, minlength=grid.size + 1)[: grid.size]
    half = min(int(np.ceil(6 * bw / dx)), 4 * grid.size)
    k = np.exp(-0.5 * (np.arange(-half, half + 1) * dx / bw) ** 2)
    k /= k.sum()  # unit mass even when the kernel is narrower than a grid step
    out = np.convolve(counts, k, mode="full")[half : half + grid.size]
    return out / (x.size * dx)


def overlap_and_kl(intra: np.ndarray, inter: np.ndarray) -> tuple[float, float]:
    """(overlapped area, KL(intra || inter)) of two distance samples, by KDE on a common grid."""
    intra = np.asarray(intra, dtype=np.float64)
    inter = np.asarray(inter, dtype=np.float64)
    if intra.size == 0 or inter.size == 0:
        return 0.0, float("inf")
    lo = min(intra.min(), inter.min())
    hi = max(intra.max(), inter.max())
    width = hi - lo
    pad = 0.25 * width if width > 0 else max(1e-3, 0.05 * abs(hi))
    grid = np.linspace(lo - pad, hi + pad, KDE_GRID)
    pa = _kde(intra, grid)
    pb = _kde(inter, grid)
    dx = grid[1] - grid[0]
    oa = float(np.minimum(pa, pb).sum() * dx)
    a = pa / max(pa.sum(), 1e-300)
    b = pb / max(pb.sum(), 1e-300)
    m = a > 1e-12
    kl = float(np.sum(a[m] * np.log(a[m] / np.maximum(b[m], 1e-300))))
    return min(max(oa, 0.0), 1.0), kl


def _cross_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances of feature rows."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


class Reference:
    """Features of a reference corpus and its intra-set distance samples, ready to judge
    tunes against (build once, judge many)."""

    def __init__(self, names: list, feats: list, skipped: Optional[list] = None, seed: int = 0):
        if len(feats) < 2:
            raise MusiclabError(f"A reference needs at least 2 readable pieces with notes ({len(feats)} found).")
        self.names = list(names)
        self.feats = list(feats)
        self.skipped = list(skipped or [])
        self.mats = {k: _matrix(self.feats, k) for k in FEATURES}
        n = len(self.feats)
        rng = np.random.default_rng(seed)
        iu, ju = np.triu_indices(n, 1)
        if iu.size > MAX_KDE_SAMPLES:
            sel = rng.choice(iu.size, MAX_KDE_SAMPLES, replace=False)
            iu, ju = iu[sel], ju[sel]
        self.pairs = (iu, ju)
        self.intra = {}
        for k, m in self.mats.items():
            self.intra[k] = np.sqrt(((m[iu] - m[ju]) ** 2).sum(axis=1))

    def __len__(self) -> int:
        return len(self.feats)

    def compare(self, feats: list, exclude: Optional[Sequence[int]] = None) -> dict:
        """Set-level OA and KL per feature for ``feats`` (a list of :func:`piece_features`
        dicts) against this reference. ``exclude``: reference indices to leave out (a piece
        judged against its own corpus)."""
        if not feats:
            return {"pieces": 0, "oa": {k: 0.0 for k in FEATURES}, "kl": {k: None for k in FEATURES},
                    "mean_oa": 0.0, "mean_kl": None}
        keep_ref = np.ones(len(self.feats), dtype=bool)
        keep_pair = np.ones(self.pairs[0].size, dtype=bool)
        if exclude is not None and len(exclude):
            ex = np.asarray(list(exclude), dtype=np.int64)
            keep_ref[ex] = False
            keep_pair = ~(np.isin(self.pairs[0], ex) | np.isin(self.pairs[1], ex))
        rng = np.random.default_rng(len(feats))
        oa, kl = {}, {}
        for k in FEATURES:
            g = _matrix(feats, k)
            d = _cross_dist(g, self.mats[k][keep_ref]).ravel()
            if d.size > MAX_KDE_SAMPLES:
                d = d[rng.choice(d.size, MAX_KDE_SAMPLES, replace=False)]
            oa[k], kl[k] = overlap_and_kl(self.intra[k][keep_pair], d)
        kls = [v for v in kl.values() if math.isfinite(v)]
        return {"pieces": len(feats), "oa": oa, "kl": kl, "mean_oa": float(np.mean(list(oa.values()))),
                "mean_kl": float(np.mean(kls)) if kls else None}

    def summary(self) -> dict:
        """Median and 10th-90th percentile of every scalar feature in the reference."""
        out = {}
        for k in SCALAR_FEATURES:
            v = self.mats[k][:, 0]
            out[k] = {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
                      "p90": float(np.percentile(v, 90))}
        return out

    def judge_tune(self, tune: Tune) -> dict:
        """One tune against this reference: per-feature OA of its distances to the corpus vs
        the corpus's own, mean OA, and its scalar features beside the corpus's range. A tune
        without notes gets mean OA 0 and a ``reason``."""
        try:
            f = piece_features(tune)
        except JudgeError as exc:
            return {"name": tune.name, "mean_oa": 0.0, "oa": {k: 0.0 for k in FEATURES}, "features": None,
                    "reason": str(exc)}
        res = self.compare([f])
        return {"name": tune.name, "mean_oa": res["mean_oa"], "oa": res["oa"],
                "features": {k: float(f[k]) for k in SCALAR_FEATURES}, "reference": self.summary(), "reason": None}

    def judge_notes(self, notes: Iterable, beats_per_bar: float = 4.0, name: str = "tune") -> dict:
        """One tune given as ``(onset, duration, pitch)`` notes in quarter notes (the output of
        :func:`musiclab.composer.generate.events_to_notes`) against this reference; see
        :meth:`judge_tune`. Fast (a tenth of a second), so a panel may call it per tune."""
        return self.judge_tune(tune_from_notes(notes, name, beats_per_bar))

    def single_ceiling(self, k: int = 10) -> Optional[float]:
        """Mean per-tune OA of ``k`` reference tunes, each judged against the others (the
        figure :meth:`judge_tune`'s ``mean_oa`` compares with)."""
        n = len(self.feats)
        if n < 3:
            return None
        idx = np.random.default_rng(1).choice(n, min(k, n), replace=False)
        return float(np.mean([self.compare([self.feats[i]], exclude=[i])["mean_oa"] for i in idx]))


# --------------------------------------------------------------------------- corpora
MIDI_EXTS = (".mid", ".midi", ".kar")


def midi_files(paths: Iterable) -> list[Path]:
    """MIDI files of ``paths`` (files as given, folders searched recursively, sorted)."""
    from ..audio.io import expand_paths

    return expand_paths(paths, set(MIDI_EXTS))


def load_features(paths: Iterable, should_stop: ShouldStop = None, on_progress: OnProgress = None,
                  label: str = "reading") -> tuple[list, list, list]:
    """(names, features, skipped [(path, reason)]) of the MIDI files in ``paths``."""
    files = midi_files(paths)
    names, feats, skipped = [], [], []
    for i, f in enumerate(files):
        check_stop(should_stop)
        try:
            if not f.is_file():
                raise JudgeError("file not found")
            feats.append(piece_features(read_midi(f)))
            names.append(str(f))
        except JudgeError as exc:
            skipped.append((str(f), str(exc)))
        report(on_progress, i + 1, len(files), f"{label} {f.name}")
    return names, feats, skipped


def build_reference(paths: Iterable, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Reference:
    """A :class:`Reference` from MIDI files/folders (about 10 ms per file)."""
    names, feats, skipped = load_features(paths, should_stop, on_progress, "reference")
    return Reference(names, feats, skipped)


def split_holdout(n: int, holdout: int, seed: int = 0) -> np.ndarray:
    """Indices of ``holdout`` of ``n`` pieces, drawn with a fixed seed."""
    holdout = max(0, min(int(holdout), n - 2))
    if holdout <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, holdout, replace=False))


def _seeded_subset(items: list, k: int) -> list:
    """``items`` itself when it holds at most ``k``, else ``k`` of them in their order (seed 0)."""
    if len(items) <= k:
        return items
    return [items[i] for i in np.sort(np.random.default_rng(0).choice(len(items), k, replace=False))]


def default_holdout(n: int) -> int:
    """Held-out tunes for the ceiling when none is asked for: a fifth, at most 50, none below 10."""
    return min(50, n // 5) if n >= 10 else 0


def judge_sets(gen_names: list, gen_feats: list, ref_names: list, ref_feats: list, holdout: Optional[int] = None,
               seed: int = 0, per_piece: bool = True, should_stop: ShouldStop = None) -> dict:
    """The report of :func:`judge_paths` from features already computed."""
    n_ref = len(ref_feats)
    h = default_holdout(n_ref) if holdout is None else holdout
    hidx = split_holdout(n_ref, h, seed)
    rest = np.setdiff1d(np.arange(n_ref), hidx)
    ref = Reference([ref_names[i] for i in rest], [ref_feats[i] for i in rest], seed=seed)
    check_stop(should_stop)
    gen = ref.compare(gen_feats)
    ceiling = ref.compare([ref_feats[i] for i in hidx]) if hidx.size else None
    out = {
        "generated": gen,
        "ceiling": ceiling,
        "ratio": (gen["mean_oa"] / ceiling["mean_oa"]) if ceiling and ceiling["mean_oa"] > 0 else None,
        "reference": {"pieces": len(rest), "holdout": int(hidx.size), "seed": seed,
                      "holdout_names": [Path(ref_names[i]).name for i in hidx], "summary": ref.summary()},
    }
    if per_piece:
        rows = []
        for name, f in zip(gen_names, gen_feats):
            check_stop(should_stop)
            r = ref.compare([f])
            rows.append({"name": Path(name).name, "mean_oa": r["mean_oa"],
                         **{k: float(f[k]) for k in SCALAR_FEATURES}})
        out["per_piece"] = rows
        if hidx.size:
            out["ceiling_per_piece_mean_oa"] = float(np.mean([ref.compare([ref_feats[i]])["mean_oa"] for i in hidx]))
    gen_scalars = {k: float(np.mean([f[k] for f in gen_feats])) for k in SCALAR_FEATURES} if gen_feats else None
    out["generated_means"] = gen_scalars
    return out


def judge_paths(generated: Iterable, reference: Iterable, holdout: Optional[int] = None, seed: int = 0,
                per_piece: bool = True, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """Judge the MIDI files in ``generated`` against the MIDI files in ``reference``.

    ``holdout`` reference tunes (default :func:`default_holdout`; 0 = none) are set aside and
    judged against the rest as the ceiling; the generated tunes are judged against the same
    rest. Files without notes are listed in ``skipped``; generated ones are failures:
    ``generated.pieces`` + ``generated_skipped`` = the files given, and
    ``generated_with_empty`` repeats the judgement with each note-less file counted as an
    empty tune (:func:`empty_features`). Returns a JSON-able dict.
    """
    gn, gf, gs = load_features(generated, should_stop, on_progress, "generated")
    rn, rf, rs = load_features(reference, should_stop, on_progress, "reference")
    if len(rf) < 2 + (holdout or 0):
        raise MusiclabError(f"The reference has {len(rf)} readable pieces with notes: too few "
                            f"(need at least {2 + (holdout or 0)}).")
    out = judge_sets(gn, gf, rn, rf, holdout=holdout, seed=seed, per_piece=per_piece, should_stop=should_stop)
    out["generated_skipped"] = len(gs)
    n_empty = sum(r in ("no notes", "drums only (channel 10)") for _, r in gs)
    out["generated_with_empty"] = None
    if n_empty:
        # the same judgement with every note-less generated file counted as an empty tune
        sub = judge_sets(gn, gf + [empty_features()] * n_empty, rn, rf, holdout=holdout, seed=seed, per_piece=False,
                         should_stop=should_stop)
        out["generated_with_empty"] = {"pieces": len(gf) + n_empty, "mean_oa": sub["generated"]["mean_oa"],
                                       "oa": sub["generated"]["oa"], "ratio": sub["ratio"]}
    out["skipped"] = [{"path": p, "reason": r, "set": "generated"} for p, r in gs] + \
                     [{"path": p, "reason": r, "set": "reference"} for p, r in rs]
    return out


# --------------------------------------------------------------------------- one result
_REF_CACHE: dict = {}
PANEL_REFERENCE_MAX = 300  # reference tunes a panel reads (seeded draw): a few seconds, not a minute


def reference_for_model(meta: dict, should_stop: ShouldStop = None, on_progress: OnProgress = None,
                        max_files: int = PANEL_REFERENCE_MAX,
                        style: Optional[str] = None) -> tuple[Reference, str, Optional[float]]:
    """The reference a model's result is judged against: the MIDI of its training sources
    (``meta["sources"]``, resolved like :func:`musiclab.fingerprint.resolve_trained_on`), at most
    ``max_files`` of them (seeded draw), cached per process. ``style`` (a score model's style
    asked for, e.g. ``"ryans"``): only the collection of that style (:func:`.labels.style_of`);
    a collection without MIDI (music21's ABC corpus) is read as musiclab's events, melody
    placed one note after another (so only for melody-only collections), at most
    :data:`PANEL_ABC_MAX` files of it (parsing ABC is slow the first time; the events are
    cached after). Returns ``(reference, description, ceiling)`` where ceiling is
    :meth:`Reference.single_ceiling`."""
    from ..fingerprint import resolve_trained_on

    missing = JudgeError("The model's training corpus is not on this machine, so there is nothing to compare with.")
    roots = resolve_trained_on(meta.get("sources") or [])
    melody_abc = False
    if style:
        from .generate import MELODY_ONLY_SHARE
        from .labels import style_of

        mine = [r for r in roots if style_of(str(r)) == style]
        chords = (meta.get("style_chords") or {}).get(style)
        melody_abc = chords is not None and float(chords) < MELODY_ONLY_SHARE
        roots = mine or roots
    if not roots:
        raise missing
    key = (tuple(str(r) for r in roots), max_files, melody_abc)
    if key not in _REF_CACHE:  # folders are searched once per process
        per_root = [(r, midi_files([r])) for r in roots]
        midi_roots = [(r, fs) for r, fs in per_root if fs]  # the judge reads MIDI
        if midi_roots or not melody_abc:
            if not midi_roots:  # folders without any say nothing
                raise missing
            files = _seeded_subset([f for _, fs in midi_roots for f in fs], max_files)
            ref = build_reference(files, should_stop=should_stop, on_progress=on_progress)
            used = [r for r, _ in midi_roots]
        else:
            ref = _events_reference(roots, min(max_files, PANEL_ABC_MAX), should_stop, on_progress)
            used = list(roots)
        _REF_CACHE[key] = (ref, ref.single_ceiling(), used)
    ref, ceiling, used = _REF_CACHE[key]
    return ref, ", ".join(r.name for r in used) + f" ({len(ref)} tunes)", ceiling


#: score files of a collection without MIDI (ABC) a panel reads (seeded draw)
PANEL_ABC_MAX = 120


def _events_reference(roots, max_files: int, should_stop: ShouldStop = None,
                      on_progress: OnProgress = None) -> Reference:
    """A :class:`Reference` from the score files under ``roots`` read as musiclab's events
    (:func:`.events.load_corpus`; at most ``max_files`` files and :data:`PANEL_REFERENCE_MAX`
    tunes, seeded draws), each event sounding where the one before it ended: right for
    melody-only tunes."""
    from .events import find_score_files, load_corpus
    from .generate import events_to_notes

    files = _seeded_subset(find_score_files(roots), max_files)
    pieces = load_corpus(files, should_stop=should_stop, on_progress=on_progress).pieces
    pieces = _seeded_subset(pieces, PANEL_REFERENCE_MAX)  # O'Neill's: a few files of many tunes each
    names, feats = [], []
    for p in pieces:
        check_stop(should_stop)
        try:
            feats.append(piece_features(tune_from_notes(events_to_notes(p.events), p.name)))
            names.append(p.name)
        except JudgeError:
            continue
    if len(feats) < 2:
        raise JudgeError("The model's training corpus is not on this machine, so there is nothing to compare with.")
    return Reference(names, feats)


def judge_result(meta: dict, notes: Iterable, beats_per_bar: float = 4.0, should_stop: ShouldStop = None,
                 on_progress: OnProgress = None, style: Optional[str] = None) -> dict:
    """A generated tune (``(onset, duration, pitch)`` notes in quarters) against its model's
    corpus (``style``: the collection of the style it was asked for, see
    :func:`reference_for_model`): the :meth:`Reference.judge_tune` report plus ``ceiling``
    (real tunes of that corpus judged the same way), ``reference`` (its description) and
    ``weakest`` (the three features whose OA is lowest, with their OA)."""
    try:
        ref, desc, ceiling = reference_for_model(meta, should_stop, on_progress, style=style)
    except JudgeError as exc:  # no corpus here, or too few readable tunes: said on the panel, not an error
        return {"reason": str(exc), "mean_oa": None, "oa": {}, "features": None, "weakest": []}
    rep = ref.judge_notes(notes, beats_per_bar)
    rep["ceiling"] = ceiling
    rep["reference_name"] = desc
    rep["weakest"] = sorted(rep["oa"].items(), key=lambda kv: kv[1])[:3] if rep.get("features") else []
    return rep
