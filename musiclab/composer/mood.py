"""A symbolic mood (EMOPIA quadrant) classifier: notes -> Q1 happy, Q2 tense, Q3 sad, Q4 calm.

It judges what the mood-conditioned Composer writes, so it reads only what a score holds —
pitches, onsets and lengths — and **never velocity** (generated MIDI has one velocity, and the
mood must be carried by the notes themselves).

Features (:data:`FEATURES`, :func:`note_features`) of a piece's notes (start and end in
quarters, pitch; seconds from the file's tempo map):

* mode and key: correlation of the duration-weighted pitch-class histogram with the
  Krumhansl-Kessler major and minor profiles (best key of each mode, their difference), the
  histogram rotated to the best key's tonic (12 bins), its entropy, share of in-key pitch time;
* register: mean / spread / 10th and 90th percentile of pitch, mean highest and lowest note
  per onset, range;
* density: notes and distinct onsets per quarter *and* per second, sounding polyphony,
  share of time with any sound;
* rhythm: inter-onset intervals (mean, spread, share of short ones), note lengths (mean log
  length, share short / long);
* intervals: melodic intervals of the top line (mean size, share of steps, of leaps),
  dissonant intervals among notes that sound together (m2, tritone, M7);
* harmony over time: share of beats whose sounding pitch classes hold a major / minor /
  diminished triad, and the major-minus-minor key correlation in 8-quarter windows (its mean,
  and the share of windows that lean major).

Model: multinomial logistic regression over standardised features (numpy), L2 strength
chosen by song-grouped 5-fold cross-validation on the training split. A model file
(``resources/models/composer/mood-classifier.pt``) is a plain dict of tensors, loaded with
``weights_only=True`` and validated (feature names, shapes, classes).

Arousal half: Q1/Q2 (high) vs Q3/Q4 (low); valence half: Q1/Q4 (positive) vs Q2/Q3 (negative).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..errors import ModelFileError, MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
QUADRANT_NAMES = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm"}
HIGH_AROUSAL = {"Q1", "Q2"}
POSITIVE_VALENCE = {"Q1", "Q4"}
KIND = "composer-mood"
ARCH = "mood-logreg"
DEFAULT_NAME = "mood-classifier"

_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

def _zs(a):
    a = np.asarray(a, dtype=np.float64)
    sd = a.std(axis=-1, keepdims=True)
    return (a - a.mean(axis=-1, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)


#: every key's profile, z-scored: rows 0-11 major on C..B, 12-23 minor
_PROFILES = _zs(np.stack([np.roll(_MAJOR, k) for k in range(12)] + [np.roll(_MINOR, k) for k in range(12)]))


def _key_corr(h: np.ndarray) -> np.ndarray:
    """Pearson correlation of pitch-class histograms (..., 12) with the 24 key profiles."""
    return _zs(h) @ _PROFILES.T / 12.0


FEATURES = (
    ["major_corr", "minor_corr", "major_minus_minor", "key_clarity", "pc_entropy", "in_key_share"]
    + [f"pc_rel_{i}" for i in range(12)]
    + ["pitch_mean", "pitch_std", "pitch_p10", "pitch_p90", "pitch_range", "top_mean", "bass_mean"]
    + ["notes_per_quarter", "onsets_per_quarter", "notes_per_second", "onsets_per_second",
       "polyphony_mean", "polyphony_max", "sound_share"]
    + ["ioi_mean_log", "ioi_std_log", "ioi_short_share", "dur_mean_log", "dur_std_log", "dur_short_share",
       "dur_long_share"]
    + ["mel_interval_mean", "mel_step_share", "mel_leap_share", "mel_repeat_share", "dissonance_share",
       "chord_size_mean"]
    + ["beat_major_triad_share", "beat_minor_triad_share", "beat_dim_triad_share", "beat_major_minus_minor",
       "window_major_minus_minor", "window_major_share"]
)


def quadrant_of_name(name: str) -> Optional[str]:
    """EMOPIA's label from a file name (``Q3_xxxx_1.mid`` -> ``"Q3"``), else None."""
    m = re.match(r"^(Q[1-4])_", Path(str(name)).name, re.IGNORECASE)
    return m.group(1).upper() if m else None


def song_of_name(name: str) -> str:
    """EMOPIA's song id (``Q3_<song>_<clip>.mid`` -> ``<song>``): clips of a song stay together."""
    stem = Path(str(name)).stem
    m = re.match(r"^Q[1-4]_(.+)_\d+$", stem, re.IGNORECASE)
    return m.group(1) if m else stem


