"""Stitcher join benchmark on audio the default scorer never trained on (issue 15).

    .venv/bin/python benchmarks/stitcher_joins.py [--split tune|report|both] [--pools 4] [--minutes 3]

Material: the 700 emotion clips ``shared/data/emotion/4q/Q1..Q4/*.ogg`` (30 s previews of many
genres; not in the default model's ``songs`` list: the script checks). The clips are split
**by artist** into a TUNE half and a REPORT half (a fixed hash of the artist's name, chosen once):
tune on ``--split tune`` (pool seeds 0, 1, ...), report on ``--split report`` (other artists, other
clips, other seeds: 1000, 1001, ...), which is never looked at while tuning.

For every pool of ``--clips`` clips (drawn by the pool seed), a ``--minutes`` song is built with
the Build panel's defaults (:data:`musiclab.stitcher.chain.BUILD_DEFAULTS`: 8-beat chunks, beam-4
cost search, song variety, DJ joins) and audited with the seam audit
(:func:`musiclab.stitcher.seams.audit_rendered`, the GUI's figures: the natural reference from the
songs the result uses). In the same run, with the same rules: the boundary-cosine scorer alone
(``boundary``), random chunks (random scores, no cost terms, plain 60 ms crossfades) as the floor,
and with ``--methods ...,edge_before`` the learned scorer with the Build panel's defaults before
issue 15's tuning (greedy search, no boundary term).

Printed per pool and overall, per method: share of audible joins, songs used, mean/max run of one
song (chunks), the audit's reasons (``by_stat``: joins flagged per statistic) and the worst join.
``--reference pool`` (tuning only) audits against one reference per pool built from all its clips
(much faster when many settings are tried; not the GUI's figure). ``--set NAME=VALUE`` overrides a
:class:`~musiclab.stitcher.chain.ChainRules` field for the learned scorer (tuning);
``--joins-out FILE`` writes every join of the learned scorer (its search cost and whether the audit
found it audible: the calibration data). ``--edge-model FILE`` points the method ``edge`` at another
model file, ``--model-b FILE`` adds the method ``edge_b`` (a second model file, the same rules), so two
models are compared in one run; REPORT clips must be in neither model's training list, TUNE pools are
drawn from the TUNE clips neither trained on. The last line of stdout is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMOTION = ROOT.parent / "shared" / "data" / "emotion" / "4q"
REPORT_SEED0 = 1000  # report pools use seeds 1000, 1001, ...


def artist_split(root: Path = EMOTION) -> dict[str, list[Path]]:
    """``{"tune": [...], "report": [...]}``: the clips split by artist (a fixed hash of the name);
    one function with the scorer's training (:func:`musiclab.stitcher.train_default.artist_split`)."""
    from musiclab.stitcher.train_default import artist_split as _split

    return _split(root)


def pool_clips(files: list[Path], seed: int, n: int) -> list[Path]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [files[i] for i in sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))]


def runs_of(pool, items) -> list[int]:
    src = [pool.chunks[i].song for i in items]
    runs, c = [], 1
    for a, b in zip(src, src[1:]):
        if a == b:
            c += 1
        else:
            runs.append(c)
            c = 1
    runs.append(c)
    return runs


def _parse_set(items) -> dict:
    out = {}
    for s in items or []:
        k, v = s.split("=", 1)
        out[k] = v
    return out


def _typed(rules, overrides: dict):
    kw = {}
    for k, v in overrides.items():
        cur = getattr(rules, k)
        kw[k] = type(cur)(float(v)) if isinstance(cur, (int, float)) and not isinstance(cur, bool) else \
            (v.lower() in ("1", "true", "yes") if isinstance(cur, bool) else v)
    return replace(rules, **kw)


