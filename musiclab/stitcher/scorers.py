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

The edge codes (:class:`Encoded`, :class:`PoolNormalized`) and the :class:`Scorer` base live
in :mod:`.encoded` (re-exported here); the learned network in :mod:`.edgenet`, imported
only when a learned model is made or loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelFileError
from ..jobs import check_stop, report
from .encoded import KIND, Encoded, PoolNormalized, RandomEncoded, Scorer
from .features import N_MELS, edge_features, mfcc_from_logmel

EDGE_ARCH = "edge-metric-v4"
EDGE_ARCHS = ("edge-metric-v3", EDGE_ARCH)  # v3 files (no peak term) still load
POOL_NORMS = ("none", "sinkhorn")

__all__ = ["KIND", "Encoded", "PoolNormalized", "Scorer", "BoundaryScorer", "RandomScorer", "EdgeScorer",
           "MixedScorer", "MixedEncoded", "make_edge_net", "get_scorer", "load_any", "SCORER_NAMES", "EDGE_ARCH", "EDGE_ARCHS", "POOL_NORMS"]


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
        return RandomEncoded(rng, n)


# -- the learned default ---------------------------------------------------------------------

def make_edge_net(frames: int = 16, width: int = 0, dim: int = 0, rhythm: int = 0, xpred: int = 0, peaks: int = 0,
                  peak_share: float = 0.0):
    """A fresh :class:`~musiclab.stitcher.edgenet.EdgeNet` (torch is imported here, not at start-up)."""
    from .edgenet import make_edge_net as make

    return make(frames, width, dim, rhythm, xpred, peaks, peak_share)


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


class MixedEncoded(Encoded):
    """Several scorers' codes of one pool: each row of each scorer standardised (z-scores over
    the row), then a weighted sum. The scorers' scales differ (log-probabilities, cosines), so
    only their rankings are combined."""

    score_kind = "similarity"

    def __init__(self, parts: list, weights: Optional[list] = None):
        self.parts = list(parts)
        self.weights = [1.0] * len(self.parts) if weights is None else [float(w) for w in weights]
        n = len(self.parts[0])
        self.ends = np.zeros((n, 1), np.float32)
        self.starts = np.zeros((n, 1), np.float32)

    def scores(self, rows) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        out = None
        for enc, w in zip(self.parts, self.weights):
            s = np.asarray(enc.scores(rows), np.float64)
            z = (s - s.mean(axis=1, keepdims=True)) / (s.std(axis=1, keepdims=True) + 1e-9)
            out = w * z if out is None else out + w * z
        return out.astype(np.float32)

    def pair(self, a: int, b: int) -> float:
        return float(self.scores([a])[0, b])


class MixedScorer(Scorer):
    """The learned default and the boundary cosine, their row z-scores summed."""

    name = "edge+boundary"
    description = "learned default + boundary cosine (row z-scores summed)"

    def __init__(self, edge: Optional["EdgeScorer"] = None, weights=(1.0, 1.0)):
        self.edge = edge or EdgeScorer.load("default")
        self.boundary = BoundaryScorer()
        self.weights = list(weights)
        self.meta = self.edge.meta

    def encode(self, pool, trim=0, should_stop=None, on_progress=None) -> Encoded:
        e = self.edge.encode(pool, trim, should_stop, on_progress)
        b = self.boundary.encode(pool, trim, should_stop, on_progress)
        return MixedEncoded([e, b], self.weights)


SCORER_NAMES = ("edge", "boundary", "edge+boundary", "seed", "random")


def get_scorer(name: str = "edge", model: Optional[str] = None) -> Scorer:
    """``edge`` (model default or a file), ``boundary``, ``seed`` (model or the shipped
    seed preset), ``random``."""
    if name in ("edge", "default", "learned"):
        return EdgeScorer.load(model or "default")
    if name == "boundary":
        return BoundaryScorer()
    if name in ("edge+boundary", "mixed"):
        return MixedScorer(EdgeScorer.load(model or "default"))
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