def normalize_quadrant(q) -> Optional[str]:
    """``"q3"`` -> ``"Q3"``; None/"" -> None; anything else a clear error."""
    if q is None or str(q).strip() == "" or str(q).strip().lower() == "none":
        return None
    k = str(q).strip().upper()
    if k not in QUADRANTS:
        for name, word in QUADRANT_NAMES.items():
            if str(q).strip().lower() == word:
                return name
        raise MusiclabError(f"Unknown mood {q!r}: choose Q1 (happy), Q2 (tense), Q3 (sad) or Q4 (calm).")
    return k


def arousal_high(q: str) -> bool:
    return q in HIGH_AROUSAL


def valence_positive(q: str) -> bool:
    return q in POSITIVE_VALENCE


# --------------------------------------------------------------------------- notes
@dataclass
class Notes:
    """A piece's notes: ``start``/``end`` in quarters and seconds, ``pitch`` (no velocity)."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray

    def __len__(self) -> int:
        return int(self.pitch.size)


def notes_from_midi(path) -> Notes:
    """The non-drum notes of a MIDI file (all tracks), or :class:`MusiclabError`."""
    import symusic

    p = Path(path)
    try:
        sc = symusic.Score(str(p))
        sec = sc.to("second")
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one message
        raise MusiclabError(f"'{p.name}' is not a readable MIDI file ({type(exc).__name__}).") from exc
    tpq = float(sc.ticks_per_quarter or 480)
    st, en, pi, ss, es = [], [], [], [], []
    for tr, trs in zip(sc.tracks, sec.tracks):
        if tr.is_drum:
            continue
        a, b = tr.notes.numpy(), trs.notes.numpy()
        st.append(a["time"] / tpq)
        en.append((a["time"] + a["duration"]) / tpq)
        pi.append(a["pitch"])
        ss.append(b["time"])
        es.append(b["time"] + b["duration"])
    if not st:
        return Notes(*(np.zeros(0) for _ in range(5)))
    cat = [np.concatenate(x).astype(np.float64) for x in (st, en, pi, ss, es)]
    order = np.lexsort((cat[2], cat[0]))
    return Notes(*(c[order] for c in cat))


def notes_from_events(events: Sequence, tempo: float = 120.0) -> Notes:
    """Notes of musiclab events, placed as the MIDI writer places them, at ``tempo`` BPM."""
    from .generate import events_to_notes

    ns = sorted(events_to_notes(list(events)))
    if not ns:
        return Notes(*(np.zeros(0) for _ in range(5)))
    a = np.asarray(ns, dtype=np.float64)
    spq = 60.0 / float(tempo)
    return Notes(a[:, 0], a[:, 0] + a[:, 1], a[:, 2], a[:, 0] * spq, (a[:, 0] + a[:, 1]) * spq)


# --------------------------------------------------------------------------- features
def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


def note_features(notes: Notes) -> np.ndarray:
    """The :data:`FEATURES` vector of ``notes`` (float64); a piece without notes is an error."""
    n = len(notes)
    if n == 0:
        raise MusiclabError("The piece has no notes to judge its mood by.")
    st, en, pi = notes.start, np.maximum(notes.end, notes.start + 1 / 48), notes.pitch
    dur = en - st
    length_q = max(float(en.max() - st.min()), 0.25)
    length_s = max(float(notes.end_s.max() - notes.start_s.min()), 0.1)
    f: list[float] = []
    # -- mode and key
    pcs = np.zeros(12)
    np.add.at(pcs, pi.astype(int) % 12, dur)
    h = pcs / pcs.sum() if pcs.sum() > 0 else np.full(12, 1 / 12)
    kc = np.nan_to_num(_key_corr(h))
    maj, mnr = kc[:12], kc[12:]
    bm, bn = float(maj.max()), float(mnr.max())
    both = np.sort(np.concatenate([maj, mnr]))
    if bm >= bn:
        tonic, prof = int(maj.argmax()), _MAJOR
    else:
        tonic, prof = int(mnr.argmax()), _MINOR
    scale = np.roll(np.argsort(prof)[::-1][:7], 0)
    in_key = float(h[(scale + tonic) % 12].sum())
    f += [bm, bn, bm - bn, float(both[-1] - both[-2]), _entropy(h), in_key]
    f += list(np.roll(h, -tonic))
    # -- register
    onset_vals, inv = np.unique(np.round(st * 48).astype(np.int64), return_inverse=True)
    top = np.full(onset_vals.size, -1.0)
    bass = np.full(onset_vals.size, 200.0)
    np.maximum.at(top, inv, pi)
    np.minimum.at(bass, inv, pi)
    f += [float(pi.mean()), float(pi.std()), float(np.percentile(pi, 10)), float(np.percentile(pi, 90)),
          float(pi.max() - pi.min()), float(top.mean()), float(bass.mean())]
    # -- density and polyphony (sampled on a 1/12-quarter grid)
    n_on = onset_vals.size
    grid = np.arange(float(st.min()), float(en.max()), 1 / 12)
    if grid.size > 20000:
        grid = np.linspace(float(st.min()), float(en.max()), 20000, endpoint=False)
    sounding = (np.searchsorted(np.sort(st), grid, side="right")
                - np.searchsorted(np.sort(en), grid, side="right")).astype(np.float64)
    poly = sounding[sounding > 0]
    f += [n / length_q, n_on / length_q, n / length_s, n_on / length_s,
          float(poly.mean()) if poly.size else 0.0, float(poly.max()) if poly.size else 0.0,
          float((sounding > 0).mean()) if sounding.size else 0.0]
    # -- rhythm
    on_q = onset_vals / 48.0
    ioi = np.diff(on_q)
    ioi = ioi[ioi > 0]
    lioi = np.log2(ioi) if ioi.size else np.zeros(1)
    ld = np.log2(dur)
    f += [float(lioi.mean()), float(lioi.std()), float((ioi < 0.3).mean()) if ioi.size else 0.0,
          float(ld.mean()), float(ld.std()), float((dur < 0.3).mean()), float((dur >= 2.0).mean())]
    # -- intervals: the top line, and notes sounding together
    mel = np.diff(top)
    am = np.abs(mel)
    if am.size:
        f += [float(am.mean()), float(((am >= 1) & (am <= 2)).mean()), float((am >= 5).mean()), float((am == 0).mean())]
    else:
        f += [0.0, 0.0, 0.0, 0.0]
    diss = tot = 0
    sizes = np.bincount(inv)
    order = np.argsort(inv, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for k in range(onset_vals.size):
        if sizes[k] < 2:
            continue
        ch = np.unique(pi[order[bounds[k]:bounds[k + 1]]].astype(int))
        if ch.size < 2:
            continue
        d = (ch[None, :] - ch[:, None])[np.triu_indices(ch.size, 1)] % 12
        diss += int(np.isin(d, (1, 6, 11)).sum())
        tot += d.size
    f += [diss / tot if tot else 0.0, float(sizes.mean())]
    f += _harmony_features(st, en, pi.astype(np.int64))
    v = np.asarray(f, dtype=np.float64)
    return np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)


def _harmony_features(st, en, pi) -> list:
    """Triads per beat and the mode in 8-quarter windows (see the module doc)."""
    b0 = int(np.floor(st.min()))
    nb = int(np.ceil(en.max())) - b0
    nb = max(1, min(nb, 20000))
    w = np.zeros((nb, 12))  # sounding time of each pitch class in each beat
    first = np.clip(np.floor(st).astype(np.int64) - b0, 0, nb - 1)
    last = np.clip(np.ceil(en).astype(np.int64) - 1 - b0, 0, nb - 1)
    span = last - first + 1
    note = np.repeat(np.arange(st.size), span)
    beat = first[note] + (np.arange(note.size) - np.repeat(np.cumsum(span) - span, span))
    ov = np.minimum(en[note], beat + b0 + 1) - np.maximum(st[note], beat + b0)
    np.add.at(w, (beat, pi[note] % 12), np.maximum(ov, 0.0))
    present = w > 1e-6
    used = present.sum(axis=1) >= 2
    out = []
    for third, fifth in ((4, 7), (3, 7), (3, 6)):
        tri = np.zeros(nb, dtype=bool)
        for r in range(12):
            tri |= present[:, r] & present[:, (r + third) % 12] & present[:, (r + fifth) % 12]
        out.append(float((tri & used).sum() / max(1, used.sum())))
    out.append(out[0] - out[1])
    k = 8
    nw = nb // k if nb >= k else 1
    win = w[: nw * k].reshape(nw, -1, 12).sum(axis=1) if nb >= k else w.sum(axis=0, keepdims=True)
    ok = win.sum(axis=1) > 0
    hw = win[ok]
    hw = hw[hw.std(axis=1) > 1e-9]
    if hw.shape[0]:
        kc = _key_corr(hw / hw.sum(axis=1, keepdims=True))
        d = np.nan_to_num(kc[:, :12].max(axis=1) - kc[:, 12:].max(axis=1))
    else:
        d = np.zeros(1)
    return out + [float(d.mean()), float((d > 0).mean())]


def file_features(path) -> np.ndarray:
    return note_features(notes_from_midi(path))


# --------------------------------------------------------------------------- the model
@dataclass
class MoodClassifier:
    """Standardisation + multinomial logistic regression over :data:`FEATURES`."""

    mean: np.ndarray
    std: np.ndarray
    W: np.ndarray  # (features, classes)
    b: np.ndarray  # (classes,)
    classes: tuple = QUADRANTS
    meta: dict = field(default_factory=dict)
    path: Optional[Path] = None

    def proba(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        z = (X - self.mean) / self.std @ self.W + self.b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> list:
        return [self.classes[i] for i in self.proba(X).argmax(axis=1)]

    def judge_notes(self, notes: Notes) -> dict:
        p = self.proba(note_features(notes))[0]
        return describe(p, self.classes)


def describe(p: np.ndarray, classes=QUADRANTS) -> dict:
    """Quadrant, probabilities, and the two halves' probabilities of one prediction."""
    q = classes[int(np.argmax(p))]
    probs = {c: round(float(x), 4) for c, x in zip(classes, p)}
    return {"quadrant": q, "mood": QUADRANT_NAMES.get(q, q), "probs": probs,
            "p_high_arousal": round(sum(probs[c] for c in classes if c in HIGH_AROUSAL), 4),
            "p_positive_valence": round(sum(probs[c] for c in classes if c in POSITIVE_VALENCE), 4)}


