"""Stitcher benchmark: a 3-minute song from a pool of ~2,000 chunks.

    .venv/bin/python benchmarks/stitcher.py [--chunks 2000] [--minutes 3]

Decoding the songs is timed separately (``load_s``); ``build_s`` is the figure the goal
(< 5 s) is about: loading the default model, encoding the edges of every chunk once,
chaining (greedy; every step is one matrix row) and rendering with crossfades.
``build_dj_s``: the same with the Build panel's defaults (issue 15): model load + encoding +
the cost-based search (song analysis for the tempo/context costs included) + the engineered
render (matching-beat cuts, Rubber Band time-stretching, loudness, fades) at the sources'
rate and channels. ``--audit`` adds the seam audit of the greedy result (joins, share audible, worst join;
timed as ``audit_s``, outside ``build_s``). The last line of stdout is JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--audit", action="store_true",
                    help="also run the seam audit on the greedy result (musiclab.stitcher.seams; not in build_s)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from musiclab.jobs import json_line
    from musiclab.stitcher.chain import ChainRules, build_chain, render, render_to_length
    from musiclab.stitcher.pool import build_pool, demo_song_paths, load_songs
    from musiclab.stitcher.scorers import EdgeScorer

    t0 = time.perf_counter()
    songs, _ = load_songs(demo_song_paths())
    load_s = time.perf_counter() - t0
    total_s = sum(s.duration for s in songs)
    seconds = total_s / args.chunks
    pool = build_pool(songs, f"fixed:{max(0.5, seconds):.3f}")
    t1 = time.perf_counter()
    scorer = EdgeScorer.load("default")
    t2 = time.perf_counter()
    enc = scorer.encode(pool)
    t3 = time.perf_counter()
    chain = build_chain(pool, enc, ChainRules(target_s=args.minutes * 60, seed=0, reuse=1, max_run=1))
    t4 = time.perf_counter()
    r = render(pool, chain, 60.0, beat_align=False)
    t5 = time.perf_counter()
    beam = build_chain(pool, enc, ChainRules(target_s=args.minutes * 60, seed=0, method="beam", beam=4))
    t6a = time.perf_counter()
    # the Build panel's defaults (issue 15): cost-based search with song variety as a cost, and
    # engineered joins (cut on matching beats, Rubber Band time-stretch, loudness, fades) rendered
    # at the sources' quality; the song analysis the costs need is computed in here too
    dj_rules = ChainRules(target_s=args.minutes * 60, seed=0, reuse=1, max_run=1, max_same_song=4,
                          variety_weight=1.0)
    dj_chain = build_chain(pool, enc, dj_rules)
    t6b = time.perf_counter()
    dj_chain, dj = render_to_length(pool, enc, dj_chain, dj_rules, 60.0, beat_align=True)
    t6c = time.perf_counter()
    dj_info = {"dj_chain_s": round(t6b - t6a, 3), "dj_render_s": round(t6c - t6b, 3),
               "build_dj_s": round((t3 - t1) + (t6c - t6a), 3),
               "dj_stretched": sum(1 for j in dj.join_info if j.get("stretch_pct")),
               "dj_joins": len(dj.joins), "dj_sr": dj.sr, "dj_channels": dj.n_channels,
               "dj_result_s": round(len(dj.y) / dj.sr, 1)}
    t6 = time.perf_counter()
    audit = {}
    if args.audit:
        from musiclab.stitcher.seams import audit_rendered

        res = audit_rendered(pool, r, chain)
        audit = {"audit_s": round(time.perf_counter() - t6, 2), "joins": res["joins"], "audible": res["audible"],
                 "share_audible": res["share_audible"],
                 "songs_used": len({pool.chunks[c[2]].song for c in r.segments}),
                 "worst_join": res["worst"], "natural_share_heldout": res["reference"]["natural_share_heldout"]}
    print(json_line({"songs": len(songs), "pool": len(pool.chunks), "chunk_s": round(seconds, 3),
                     "result_s": round(len(r.y) / r.sr, 1), "chain_chunks": len(chain.items),
                     "load_s": round(load_s, 2), "model_load_s": round(t2 - t1, 3), "encode_s": round(t3 - t2, 3),
                     "chain_s": round(t4 - t3, 3), "render_s": round(t5 - t4, 3),
                     "build_s": round(t5 - t1, 3), "beam4_chain_s": round(t6 - t5, 3),
                     "beam_chunks": len(beam.items), "threads": args.threads, **dj_info, **audit}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
