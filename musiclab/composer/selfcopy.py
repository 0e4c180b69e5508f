"""The piece's own memory: music repeats itself, so let the model copy from it.

Folk tunes are built from repeated strains (AABB), jazz from choruses and riffs; an LSTM
with a few hundred sub-tokens of useful memory does not exploit that. This module adds a
*copy* distribution over events, mixed with the LSTM's (a cache / pointer mixture in the
spirit of Grave et al. 2017, "Improving neural language models with a continuous cache",
over exact event contexts):

* For the next event ``i`` of a piece and every earlier position ``j < i``, ``M[j]`` is the
  length of the common suffix of ``events[:i]`` and ``events[:j]`` (capped at :data:`CAP`),
  i.e. how long the music just played matches what came before event ``j``.
* ``p_copy(e) ∝ Σ_{j: M[j] ≥ 1, events[j] = e} exp(beta · M[j])``: the events that followed
  earlier occurrences of the current context, longer matches weighing more.
* ``p(e) = (1 − λ) p_lstm(e) + λ p_copy(e)`` with ``λ = lam[bucket(max_j M[j])]``: how far
  to trust the copy depends on how long the longest match is (no match: λ = 0).

``beta`` and the 13 ``lam`` values are fitted by maximum likelihood (EM per bucket) on
pieces the LSTM was not trained on (see :func:`.evaluate.fit_copy`), and stored in the model
file's metadata under ``"copy"``. Pure numpy; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import ModelFileError

CAP = 32
EDGES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32)
N_BUCKETS = len(EDGES) + 1  # bucket 0 = no match at all


def bucket(L: int) -> int:
    """Bucket of a longest-match length ``L`` (0 = no match)."""
    return int(np.searchsorted(EDGES, L, side="right"))


@dataclass
class CopyParams:
    beta: float
    lam: np.ndarray  # (N_BUCKETS,), lam[0] == 0

    def lam_for(self, L: int) -> float:
        return float(self.lam[bucket(L)]) if L > 0 else 0.0

    def to_meta(self, **extra) -> dict:
        d = {"version": 1, "cap": CAP, "edges": list(EDGES), "beta": float(self.beta),
             "lam": [round(float(x), 6) for x in self.lam]}
        d.update(extra)
        return d

    @classmethod
    def from_meta(cls, d, name: str = "model") -> Optional["CopyParams"]:
        """Validated parameters from a model file's ``meta["copy"]`` (None if absent)."""
        if d is None:
            return None
        try:
            ok = (isinstance(d, dict) and d.get("version") == 1 and int(d["cap"]) == CAP
                  and [int(x) for x in d["edges"]] == list(EDGES))
            beta = float(d["beta"])
            lam = np.asarray([float(x) for x in d["lam"]], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"'{name}' has unreadable copy parameters ({exc}).") from exc
        if not ok or lam.shape != (N_BUCKETS,) or not math.isfinite(beta) or not (0 <= beta <= 10) \
                or not np.all((lam >= 0) & (lam <= 1)):
            raise ModelFileError(f"'{name}' has invalid copy parameters (expected version 1, "
                                 f"{N_BUCKETS} mixing weights in [0, 1], 0 <= beta <= 10).")
        lam = lam.copy()
        lam[0] = 0.0
        return cls(beta, lam)


