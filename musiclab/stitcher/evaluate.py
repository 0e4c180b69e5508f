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


def _song_key(name: str) -> str:
    """A song name as it is compared with a model's training list: lower case, letters
    and digits only, without the ``.hq`` of the high-quality copies (so "Let's_Go_Fishin'",
    "Lets_Go_Fishin" and "Lets_Go_Fishin.hq" are one song)."""
    import re

    n = str(name).lower()
    if n.endswith(".hq"):
        n = n[:-3]
    return re.sub(r"[^0-9a-z]", "", n)


def training_songs(scorer) -> Optional[set]:
    """The normalised names of the songs a model was trained on (its file's ``meta["songs"]``),
    or None where the model does not say."""
    meta = getattr(scorer, "meta", None) or {}
    songs = meta.get("songs") if isinstance(meta, dict) else None
    if not isinstance(songs, (list, tuple)):
        return None
    return {_song_key(s) for s in songs if isinstance(s, str)}


def in_sample_songs(pool, scorer) -> Optional[list[int]]:
    """Indices of the pool's songs that are in the scorer's training list (None: no list)."""
    train = training_songs(scorer)
    if train is None:
        return None
    return [k for k, s in enumerate(pool.songs) if _song_key(s.name) in train]


class _PlainCosine:
    """The plain dot products of an encoding's edge codes (no pool normalisation)."""

    score_kind = "similarity"

    def __init__(self, enc):
        self.ends, self.starts = enc.ends, enc.starts

    def scores(self, rows) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        return self.ends[rows] @ self.starts.T

    def pair(self, a: int, b: int) -> float:
        return float(self.ends[a] @ self.starts[b])


def _figures(m: dict) -> dict:
    return {"mrr": m["mrr"], "top1": m["top1"], "top5": m["top5"], "auc": m["auc"], "queries": m["queries"]}


