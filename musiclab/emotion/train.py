"""Training and fine-tuning of emotion models on labelled data. No Qt.

``train(sources, out, TrainOptions(...))`` runs four steps: :func:`plan` splits the clips
*by artist* (group) into training and validation sets and decides the members; :func:`fit`
fits them (networks epoch by epoch, reporting each epoch, keeping the best one) and
calibrates a model of regressions; :func:`validate` measures each member and the model on
the held-out artists; :func:`save` writes the model file (after :func:`refit` on all clips
with the chosen settings, when asked).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from .dataset import Item, extract_all, clip_features, clip_musicnn, default_cache_dir, load_labelled
from .features import N_SUMMARY, clip_windows, win_frames, window_starts
from .metrics import evaluate, log_loss
from .model import (ARCHS, AXES, KIND, LR_ARCHS, MUSICNN_MEMBERS, NEURAL, PATCH, EmotionModel, build_net, fit_window,
                    lr_window_probs, member_arch, mix_probs, musicnn_windows, sharpen)

OnEpoch = Optional[Callable[[dict], None]]

DEFAULT_EPOCHS = {"crnn": 30, "seed-cnn": 25, "seed-lstm": 25}
# the two musicnn backbones, equal weights (not searched); adding the summary-feature regression and the CRNNs
# (the 'fast' model) gained nothing on the five artist-disjoint validation splits: resources/models/emotion/default.md
DEFAULT_ENSEMBLE_WEIGHTS = {"musicnn": 0.5, "musicnn-mtt": 0.5}
# CRNN members of the ensemble (seeds member_seed, member_seed+1, ...), sharing the "crnn" weight equally;
# 3 measured on five artist-disjoint splits: see resources/models/emotion/default.md
DEFAULT_CRNN_MEMBERS = 3
ENSEMBLE_WEIGHT_KEYS = ("musicnn", "musicnn-mtt", "linear", "crnn")


class TrainError(MusiclabError):
    pass


# -- data -----------------------------------------------------------------------------------

class Clips:
    """Features of labelled clips held in memory."""

    def __init__(self, items: list[Item], logmels: list[np.ndarray], ffs: list[np.ndarray],
                 cache_files: Optional[list] = None, cache_dir: Optional[Path] = None):
        self.items = items
        self.cache_dir = cache_dir
        self.cache_files = cache_files
        self.logmels = logmels
        self.ffs = ffs
        self.labels = np.array([it.label for it in items], dtype=np.int64)
        self.groups = np.array([it.group for it in items])
        self._summ: Optional[list[np.ndarray]] = None
        self._mnn: dict[str, list[np.ndarray]] = {}  # backbone -> per clip window features

    def __len__(self):
        return len(self.items)

    def subset(self, idx) -> "Clips":
        c = Clips([self.items[i] for i in idx], [self.logmels[i] for i in idx], [self.ffs[i] for i in idx],
                  [self.cache_files[i] for i in idx] if self.cache_files else None, self.cache_dir)
        if self._summ is not None:
            c._summ = [self._summ[i] for i in idx]
        c._mnn = {b: [f[i] for i in idx] for b, f in self._mnn.items()}
        return c

    def musicnn(self, should_stop: ShouldStop = None, on_progress: OnProgress = None,
                backbone: str = "msd") -> list[np.ndarray]:
        """Per clip: ``(n_windows, FEATURE_DIM)`` window features of a musicnn ``backbone`` (the
        same windows as :meth:`summaries`); computed once per clip (about 0.3 s each) and cached."""
        if backbone not in self._mnn:
            win = win_frames()
            out = []
            n = len(self.items)
            for i, (it, lm) in enumerate(zip(self.items, self.logmels)):
                check_stop(should_stop)
                report(on_progress, i, n, f"musicnn ({backbone.upper()}) features {it.path.name}")
                cached = clip_musicnn(it.path, self.cache_dir, backbone=backbone)
                out.append(musicnn_windows(None, None, window_starts(lm.shape[1]), win, cached=cached))
            self._mnn[backbone] = out
        return self._mnn[backbone]

    def features(self, member: str, should_stop: ShouldStop = None, on_progress: OnProgress = None):
        """Window features of a logistic-regression member (``linear``, ``musicnn`` or ``musicnn-mtt``)."""
        if member in MUSICNN_MEMBERS:
            return self.musicnn(should_stop, on_progress, backbone=MUSICNN_MEMBERS[member])
        return self.summaries(should_stop)

    def summaries(self, should_stop: ShouldStop = None) -> list[np.ndarray]:
        """Per clip: ``(n_windows, N_SUMMARY)`` window summaries."""
        if self._summ is None:
            out = []
            for i, ff in enumerate(self.ffs):
                check_stop(should_stop)
                cf = Path(self.cache_files[i]) if self.cache_files else None
                if cf is not None and cf.is_file():
                    try:
                        s = np.load(cf)
                        if s.ndim == 2 and s.shape[1] == N_SUMMARY:
                            out.append(s)
                            continue
                    except Exception:
                        pass
                s = clip_windows(ff)[1]
                if cf is not None:
                    try:
                        np.save(cf, s)
                    except OSError:
                        pass
                out.append(s)
            self._summ = out
        return self._summ


def load_clips(sources, cache_dir=None, workers: int = 1, should_stop: ShouldStop = None,
               on_progress: OnProgress = None, log: Callable[[str], None] = lambda s: None) -> Clips:
    items: list[Item] = []
    for src in sources:
        ds = load_labelled(src, should_stop=should_stop)
        for s in ds.skipped:
            log(f"{Path(src).name}: {s}")
        items.extend(ds.items)
    if not items:
        raise TrainError("No labelled clips found.")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    errors = extract_all([it.path for it in items], cache_dir, workers, should_stop, on_progress)
    for p, e in errors.items():
        log(f"skipped: {e}")
    from .dataset import _cache_key

    keep, lms, ffs, cfs = [], [], [], []
    for it in items:
        if it.path in errors:
            continue
        check_stop(should_stop)
        lm, ff = clip_features(it.path, cache_dir)
        keep.append(it)
        lms.append(lm)
        ffs.append(ff)
        cfs.append(cache_dir / f"{_cache_key(it.path)}.summary.npy")
    if len(keep) < 8:
        raise TrainError(f"Only {len(keep)} readable labelled clips: too few to train on.")
    return Clips(keep, lms, ffs, cfs, cache_dir)


def artist_split(labels: np.ndarray, groups: np.ndarray, val_fraction: float = 0.2, seed: int = 0):
    """Train/validation indices with no group (artist) on both sides, classes balanced."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    rng.shuffle(uniq)
    n_cls = int(labels.max()) + 1
    target = np.bincount(labels, minlength=n_cls) * val_fraction
    have = np.zeros(n_cls)
    val_groups = set()
    by_group = {g: np.where(groups == g)[0] for g in uniq}
    for g in uniq:
        cnt = np.bincount(labels[by_group[g]], minlength=n_cls)
        if np.all(have + cnt <= target + 1):
            val_groups.add(g)
            have += cnt
        if np.all(have >= target - 1):
            break
    val = np.array(sorted(i for g in val_groups for i in by_group[g]), dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


# -- linear model ---------------------------------------------------------------------------

def fit_linear(summaries: list[np.ndarray], labels: np.ndarray, C: float = 0.1) -> dict:
    """Logistic regression on window summaries (each window labelled with its clip)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate(summaries)
    y = np.concatenate([np.full(len(s), l) for s, l in zip(summaries, labels)])
    mean = X.mean(axis=0)
    scale = X.std(axis=0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=3000)
    clf.fit((X - mean) / scale, y)
    W = np.zeros((4, X.shape[1]))
    b = np.zeros(4)
    for row, cls in enumerate(clf.classes_):
        W[int(cls)] = clf.coef_[row] if len(clf.classes_) > 2 else (clf.coef_[0] * (1 if row else -1))
        b[int(cls)] = clf.intercept_[row] if len(clf.classes_) > 2 else 0.0
    for cls in set(range(4)) - set(int(c) for c in clf.classes_):
        b[cls] = -30.0  # a class never seen in training is never predicted
    return {"mean": torch.tensor(mean, dtype=torch.float32), "scale": torch.tensor(scale, dtype=torch.float32),
            "weight": torch.tensor(W, dtype=torch.float32), "bias": torch.tensor(b, dtype=torch.float32)}


def linear_window_probs(sd: dict, feats: list[np.ndarray]) -> list[np.ndarray]:
    """Per clip: ``(n_windows, 4)`` quadrant probabilities of a logistic-regression member (with
    its arousal / valence heads, if it has them), as prediction makes them."""
    mean, scale = sd["mean"].numpy(), sd["scale"].numpy()
    W, b = sd["weight"].numpy(), sd["bias"].numpy()
    axes = {a: (sd[f"{a}.weight"].numpy(), float(sd[f"{a}.bias"])) for a in AXES if f"{a}.weight" in sd}
    return [lr_window_probs((s - mean) / scale, W, b, axes) for s in feats]


def linear_probs(sd: dict, summaries: list[np.ndarray]) -> np.ndarray:
    """Per clip: the mean over its windows of :func:`linear_window_probs`."""
    return clip_probs(linear_window_probs(sd, summaries))


def clip_probs(window_probs: list[np.ndarray], temperature: float = 1.0) -> np.ndarray:
    """Clip probabilities as prediction makes them: each window's (mixed) probabilities
    calibrated by ``temperature`` (:func:`~musiclab.emotion.model.sharpen`), then averaged."""
    return np.array([sharpen(p, temperature).mean(axis=0) for p in window_probs])


def mix_members(window_probs: dict, weights: dict) -> list[np.ndarray]:
    """Per clip: the members' window probabilities ({member: per clip (n_windows, 4)}) mixed with
    their ``weights``, as :meth:`~musiclab.emotion.model.EmotionModel.predict_windows` mixes them."""
    members = list(window_probs)
    n = len(window_probs[members[0]])
    return [mix_probs([window_probs[m][i] for m in members], [weights[m] for m in members]) for i in range(n)]


TEMPERATURE_RANGE = (0.25, 4.0)


def choose_temperature(clips: "Clips", members: list[str], weights: dict, settings: dict, folds: int = 4,
                       should_stop: ShouldStop = None) -> tuple[float, dict]:
    """Calibration of a model of logistic-regression members: every clip of ``clips`` is predicted
    by the members fitted (with their chosen ``settings``) on the artist-grouped folds without it,
    the members' window probabilities are mixed with ``weights``, and the temperature (in
    :data:`TEMPERATURE_RANGE`) with the lowest log loss of the clip probabilities is returned with
    a report of that out-of-fold prediction before and after. 1.0 when there are too few artists."""
    from scipy.optimize import minimize_scalar

    splits = _group_folds(clips, folds)
    if not splits:
        return 1.0, {}
    mixed: list[Optional[np.ndarray]] = [None] * len(clips)
    for tr, va in splits:
        sub = clips.subset(tr)
        wp = {}
        for m in members:
            check_stop(should_stop)
            sd = fit_member(sub, m, settings[m]["C"], settings[m].get("axis_C"), should_stop)
            wp[m] = linear_window_probs(sd, [clips.features(m)[i] for i in va])
        for i, p in zip(va, mix_members(wp, weights)):
            mixed[i] = p
    y = clips.labels
    res = minimize_scalar(lambda lt: log_loss(y, clip_probs(mixed, float(np.exp(lt)))),
                          bounds=tuple(np.log(TEMPERATURE_RANGE)), method="bounded", options={"xatol": 1e-3})
    T = round(float(np.exp(res.x)), 3)
    before = evaluate(y, clip_probs(mixed), with_roc=False)
    after = evaluate(y, clip_probs(mixed, T), with_roc=False)
    rep = {"temperature": T, "clips": len(y), "accuracy": before["accuracy"],
           **{f"{k}_{when}": e[k] for k in ("log_loss", "mean_confidence") for when, e in (("before", before), ("after", after))}}
    return T, rep


AXIS_GRID = (0.0003, 0.001, 0.003)


def fit_axis_head(feats: list[np.ndarray], labels: np.ndarray, axis: str, C: float, mean, scale) -> dict:
    """A binary logistic regression for one axis of the plane (:data:`AXES`: arousal high vs
    low, valence positive vs negative) on the z-scored window features of a member."""
    import torch
    from sklearn.linear_model import LogisticRegression

    X = (np.concatenate(feats) - np.asarray(mean)) / np.asarray(scale)
    y = np.concatenate([np.full(len(f), l in AXES[axis]) for f, l in zip(feats, labels)]).astype(int)
    if len(np.unique(y)) < 2:  # one side only: a constant head
        w, c = np.zeros(X.shape[1]), (30.0 if y[0] else -30.0)
    else:
        clf = LogisticRegression(C=C, max_iter=3000).fit(X, y)
        w, c = clf.coef_[0], float(clf.intercept_[0])
    return {f"{axis}.weight": torch.tensor(w, dtype=torch.float32), f"{axis}.bias": torch.tensor(c, dtype=torch.float32)}


def choose_axis_C(clips: "Clips", member: str, axis: str, folds: int = 4, should_stop: ShouldStop = None):
    """C of an axis head by artist-grouped cross-validation inside the training set (binary
    accuracy on the axis)."""
    feats = clips.features(member, should_stop)
    side = np.isin(clips.labels, AXES[axis])

    def accuracy(C, tr, va):
        X = np.concatenate([feats[i] for i in tr])
        mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
        sd = fit_axis_head([feats[i] for i in tr], clips.labels[tr], axis, C, mean, scale)
        w, c = sd[f"{axis}.weight"].numpy(), float(sd[f"{axis}.bias"])
        pos = np.array([np.exp(-np.logaddexp(0.0, -(((feats[i] - mean) / scale) @ w + c))).mean() for i in va])
        return float(((pos > 0.5) == side[va]).mean())

    return _grouped_cv(clips, AXIS_GRID, accuracy, folds, should_stop)


def _group_folds(clips: "Clips", folds: int) -> list:
    """(train, validation) index pairs of up to ``folds`` artist-grouped folds of ``clips``;
    none when there are fewer than two artists."""
    from sklearn.model_selection import GroupKFold

    k = min(folds, len(np.unique(clips.groups)))
    if k < 2:
        return []
    return list(GroupKFold(n_splits=k).split(np.zeros(len(clips)), clips.labels, clips.groups))


def _grouped_cv(clips: "Clips", grid, accuracy, folds: int, should_stop: ShouldStop):
    """The value of ``grid`` with the best mean ``accuracy(value, train_idx, val_idx)`` over
    artist-grouped folds of ``clips``, and every value's mean (the grid's middle value and no
    scores when there are too few artists to fold)."""
    splits = _group_folds(clips, folds)
    if not splits:
        return grid[len(grid) // 2], {}
    scores = {}
    for value in grid:
        accs = []
        for tr, va in splits:
            check_stop(should_stop)
            accs.append(accuracy(value, tr, va))
        scores[value] = float(np.mean(accs))
    return max(scores, key=lambda v: scores[v]), scores


def fit_member(clips: "Clips", member: str, C: float, axis_C: Optional[dict] = None,
               should_stop: ShouldStop = None) -> dict:
    """A logistic-regression member's tensors: the 4-quadrant regression (:func:`fit_linear`)
    and, for each axis in ``axis_C``, its binary head on the same z-scored features."""
    feats = clips.features(member, should_stop)
    sd = fit_linear(feats, clips.labels, C)
    for axis, c in (axis_C or {}).items():
        check_stop(should_stop)
        sd.update(fit_axis_head(feats, clips.labels, axis, c, sd["mean"].numpy(), sd["scale"].numpy()))
    return sd


LR_GRIDS = {"linear": (0.003, 0.01, 0.03, 0.1, 0.3), "musicnn": (0.0003, 0.001, 0.003, 0.01, 0.03),
            "musicnn-mtt": (0.0003, 0.001, 0.003, 0.01, 0.03)}


def choose_C(clips: Clips, grid=None, folds: int = 4, should_stop: ShouldStop = None, member: str = "linear"):
    """Regularisation of a logistic-regression member chosen by artist-grouped cross-validation
    inside the training set (``grid`` defaults to the member's :data:`LR_GRIDS`)."""
    summ = clips.features(member, should_stop)

    def accuracy(C, tr, va):
        p = linear_probs(fit_linear([summ[i] for i in tr], clips.labels[tr], C), [summ[i] for i in va])
        return float((p.argmax(1) == clips.labels[va]).mean())

    return _grouped_cv(clips, LR_GRIDS[member] if grid is None else grid, accuracy, folds, should_stop)


# -- neural models --------------------------------------------------------------------------

def _clip_windows_lm(lm: np.ndarray) -> list[int]:
    return window_starts(lm.shape[1])


def neural_probs(net, arch: str, logmels: list[np.ndarray], mu: float, sigma: float, batch: int = 64) -> np.ndarray:
    """Clip probabilities: mean over the clip's 10 s windows (and patches for seed-cnn)."""
    from .model import _Member

    m = _Member.__new__(_Member)
    m.arch, m.net, m.mu, m.sigma = arch, net, mu, sigma
    win = win_frames()
    was = net.training
    net.eval()
    out = np.array([m.predict(lm, None, _clip_windows_lm(lm), win).mean(axis=0) for lm in logmels])
    net.train(was)
    return out


def train_neural(arch: str, train: Clips, val: Optional[Clips], epochs: int, *, init_state: Optional[dict] = None,
                 lr: float = 1e-3, batch: int = 32, seed: int = 0, augment: Optional[bool] = None,
                 select_best: bool = True, should_stop: ShouldStop = None, on_progress: OnProgress = None, on_epoch: OnEpoch = None,
                 progress_offset: int = 0, progress_total: int = 0, log: Callable[[str], None] = lambda s: None):
    """Train one network; returns ``(best_state, norm, history, best_epoch)``.

    With ``val`` (and ``select_best``) the state of the epoch with the best validation macro
    F1 (ties: lower validation loss) is kept; otherwise the last epoch's (validation is then
    only reported).
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    augment = (arch == "crnn") if augment is None else augment
    win = PATCH if arch == "seed-cnn" else win_frames()
    allm = np.concatenate([lm[:, ::7].astype(np.float32).ravel() for lm in train.logmels])
    mu, sigma = float(allm.mean()), float(allm.std() + 1e-6)
    X = [((fit_window(lm.astype(np.float32), max(win, lm.shape[1])) - mu) / sigma).astype(np.float32)
         for lm in train.logmels]
    y = train.labels
    net = build_net(arch)
    if init_state is not None:
        net.load_state_dict(init_state)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2 if arch == "crnn" else 1e-4)
    steps_per_epoch = max(1, math.ceil(len(X) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.15) if epochs > 1 else None
    history = []
    best = (-1.0, float("inf"))
    best_state, best_epoch = None, 0
    total = progress_total or epochs
    for ep in range(1, epochs + 1):
        net.train()
        order = rng.permutation(len(X))
        losses = []
        t0 = time.monotonic()
        for bi in range(steps_per_epoch):
            check_stop(should_stop)
            idx = order[bi * batch:(bi + 1) * batch]
            crops = []
            for i in idx:
                T = X[i].shape[1]
                s = int(rng.integers(0, T - win + 1))
                c = X[i][:, s:s + win].copy()
                if augment:
                    c += rng.normal(0, 6.0 / sigma)  # gain change of about +-6 dB
                    for _ in range(2):
                        f0, fw = int(rng.integers(0, 128)), int(rng.integers(0, 13))
                        c[f0:f0 + fw] = 0.0
                        t0_, tw = int(rng.integers(0, win)), int(rng.integers(0, win // 10))
                        c[:, t0_:t0_ + tw] = 0.0
                crops.append(c)
            xb = torch.from_numpy(np.stack(crops))
            yb = torch.from_numpy(y[idx])
            if augment and len(idx) > 1:
                lam = float(rng.beta(0.4, 0.4))
                perm = torch.randperm(len(idx))
                xb = lam * xb + (1 - lam) * xb[perm]
                logits = net(xb)
                loss = lam * F.cross_entropy(logits, yb, label_smoothing=0.05) + \
                    (1 - lam) * F.cross_entropy(logits, yb[perm], label_smoothing=0.05)
            else:
                loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            if sched is not None:
                sched.step()
            losses.append(float(loss.detach()))
            report(on_progress, progress_offset * steps_per_epoch + (ep - 1) * steps_per_epoch + bi + 1,
                   total * steps_per_epoch, f"{arch} epoch {ep}/{epochs}")
        rec = {"arch": arch, "epoch": ep, "epochs": epochs, "train_loss": float(np.mean(losses)),
               "seconds": round(time.monotonic() - t0, 1)}
        if val is not None and len(val):
            p = neural_probs(net, arch, val.logmels, mu, sigma)
            m = evaluate(val.labels, p, with_roc=False)
            vloss = float(-np.mean(np.log(np.clip(p[np.arange(len(p)), val.labels], 1e-9, 1))))
            rec.update(val_loss=vloss, val_accuracy=m["accuracy"], val_macro_f1=m["macro_f1"],
                       val_arousal=m["arousal_accuracy"], val_valence=m["valence_accuracy"])
            key = (m["macro_f1"], -vloss)
            if select_best and key > (best[0], -best[1]):
                best = (m["macro_f1"], vloss)
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                best_epoch = ep
        history.append(rec)
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
        if on_epoch is not None:
            on_epoch(dict(rec))
    if best_state is None:
        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        best_epoch = epochs
    return best_state, {"mean": mu, "std": sigma}, history, best_epoch


# -- the whole procedure: plan -> fit -> validate -> (refit) -> save ------------------------------

def _half(sd: dict) -> dict:
    return {k: (v.half() if v.is_floating_point() and v.numel() > 1000 else v) for k, v in sd.items()}


@dataclass
class TrainOptions:
    """What to train, besides the data, the output file and the callbacks (see :func:`train`)."""

    arch: str = "ensemble"
    epochs: Optional[int] = None  # of each network (None: DEFAULT_EPOCHS of its architecture)
    val_fraction: float = 0.2  # share of artists held out for validation
    refit_all: bool = False  # after validation, refit every member on all clips with the chosen settings
    init: Optional[str] = None  # fine-tune from this model (name or path, same architecture)
    seed: int = 0  # draws the split; also the networks' base seed unless member_seed is given
    cache_dir: Optional[str | Path] = None
    workers: int = 1  # processes for feature extraction
    ensemble_weights: Optional[dict] = None  # {"musicnn", "musicnn-mtt", "linear", "crnn"}: weight (0 = left out)
    crnn_members: int = DEFAULT_CRNN_MEMBERS
    member_seed: Optional[int] = None
    last_epoch: bool = False  # keep each network's last epoch, not its best validation epoch
    axis_heads: bool = True  # arousal / valence heads on the musicnn members
    calibrate: bool = True  # a temperature for models of logistic-regression members

    def members(self) -> tuple[list[str], dict]:
        """The members to fit and their weights in the mix; raises :class:`TrainError`."""
        if self.arch not in ARCHS:
            raise TrainError(f"Unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}.")
        if self.arch != "ensemble":
            return [self.arch], {self.arch: 1.0}
        n_crnn = int(self.crnn_members)
        w = {k: float(v) for k, v in (self.ensemble_weights or DEFAULT_ENSEMBLE_WEIGHTS).items()}
        unknown = set(w) - set(ENSEMBLE_WEIGHT_KEYS)
        if unknown or any(v < 0 for v in w.values()):
            raise TrainError(f"Ensemble weights are for {', '.join(ENSEMBLE_WEIGHT_KEYS)}, each >= 0 (got {w}).")
        members = [m for m in LR_ARCHS[1:] + LR_ARCHS[:1] if w.get(m, 0.0) > 0]
        if w.get("crnn", 0.0) > 0:
            if n_crnn < 1:
                raise TrainError("A CRNN weight needs at least one CRNN member.")
            members += ["crnn" if k == 0 else f"crnn#{k}" for k in range(n_crnn)]
        if not members:
            raise TrainError("An ensemble needs at least one member with a weight above 0.")
        return members, {m: (w["crnn"] / n_crnn if member_arch(m) == "crnn" else w[m]) for m in members}


@dataclass
class Hooks:
    """The callables a training run reports through."""

    should_stop: ShouldStop = None
    on_progress: OnProgress = None
    on_epoch: OnEpoch = None  # every network epoch's record (with its "member")
    log: Callable[[str], None] = lambda s: None


@dataclass
class TrainPlan:
    """The data and the members of one run, decided before anything is fitted."""

    options: TrainOptions
    sources: list
    clips: Clips
    train_set: Clips
    val_set: Clips
    n_groups: int
    members: list[str]
    weights: dict
    init_obj: Optional[dict]
    t_start: float

    @property
    def base_seed(self) -> int:
        o = self.options
        return o.seed if o.member_seed is None else int(o.member_seed)

    @property
    def neural(self) -> list[str]:
        return [m for m in self.members if member_arch(m) in NEURAL]


@dataclass
class Fitted:
    """What :func:`fit` made: per member its tensors (``states``), input norm of networks,
    chosen settings, the networks' epoch history, and the calibration."""

    states: dict = field(default_factory=dict)
    norms: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    temperature: Optional[float] = None
    calibration: Optional[dict] = None


def plan(sources, options: TrainOptions, hooks: Hooks) -> TrainPlan:
    """Check the options, read the clips' features, split them by artist, load the model to
    fine-tune from and compute the musicnn features the members need."""
    from ..models import load_model_file, resolve_model

    o = options
    members, weights = o.members()
    t_start = time.monotonic()
    srcs = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    report(hooks.on_progress, 0, 0, "reading features")
    clips = load_clips(srcs, o.cache_dir, o.workers, hooks.should_stop, hooks.on_progress, hooks.log)
    n_groups = len(np.unique(clips.groups))
    if 0 < o.val_fraction < 1 and n_groups >= 4:
        tr_idx, va_idx = artist_split(clips.labels, clips.groups, o.val_fraction, o.seed)
    else:
        tr_idx, va_idx = np.arange(len(clips)), np.array([], dtype=np.int64)
    hooks.log(f"{len(clips)} clips, {n_groups} artists: {len(tr_idx)} for training, {len(va_idx)} for validation "
              "(no artist on both sides)")
    init_obj = None
    if o.init:
        init_obj = load_model_file(resolve_model(KIND, o.init), KIND, archs=ARCHS)
        if init_obj["meta"]["arch"] != o.arch:
            raise TrainError(f"Cannot fine-tune: '{o.init}' is a {init_obj['meta']['arch']} model, not {o.arch}.")
    # musicnn features first (a third of a second per clip, cached), with progress, so that the training and
    # validation subsets share them
    for m in members:
        if m in MUSICNN_MEMBERS:
            clips.features(m, hooks.should_stop, hooks.on_progress)
    return TrainPlan(o, srcs, clips, clips.subset(tr_idx), clips.subset(va_idx), n_groups, members, weights,
                     init_obj, t_start)


def _init_state(p: TrainPlan, m: str) -> Optional[dict]:
    """The fine-tuning start of network member ``m`` (None: random weights)."""
    if p.init_obj is None:
        return None
    isd = p.init_obj["state_dict"]
    prefix = ""
    if p.options.arch == "ensemble":
        a = member_arch(m)
        prefix = f"{m}." if any(x.startswith(f"{m}.") for x in isd) else f"{a}."
    return {x[len(prefix):]: v.float() for x, v in isd.items() if x.startswith(prefix)}


def _fit_regression(p: TrainPlan, m: str, hooks: Hooks) -> tuple[dict, dict]:
    """C (and the axis heads' C) by grouped cross-validation, then the member's tensors."""
    o, stop = p.options, hooks.should_stop
    report(hooks.on_progress, 0, 0, f"fitting logistic regression ({m})")
    C, cv = choose_C(p.train_set, should_stop=stop, member=m)
    settings = {"C": C, "cv_accuracy": cv}
    hooks.log(f"{m}: C={C} (grouped CV accuracy {cv})")
    if o.axis_heads and m in MUSICNN_MEMBERS:
        report(hooks.on_progress, 0, 0, f"fitting arousal and valence heads ({m})")
        settings["axis_C"] = {}
        for axis in AXES:
            aC, acv = choose_axis_C(p.train_set, m, axis, should_stop=stop)
            settings["axis_C"][axis] = aC
            hooks.log(f"{m}: {axis} head C={aC} (grouped CV accuracy {acv})")
    return fit_member(p.train_set, m, C, settings.get("axis_C"), stop), settings


def fit(p: TrainPlan, hooks: Hooks) -> Fitted:
    """Fit every member on the training clips (networks epoch by epoch, keeping the best
    validation epoch unless ``last_epoch``), then calibrate a model of regressions."""
    o = p.options
    f = Fitted()
    n_neural_epochs = sum((o.epochs or DEFAULT_EPOCHS[member_arch(m)]) for m in p.neural)
    done_epochs = 0
    on_epoch = hooks.on_epoch
    for m in p.members:
        check_stop(hooks.should_stop)
        if m in LR_ARCHS:
            f.states[m], f.settings[m] = _fit_regression(p, m, hooks)
            continue
        a = member_arch(m)
        k = p.neural.index(m)
        ep = o.epochs or DEFAULT_EPOCHS[a]
        init_state = _init_state(p, m)
        st, norm, hist, best_ep = train_neural(
            a, p.train_set, p.val_set if len(p.val_set) else None, ep, init_state=init_state,
            lr=(3e-4 if init_state else 1e-3), seed=p.base_seed + k, select_best=not o.last_epoch,
            should_stop=hooks.should_stop, on_progress=hooks.on_progress,
            on_epoch=(None if on_epoch is None else (lambda rec, _m=m: on_epoch(dict(rec, member=_m)))),
            progress_offset=done_epochs, progress_total=n_neural_epochs, log=hooks.log)
        done_epochs += ep
        f.states[m], f.norms[m] = st, norm
        f.settings[m] = {"epochs": ep, "best_epoch": best_ep, "seed": p.base_seed + k}
        for h in hist:
            h["member"] = m
        f.history.extend(hist)
    if o.calibrate and all(m in LR_ARCHS for m in p.members):
        report(hooks.on_progress, 0, 0, "calibrating (temperature by cross-validated log loss)")
        f.temperature, f.calibration = choose_temperature(p.train_set, p.members, p.weights, f.settings,
                                                          should_stop=hooks.should_stop)
        hooks.log(f"temperature {f.temperature} (out-of-fold on the training clips: {f.calibration})")
    return f


def validate(p: TrainPlan, f: Fitted, hooks: Hooks) -> dict:
    """Metrics on the held-out artists: ``members`` (each member alone), ``validation`` (the
    model), ``validation_uncalibrated`` and, for ensembles, a weight sweep for the record.
    Empty metrics without a validation set."""
    val, members, weights = p.val_set, p.members, p.weights
    out: dict = {"members": {}}
    if not len(val):
        return out
    val_probs, val_wprobs = {}, {}
    for m in members:
        check_stop(hooks.should_stop)
        if m in LR_ARCHS:
            val_wprobs[m] = linear_window_probs(f.states[m], val.features(m, hooks.should_stop))
            val_probs[m] = clip_probs(val_wprobs[m])
        else:
            a = member_arch(m)
            net = build_net(a)
            net.load_state_dict(f.states[m])
            val_probs[m] = neural_probs(net, a, val.logmels, f.norms[m]["mean"], f.norms[m]["std"])
        out["members"][m] = evaluate(val.labels, val_probs[m], with_roc=False)
    if f.temperature is not None:
        mixed = mix_members({m: val_wprobs[m] for m in members}, weights)
        p0, probs = clip_probs(mixed), clip_probs(mixed, f.temperature)
        out["validation_uncalibrated"] = evaluate(val.labels, p0, with_roc=False)
    elif p.options.arch == "ensemble":
        probs = mix_probs([val_probs[m] for m in members], [weights[m] for m in members])
    else:
        probs = val_probs[members[0]]
    out["validation"] = evaluate(val.labels, probs, with_roc=False)
    crnns = [m for m in members if member_arch(m) == "crnn"]
    if p.options.arch == "ensemble" and len(crnns) > 1:
        out["members"]["crnn_mean"] = evaluate(val.labels, np.mean([val_probs[m] for m in crnns], axis=0),
                                               with_roc=False)
    if p.options.arch == "ensemble" and len(members) > 1:
        # for the record only (the shipped weights are fixed in advance, not tuned on validation):
        # the first member's weight against the rest, which keep their relative weights
        first, rest = members[0], members[1:]
        p_rest = sum(weights[m] * val_probs[m] for m in rest) / sum(weights[m] for m in rest)
        sweep = {}
        for wt in (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0):
            e = evaluate(val.labels, wt * val_probs[first] + (1 - wt) * p_rest, with_roc=False)
            sweep[f"{first}={wt}"] = {k: e[k] for k in ("accuracy", "macro_f1", "arousal_accuracy",
                                                        "valence_accuracy")}
        out["weight_sweep"] = sweep
    return out


def refit(p: TrainPlan, f: Fitted, hooks: Hooks) -> None:
    """Refit every member on all clips with the settings chosen on the training clips."""
    hooks.log("refitting on all clips with the chosen settings")
    for m in p.members:
        check_stop(hooks.should_stop)
        if m in LR_ARCHS:
            f.states[m] = fit_member(p.clips, m, f.settings[m]["C"], f.settings[m].get("axis_C"), hooks.should_stop)
        else:
            ep = max(3, f.settings[m]["best_epoch"])
            st, norm, _hist, _ = train_neural(member_arch(m), p.clips, None, ep, seed=f.settings[m]["seed"],
                                              should_stop=hooks.should_stop, on_progress=hooks.on_progress,
                                              log=hooks.log)
            f.states[m], f.norms[m] = st, norm


def save(p: TrainPlan, f: Fitted, out, validation: Optional[dict] = None, refitted: bool = False) -> Path:
    """Write the model file (networks' large tensors in half precision) and check it loads."""
    from ..fingerprint import fingerprints
    from ..models import load_model_file, make_meta, save_model

    o, members = p.options, p.members
    extra = {"labels": list(("Q1", "Q2", "Q3", "Q4")), "trained_on": [str(s) for s in p.sources],
             "clips": len(p.clips), "val_clips": len(p.val_set), "refit_all": bool(refitted),
             "seconds": round(time.monotonic() - p.t_start, 1), "date": time.strftime("%Y-%m-%d"),
             # content fingerprints of every clip it trained or chose on: `eval` recognises them anywhere
             "trained_clips": sorted(fingerprints(it.path for it in p.clips.items))}
    if f.temperature is not None:
        extra["temperature"] = f.temperature
    if validation is not None:
        extra["validation"] = {k: validation[k] for k in ("accuracy", "macro_f1", "arousal_accuracy",
                                                          "valence_accuracy")}
    if o.arch == "ensemble":
        sd = {}
        for m in members:
            st = f.states[m]
            sd.update({f"{m}.{k}": v for k, v in (_half(st) if member_arch(m) in NEURAL else st).items()})
        obj = {"meta": make_meta(KIND, "ensemble", members=[[m, float(p.weights[m])] for m in members], **extra),
               "state_dict": sd, "norms": {m: f.norms[m] for m in members if m in f.norms}}
    else:
        obj = {"meta": make_meta(KIND, o.arch, **extra),
               "state_dict": _half(f.states[o.arch]) if o.arch in NEURAL else f.states[o.arch],
               "norm": f.norms.get(o.arch, {})}
    path = save_model(obj, out)
    EmotionModel(load_model_file(path, KIND, archs=ARCHS), Path(out).name)  # check it loads
    return path


def train(sources, out, options: Optional[TrainOptions] = None, *, should_stop: ShouldStop = None,
          on_progress: OnProgress = None, on_epoch: OnEpoch = None,
          log: Callable[[str], None] = lambda s: None, **overrides) -> dict:
    """Train a model on labelled folders/CSVs and write the model file ``out``.

    ``options`` (a :class:`TrainOptions`; its fields may also be given as keywords, which
    override it) says what: ``arch``, epochs, the validation share of artists, fine-tuning
    from ``init`` (same architecture), the ensemble's ``ensemble_weights`` {"musicnn",
    "musicnn-mtt", "linear", "crnn"} (a member missing or at 0 is left out; the CRNN weight is
    shared by ``crnn_members`` CRNNs ``crnn``, ``crnn#1``, ... with seeds ``member_seed`` + k,
    ``member_seed`` defaulting to ``seed``, which also draws the split), ``last_epoch`` (keep
    each network's last epoch, not its best validation epoch), ``axis_heads`` (binary arousal
    and valence regressions on each musicnn member's features, multiplied into its quadrant
    probabilities), ``calibrate`` (a temperature for a model of regressions only,
    :func:`choose_temperature` on the training clips) and ``refit_all``.

    The steps: :func:`plan` (data, split, members) -> :func:`fit` -> :func:`validate` ->
    :func:`refit` (with ``refit_all`` and a validation set) -> :func:`save`. Returns a report:
    sizes of the split, validation metrics of each member and of the model, the per-epoch
    history, the chosen settings and the path written. ``on_epoch`` gets every epoch's record.
    """
    opts = replace(options or TrainOptions(), **overrides) if overrides else (options or TrainOptions())
    hooks = Hooks(should_stop, on_progress, on_epoch, log)
    p = plan(sources, opts, hooks)
    f = fit(p, hooks)
    result = {"arch": opts.arch, "clips": len(p.clips), "artists": p.n_groups, "train_clips": len(p.train_set),
              "val_clips": len(p.val_set), "members": {}, "history": f.history}
    if f.calibration is not None:
        result["calibration"] = f.calibration
    v = validate(p, f, hooks)
    result["members"].update(v.pop("members"))
    result.update(v)
    refitted = bool(opts.refit_all and len(p.val_set))
    if refitted:
        refit(p, f, hooks)
    path = save(p, f, out, result.get("validation"), refitted)
    result["settings"] = f.settings
    result["out"] = str(path)
    result["seconds"] = round(time.monotonic() - p.t_start, 1)
    return result
