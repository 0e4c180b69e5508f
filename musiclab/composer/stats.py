"""Count-based companions of a model: the seed-token trigram baseline and the
"copied" metric (share of 8-event n-grams found verbatim in the training data)."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from typing import Iterable, Optional

import numpy as np

from .events import seed_token

NGRAM = 8
BOS_TOK = "<s>"
DISCOUNT = 0.75


# --------------------------------------------------------------------------- copied share
def _event_str(ev) -> str:
    return ",".join(str(p) for p in ev[0]) + "|" + str(ev[2])


def _hash(parts: list[str]) -> int:
    return int.from_bytes(hashlib.blake2b("\n".join(parts).encode(), digest_size=4).digest(), "little")


def ngram_hashes(pieces_events: Iterable[list], n: int = NGRAM) -> np.ndarray:
    """Sorted unique uint32 hashes of every n-event window of every piece."""
    hs = set()
    for events in pieces_events:
        s = [_event_str(e) for e in events]
        for i in range(len(s) - n + 1):
            hs.add(_hash(s[i : i + n]))
    return np.array(sorted(hs), dtype=np.uint32)


def copied_share(events: list, hashes: Optional[np.ndarray], n: int = NGRAM) -> Optional[float]:
    """Share of the n-event windows of ``events`` that occur in the training data."""
    if hashes is None or len(hashes) == 0 or len(events) < n:
        return None
    s = [_event_str(e) for e in events]
    q = np.array([_hash(s[i : i + n]) for i in range(len(s) - n + 1)], dtype=np.uint32)
    idx = np.searchsorted(hashes, q)
    idx = np.minimum(idx, len(hashes) - 1)
    return float(np.mean(hashes[idx] == q))


def self_repeated_share(events: list, n: int = NGRAM) -> Optional[float]:
    """Share of the n-event windows of ``events`` that already occurred earlier in ``events``
    (how much the piece repeats itself: its form; real Nottingham tunes: about half)."""
    if len(events) < n:
        return None
    s = [_event_str(e) for e in events]
    seen: set = set()
    rep = 0
    for i in range(len(s) - n + 1):
        g = tuple(s[i : i + n])
        rep += g in seen
        seen.add(g)
    return rep / (len(s) - n + 1)


# --------------------------------------------------------------------------- trigram
def fit_trigram(pieces_events: Iterable[list]) -> dict:
    """Counts of seed-token uni/bi/trigrams (as plain lists/tensors for the model file)."""
    import torch

    vocab: dict[str, int] = {}
    uni: Counter = Counter()
    bi: Counter = Counter()
    tri: Counter = Counter()
    for events in pieces_events:
        ids = []
        for e in events:
            t = seed_token(e)
            if t not in vocab:
                vocab[t] = len(vocab) + 1  # 0 = BOS
            ids.append(vocab[t])
        ctx = [0, 0] + ids
        for i, w in enumerate(ids):
            u, v = ctx[i], ctx[i + 1]
            uni[w] += 1
            bi[(v, w)] += 1
            tri[(u, v, w)] += 1
    tokens = [None] * (len(vocab) + 1)
    tokens[0] = BOS_TOK
    for t, i in vocab.items():
        tokens[i] = t
    bi_arr = torch.tensor([[v, w, c] for (v, w), c in bi.items()], dtype=torch.int32).reshape(-1, 3)
    tri_arr = torch.tensor([[u, v, w, c] for (u, v, w), c in tri.items()], dtype=torch.int32).reshape(-1, 4)
    uni_arr = torch.zeros(len(tokens), dtype=torch.int32)
    for w, c in uni.items():
        uni_arr[w] = c
    return {"tokens": tokens, "unigram": uni_arr, "bigram": bi_arr, "trigram": tri_arr}


class Trigram:
    """Interpolated absolute-discount trigram (Kneser-Ney style back-off, D = 0.75) over
    the seed's tokens, ending in an add-1/2 unigram: every level is a proper distribution
    over the training vocabulary, so its NLL is a real log-probability."""

    def __init__(self, data: dict):
        self.tokens = list(data["tokens"])
        self.index = {t: i for i, t in enumerate(self.tokens)}
        V = len(self.tokens)
        uni = np.asarray(data["unigram"], dtype=np.float64)
        uni[0] = 0
        n_words = V - 1
        self.p1 = (uni + 0.5) / (uni.sum() + 0.5 * n_words)
        self.p1[0] = 0.0
        self.bi: dict[int, dict[int, int]] = {}
        for v, w, c in np.asarray(data["bigram"]).tolist():
            self.bi.setdefault(v, {})[w] = c
        self.tri: dict[tuple, dict[int, int]] = {}
        for u, v, w, c in np.asarray(data["trigram"]).tolist():
            self.tri.setdefault((u, v), {})[w] = c
        self._cache: dict = {}

    @staticmethod
    def _interp(counts: dict, lower: np.ndarray) -> np.ndarray:
        total = sum(counts.values())
        p = lower * (DISCOUNT * len(counts) / total)
        for w, c in counts.items():
            p[w] += max(c - DISCOUNT, 0.0) / total
        return p

    def dist(self, u: int, v: int) -> np.ndarray:
        key = (u, v)
        d = self._cache.get(key)
        if d is None:
            p2 = self._interp(self.bi[v], self.p1) if v in self.bi else self.p1
            d = self._interp(self.tri[key], p2) if key in self.tri else p2
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[key] = d
        return d

    def score(self, pieces_events: Iterable[list]) -> dict:
        """top1 over all events (unknown tokens are misses), NLL over known ones."""
        n = hit = 0
        nll = 0.0
        n_known = 0
        for events in pieces_events:
            u = v = 0
            for e in events:
                w = self.index.get(seed_token(e))
                d = self.dist(u, v)
                n += 1
                if w is not None and w > 0:
                    n_known += 1
                    nll -= math.log(max(d[w], 1e-300))
                    if int(np.argmax(d)) == w:
                        hit += 1
                    u, v = v, w
                else:
                    u, v = v, 0  # unknown context: back off as at a start
        return {
            "top1": hit / n if n else None,
            "nll_per_event": nll / n_known if n_known else None,
            "oov_rate": 1 - n_known / n if n else None,
        }