def _fit_logreg(X: np.ndarray, y: np.ndarray, k: int, l2: float, iters: int = 400) -> tuple:
    """Multinomial logistic regression on standardised X (L-BFGS via scipy if present, else
    gradient descent). Returns (W, b)."""
    n, d = X.shape
    Y = np.eye(k)[y]

    def loss_grad(theta):
        W = theta[: d * k].reshape(d, k)
        b = theta[d * k:]
        z = X @ W + b
        z -= z.max(axis=1, keepdims=True)
        P = np.exp(z)
        P /= P.sum(axis=1, keepdims=True)
        loss = -np.sum(Y * np.log(P + 1e-12)) / n + 0.5 * l2 * np.sum(W * W)
        G = (P - Y) / n
        gW = X.T @ G + l2 * W
        gb = G.sum(axis=0)
        return loss, np.concatenate([gW.ravel(), gb])

    theta = np.zeros(d * k + k)
    try:
        from scipy.optimize import minimize

        r = minimize(loss_grad, theta, jac=True, method="L-BFGS-B", options={"maxiter": iters})
        theta = r.x
    except ImportError:  # plain gradient descent
        for _ in range(iters * 5):
            _, g = loss_grad(theta)
            theta -= 0.5 * g
    return theta[: d * k].reshape(d, k), theta[d * k:]


