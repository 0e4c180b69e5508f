"""Reproduce the shipped stitcher models from ``shared/data/audio``.

    python -m musiclab.stitcher.train_default            # default.pt (learned) + seed.pt (preset)
    python -m musiclab.stitcher.train_default --only edge
    python -m musiclab.stitcher.train_default --cv       # 2-fold cross-validation, bigger pools

Split by song: the four songs in :data:`HOLDOUT` are never trained on; the shipped
models are the ones trained on the other 16 music tracks, and the figures printed at
the end (one JSON line per chunking) are measured on the held-out songs only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

HOLDOUT = ("Aberrations", "Nebula", "Kevin_MacLeod_-_Vibe_Ace", "147793__setuniman__sweet-waltz-0i-22mi")


def main(argv=None) -> int:
    import torch

    from ..cli import TextProgress, json_line
    from ..models import shipped_models_dir
    from .evaluate import evaluate_all
    from .pool import build_pool, demo_song_paths, load_songs
    from .scorers import BoundaryScorer, EdgeScorer, RandomScorer
    from .seed import SeedScorer, train_seed
    from .train import train_edge

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["edge", "seed", "eval"], default=None)
    ap.add_argument("--cv", action="store_true",
                    help="2-fold cross-validation of the edge recipe (songs sorted by name, even/odd); writes nothing")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock limit for the edge model")
    ap.add_argument("--seed-minutes", type=float, default=4.0, help="wall-clock limit for the seed model")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = shipped_models_dir("stitcher") if args.out_dir is None else __import__("pathlib").Path(args.out_dir)
    songs, msgs = load_songs(demo_song_paths(), on_progress=TextProgress("loading"))
    for m in msgs:
        print(m, file=sys.stderr)
    if args.cv:
        songs.sort(key=lambda s: s.name)
        folds = [songs[0::2], songs[1::2]]
        for k in range(2):
            sc, _h = train_edge(folds[1 - k], steps=args.steps, on_progress=TextProgress(f"fold {k + 1}"))
            for ch in ("fixed:5", "beats:8"):
                pool = build_pool(folds[k], ch)
                res = evaluate_all(pool, sc, {"boundary": BoundaryScorer(), "random": RandomScorer()})
                res.update({"fold": k + 1, "chunking": ch})
                print(json_line(res))
        return 0
    train = [s for s in songs if s.name not in HOLDOUT]
    test = [s for s in songs if s.name in HOLDOUT]
    print(f"train: {len(train)} songs, held out: {[s.name for s in test]}", file=sys.stderr)
    if args.only in (None, "edge"):
        sc, hist = train_edge(train, steps=args.steps, on_progress=TextProgress("edge"),
                              max_seconds=args.minutes * 60)
        sc.meta.update({"holdout": list(HOLDOUT), "train_seconds": hist["seconds"]})
        sc.to_file(out / "default.pt")
        print(f"edge: {hist['steps_done']} steps in {hist['seconds']} s, loss {hist['loss'][-1]}", file=sys.stderr)
    if args.only in (None, "seed"):
        pool = build_pool(train, "fixed:5")
        sd, hist = train_seed(pool, epochs=3, max_seconds=args.seed_minutes * 60, on_progress=TextProgress("seed"))
        sd.meta.update({"holdout": list(HOLDOUT)})
        sd.to_file(out / "seed.pt")
        print(f"seed: {hist['steps']} steps in {hist['seconds']} s, loss {hist['loss'][-1]}", file=sys.stderr)
    shipped = shipped_models_dir("stitcher")
    default = EdgeScorer.load(str(out / "default.pt" if (out / "default.pt").exists() else shipped / "default.pt"))
    seed = SeedScorer.load(str(out / "seed.pt" if (out / "seed.pt").exists() else shipped / "seed.pt"))
    for ch in ("fixed:5", "beats:8"):
        t0 = time.monotonic()
        pool = build_pool(test, ch)
        res = evaluate_all(pool, default, {"boundary": BoundaryScorer(), "seed": seed, "random": RandomScorer()})
        res["chunking"] = ch
        res["seconds"] = round(time.monotonic() - t0, 1)
        print(json_line(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