def calibration_report(joins: list[dict]) -> dict | None:
    """How well ``match_probability(cost)`` predicts the audit (inaudible = 1): Brier score against
    the constant predictor (the share of these joins that is inaudible: an optimistic baseline),
    and reliability per bin of the predicted probability."""
    import numpy as np

    from musiclab.stitcher.chain import match_probability

    js = [j for j in joins if j["cost"] is not None and np.isfinite(j["cost"])]
    if not js:
        return None
    y = np.array([0.0 if j["audible"] else 1.0 for j in js])
    p = np.asarray(match_probability(np.array([j["cost"] for j in js])), np.float64)
    bins = [0.0, 0.8, 0.9, 0.95, 1.0001]
    rel = []
    for lo, hi in zip(bins, bins[1:]):
        m = (p >= lo) & (p < hi)
        if m.any():
            rel.append({"p": f"{lo:.2f}-{min(hi, 1):.2f}", "n": int(m.sum()), "predicted": round(float(p[m].mean()), 3),
                        "observed": round(float(y[m].mean()), 3)})
    auc = None
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) and len(neg):
        auc = round(float((np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :]))), 3)
    return {"joins": len(js), "inaudible_share": round(float(y.mean()), 4),
            "brier": round(float(np.mean((p - y) ** 2)), 4),
            "brier_constant": round(float(np.mean((y.mean() - y) ** 2)), 4), "auc": auc, "reliability": rel}