def fit(X: np.ndarray, labels: Sequence[str], groups: Sequence[str], l2_grid=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3),
        folds: int = 5, seed: int = 0) -> tuple[MoodClassifier, dict]:
    """Fit on (X, labels); the L2 strength by ``folds``-fold cross-validation grouped by song
    (``groups``). Returns the classifier and the CV report."""
    X = np.asarray(X, dtype=np.float64)
    y = np.array([QUADRANTS.index(q) for q in labels])
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std < 1e-9] = 1.0
    Z = (X - mean) / std
    songs = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(songs)
    fold_of = {s: i % folds for i, s in enumerate(songs)}
    f_id = np.array([fold_of[g] for g in groups])
    cv = {}
    for l2 in l2_grid:
        hit = 0
        for k in range(folds):
            tr, te = f_id != k, f_id == k
            W, b = _fit_logreg(Z[tr], y[tr], len(QUADRANTS), l2)
            hit += int(((Z[te] @ W + b).argmax(axis=1) == y[te]).sum())
        cv[l2] = hit / len(y)
    best = max(cv, key=lambda l2: (cv[l2], l2))
    W, b = _fit_logreg(Z, y, len(QUADRANTS), best)
    clf = MoodClassifier(mean, std, W, b, QUADRANTS,
                         meta={"l2": best, "cv_accuracy": {str(k): round(v, 4) for k, v in cv.items()},
                               "train_pieces": int(len(y))})
    return clf, {"l2": best, "cv_accuracy": cv}


