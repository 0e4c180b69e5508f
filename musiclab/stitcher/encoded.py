"""Edge codes of a pool and the scorer interface, shared by every scorer. No torch, no Qt.

A scorer (:class:`Scorer`) encodes the edges of all chunks of a pool once and returns an
:class:`Encoded`, which scores whole rows of candidates at a time. The learned default's
codes are normalised over the pool (:class:`PoolNormalized`). Both :mod:`.scorers` and
:mod:`.seed` build on this module, so neither imports the other at module level.
"""

from __future__ import annotations

import numpy as np

from ..jobs import OnProgress, ShouldStop

#: the model-file kind of every stitcher model (``resources/models/stitcher/``)
KIND = "stitcher"


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

    @classmethod
    def from_biases(cls, ends: np.ndarray, starts: np.ndarray, tau: float, row_bias: np.ndarray,
                    col_bias: np.ndarray, iterations: int = 0) -> "PoolNormalized":
        """The normalisation computed before (:mod:`.cache`): the same object without the iterations."""
        self = cls.__new__(cls)
        Encoded.__init__(self, ends, starts)
        self.tau = float(tau)
        self.row_bias = np.asarray(row_bias, np.float64)
        self.col_bias = np.asarray(col_bias, np.float64)
        self.iterations = int(iterations)
        return self

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


class RandomEncoded(Encoded):
    """Random scores (chance level): a fresh draw on every call."""

    def __init__(self, rng: np.random.Generator, n: int):
        self.rng, self.n = rng, n
        self.ends = np.zeros((n, 1), np.float32)
        self.starts = np.zeros((n, 1), np.float32)

    def scores(self, rows):
        rows = np.atleast_1d(rows)
        return self.rng.random((len(rows), self.n)).astype(np.float32)

    def pair(self, a, b):
        return float(self.rng.random())


class Scorer:
    """Encodes a pool's chunk edges once: ``encode(pool) -> Encoded``."""

    name = "scorer"
    description = ""

    def encode(self, pool, trim: int = 0, should_stop: ShouldStop = None,
               on_progress: OnProgress = None) -> Encoded:
        raise NotImplementedError