class Tracker:
    """Incremental match lengths over a growing sequence of hashable event keys."""

    def __init__(self):
        self._ids: dict = {}
        self.keys: list = []  # id -> key
        self.seq = np.zeros(0, dtype=np.int64)  # id of every event so far
        self.original = np.zeros(0, dtype=bool)  # False for events that were themselves copied
        self.M = np.zeros(0, dtype=np.int64)  # M[j] for the next event, j < len(seq)

    def __len__(self) -> int:
        return int(self.seq.size)

    def push(self, key, original: bool = True) -> None:
        """Append an event; ``original=False`` marks one that generation copied."""
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self.keys)
            self.keys.append(key)
        n = self.seq.size  # the new event sits at position n
        newM = np.zeros(n + 1, dtype=np.int64)
        if n >= 1:
            # candidate j (1..n): continuation seq[j] (seq[n] = the new one for j = n)
            eq = self.seq[:n] == i  # seq[j-1] == new event, for j = 1..n
            newM[1:] = np.where(eq, np.minimum(self.M[:n] + 1, CAP), 0)
        self.seq = np.append(self.seq, i)
        self.original = np.append(self.original, bool(original))
        self.M = newM

    def copy(self) -> "Tracker":
        """An independent tracker in the same state (its arrays are replaced, never written in
        place, so only the key index is copied)."""
        t = Tracker()
        t._ids, t.keys = dict(self._ids), list(self.keys)
        t.seq, t.original, t.M = self.seq, self.original, self.M
        return t

    def longest(self) -> int:
        """Longest match for the next event (0 = none). Only positions with a known
        continuation count, i.e. j < len(seq)."""
        n = self.seq.size
        return int(self.M[1:n].max()) if n > 1 else 0

    def distribution(self, beta: float, originals_only: bool = False) -> tuple[int, np.ndarray, np.ndarray]:
        """(longest match, candidate ids, probabilities) of the copy distribution for the
        next event; empty arrays when nothing matches. ``originals_only``: only copy events
        that were not copied themselves (generation: a passage may come back once, but its
        repeat is not repeated again, so the music moves on instead of looping)."""
        n = self.seq.size
        if n <= 1:
            return 0, np.zeros(0, np.int64), np.zeros(0)
        M = self.M[1:n]
        ok = M >= 1
        if originals_only:
            ok &= self.original[1:n]
        sel = np.nonzero(ok)[0]
        if sel.size == 0:
            return 0, np.zeros(0, np.int64), np.zeros(0)
        L = int(M[sel].max())
        w = np.exp(beta * (M[sel] - L).astype(np.float64))
        cont = self.seq[1:n][sel]
        ids, inv = np.unique(cont, return_inverse=True)
        p = np.bincount(inv, weights=w)
        return L, ids, p / p.sum()


def piece_copy_stats(keys: list, beta: float, top: int = 0):
    """For every event of one piece: (longest match, {key: p_copy}) given the events before
    it. ``top`` > 0 keeps only the most probable candidates (with the probability of the
    true event always looked up in the full distribution by the caller via ``p_true``).
    Returns (L array, list of dicts, p_true array)."""
    tr = Tracker()
    Ls = np.zeros(len(keys), dtype=np.int64)
    dists: list = []
    p_true = np.zeros(len(keys))
    for i, k in enumerate(keys):
        L, ids, p = tr.distribution(beta)
        Ls[i] = L
        d = {tr.keys[a]: float(b) for a, b in zip(ids.tolist(), p.tolist())}
        p_true[i] = d.get(k, 0.0)
        if top and len(d) > top:
            d = dict(sorted(d.items(), key=lambda kv: -kv[1])[:top])
        dists.append(d)
        tr.push(k)
    return Ls, dists, p_true


def fit_lambdas(buckets: np.ndarray, p_model: np.ndarray, p_copy: np.ndarray, iters: int = 300) -> tuple[np.ndarray, float]:
    """Maximum-likelihood mixing weight per bucket (EM). Returns (lam, total log-likelihood)."""
    lam = np.zeros(N_BUCKETS)
    ll = 0.0
    for b in range(N_BUCKETS):
        m = buckets == b
        if b == 0 or not m.any():
            ll += float(np.log(np.maximum(p_model[m], 1e-300)).sum()) if m.any() else 0.0
            continue
        pm, pc = p_model[m], p_copy[m]
        x = 0.5
        for _ in range(iters):
            mix = (1 - x) * pm + x * pc
            r = x * pc / np.maximum(mix, 1e-300)
            x_new = float(r.mean())
            if abs(x_new - x) < 1e-7:
                x = x_new
                break
            x = x_new
        x = min(max(x, 0.0), 0.999)
        lam[b] = x
        ll += float(np.log(np.maximum((1 - x) * pm + x * pc, 1e-300)).sum())
    return lam, ll