def scores(pred: Sequence[str], truth: Sequence[str]) -> dict:
    """4-way accuracy and the arousal / valence half accuracies."""
    n = len(truth)
    if not n:
        return {"pieces": 0}
    return {"pieces": n,
            "accuracy": round(sum(p == t for p, t in zip(pred, truth)) / n, 4),
            "arousal_accuracy": round(sum(arousal_high(p) == arousal_high(t) for p, t in zip(pred, truth)) / n, 4),
            "valence_accuracy": round(sum(valence_positive(p) == valence_positive(t) for p, t in zip(pred, truth)) / n, 4)}


# --------------------------------------------------------------------------- files
def save_classifier(clf: MoodClassifier, path) -> Path:
    import torch

    from ..models import make_meta, save_model

    meta = make_meta(KIND, ARCH, features=list(FEATURES), classes=list(clf.classes), **clf.meta)
    obj = {"meta": meta, "mean": torch.from_numpy(clf.mean.astype(np.float64)),
           "std": torch.from_numpy(clf.std.astype(np.float64)), "W": torch.from_numpy(clf.W.astype(np.float64)),
           "b": torch.from_numpy(clf.b.astype(np.float64))}
    return save_model(obj, path)


def load_classifier(name_or_path: str | Path = DEFAULT_NAME) -> MoodClassifier:
    """The classifier from a model file (default: the shipped one), validated."""
    from ..models import load_model_file, shipped_models_dir

    p = Path(str(name_or_path))
    if not p.suffix and not p.exists():
        p = shipped_models_dir("composer") / f"{name_or_path}.pt"
    obj = load_model_file(p, KIND, (ARCH,))
    meta = obj["meta"]
    if list(meta.get("features") or []) != list(FEATURES):
        raise ModelFileError(f"'{p.name}' was fitted on other features than this musiclab computes.")
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ModelFileError(f"'{p.name}' has no valid class names.")
    d, k = len(FEATURES), len(classes)
    try:
        arr = {key: obj[key].double().numpy() for key in ("mean", "std", "W", "b")}
    except (KeyError, AttributeError) as exc:
        raise ModelFileError(f"'{p.name}' misses the classifier's weights ({exc}).") from exc
    want = {"mean": (d,), "std": (d,), "W": (d, k), "b": (k,)}
    for key, shape in want.items():
        if tuple(arr[key].shape) != shape or not np.all(np.isfinite(arr[key])):
            raise ModelFileError(f"'{p.name}': '{key}' has shape {tuple(arr[key].shape)}, expected {shape} (or is not finite).")
    if np.any(arr["std"] <= 0):
        raise ModelFileError(f"'{p.name}': non-positive feature scales.")
    return MoodClassifier(arr["mean"], arr["std"], arr["W"], arr["b"], tuple(classes), meta=meta, path=p)


def split_names(csv_path) -> list[str]:
    """The clip file names an EMOPIA split file lists."""
    import csv

    out = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                if cell.strip().lower().endswith((".mid", ".midi")):
                    out.append(cell.strip())
    return out


def features_of_files(paths: Sequence, should_stop: ShouldStop = None, on_progress: OnProgress = None):
    """(X, kept paths, skipped [(path, reason)]) of MIDI files."""
    X, kept, skipped = [], [], []
    for i, f in enumerate(paths):
        check_stop(should_stop)
        try:
            X.append(file_features(f))
            kept.append(Path(f))
        except MusiclabError as exc:
            skipped.append((str(f), str(exc)))
        report(on_progress, i + 1, len(paths), Path(f).name)
    return (np.asarray(X) if X else np.zeros((0, len(FEATURES)))), kept, skipped


def roundtrip_features(paths: Sequence, should_stop: ShouldStop = None) -> tuple:
    """Features of MIDI files after musiclab's own event extraction and placement (what a
    model trained on them writes back): (X, kept paths)."""
    from .events import load_corpus

    corpus = load_corpus(list(paths), should_stop=should_stop)
    by_file = {Path(p.source).name: p for p in corpus.pieces}
    X, kept = [], []
    for f in paths:
        check_stop(should_stop)
        piece = by_file.get(Path(f).name)
        if piece is None:
            continue
        try:
            X.append(note_features(notes_from_events(piece.events)))
            kept.append(Path(f))
        except MusiclabError:
            continue
    return (np.asarray(X) if X else np.zeros((0, len(FEATURES)))), kept