def evaluate_all(pool, default, baselines: dict, seed_queries: Optional[int] = 64, trim_s: float = TRIM_S,
                 should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """The eval JSON: the default scorer's figures plus one dict per baseline.

    Scorers whose pairs cannot be factorised (the seed's CNN-LSTM) may be run on a
    random subset of ``seed_queries`` queries (still ranked against the whole pool);
    their dict then says how many queries it used.

    Also: ``pool_norm`` (the default's pool normalisation) and ``plain`` (its figures
    with plain cosines, the same edge codes without the normalisation); ``in_sample``
    (how many of the pool's songs are in the default model's training list, None where
    the model file has no list), ``in_sample_songs`` (their names) and ``unseen`` (the
    figures of the queries from the other songs only, still ranked against the whole
    pool; None where every song is in the list or there is no list). Each baseline
    with a training list gets its own ``in_sample`` count."""
    all_q = [i for i in range(len(pool.chunks)) if pool.successor(i) is not None]
    trim = int(round(trim_s * pool.sr))
    enc = default.encode(pool, trim=trim, should_stop=should_stop)
    main = rank_metrics(pool, enc, should_stop=should_stop, on_progress=on_progress)
    out = {"songs": len(pool.songs), "pool": len(pool.chunks), "queries": main["queries"],
           "mrr": main["mrr"], "top1": main["top1"], "top5": main["top5"], "auc": main["auc"], "baselines": {}}
    seen = in_sample_songs(pool, default)
    for name, sc in baselines.items():
        check_stop(should_stop)
        q = None
        if getattr(sc, "pairwise", False) and seed_queries and len(all_q) > seed_queries:
            rng = np.random.default_rng(1)
            q = sorted(rng.choice(all_q, size=seed_queries, replace=False).tolist())
        m = evaluate(pool, sc, trim_s, queries=q, should_stop=should_stop, on_progress=on_progress)
        out["baselines"][name] = _figures(m)
        b_seen = in_sample_songs(pool, sc)
        if b_seen is not None:
            out["baselines"][name]["in_sample"] = len(b_seen)
    out["pool_norm"] = getattr(default, "pool_norm", "none")
    if hasattr(enc, "ends") and hasattr(enc, "starts") and out["pool_norm"] != "none":
        out["plain"] = _figures(rank_metrics(pool, _PlainCosine(enc), should_stop=should_stop))
    else:
        out["plain"] = None  # the scores are plain cosines already
    out["in_sample"] = None if seen is None else len(seen)
    out["in_sample_songs"] = [] if not seen else [pool.songs[k].name for k in seen]
    out["unseen"] = None
    if seen is not None and 0 < len(seen) < len(pool.songs):
        seen_set = set(seen)
        uq = [i for i in all_q if pool.chunks[i].song not in seen_set]
        if uq:
            um = rank_metrics(pool, enc, queries=uq, should_stop=should_stop)
            out["unseen"] = {"songs": len(pool.songs) - len(seen), **_figures(um)}
            if out["plain"] is not None:
                out["unseen"]["plain"] = _figures(rank_metrics(pool, _PlainCosine(enc), queries=uq,
                                                               should_stop=should_stop))
    elif seen is not None and len(seen) == 0:
        out["unseen"] = {"songs": len(pool.songs), **_figures(main)}
    return out


# -- cross-song joins judged by the seam audit (issue 15) ------------------------------------

CROSS_CONTEXT_S = 4.5  # audio kept on each side of a spliced cross-song pair (the audit's windows: <= 4 s)


def _splice(pool, a: int, b: int, context: float = CROSS_CONTEXT_S, crossfade_s: float = 0.06):
    """The audio of A's song up to A's end, then B's song from B's start (``context`` seconds on
    each side, an equal-power crossfade of ``crossfade_s``), and the time of the join (s)."""
    ca, cb = pool.chunks[a], pool.chunks[b]
    ya, yb = pool.songs[ca.song].y, pool.songs[cb.song].y
    n, x = int(round(context * pool.sr)), int(round(crossfade_s * pool.sr))
    left = ya[max(0, ca.end - n): ca.end].astype(np.float32)
    right = yb[cb.start: cb.start + n].astype(np.float32)
    x = min(x, len(left) // 2, len(right) // 2)
    if x > 0:
        w = np.linspace(0.0, np.pi / 2, x, dtype=np.float32)
        mid = left[-x:] * np.cos(w) + right[:x] * np.sin(w)
        y = np.concatenate([left[:-x], mid, right[x:]])
        t = (len(left) - x / 2) / pool.sr
    else:
        y, t = np.concatenate([left, right]), len(left) / pool.sr
    return y, t


def cross_song_pairs(pool, queries: int, per_query: int, rng, context: float = CROSS_CONTEXT_S) -> list:
    """``[(a, [b, ...]), ...]``: random chunks A with ``context`` seconds of their song before
    their end, each with ``per_query`` random chunks B of OTHER songs with ``context`` seconds
    after their start."""
    n = int(round(context * pool.sr))
    ok_a = [i for i, c in enumerate(pool.chunks) if c.end >= n]
    ok_b = [i for i, c in enumerate(pool.chunks) if c.start + n <= len(pool.songs[c.song].y)]
    out = []
    for a in rng.permutation(ok_a)[:queries]:
        cand = [b for b in ok_b if pool.chunks[b].song != pool.chunks[a].song]
        if len(cand) < 2:
            continue
        out.append((int(a), [int(b) for b in rng.choice(cand, size=min(per_query, len(cand)), replace=False)]))
    return out


def audit_pair(pool, a: int, b: int, ref) -> dict:
    """The seam audit's judgement (:func:`.seams.judge`) of chunk ``b`` spliced after chunk ``a``."""
    from .seams import analyse, judge, moment_stats

    y, t = _splice(pool, a, b)
    return judge(moment_stats(analyse(y, pool.sr), t), ref)


def audited_pools(pool_files, chunking: str, queries: int, per_query: int, moments: int, seed: int, rng,
                  should_stop: ShouldStop = None, on_progress: OnProgress = None):
    """For each pool (a list of files), ``(index, pool, pairs)``: the pool cut by ``chunking`` and
    its cross-song pairs (:func:`cross_song_pairs`, drawn with ``rng``) spliced and audited against
    the natural reference of its songs (:func:`.seams.build_reference`), as
    ``[(a, [(b, judgement), ...]), ...]`` (:func:`audit_pair`)."""
    from .pool import build_pool, load_songs
    from .seams import _song_analysis, build_reference

    for pk, files in enumerate(pool_files):
        check_stop(should_stop)
        report(on_progress, pk, len(pool_files), f"audited cross-song pairs: pool {pk + 1}")
        songs, _ = load_songs(files)
        pool = build_pool(songs, chunking)
        ref = build_reference([(s.name, _song_analysis(s)) for s in pool.songs], moments, seed)
        yield pk, pool, [(a, [(b, audit_pair(pool, a, b, ref)) for b in cands])
                         for a, cands in cross_song_pairs(pool, queries, per_query, rng)]


def _auc(pos, neg) -> Optional[float]:
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    if not len(pos) or not len(neg):
        return None
    from scipy.stats import rankdata

    r = rankdata(np.r_[pos, neg])
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def cross_song_audit(models: dict, pool_files: list, chunking: str = "beats:8", queries: int = 20,
                     per_query: int = 6, moments: int = 400, seed: int = 0, on_pool=None) -> dict:
    """How well each scorer's score predicts the seam audit's verdict on joins between DIFFERENT
    songs (what the stitcher's search mostly chooses among). For each pool (a list of files): the
    natural reference of its songs (:func:`.seams.build_reference`), then ``queries`` random chunks
    A, each with ``per_query`` random chunks B of other songs, spliced (A's song up to A's end,
    B's song from B's start, 60 ms crossfade, no stretching) and audited at the join
    (:func:`.seams.moment_stats`, :func:`.seams.judge`). ``models``: name -> scorer (its encoding's
    scores as the search sees them: no trim); an edge model's plain cosines are added as
    ``NAME:plain``, the boundary cosine as ``boundary``.

    Per scorer: ``auc`` (score vs "the audit hears nothing"), ``spearman`` (score vs minus the
    audit's severity, all pairs), ``spearman_per_query`` (the same inside each A's candidates,
    averaged: what a choice among candidates sees) and ``pick_inaudible`` (share of queries whose
    highest-scoring candidate is inaudible; ``chance`` is the share of inaudible candidates)."""
    from .scorers import BoundaryScorer

    rng = np.random.default_rng(seed)
    rows = []
    for pk, pool, pairs in audited_pools(pool_files, chunking, queries, per_query, moments, seed, rng):
        encs = {}
        for name, sc in models.items():
            enc = sc.encode(pool)
            encs[name] = enc
            if hasattr(enc, "ends") and getattr(sc, "pool_norm", "none") != "none":
                encs[name + ":plain"] = _PlainCosine(enc)
        encs["boundary"] = BoundaryScorer().encode(pool)
        for a, judged in pairs:
            S = {n: np.asarray(e.scores([a]), np.float64)[0] for n, e in encs.items()}
            for b, jd in judged:
                rows.append({"pool": pk, "a": a, "b": b, "audible": bool(jd["audible"]),
                             "severity": float(jd["severity"]), "flagged": jd["flagged"],
                             "scores": {n: float(S[n][b]) for n in encs}})
        if on_pool is not None:
            on_pool(pk + 1, len(pool_files))
    out = {"pairs": len(rows), "queries": len({(r["pool"], r["a"]) for r in rows}), "chunking": chunking,
           "inaudible_share": round(float(np.mean([not r["audible"] for r in rows])), 4) if rows else None,
           "by_stat": {}}
    for r in rows:
        for s in r["flagged"]:
            out["by_stat"][s] = out["by_stat"].get(s, 0) + 1
    if rows:
        out["chance_pick_inaudible"] = _chance_pick(rows)
    out["scorers"] = pair_figures(rows)
    return out


def _groups(rows) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["pool"], r["a"]), []).append(r)
    return groups


