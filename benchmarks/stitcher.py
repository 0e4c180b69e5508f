"""Stitcher benchmark: a 3-minute song from a pool of ~2,000 chunks (issue 15: < 5 s, goal 2 s).

    .venv/bin/python benchmarks/stitcher.py [--chunks 2000] [--minutes 3] [--fresh] [--audit]

Decoding the songs (22.05 kHz mono analysis copies) is timed separately (``load_s``).

``build_dj_s`` is the figure the goal is about: the Build panel's defaults from a pool whose songs
have nothing computed in memory: loading the default model, encoding every chunk's edges, the
cost-based search (the per-song analysis the tempo/key/context costs and the cuts need: beats,
chroma, MFCC, onset strength, loudness) and the engineered render (matching-beat cuts, Rubber
Band time-stretching of the chosen chunks, loudness, fades) at the sources' rate and channels.

* ``cold``: the disk cache of per-song analysis and edge embeddings (:mod:`musiclab.stitcher.cache`)
  empty (a fresh temporary ``MUSICLAB_CACHE``); this process's first build, so it also pays
  librosa's imports and JIT compilation;
* ``*_cpu_s``: this process's CPU time for the same span (one thread: about the wall time on an
  idle machine; the figure to read when other work shares the cores);
* ``warm``: the same build again from fresh song objects (nothing in memory), the cache filled by
  the cold build; ``warm_equals_cold``: the chain and every output sample are the same;
* ``fresh`` (``--fresh``): the warm build in a new process (imports included, songs decoded again
  outside the timing), what a user gets after restarting the app;
* ``boundary_*``: the boundary-cosine baseline scorer, same defaults, same (warm) run;
* ``build_s``: the old greedy path for comparison (learned scorer, greedy search without costs,
  plain 60 ms crossfades at the analysis rate); ``beam4_chain_s``: a beam-4 search.

``--audit`` adds the seam audit of the warm build (``audit_s``, outside every build figure).
The last line of stdout is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _fresh_songs(songs):
    from musiclab.stitcher.pool import Song

    return [Song(name=s.name, path=s.path, y=s.y, sr=s.sr) for s in songs]


def _dj_build(songs, chunk_s: float, minutes: float, scorer_name: str = "edge") -> dict:
    """One Build-panel build from fresh songs; returns timings and the result."""
    from musiclab.stitcher.cache import encode_cached
    from musiclab.stitcher.chain import ChainRules, build_chain, render_to_length
    from musiclab.stitcher.pool import build_pool
    from musiclab.stitcher.scorers import get_scorer

    pool = build_pool(_fresh_songs(songs), f"fixed:{chunk_s:.3f}")
    c0 = time.process_time()
    t0 = time.perf_counter()
    scorer = get_scorer(scorer_name)
    t1 = time.perf_counter()
    enc = encode_cached(scorer, pool)
    t2 = time.perf_counter()
    from dataclasses import replace

    from musiclab.stitcher.chain import BUILD_DEFAULTS

    # the Build panel's defaults (beam search over the summed join cost, song variety)
    rules = replace(BUILD_DEFAULTS["rules"], target_s=minutes * 60, seed=0, reuse=1, max_run=1)
    chain = build_chain(pool, enc, rules)
    t3 = time.perf_counter()
    chain, r = render_to_length(pool, enc, chain, rules, 60.0, beat_align=True)
    t4 = time.perf_counter()
    c4 = time.process_time()
    return {"pool": pool, "enc": enc, "chain": chain, "r": r,
            "t": {"build_dj_s": round(t4 - t0, 3), "build_dj_cpu_s": round(c4 - c0, 3), "model_load_s": round(t1 - t0, 3), "encode_s": round(t2 - t1, 3),
                  "chain_s": round(t3 - t2, 3), "render_s": round(t4 - t3, 3)}}


def _fresh_process(args, cache: str) -> dict:
    env = dict(os.environ, MUSICLAB_CACHE=cache)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--warm-only", "--chunks", str(args.chunks),
           "--minutes", str(args.minutes), "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": out.stderr[-500:]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--audit", action="store_true",
                    help="also run the seam audit on the warm build (musiclab.stitcher.seams; not in any build figure)")
    ap.add_argument("--fresh", action="store_true", help="also time the warm build in a new process")
    ap.add_argument("--warm-only", action="store_true", help=argparse.SUPPRESS)  # the --fresh child
    ap.add_argument("--cache", default=None, help="cache folder to use (default: a new empty temporary one)")
    args = ap.parse_args()
    tmp = None
    if args.cache:
        os.environ["MUSICLAB_CACHE"] = args.cache
    elif not args.warm_only:
        tmp = tempfile.TemporaryDirectory(prefix="musiclab-bench-cache-")
        os.environ["MUSICLAB_CACHE"] = tmp.name
    t_import = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from musiclab.jobs import json_line
    from musiclab.stitcher import cache as scache
    from musiclab.stitcher.pool import demo_song_paths, load_songs

    import_s = time.perf_counter() - t_import
    t0 = time.perf_counter()
    songs, _ = load_songs(demo_song_paths())
    load_s = time.perf_counter() - t0
    total_s = sum(s.duration for s in songs)
    chunk_s = max(0.5, total_s / args.chunks)

    if args.warm_only:
        w = _dj_build(songs, chunk_s, args.minutes)
        print(json_line({**w["t"], "import_s": round(import_s, 3), "cache": dict(scache.STATS)}))
        return 0

    cold = _dj_build(songs, chunk_s, args.minutes)
    stats_cold = dict(scache.STATS)
    scache.STATS.clear()
    warm = _dj_build(songs, chunk_s, args.minutes)
    stats_warm = dict(scache.STATS)
    same = cold["chain"].items == warm["chain"].items and cold["r"].y.shape == warm["r"].y.shape \
        and bool(np.array_equal(cold["r"].audio, warm["r"].audio))
    base = _dj_build(songs, chunk_s, args.minutes, "boundary")

    # the old greedy path (learned scorer, no costs, plain crossfades at the analysis rate)
    from musiclab.stitcher.chain import ChainRules, build_chain, render

    pool, enc = warm["pool"], warm["enc"]
    t4 = time.perf_counter()
    chain = build_chain(pool, enc, ChainRules(target_s=args.minutes * 60, seed=0, reuse=1, max_run=1))
    t5 = time.perf_counter()
    r = render(pool, chain, 60.0, beat_align=False)
    t6 = time.perf_counter()
    beam = build_chain(pool, enc, ChainRules(target_s=args.minutes * 60, seed=0, method="beam", beam=4))
    t7 = time.perf_counter()

    dj = warm["r"]
    out = {"songs": len(songs), "pool": len(pool.chunks), "chunk_s": round(chunk_s, 3), "load_s": round(load_s, 2),
           "build_dj_s": warm["t"]["build_dj_s"], "build_dj_cpu_s": warm["t"]["build_dj_cpu_s"],
           "build_dj_cold_s": cold["t"]["build_dj_s"],
           "boundary_build_dj_s": base["t"]["build_dj_s"],
           "warm": warm["t"], "cold": cold["t"], "boundary": base["t"], "warm_equals_cold": same,
           "cache_cold": stats_cold, "cache_warm": stats_warm,
           "dj_joins": len(dj.joins), "dj_stretched": sum(1 for j in dj.join_info if j.get("stretch_pct")),
           "dj_songs_used": len({pool.chunks[c[2]].song for c in dj.segments}),
           "dj_sr": dj.sr, "dj_channels": dj.n_channels, "dj_result_s": round(len(dj.y) / dj.sr, 1),
           "build_s": round(warm["t"]["model_load_s"] + warm["t"]["encode_s"] + (t6 - t4), 3),
           "chain_s": round(t5 - t4, 3), "render_s": round(t6 - t5, 3), "result_s": round(len(r.y) / r.sr, 1),
           "chain_chunks": len(chain.items), "beam4_chain_s": round(t7 - t6, 3), "beam_chunks": len(beam.items),
           "threads": args.threads}
    if args.audit:
        from musiclab.stitcher.seams import audit_rendered

        t8 = time.perf_counter()
        res = audit_rendered(pool, dj, warm["chain"])
        out.update({"audit_s": round(time.perf_counter() - t8, 2), "joins": res["joins"], "audible": res["audible"],
                    "share_audible": res["share_audible"], "worst_join": res["worst"],
                    "natural_share_heldout": res["reference"]["natural_share_heldout"]})
    if args.fresh:
        out["fresh"] = _fresh_process(args, os.environ["MUSICLAB_CACHE"])
        out["build_dj_fresh_s"] = out["fresh"].get("build_dj_s")
    try:
        out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    print(json_line(out))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
