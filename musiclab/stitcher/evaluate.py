"""Successor ranking: how often does a scorer put a chunk's true successor on top?

Every chunk of the pool that has a successor in its song is a query; every other chunk
of the pool is a candidate. 50 ms are trimmed from the start and the end of every chunk
first, so sample-level continuity cannot decide. Reported: MRR, top-1, top-5 and the
ROC-AUC of true successor pairs against random pairs.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report

TRIM_S = 0.05


def rank_metrics(pool, enc, queries: Optional[list[int]] = None, neg_per_query: int = 20, seed: int = 0,
                 should_stop: ShouldStop = None, on_progress: OnProgress = None, block: int = 256) -> dict:
    qs = [i for i in range(len(pool.chunks)) if pool.successor(i) is not None] if queries is None else queries
    n = len(pool.chunks)
    rng = np.random.default_rng(seed)
    ranks, pos_s, neg_s = [], [], []
    for b0 in range(0, len(qs), block):
        check_stop(should_stop)
        rows = qs[b0: b0 + block]
        S = np.asarray(enc.scores(rows), dtype=np.float64)
        for r, q in enumerate(rows):
            t = pool.successor(q)
            row = S[r].copy()
            row[q] = -np.inf  # a chunk is not its own candidate
            true = row[t]
            others = np.delete(row, [q, t]) if q != t else np.delete(row, [q])
            higher = np.sum(others > true)
            ties = np.sum(others == true)
            ranks.append(1 + higher + 0.5 * ties)
            pos_s.append(true)
            if n > 2:
                cand = rng.integers(0, n, size=neg_per_query * 2)
                cand = [c for c in cand if c != q and c != t][:neg_per_query]
                neg_s.extend(row[cand].tolist())
        report(on_progress, min(len(qs), b0 + block), len(qs), "ranking")
    if not ranks:
        return {"queries": 0, "mrr": None, "top1": None, "top5": None, "auc": None}
    ranks = np.array(ranks)
    auc = None
    if neg_s:
        from sklearn.metrics import roc_auc_score

        y = np.r_[np.ones(len(pos_s)), np.zeros(len(neg_s))]
        sc = np.r_[pos_s, neg_s]
        auc = float(roc_auc_score(y, sc))
    return {"queries": int(len(ranks)), "mrr": round(float(np.mean(1.0 / ranks)), 4),
            "top1": round(float(np.mean(ranks <= 1)), 4), "top5": round(float(np.mean(ranks <= 5)), 4),
            "auc": None if auc is None else round(auc, 4)}


def evaluate(pool, scorer, trim_s: float = TRIM_S, queries: Optional[list[int]] = None,
             should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    trim = int(round(trim_s * pool.sr))
    enc = scorer.encode(pool, trim=trim, should_stop=should_stop)
    return rank_metrics(pool, enc, queries=queries, should_stop=should_stop, on_progress=on_progress)


def evaluate_all(pool, default, baselines: dict, seed_queries: Optional[int] = 64, trim_s: float = TRIM_S,
                 should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """The eval JSON: the default scorer's figures plus one dict per baseline.

    Scorers whose pairs cannot be factorised (the seed's CNN-LSTM) may be run on a
    random subset of ``seed_queries`` queries (still ranked against the whole pool);
    their dict then says how many queries it used."""
    all_q = [i for i in range(len(pool.chunks)) if pool.successor(i) is not None]
    main = evaluate(pool, default, trim_s, should_stop=should_stop, on_progress=on_progress)
    out = {"songs": len(pool.songs), "pool": len(pool.chunks), "queries": main["queries"],
           "mrr": main["mrr"], "top1": main["top1"], "top5": main["top5"], "auc": main["auc"], "baselines": {}}
    for name, sc in baselines.items():
        check_stop(should_stop)
        q = None
        if getattr(sc, "pairwise", False) and seed_queries and len(all_q) > seed_queries:
            rng = np.random.default_rng(1)
            q = sorted(rng.choice(all_q, size=seed_queries, replace=False).tolist())
        m = evaluate(pool, sc, trim_s, queries=q, should_stop=should_stop, on_progress=on_progress)
        out["baselines"][name] = {"mrr": m["mrr"], "top1": m["top1"], "top5": m["top5"], "auc": m["auc"],
                                  "queries": m["queries"]}
    return out
