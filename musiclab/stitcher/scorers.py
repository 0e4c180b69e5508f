"""Transition scorers: how well may chunk B follow chunk A?

Every scorer encodes the edges of all chunks of a pool ONCE (:meth:`Scorer.encode`) and
then scores whole rows of candidates at a time (:meth:`Encoded.scores`), so a pool of
thousands of chunks costs one batch of feature extraction and matrix products.

* ``boundary``: hand-made cosine of MFCC + chroma over the last 0.5 s of A against the
  first 0.5 s of B (the baseline).
* ``seed``: the seed study's CNN-LSTM on raw edge samples (see :mod:`.seed`).
* ``edge`` (the default, ``resources/models/stitcher/default.pt``): a learned
  multi-scale metric between the log-mel/chroma of A's end and B's start (windows of
  0.14-0.42 s next to the seam) plus a "peak" term, the cosine of the whitened
  high-resolution spectra (which partials sound, 10.8 Hz apart, up to 4 kHz) over 0.14
  and 0.32 s next to the seam; trained contrastively on random cut points inside songs
  (see :mod:`.train`).
* ``random``: random scores (chance level for the evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelFileError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from .features import N_CHANNELS, N_MELS, PEAK_BINS, edge_features, mfcc_from_logmel

KIND = "stitcher"
EDGE_ARCH = "edge-metric-v4"
EDGE_ARCHS = ("edge-metric-v3", EDGE_ARCH)  # v3 files (no peak term) still load
POOL_NORMS = ("none", "sinkhorn")


class Encoded:
    """Edge codes of a pool: ``scores(rows)`` -> ``(len(rows), N)`` float32."""

    #: what the scores are: "similarity" (higher = better) or "logprob" (log-probabilities)
    score_kind = "similarity"

    def __init__(self, ends: np.ndarray, starts: np.ndarray):
        self.ends = np.ascontiguousarray(ends, dtype=np.float32)
        self.starts = np.ascontiguousarray(starts, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ends)

    def scores(self, rows) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        return self.ends[rows] @ self.starts.T

    def pair(self, a: int, b: int) -> float:
        return float(self.ends[a] @ self.starts[b])


class PoolNormalized(Encoded):
    """Scores normalised over the pool in both directions (a soft one-to-one assignment).

    A true successor has exactly one predecessor, so a chunk that fits after nearly
    everything (a "hub": a quiet or sustained passage, often another moment of the same
    song) should not win every ranking. With ``Z = s(a, b)/τ`` (``τ`` = the model's own
    training temperature, ``1 / logit_scale``), the score is ``log P(a, b)`` where ``P`` is
    ``exp(Z)`` scaled by Sinkhorn iterations until every row and every column sums to 1
    (entropic optimal transport: a soft assignment of ends to starts). One iteration is the
    "dual softmax" of feature matching, a cousin of CSLS for hubness in cross-lingual word
    retrieval (Conneau et al. 2018); iterating to convergence ranks better (model card).
    Nothing is tuned. The scores are log-probabilities (<= 0; 0 = a certain, unambiguous
    match) and still a dot product plus a per-row and a per-column term, computed once per
    pool: each query row costs one matrix product. Pools above ``max_full`` chunks (whose
    ``N x N`` matrix would not fit comfortably in memory) get the one-pass dual softmax,
    computed in blocks.
    """

    score_kind = "logprob"

    def __init__(self, ends: np.ndarray, starts: np.ndarray, tau: float, max_iter: int = 20, tol: float = 1e-3,
                 max_full: int = 6000, block: int = 1024):
        super().__init__(ends, starts)
        self.tau = float(tau)
        n = len(self.ends)
        if n <= max_full:
            Z = (self.ends @ self.starts.T) / np.float32(self.tau)  # (n, n) float32
            rmax = Z.max(axis=1).astype(np.float64)
            K = np.exp(Z - rmax[:, None].astype(np.float32))
            del Z
            u = np.ones(n, np.float32)  # float32 throughout: a float64 vector would upcast K on every product
            v = np.ones(n, np.float32)
            self.iterations = 0
            for it in range(1, max_iter + 1):
                Kv = K @ v
                # columns sum to 1 after each v-step; stop when the rows do as well
                if it > 1 and np.max(np.abs(Kv * u - 1.0)) < tol:
                    break
                u = (1.0 / np.maximum(Kv, 1e-30)).astype(np.float32)
                v = (1.0 / np.maximum(K.T @ u, 1e-30)).astype(np.float32)
                self.iterations = it
            self.row_bias = np.log(u.astype(np.float64)) - rmax
            self.col_bias = np.log(v.astype(np.float64))
        else:
            self.iterations = 1
            row_lse = np.zeros(n, np.float64)
            col = np.full(n, -np.inf)
            for b0 in range(0, n, block):
                z = (self.ends[b0: b0 + block] @ self.starts.T).astype(np.float64) / self.tau
                m = z.max(axis=1, keepdims=True)
                row_lse[b0: b0 + block] = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
                col = np.logaddexp(col, _logsumexp0(z))
            self.row_bias = -row_lse
            self.col_bias = -col

    def scores(self, rows) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        z = (self.ends[rows] @ self.starts.T).astype(np.float64) / self.tau
        return (z + self.row_bias[rows, None] + self.col_bias[None, :]).astype(np.float32)

    def pair(self, a: int, b: int) -> float:
        z = float(self.ends[a] @ self.starts[b]) / self.tau
        return float(z + self.row_bias[a] + self.col_bias[b])


def _logsumexp0(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=0)
    return m + np.log(np.exp(z - m[None, :]).sum(axis=0))


class Scorer:
    name = "scorer"
    description = ""

    def encode(self, pool, trim: int = 0, should_stop: ShouldStop = None,
               on_progress: OnProgress = None) -> Encoded:
        raise NotImplementedError


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-8)


class BoundaryScorer(Scorer):
    """Cosine of standardised MFCC(13) + chroma(12) means over 0.5 s edges."""

    name = "boundary"
    description = "hand-made: cosine of MFCC+chroma, last 0.5 s of A vs first 0.5 s of B"
    frames = 18  # (18-1)*512+2048 samples = 0.49 s at 22.05 kHz

    def _vectors(self, feats) -> np.ndarray:
        logmel = feats[:, :N_MELS]
        mfcc = mfcc_from_logmel(logmel).mean(dim=2).numpy()
        chroma = feats[:, N_MELS:N_MELS + 12].mean(dim=2).numpy()
        return mfcc, chroma

    def encode(self, pool, trim=0, should_stop=None, on_progress=None) -> Encoded:
        check_stop(should_stop)
        report(on_progress, 0, 1, "boundary features")
        fe, fs = edge_features(pool, self.frames, trim)
        me, ce = self._vectors(fe)
        ms, cs = self._vectors(fs)
        allm = np.concatenate([me, ms])
        mu, sd = allm.mean(0), allm.std(0) + 1e-6
        ce_c = ce - ce.mean(1, keepdims=True)
        cs_c = cs - cs.mean(1, keepdims=True)
        ve = np.concatenate([_unit((me - mu) / sd), _unit(ce_c)], axis=1)
        vs = np.concatenate([_unit((ms - mu) / sd), _unit(cs_c)], axis=1)
        report(on_progress, 1, 1, "boundary features")
        return Encoded(_unit(ve), _unit(vs))


class RandomScorer(Scorer):
    name = "random"
    description = "random scores (chance level)"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def encode(self, pool, trim=0, should_stop=None, on_progress=None) -> "Encoded":
        rng = np.random.default_rng(self.seed)
        n = len(pool.chunks)
        return _RandomEncoded(rng, n)


class _RandomEncoded(Encoded):
    def __init__(self, rng, n):
        self.rng, self.n = rng, n
        self.ends = np.zeros((n, 1), np.float32)
        self.starts = np.zeros((n, 1), np.float32)

    def scores(self, rows):
        rows = np.atleast_1d(rows)
        return self.rng.random((len(rows), self.n)).astype(np.float32)

    def pair(self, a, b):
        return float(self.rng.random())


# -- the learned default ---------------------------------------------------------------------

WINDOWS = ((0, 4), (0, 8), (0, 16))  # frames next to the seam (0 = nearest): 0.14, 0.23, 0.42 s


def _edge_modules():
    import torch
    from torch import nn

    class EdgeNet(nn.Module):
        """A learned multi-scale metric between A's end and B's start.

        For each window of frames next to the seam (position 0 = the frame at the seam;
        the end context is reversed in time) the standardised log-mel (64 bands) and the
        centred chroma (12) are averaged and projected by a learned matrix ``I + D_w``
        (shared by both sides, so "sounds the same across the seam" is built in; the
        asymmetric ``E_w`` lets the end side predict how music moves on). The score is a
        learned, positively weighted sum of the cosines of the projected windows. Every
        term is a dot product, so each chunk edge is encoded once and a whole pool is
        scored with one matrix product. Few parameters (the data are ~16 songs): the
        richer convolutional encoders we tried memorised the training songs and ranked
        held-out songs worse than this (see the model card). ``peaks=P`` (v4, on in the
        shipped model) adds the peak term: the whitened log spectrum (bins up to 4 kHz
        minus their moving average over 31 bins, see :func:`.features._peaks`) with a
        learned per-bin gain, averaged over the nearest P//3 and P frames, centred and
        compared by cosine; ``peak_share`` fixes the peak terms' share of the weights
        (the free training under-weights them for unseen songs). ``rhythm=R`` adds an
        optional term (off in the shipped model: no gain measured): a learned linear
        map from A's onset envelope over R frames to B's; ``xpred=1`` a cross-window
        trend-extrapolation term (also off: no gain).
        """

        def __init__(self, frames: int = 16, width: int = 0, dim: int = 0, rhythm: int = 0, xpred: int = 0,
                     peaks: int = 0, peak_share: float = 0.0):
            super().__init__()
            self.frames, self.width, self.dim, self.rhythm_frames = frames, width, dim, min(rhythm, frames)
            self.xpred_on = int(bool(xpred))
            self.peaks = min(int(peaks), frames)
            self.peak_windows = ((0, max(1, self.peaks // 3)), (0, self.peaks)) if self.peaks else ()
            # fixed share of the peak terms in the score (0: learned freely with the others)
            self.peak_share = float(peak_share) if self.peaks else 0.0
            nb = N_MELS + 12
            nw = len(WINDOWS) + (1 if self.rhythm_frames else 0) + self.xpred_on + len(self.peak_windows)
            self.register_buffer("mean", torch.zeros(N_CHANNELS, 1))
            self.register_buffer("std", torch.ones(N_CHANNELS, 1))
            self.delta = nn.Parameter(torch.zeros(len(WINDOWS), nb, nb))
            self.pred = nn.Parameter(torch.zeros(len(WINDOWS), nb, nb))
            if self.xpred_on:
                # all windows of A's end -> B's nearest window (trend extrapolation)
                xp = torch.zeros(len(WINDOWS), nb, nb)
                xp[0] = torch.eye(nb)
                self.xpred = nn.Parameter(xp)
            if self.rhythm_frames:
                # onset envelope of A's end (reversed) -> expected onset envelope of B's start
                g = torch.Generator().manual_seed(0)
                r = self.rhythm_frames
                self.rhythm = nn.Parameter(torch.randn(r, r, generator=g) * 0.05)
            init = torch.ones(nw)
            init[0] = 0.0
            if self.peaks:
                # per-bin gain of the whitened spectrum (learned, starts flat)
                self.peak_gain = nn.Parameter(torch.zeros(PEAK_BINS))
                p0 = len(WINDOWS) + self.xpred_on
                init[p0: p0 + len(self.peak_windows)] = 1.5
            self.log_w = nn.Parameter(init)
            self.chroma_gain = nn.Parameter(torch.tensor(-1.0))
            self.logit_scale = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))

        def _windows(self, x):  # -> (B, nw, nb)
            z = (x[:, :N_MELS] - self.mean[:N_MELS]) / self.std[:N_MELS]
            c = x[:, N_MELS:N_MELS + 12]
            c = (c - c.mean(dim=1, keepdim=True)) * self.chroma_gain.exp()
            f = torch.cat([z, c], dim=1)
            T = f.shape[2]
            win = [(min(a, T - 1), max(min(a, T - 1) + 1, min(b, T))) for a, b in WINDOWS]
            return torch.stack([f[:, :, a:b].mean(dim=2) for a, b in win], dim=1)

        def _embed(self, x, end: bool):
            v = self._windows(x)
            eye = torch.eye(v.shape[2])
            m = eye + self.delta + (self.pred if end else 0.0)
            p = torch.einsum("bwi,wji->bwj", v, m)
            w = torch.softmax(self.log_w, 0)
            if self.peak_share > 0:
                p0, p1 = len(WINDOWS) + self.xpred_on, len(WINDOWS) + self.xpred_on + len(self.peak_windows)
                pk = w[p0:p1] / w[p0:p1].sum() * self.peak_share
                rest = torch.cat([w[:p0], w[p1:]])
                rest = rest / rest.sum() * (1.0 - self.peak_share)
                w = torch.cat([rest[:p0], pk, rest[p0:]])
            w = w.sqrt()
            p = nn.functional.normalize(p, dim=2) * w[None, : len(WINDOWS), None]
            out = p.flatten(1)
            if self.xpred_on:
                q = torch.einsum("bwi,wji->bj", v, self.xpred) if end else v[:, 0]
                out = torch.cat([out, nn.functional.normalize(q, dim=1) * w[len(WINDOWS)]], dim=1)
            if self.peaks:
                h = x[:, N_CHANNELS: N_CHANNELS + PEAK_BINS] * self.peak_gain.exp()[None, :, None]
                p0 = len(WINDOWS) + self.xpred_on
                for j, (a, b) in enumerate(self.peak_windows):
                    v = h[:, :, a:b].mean(dim=2)
                    v = v - v.mean(dim=1, keepdim=True)
                    out = torch.cat([out, nn.functional.normalize(v, dim=1) * w[p0 + j]], dim=1)
            if self.rhythm_frames:
                o = x[:, N_MELS + 12, : self.rhythm_frames]
                o = (o - o.mean(dim=1, keepdim=True)) / (o.std(dim=1, keepdim=True) + 1e-3)
                if end:
                    o = o @ self.rhythm.T
                out = torch.cat([out, nn.functional.normalize(o, dim=1) * w[-1]], dim=1)
            return out

        def embed_end(self, x):
            return self._embed(torch.flip(x, dims=[2]), True)

        def embed_start(self, x):
            return self._embed(x, False)

    return EdgeNet


def make_edge_net(frames: int = 16, width: int = 0, dim: int = 0, rhythm: int = 0, xpred: int = 0, peaks: int = 0,
                  peak_share: float = 0.0):
    return _edge_modules()(frames, width, dim, rhythm, xpred, peaks, peak_share)


class EdgeScorer(Scorer):
    """The learned default: cosine of end/start embeddings."""

    name = "edge"
    description = "learned: contrastive end/start encoders on log-mel + chroma + onset"

    def __init__(self, net, meta: Optional[dict] = None, pool_norm: str = "sinkhorn"):
        self.net = net.eval()
        self.meta = meta or {}
        if pool_norm not in POOL_NORMS:
            raise ModelFileError(f"Unknown pool normalisation {pool_norm!r} (known: {', '.join(POOL_NORMS)}).")
        self.pool_norm = pool_norm

    @classmethod
    def load(cls, name_or_path: str = "default") -> "EdgeScorer":
        from ..models import load_model_file, load_state_checked, resolve_model

        path = resolve_model(KIND, name_or_path)
        obj = load_model_file(path, KIND, archs=list(EDGE_ARCHS))
        cfg = obj.get("config") or {}
        try:
            net = make_edge_net(int(cfg.get("frames", 16)), rhythm=int(cfg.get("rhythm", 0)),
                               xpred=int(cfg.get("xpred", 0)), peaks=int(cfg.get("peaks", 0)),
                               peak_share=float(cfg.get("peak_share", 0.0)))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"'{Path(path).name}' has an invalid configuration ({exc}).") from exc
        load_state_checked(net, obj["state_dict"], Path(path).name)
        # files written before pool normalisation existed score with plain cosines
        return cls(net, obj["meta"], pool_norm=str(cfg.get("pool_norm", "none")))

    def to_file(self, path, **extra) -> Path:
        from ..models import make_meta, save_model

        net = self.net
        obj = {"meta": make_meta(KIND, EDGE_ARCH, **{**self.meta, **extra}),
               "config": {"frames": net.frames, "width": net.width, "dim": net.dim, "rhythm": net.rhythm_frames,
                          "xpred": net.xpred_on, "peaks": net.peaks,
                          "peak_share": net.peak_share, "pool_norm": self.pool_norm},
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
        return save_model(obj, path)

    def encode(self, pool, trim=0, should_stop=None, on_progress=None, batch: int = 256) -> Encoded:
        import torch

        check_stop(should_stop)
        report(on_progress, 0, 2, "edge features")
        fe, fs = edge_features(pool, self.net.frames, trim, peaks=bool(self.net.peaks))
        ends, starts = [], []
        with torch.inference_mode():
            for k in range(0, len(fe), batch):
                check_stop(should_stop)
                ends.append(self.net.embed_end(fe[k: k + batch]))
                starts.append(self.net.embed_start(fs[k: k + batch]))
        report(on_progress, 2, 2, "edges encoded")
        e, s = torch.cat(ends).numpy(), torch.cat(starts).numpy()
        if self.pool_norm == "sinkhorn" and len(e) > 1:
            return PoolNormalized(e, s, tau=1.0 / float(self.net.logit_scale.detach().exp()))
        return Encoded(e, s)


SCORER_NAMES = ("edge", "boundary", "seed", "random")


def get_scorer(name: str = "edge", model: Optional[str] = None) -> Scorer:
    """``edge`` (model default or a file), ``boundary``, ``seed`` (model or the shipped
    seed preset), ``random``."""
    if name in ("edge", "default", "learned"):
        return EdgeScorer.load(model or "default")
    if name == "boundary":
        return BoundaryScorer()
    if name == "random":
        return RandomScorer()
    if name == "seed":
        from .seed import SeedScorer

        return SeedScorer.load(model or "seed")
    if name.endswith(".pt") or Path(name).exists():
        return load_any(name)
    raise ModelFileError(f"Unknown scorer '{name}' (choose from {', '.join(SCORER_NAMES)} or a .pt file).")


def load_any(path: str) -> Scorer:
    """A stitcher model file of either architecture."""
    from ..models import load_model_file, resolve_model

    p = resolve_model(KIND, path)
    arch = load_model_file(p, KIND)["meta"].get("arch")
    if arch in EDGE_ARCHS:
        return EdgeScorer.load(str(p))
    from .seed import SEED_ARCH, SeedScorer

    if arch == SEED_ARCH:
        return SeedScorer.load(str(p))
    raise ModelFileError(f"'{p.name}' has an unknown architecture {arch!r}.")