def fit_calibration(joins: list[dict]) -> dict:
    """Platt scaling: logistic regression of inaudible (0/1) on the join cost (Newton's method,
    numpy only), the ``a``/``b`` of :data:`musiclab.stitcher.chain.MATCH_CALIBRATION`; beside it the
    isotonic fit's Brier score on the same joins (sklearn, where installed) for comparison."""
    import numpy as np

    js = [j for j in joins if j["cost"] is not None and np.isfinite(j["cost"])]
    x = np.array([j["cost"] for j in js])
    y = np.array([0.0 if j["audible"] else 1.0 for j in js])
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-X @ w))
        g = X.T @ (y - p)
        H = (X * (p * (1 - p))[:, None]).T @ X + 1e-6 * np.eye(2)
        step = np.linalg.solve(H, g)
        w += step
        if np.max(np.abs(step)) < 1e-8:
            break
    p = 1.0 / (1.0 + np.exp(-X @ w))
    out = {"kind": "platt", "a": round(float(w[0]), 4), "b": round(float(w[1]), 4), "joins": len(js),
           "inaudible_share": round(float(y.mean()), 4), "brier": round(float(np.mean((p - y) ** 2)), 4),
           "brier_constant": round(float(np.mean((y.mean() - y) ** 2)), 4)}
    try:
        from sklearn.isotonic import IsotonicRegression

        q = IsotonicRegression(increasing=False, out_of_bounds="clip").fit(x, y).predict(x)
        out["brier_isotonic"] = round(float(np.mean((q - y) ** 2)), 4)
    except ImportError:
        pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["tune", "report", "both"], default="tune")
    ap.add_argument("--pools", type=int, default=4, help="pools per split")
    ap.add_argument("--clips", type=int, default=12, help="clips per pool")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--moments", type=int, default=400, help="natural moments in the audit's reference")
    ap.add_argument("--methods", default="edge,boundary,random")
    ap.add_argument("--reference", choices=["used", "pool"], default="used")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a ChainRules field for the learned scorer (tuning)")
    ap.add_argument("--joins-out", default=None, help="write the learned scorer's joins (cost, audible) as JSON")
    ap.add_argument("--fit-calibration", default=None, metavar="FILE",
                    help="fit join cost -> P(inaudible) (Platt scaling) on the TUNE pools' learned-scorer "
                         "joins and write it (JSON: the a/b of MATCH_CALIBRATION)")
    ap.add_argument("--calibrate-from", default=None, metavar="JOINS.json",
                    help="no building: fit (TUNE joins) and/or report calibration from a --joins-out file")
    ap.add_argument("--edge-model", default="default", metavar="NAME|FILE",
                    help="the learned scorer of the method 'edge' (default: the shipped model)")
    ap.add_argument("--model-b", default=None, metavar="FILE",
                    help="a second learned scorer, method 'edge_b' (the same rules as 'edge'), to compare "
                         "two model files in one run")
    ap.add_argument("--quiet", action="store_true", help="only the JSON line")
    args = ap.parse_args()
    if args.calibrate_from:
        from musiclab.jobs import json_line

        js = json.loads(Path(args.calibrate_from).read_text())
        out = {p: calibration_report([j for j in js if j["split"] == p]) for p in ("tune", "report")}
        if any(j["split"] == "tune" for j in js):
            out["fit"] = fit_calibration([j for j in js if j["split"] == "tune"])
        print(json_line({"calibration": out}))
        return 0
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from musiclab.jobs import json_line
    from musiclab.stitcher.chain import BUILD_DEFAULTS, build_chain, render_to_length
    from musiclab.stitcher.pool import build_pool, load_songs
    from musiclab.stitcher.scorers import BoundaryScorer, EdgeScorer, RandomScorer
    from musiclab.stitcher.seams import _song_analysis, audit_joins, audit_rendered, analyse, build_reference

    split = artist_split()
    edge = EdgeScorer.load(args.edge_model)
    edge_b = EdgeScorer.load(args.model_b) if args.model_b else None
    if "edge_b" in args.methods.split(",") and edge_b is None:
        raise SystemExit("method edge_b needs --model-b FILE")
    trained_on = set(edge.meta.get("songs") or []) | set((edge_b.meta.get("songs") or []) if edge_b else [])
    # REPORT clips must be unseen by every model of the run; TUNE pools are drawn from the TUNE
    # clips that no model of the run trained on (a model trained on TUNE's training artists)
    clash = [p.name for p in split["report"] if p.stem in trained_on]
    if clash:
        print(f"error: {len(clash)} REPORT clips are in a model's training list: {clash[:3]}", file=sys.stderr)
        return 1
    seen_tune = [p for p in split["tune"] if p.stem in trained_on]
    if seen_tune:
        split["tune"] = [p for p in split["tune"] if p.stem not in trained_on]
        print(f"note: {len(seen_tune)} TUNE clips are in a model's training list; TUNE pools are drawn from the "
              f"other {len(split['tune'])}", file=sys.stderr)
    base_rules = replace(BUILD_DEFAULTS["rules"], target_s=args.minutes * 60)
    chunking = BUILD_DEFAULTS["chunking"]
    crossfade = BUILD_DEFAULTS["crossfade_ms"]
    edge_rules = _typed(base_rules, _parse_set(args.set))
    methods = [m for m in args.methods.split(",") if m]
    seeds = []
    if args.split in ("tune", "both"):
        seeds += [("tune", s) for s in range(args.pools)]
    if args.split in ("report", "both"):
        seeds += [("report", REPORT_SEED0 + s) for s in range(args.pools)]
    t_all = time.perf_counter()
    per_pool, joins_out = [], []
    agg = {m: {"tune": [], "report": []} for m in methods}
    for part, seed in seeds:
        files = pool_clips(split[part], seed, args.clips)
        songs, _ = load_songs(files)
        pool = build_pool(songs, chunking)
        pool_ref = None
        if args.reference == "pool":
            pool_ref = build_reference([(s.name, _song_analysis(s)) for s in pool.songs], args.moments, 0)
        for m in methods:
            t0 = time.perf_counter()
            if m == "edge":
                enc, rules, dj = edge.encode(pool), edge_rules, True
            elif m == "edge_b":
                enc, rules, dj = edge_b.encode(pool), edge_rules, True
            elif m == "edge_before":  # the Build panel's defaults before issue 15's tuning
                enc, dj = edge.encode(pool), True
                rules = replace(base_rules, method="greedy", boundary_weight=0.0)
            elif m == "boundary":  # the boundary cosine alone (no second opinion: it is the scorer)
                enc, rules, dj = BoundaryScorer().encode(pool), replace(base_rules, boundary_weight=0.0), True
            elif m == "random":
                enc = RandomScorer(seed).encode(pool)
                # no cost terms at all, whatever the Build panel's defaults hold (its boundary term at 0.5
                # once made this floor read 32.5 % instead of 65 %)
                rules = replace(base_rules, tempo_weight=0.0, key_weight=0.0, context_weight=0.0,
                                boundary_weight=0.0)
                dj = False
            else:
                raise SystemExit(f"unknown method {m}")
            rules = replace(rules, seed=seed)
            chain = build_chain(pool, enc, rules)
            chain, r = render_to_length(pool, enc, chain, rules, crossfade, beat_align=dj, quality="analysis")
            t1 = time.perf_counter()
            if pool_ref is None:
                res = audit_rendered(pool, r, chain, moments=args.moments)
            else:
                # the same statistics and thresholds, against the pool's reference
                from musiclab.stitcher.seams import JoinInfo

                js = [JoinInfo(float(t)) for t in r.joins]
                res = audit_joins(analyse(np.asarray(r.y, np.float32), r.sr), js, pool_ref)
            runs = runs_of(pool, chain.items)
            rec = {"split": part, "seed": seed, "method": m, "joins": res["joins"], "audible": res["audible"],
                   "share": res["share_audible"], "songs": len({pool.chunks[i].song for i in chain.items}),
                   "pool_songs": len(pool.songs), "pool_chunks": len(pool.chunks),
                   "mean_run": round(float(np.mean(runs)), 2), "max_run": int(max(runs)),
                   "by_stat": res["by_stat"], "worst": (res.get("worst") or {}).get("why"),
                   "build_s": round(t1 - t0, 2), "audit_s": round(time.perf_counter() - t1, 2)}
            per_pool.append(rec)
            agg[m][part].append(rec)
            if m == "edge":
                for k, row in enumerate(res["rows"], start=1):
                    joins_out.append({"split": part, "seed": seed, "k": k, "cost": chain.cost_at(k),
                                      "score": chain.scores[k], "audible": bool(row["audible"]),
                                      "same_song": pool.chunks[chain.items[k]].song ==
                                      pool.chunks[chain.items[k - 1]].song,
                                      "flagged": row["flagged"]})
            if not args.quiet:
                print(f"{part:6s} pool {seed:4d} {m:8s} audible {rec['audible']:2d}/{rec['joins']:2d} "
                      f"({100 * (rec['share'] or 0):4.1f} %) songs {rec['songs']:2d}/{rec['pool_songs']} "
                      f"run {rec['mean_run']:.1f} (max {rec['max_run']}) by {rec['by_stat']} "
                      f"[{rec['build_s']:.1f}+{rec['audit_s']:.1f} s]", file=sys.stderr, flush=True)

    def summary(recs):
        if not recs:
            return None
        j, a = sum(r["joins"] for r in recs), sum(r["audible"] for r in recs)
        by = {}
        for r in recs:
            for s, v in r["by_stat"].items():
                by[s] = by.get(s, 0) + v
        return {"pools": len(recs), "joins": j, "audible": a, "share": round(a / j, 4) if j else None,
                "songs_mean": round(float(np.mean([r["songs"] for r in recs])), 2),
                "songs_min": int(min(r["songs"] for r in recs)),
                "mean_run": round(float(np.mean([r["mean_run"] for r in recs])), 2),
                "max_run": int(max(r["max_run"] for r in recs)), "by_stat": by}

    overall = {m: {p: summary(v) for p, v in parts.items() if v} for m, parts in agg.items()}
    if not args.quiet:
        for m, parts in overall.items():
            for p, s in parts.items():
                print(f"OVERALL {p:6s} {m:8s} audible {s['audible']}/{s['joins']} ({100 * s['share']:.1f} %) "
                      f"songs {s['songs_mean']} (min {s['songs_min']}) run {s['mean_run']} (max {s['max_run']}) "
                      f"by {s['by_stat']}", file=sys.stderr)
    if args.joins_out:
        Path(args.joins_out).write_text(json.dumps(joins_out))
    calib = {p: calibration_report([j for j in joins_out if j["split"] == p]) for p in ("tune", "report")}
    calib = {p: v for p, v in calib.items() if v}
    if args.fit_calibration:
        fit = fit_calibration([j for j in joins_out if j["split"] == "tune"])
        Path(args.fit_calibration).write_text(json.dumps(fit, indent=1))
        calib["fit"] = fit
    if not args.quiet:
        for p, v in calib.items():
            if p != "fit":
                print(f"CALIBRATION {p}: {v}", file=sys.stderr)
    print(json_line({"split": args.split, "pools": args.pools, "clips": args.clips, "minutes": args.minutes,
                     "reference": args.reference, "moments": args.moments, "set": _parse_set(args.set),
                     "edge_model": args.edge_model, "model_b": args.model_b,
                     "unseen": True, "overall": overall, "calibration": calib, "per_pool": per_pool,
                     "seconds": round(time.perf_counter() - t_all, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
