"""``musiclab-cli stitcher train|stitch (build)|eval|seams``. Imports nothing heavy at module level."""

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

    s = sub.add_parser("stitch", aliases=["build"], help="build a new song from a pool and export it")
    s.add_argument("--songs", nargs="+", required=True, help="audio files and/or folders")
    s.add_argument("--minutes", type=float, default=3.0, help="target length")
    s.add_argument("--seed", type=int, default=0, help="random seed (start chunk)")
    s.add_argument("--out", required=True, help="FILE.wav or FILE.mp3 (a CSV of the chunks is written beside it)")
    s.add_argument("--csv", default=None, help="CSV path (default: OUT with .csv)")
    s.add_argument("--chunking", default="beats:8", help="fixed:S, beats:N, bars:N or silence[:DB[:MS]]")
    s.add_argument("--scorer", default="edge", help="edge (default model), boundary, seed, random or a .pt file")
    s.add_argument("--model", default=None, help="model name or file for the scorer")
    s.add_argument("--start", type=int, default=None, help="start chunk index (default: random)")
    s.add_argument("--method", choices=["greedy", "beam"], default="beam",
                   help="beam (the Build panel's default): keeps --beam chains, the lowest total join cost wins")
    s.add_argument("--beam", type=int, default=4)
    s.add_argument("--reuse", type=int, default=None,
                   help="how often one chunk may be used (default 1; with --mood-path "
                        f"{DEFAULT_MOOD_REUSE})")
    s.add_argument("--max-run", type=int, default=1, help="natural successors allowed in a row")
    s.add_argument("--max-same-song", type=int, default=4, metavar="N",
                   help="song variety: after N chunks of one source song in a row prefer another song "
                        "(0 = no preference; a cost weighted by --variety-weight, never a hard rule)")
    s.add_argument("--variety-weight", type=float, default=1.0,
                   help="join cost per chunk beyond --max-same-song (the Build panel's default: 1)")
    s.add_argument("--boundary-weight", type=float, default=0.0,
                   help="the boundary cosine as a second opinion in the join cost (default 0, the Build "
                        "panel's: the scorer alone; 0.5 was the default before the scorer heard the clips)")
    s.add_argument("--stay-key", action="store_true")
    s.add_argument("--stay-tempo", action="store_true")
    s.add_argument("--crossfade-ms", type=float, default=60.0)
    s.add_argument("--no-beat-align", action="store_true")
    s.add_argument("--demo-filter", action="store_true", help="skip the non-music clips of shared/data/audio")
    s.add_argument("--mood-path", default=None, metavar="V,A;V,A[;...]",
                   help="stitch along a mood path: valence,arousal points on the Emotion plane ([-1, 1] each, "
                        "evenly spaced over the song; or names: calm, excited, happy, sad, tense, angry), "
                        "e.g. \"0.3,-0.6;0.5,0.7\" (calm -> excited)")
    s.add_argument("--mood-weight", type=float, default=None,
                   help=f"cost per unit of distance to the mood path (default {DEFAULT_MOOD_WEIGHT:g} with "
                        f"--mood-path)")
    s.add_argument("--emotion-model", default=None, help="the Emotion model that rates the chunks and the result")
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
    a = sub.add_parser("seams", help="seam audit: which joins of a stitched song a listener would notice")
    a.add_argument("audio", nargs="?", default=None, help="the stitched song (omit with --natural)")
    a.add_argument("--songs", nargs="+", required=True, help="the source songs: audio files and/or folders")
    a.add_argument("--chunks", default=None,
                   help="the chunk list written by 'stitcher stitch' (default: AUDIO with .csv if it exists; "
                        "without one the joins are guessed from novelty peaks)")
    a.add_argument("--csv", default=None, help="write one row per join to this CSV")
    a.add_argument("--natural", type=int, default=0, metavar="N",
                   help="instead of a stitched song: N random beat moments inside each source song "
                        "(natural continuity, ~5 %% audible by construction)")
    a.add_argument("--moments", type=int, default=1000, help="natural moments in the reference")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--demo-filter", action="store_true", help="skip the non-music clips of shared/data/audio")
    a.add_argument("--json", action="store_true", help="(the JSON report is always the last line)")
    a.set_defaults(func=_seams)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