def train_on_emopia(root, out=None, roundtrip: bool = True, should_stop: ShouldStop = None,
                    on_progress: OnProgress = None) -> dict:
    """Fit the classifier on EMOPIA's ``split/train_clip.csv`` and report it on
    ``split/val_clip.csv`` (never the test split). With ``roundtrip`` every training clip is
    also fed as it comes back through musiclab's event extraction and MIDI placement (the
    domain of generated pieces: quantised, one velocity). Writes ``out`` when given."""
    root = Path(root)
    midis = root / "midis"
    tr_names = split_names(root / "split" / "train_clip.csv")
    va_names = split_names(root / "split" / "val_clip.csv")
    if not tr_names or not va_names:
        raise MusiclabError(f"No EMOPIA train/val split found under {root}/split.")
    Xtr, ktr, s1 = features_of_files([midis / n for n in tr_names], should_stop, on_progress)
    Xva, kva, s2 = features_of_files([midis / n for n in va_names], should_stop, on_progress)
    ytr = [quadrant_of_name(p.name) for p in ktr]
    yva = [quadrant_of_name(p.name) for p in kva]
    gtr = [song_of_name(p.name) for p in ktr]
    res: dict = {}
    if roundtrip:
        Rtr, rtr = roundtrip_features([midis / n for n in tr_names], should_stop)
        Rva, rva = roundtrip_features([midis / n for n in va_names], should_stop)
        X_fit = np.vstack([Xtr, Rtr])
        y_fit = ytr + [quadrant_of_name(p.name) for p in rtr]
        g_fit = gtr + [song_of_name(p.name) for p in rtr]
    else:
        X_fit, y_fit, g_fit = Xtr, ytr, gtr
    clf, cv = fit(X_fit, y_fit, g_fit)
    res.update({"train": scores(clf.predict(Xtr), ytr), "val": scores(clf.predict(Xva), yva)})
    if roundtrip:
        res["val_roundtrip"] = scores(clf.predict(Rva), [quadrant_of_name(p.name) for p in rva])
    res.update({"cv_accuracy_by_l2": {str(k): round(v, 4) for k, v in cv["cv_accuracy"].items()}, "l2": cv["l2"],
                "fit_rows": int(len(y_fit)), "skipped": s1 + s2})
    clf.meta.update(val=res["val"], val_roundtrip=res.get("val_roundtrip"), train_split="split/train_clip.csv",
                    val_split="split/val_clip.csv", roundtrip=bool(roundtrip),
                    data="EMOPIA 1.0 (CC BY-NC-SA 4.0)")
    if out is not None:
        res["out"] = str(save_classifier(clf, out))
    return res


def judge_files(paths: Iterable, classifier: Optional[MoodClassifier] = None, requested: Optional[str] = None,
                should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """Classify MIDI files (folders expanded). The requested quadrant of each file is
    ``requested`` or, without it, the file name's ``Q1_``..``Q4_`` prefix (if any); with one,
    the hit rates of its arousal and valence halves are reported."""
    from ..audio.io import expand_paths

    clf = classifier or load_classifier()
    files = expand_paths(list(paths), {".mid", ".midi"})
    rows, skipped = [], []
    for i, f in enumerate(files):
        check_stop(should_stop)
        try:
            d = clf.judge_notes(notes_from_midi(f))
        except MusiclabError as exc:
            skipped.append({"file": str(f), "reason": str(exc)})
            continue
        want = requested or quadrant_of_name(f.name)
        d.update(file=str(f), requested=want)
        rows.append(d)
        report(on_progress, i + 1, len(files), f.name)
    out = {"files": rows, "skipped": skipped, "pieces": len(rows)}
    asked = [r for r in rows if r["requested"] in QUADRANTS]
    if asked:
        out["summary"] = hit_rates([r["requested"] for r in asked], [r["quadrant"] for r in asked])
    return out


def hit_rates(requested: Sequence[str], predicted: Sequence[str]) -> dict:
    """How often the predicted quadrant, and its arousal / valence half, is the requested one."""
    s = scores(predicted, requested)  # the same agreement, read as hits of a request
    if not s["pieces"]:
        return s
    return {"pieces": s["pieces"], "quadrant_hit": s["accuracy"], "arousal_hit": s["arousal_accuracy"],
            "valence_hit": s["valence_accuracy"]}
