"""``musiclab-cli stitcher train|stitch|eval``. Imports nothing heavy at module level."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("stitcher", help="chunk stitcher: a new song from a pool of chunks")
    sub = p.add_subparsers(dest="stitcher_cmd", metavar="ACTION")

    t = sub.add_parser("train", help="train a transition scorer on songs")
    t.add_argument("--songs", nargs="+", required=True, help="audio files and/or folders")
    t.add_argument("--out", required=True, help="model file to write (.pt)")
    t.add_argument("--arch", choices=["edge", "seed"], default="edge",
                   help="edge: the learned default; seed: the seed study's CNN-LSTM")
    t.add_argument("--steps", type=int, default=600, help="training steps (edge)")
    t.add_argument("--minutes", type=float, default=15.0, help="wall-clock limit")
    t.add_argument("--chunking", default="fixed:5", help="chunks for the seed model's positives")
    t.add_argument("--demo-filter", action="store_true",
                   help="skip the non-music clips of shared/data/audio (speech, animals, duplicates)")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_train)

    s = sub.add_parser("stitch", help="build a new song from a pool and export it")
    s.add_argument("--songs", nargs="+", required=True, help="audio files and/or folders")
    s.add_argument("--minutes", type=float, default=3.0, help="target length")
    s.add_argument("--seed", type=int, default=0, help="random seed (start chunk)")
    s.add_argument("--out", required=True, help="FILE.wav or FILE.mp3 (a CSV of the chunks is written beside it)")
    s.add_argument("--csv", default=None, help="CSV path (default: OUT with .csv)")
    s.add_argument("--chunking", default="beats:8", help="fixed:S, beats:N, bars:N or silence[:DB[:MS]]")
    s.add_argument("--scorer", default="edge", help="edge (default model), boundary, seed, random or a .pt file")
    s.add_argument("--model", default=None, help="model name or file for the scorer")
    s.add_argument("--start", type=int, default=None, help="start chunk index (default: random)")
    s.add_argument("--method", choices=["greedy", "beam"], default="greedy")
    s.add_argument("--beam", type=int, default=4)
    s.add_argument("--reuse", type=int, default=1, help="how often one chunk may be used")
    s.add_argument("--max-run", type=int, default=1, help="natural successors allowed in a row")
    s.add_argument("--max-same-song", type=int, default=0, metavar="N",
                   help="song variety: at most N chunks of one source song in a row, then the next "
                        "chunk must come from another song (0 = no limit, the default; the rule "
                        "gives way only where no other song has a usable chunk)")
    s.add_argument("--stay-key", action="store_true")
    s.add_argument("--stay-tempo", action="store_true")
    s.add_argument("--crossfade-ms", type=float, default=60.0)
    s.add_argument("--no-beat-align", action="store_true")
    s.add_argument("--demo-filter", action="store_true", help="skip the non-music clips of shared/data/audio")
    s.add_argument("--json", action="store_true", help="(the JSON report is always the last line)")
    s.set_defaults(func=_stitch)

    e = sub.add_parser("eval", help="successor-ranking evaluation of the default scorer and baselines")
    e.add_argument("--songs", nargs="+", required=True, help="audio files and/or folders")
    e.add_argument("--chunking", default="fixed:5", help="fixed:S, beats:N, bars:N or silence[:DB[:MS]]")
    e.add_argument("--model", default="default", help="the learned scorer's model")
    e.add_argument("--seed-model", default="seed", help="the seed preset's model")
    e.add_argument("--seed-queries", type=int, default=64,
                   help="queries for the (slow, pairwise) seed baseline; 0 = all")
    e.add_argument("--no-seed", action="store_true", help="skip the seed baseline")
    e.add_argument("--demo-filter", action="store_true", help="skip the non-music clips of shared/data/audio")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_eval)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _paths(args):
    from .pool import demo_song_paths, find_songs

    if getattr(args, "demo_filter", False):
        out = []
        for x in args.songs:
            from pathlib import Path

            out.extend(demo_song_paths(x) if Path(x).is_dir() else [Path(x)])
        return out
    return find_songs(args.songs)


def _progress(label):
    from ..jobs import TextProgress

    return TextProgress(label)


def _torch_threads(n=1):
    import torch

    torch.set_num_threads(max(1, int(n)))


def _train(args) -> int:
    from ..jobs import json_line
    from .pool import build_pool, load_songs

    _torch_threads(args.threads)
    songs, msgs = load_songs(_paths(args), on_progress=_progress("loading"))
    for m in msgs:
        print(m, file=sys.stderr)
    if not songs:
        print("error: no usable songs.", file=sys.stderr)
        return 1
    if args.arch == "edge":
        from .train import EDGE_RECIPE, train_edge

        scorer, hist = train_edge(songs, steps=args.steps, seed=args.seed, on_progress=_progress("training"),
                                  max_seconds=args.minutes * 60, **EDGE_RECIPE)
        info = {"steps": hist["steps_done"], "final_loss": hist["loss"][-1] if hist["loss"] else None,
                "seconds": hist["seconds"]}
    else:
        from .seed import train_seed

        pool = build_pool(songs, args.chunking)
        scorer, hist = train_seed(pool, seed=args.seed, max_seconds=args.minutes * 60,
                                  on_progress=_progress("training"))
        info = {"steps": hist["steps"], "final_loss": hist["loss"][-1] if hist["loss"] else None,
                "seconds": hist["seconds"]}
    path = scorer.to_file(args.out)
    print(f"wrote {path}", file=sys.stderr)
    print(json_line({"out": str(path), "arch": args.arch, "songs": len(songs), **info}))
    return 0


def _stitch(args) -> int:
    from pathlib import Path

    from ..audio.io import save_audio
    from ..jobs import json_line
    from .chain import ChainRules, build_chain, render_to_length, seam_report, write_csv
    from .pool import load_pool
    from .scorers import get_scorer

    _torch_threads(1)
    out = Path(args.out)
    if out.suffix.lower() not in (".wav", ".mp3", ".flac", ".ogg"):
        print("error: --out must end in .wav or .mp3 (or .flac/.ogg).", file=sys.stderr)
        return 2
    pool = load_pool(_paths(args), args.chunking, on_progress=_progress("pool"))
    for m in pool.messages:
        print(m, file=sys.stderr)
    scorer = get_scorer(args.scorer, args.model)
    enc = scorer.encode(pool)
    rules = ChainRules(target_s=args.minutes * 60, start=args.start, seed=args.seed, method=args.method,
                       beam=args.beam, reuse=args.reuse, max_run=args.max_run, stay_key=args.stay_key,
                       stay_tempo=args.stay_tempo, max_same_song=max(0, args.max_same_song))
    chain = build_chain(pool, enc, rules, on_progress=_progress("chaining"))
    chain, rendered = render_to_length(pool, enc, chain, rules, args.crossfade_ms, beat_align=not args.no_beat_align)
    save_audio(out, rendered.y, rendered.sr)
    csv_path = Path(args.csv) if args.csv else out.with_suffix(".csv")
    write_csv(csv_path, pool, rendered, chain)
    seams = seam_report(pool, rendered, chain)
    for j in seams["joins"]:
        print(f"join at {j['time']:8.2f} s  score {j['score']:+.3f}  novelty z {j['z']:+.2f}  "
              f"max jump {j['jump']:.3f}", file=sys.stderr)
    print(json_line({"out": str(out), "csv": str(csv_path), "songs": len(pool.songs), "pool": len(pool.chunks),
                     "chunks": len(chain.items), "seconds": round(len(rendered.y) / rendered.sr, 2),
                     "scorer": scorer.name, "median_z": seams["median_z"], "max_z": seams["max_z"],
                     "max_jump": seams["max_jump"], "source_jump_p99": seams["source_jump_p99"],
                     "joins": seams["joins"]}))
    return 0


def _eval(args) -> int:
    from ..jobs import json_line
    from ..errors import ModelFileError
    from .evaluate import evaluate_all
    from .pool import load_pool
    from .scorers import BoundaryScorer, EdgeScorer, RandomScorer

    _torch_threads(1)
    pool = load_pool(_paths(args), args.chunking, on_progress=_progress("pool"))
    for m in pool.messages:
        print(m, file=sys.stderr)
    default = EdgeScorer.load(args.model)
    baselines = {"boundary": BoundaryScorer()}
    if not args.no_seed:
        from .seed import SeedScorer

        try:
            baselines["seed"] = SeedScorer.load(args.seed_model)
        except ModelFileError as exc:
            print(f"seed baseline skipped: {exc}", file=sys.stderr)
    baselines["random"] = RandomScorer()
    res = evaluate_all(pool, default, baselines, seed_queries=args.seed_queries or None,
                       on_progress=_progress("eval"))
    if not args.json:
        print(f"{res['songs']} songs, {res['pool']} chunks, {res['queries']} queries", file=sys.stderr)
        print(f"default : MRR {res['mrr']}  top-1 {res['top1']}  top-5 {res['top5']}  AUC {res['auc']}", file=sys.stderr)
        for k, v in res["baselines"].items():
            print(f"{k:8s}: MRR {v['mrr']}  top-1 {v['top1']}  top-5 {v['top5']}  AUC {v['auc']}"
                  f"  ({v['queries']} queries)", file=sys.stderr)
    print(json_line(res))
    return 0