from .mood import DEFAULT_REUSE as DEFAULT_MOOD_REUSE, DEFAULT_WEIGHT as DEFAULT_MOOD_WEIGHT  # numpy only


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
    from ..distributed import reset_world, world

    if not world().is_main:  # under torchrun: rank 0 alone writes the model and the result
        reset_world()
        return 0
    path = scorer.to_file(args.out)
    print(f"wrote {path}", file=sys.stderr)
    print(json_line({"out": str(path), "arch": args.arch, "songs": len(songs), **info}))
    reset_world()
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
    from ..errors import MusiclabError

    path = None
    if args.mood_path:
        from .mood import MoodPath

        try:
            path = MoodPath.parse(args.mood_path)
        except MusiclabError as exc:
            print(f"error: --mood-path: {exc}", file=sys.stderr)
            return 2
        for w in path.warnings:
            print(f"warning: {w}", file=sys.stderr)
    weight = DEFAULT_MOOD_WEIGHT if args.mood_weight is None else max(0.0, args.mood_weight)
    # a build along a mood path lets each chunk appear twice unless --reuse says otherwise (mood.DEFAULT_REUSE)
    reuse = args.reuse if args.reuse is not None else (DEFAULT_MOOD_REUSE if path is not None and weight > 0 else 1)
    pool = load_pool(_paths(args), args.chunking, on_progress=_progress("pool"))
    for m in pool.messages:
        print(m, file=sys.stderr)
    if path is not None and weight > 0:
        from .mood import predict_chunk_moods

        try:
            predict_chunk_moods(pool, args.emotion_model, on_progress=_progress("chunk moods"))
        except MusiclabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    scorer = get_scorer(args.scorer, args.model)
    if scorer.name == "random" and hasattr(scorer, "seed"):
        scorer.seed = args.seed  # otherwise every --seed draws the same random scores (the same chain)
    enc = scorer.encode(pool)
    rules = ChainRules(target_s=args.minutes * 60, start=args.start, seed=args.seed, method=args.method,
                       beam=args.beam, reuse=reuse, max_run=args.max_run, stay_key=args.stay_key,
                       stay_tempo=args.stay_tempo, max_same_song=max(0, args.max_same_song),
                       variety_weight=max(0.0, args.variety_weight), boundary_weight=max(0.0, args.boundary_weight),
                       mood_path=path, mood_weight=weight if path is not None else 0.0)
    chain = build_chain(pool, enc, rules, on_progress=_progress("chaining"))
    chain, rendered = render_to_length(pool, enc, chain, rules, args.crossfade_ms, beat_align=not args.no_beat_align)
    save_audio(out, rendered.audio, rendered.sr)
    csv_path = Path(args.csv) if args.csv else out.with_suffix(".csv")
    write_csv(csv_path, pool, rendered, chain)
    seams = seam_report(pool, rendered, chain)
    for j in seams["joins"]:
        print(f"join at {j['time']:8.2f} s  score {j['score']:+.3f}  novelty z {j['z']:+.2f}  "
              f"max jump {j['jump']:.3f}", file=sys.stderr)
    mood = None
    if path is not None:
        from .mood import planned_report, result_report

        rep = result_report(rendered.y, rendered.sr, path, args.emotion_model)
        plan = planned_report(pool, chain.items, path, rules.target_s) if weight > 0 else None
        mood = {"path": rep["path"], "weight": weight, "reuse": rules.reuse, "asked": rep["asked"],
                "quadrant": rep["quadrant"], "xy": rep["xy"], "mean_distance": rep["mean_distance"], "model": rep["model"],
                "segments": [{"t": s["t"], "valence": s["valence"], "arousal": s["arousal"], "want": s["want"],
                              "distance": s["distance"]} for s in rep["segments"]],
                "planned_distance": plan["mean_distance"] if plan else None,
                "nearest_possible": plan["floor"] if plan else None,
                "message": plan["message"] if plan else "", "warnings": path.warnings}
        print(f"mood: asked {rep['asked']}, result {rep['quadrant']} at ({rep['xy'][0]:+.2f}, {rep['xy'][1]:+.2f}); "
              f"mean distance to the path {rep['mean_distance']:.3f}", file=sys.stderr)
        if mood["message"]:
            print(f"mood: {mood['message']}", file=sys.stderr)
    print(json_line({"out": str(out), "csv": str(csv_path), "songs": len(pool.songs), "pool": len(pool.chunks),
                     "chunks": len(chain.items), "seconds": round(len(rendered.y) / rendered.sr, 2),
                     "scorer": scorer.name, "median_z": seams["median_z"], "max_z": seams["max_z"],
                     "max_jump": seams["max_jump"], "source_jump_p99": seams["source_jump_p99"],
                     "joins": seams["joins"], **({"mood": mood} if mood is not None else {})}))
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
    if res.get("in_sample"):
        n, tot = res["in_sample"], res["songs"]
        names = ", ".join(res["in_sample_songs"][:5]) + (", ..." if n > 5 else "")
        print(f"warning: {n} of {tot} songs are in the model's training list ({names}): their figures are "
              f"in-sample, not what the model does on new songs."
              + (f" Unseen songs only ({res['unseen']['songs']}): MRR {res['unseen']['mrr']}  "
                 f"top-1 {res['unseen']['top1']}" if res.get("unseen") else " No unseen song in this pool."),
              file=sys.stderr)
    if not args.json:
        print(f"{res['songs']} songs, {res['pool']} chunks, {res['queries']} queries", file=sys.stderr)
        print(f"default : MRR {res['mrr']}  top-1 {res['top1']}  top-5 {res['top5']}  AUC {res['auc']}"
              f"  ({res['pool_norm']} pool normalisation)", file=sys.stderr)
        if res.get("plain"):
            pl = res["plain"]
            print(f"  plain cosine: MRR {pl['mrr']}  top-1 {pl['top1']}  top-5 {pl['top5']}  AUC {pl['auc']}",
                  file=sys.stderr)
        for k, v in res["baselines"].items():
            print(f"{k:8s}: MRR {v['mrr']}  top-1 {v['top1']}  top-5 {v['top5']}  AUC {v['auc']}"
                  f"  ({v['queries']} queries)", file=sys.stderr)
    print(json_line(res))
    return 0