def _chance_pick(rows) -> float:
    return round(float(np.mean([np.mean([not r["audible"] for r in g]) for g in _groups(rows).values()])), 4)


def pair_figures(rows: list) -> dict:
    """Per scorer (the keys of each row's ``scores``): ``auc``, ``spearman``,
    ``spearman_per_query``, ``pick_inaudible`` (see :func:`cross_song_audit`)."""
    from scipy.stats import spearmanr

    out: dict = {}
    if not rows:
        return out
    groups = _groups(rows)
    ok = np.array([not r["audible"] for r in rows])
    sev = np.array([r["severity"] for r in rows])
    for n in rows[0]["scores"]:
        sc = np.array([r["scores"][n] for r in rows])
        fin = np.isfinite(sc)
        rho = (spearmanr(sc[fin], -sev[fin]).correlation
               if fin.sum() > 2 and np.std(sc[fin]) > 0 and np.std(sev[fin]) > 0 else None)
        per_q, picks = [], []
        for g in groups.values():
            gs = np.array([r["scores"][n] for r in g])
            gv = np.array([r["severity"] for r in g])
            if len(g) >= 3 and np.all(np.isfinite(gs)) and gs.std() > 0 and gv.std() > 0:
                per_q.append(spearmanr(gs, -gv).correlation)
            if np.any(np.isfinite(gs)):
                picks.append(not g[int(np.argmax(np.where(np.isfinite(gs), gs, -np.inf)))]["audible"])
        auc = _auc(sc[fin & ok], sc[fin & ~ok])
        out[n] = {"auc": None if auc is None else round(auc, 4),
                  "spearman": None if rho is None or not np.isfinite(rho) else round(float(rho), 4),
                  "spearman_per_query": round(float(np.nanmean(per_q)), 4) if per_q else None,
                  "pick_inaudible": round(float(np.mean(picks)), 4) if picks else None}
    return out