def _seams(args) -> int:
    from pathlib import Path

    from ..errors import MusiclabError
    from ..jobs import json_line
    from .seams import audit_file, audit_natural, write_seams_csv

    paths = _paths(args)
    try:
        if args.natural > 0:
            res = audit_natural(paths, per_song=args.natural, moments=args.moments, seed=args.seed,
                                on_progress=_progress("seams"))
        else:
            if not args.audio:
                print("error: give the stitched song (or --natural N).", file=sys.stderr)
                return 2
            chunks = Path(args.chunks) if args.chunks else Path(args.audio).with_suffix(".csv")
            if args.chunks and not chunks.exists():
                print(f"error: the chunk list '{chunks}' does not exist.", file=sys.stderr)
                return 2
            if not chunks.exists():
                chunks = None
            if chunks is not None and args.csv and Path(args.csv).resolve() == chunks.resolve():
                print("error: --csv would overwrite the chunk list; choose another file.", file=sys.stderr)
                return 2
            res = audit_file(args.audio, paths, chunks, moments=args.moments, seed=args.seed,
                             on_progress=_progress("seams"))
    except MusiclabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for m in res.get("messages", []):
        print(m, file=sys.stderr)
    rows = res.get("rows", [])
    if args.csv and args.natural <= 0:
        print(f"wrote {write_seams_csv(args.csv, res)}", file=sys.stderr)
    if not args.json:
        for r in rows:
            if r["audible"]:
                where = f"{r['time']:8.2f} s" + (f"  {r['from']} -> {r['to']}" if r.get("from") else "")
                print(f"audible join {where}: {r['why']}", file=sys.stderr)
    ref = res["reference"]
    share = res["share_audible"]
    print(f"{res['joins']} joins, {res['audible']} audible ({100 * (share or 0):.1f} %; natural moments: "
          f"{100 * ref['natural_share_heldout']:.1f} % by construction, {ref['moments']} moments of "
          f"{ref['songs']} songs)", file=sys.stderr)
    if res.get("worst"):
        w = res["worst"]
        print(f"worst join at {w['time']:.2f} s: {w['why']}", file=sys.stderr)
    out = {k: v for k, v in res.items() if k != "rows"}
    out["rows"] = rows if args.natural <= 0 else [r for r in rows if r["audible"]]
    print(json_line(out))
    return 0
