"""Reproduce the shipped stitcher models from ``shared/data`` (songs and emotion clips).

    python -m musiclab.stitcher.train_default --only edge --clips tune-train  # the shipped default.pt
    python -m musiclab.stitcher.train_default --only edge  # default.pt on the 20 songs alone (before)
    python -m musiclab.stitcher.train_default --cv         # 2-fold cross-validation by song
    python -m musiclab.stitcher.train_default              # default.pt + seed.pt (preset)
    python -m musiclab.stitcher.train_default --eval-clips report   # ranking on unseen artists' clips
    python -m musiclab.stitcher.train_default --only edge --clips tune-train --eval-clips tune-val --out-dir D

The design of the default (``edge-metric-v4`` with the peak term, ``train.EDGE_RECIPE``)
was fixed by 2-fold cross-validation by song (``--cv``: songs sorted by name, trained on
one half, ranked on the other); the default shipped until 2026-12-01 was then trained on all 20
music tracks; the one shipped since also on the ``tune-train`` emotion clips (below), and its
honest figures are the ranking and built songs on the REPORT artists (its model card).
``--holdout`` trains it without the four songs of :data:`HOLDOUT` instead (the v3
card's split). The seed preset is trained without :data:`HOLDOUT`; the JSON lines at
the end are measured on those four songs (``default_seen`` says whether the default
was trained on them).

The emotion clips (``shared/data/emotion/4q``, 700 previews of many genres; labels unused) are
split by artist (:func:`artist_split`, the same halves as ``benchmarks/stitcher_joins.py``):
REPORT is never trained or tuned on; TUNE is split again by artist (:func:`tune_split`) into
``tune-train`` (trained on with ``--clips tune-train``) and ``tune-val`` (steps, checkpoints and
the cross-song loss are chosen on it). ``--eval-clips SET`` ranks true successors on disjoint
pools of about 40 clips of SET (:func:`rank_on_clips`) for ``--models`` (and a model trained in
the same run, as ``new``), their plain cosines and the boundary cosine; ``--cross N`` adds the
seam audit of N x 6 random cross-song joins per pool against each scorer's score
(:func:`.evaluate.cross_song_audit`). ``--cross-weight W`` trains with a second loss on audited
cross-song joins of the tune-train clips (:func:`.train.cross_pair_data`), ``--cross-val``
reports the same figures on audited joins of the tune-val clips.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

HOLDOUT = ("Aberrations", "Nebula", "Kevin_MacLeod_-_Vibe_Ace", "147793__setuniman__sweet-waltz-0i-22mi")

EMOTION_SUBDIR = ("emotion", "4q")
VAL_SHARE = 4  # 1 artist in VAL_SHARE of the TUNE half is the validation set (a salted hash)
RANK_POOL_CLIPS = 40  # clips per ranking pool (~240 chunks of 5 s: the size of 7 three-minute songs)
RANK_POOL_SEED = 2000


def emotion_root() -> Path:
    """``shared/data/emotion/4q``: the 700 emotion clips (30 s previews, many genres)."""
    from ..paths import shared_data_dir

    return shared_data_dir().joinpath(*EMOTION_SUBDIR)


def _artist_hash(artist: str, salt: str = "") -> int:
    return int(hashlib.sha1((salt + artist).encode()).hexdigest()[:8], 16)


def clip_artists(root: Optional[Path] = None) -> dict[str, str]:
    """``{clip stem: artist}`` (lower case) from the clips' ``metadata.csv``."""
    root = Path(root) if root else emotion_root()
    meta = {}
    with open(root / "metadata.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            meta[row["Song"]] = (row.get("Artist") or row["Song"]).strip().lower()
    return meta


def artist_split(root: Optional[Path] = None) -> dict[str, list[Path]]:
    """``{"tune": [...], "report": [...]}``: the emotion clips split by artist (a fixed hash of
    the name, chosen once; ``benchmarks/stitcher_joins.py`` uses the same). REPORT is never
    looked at while tuning or training."""
    root = Path(root) if root else emotion_root()
    meta = clip_artists(root)
    out: dict[str, list[Path]] = {"tune": [], "report": []}
    for p in sorted(root.glob("Q*/*.ogg")):
        artist = meta.get(p.stem, p.stem.lower())
        out["tune" if _artist_hash(artist) % 2 == 0 else "report"].append(p)
    return out


def tune_split(root: Optional[Path] = None) -> dict[str, list[Path]]:
    """The TUNE half split again by artist (another, salted hash): ``train`` (about 3/4, trained
    on, labels unused) and ``val`` (about 1/4: steps and checkpoints are chosen on it)."""
    root = Path(root) if root else emotion_root()
    meta = clip_artists(root)
    out: dict[str, list[Path]] = {"train": [], "val": []}
    for p in artist_split(root)["tune"]:
        artist = meta.get(p.stem, p.stem.lower())
        out["val" if _artist_hash(artist, "tune-val:") % VAL_SHARE == 0 else "train"].append(p)
    return out


def clip_set(name: str, root: Optional[Path] = None) -> list[Path]:
    """``report`` | ``tune`` | ``tune-train`` | ``tune-val``."""
    if name in ("report", "tune"):
        return artist_split(root)[name]
    if name in ("tune-train", "tune-val"):
        return tune_split(root)[name.split("-")[1]]
    raise ValueError(f"unknown clip set {name!r}")


def ranking_pools(files: Sequence[Path], clips: int = RANK_POOL_CLIPS, seed: int = RANK_POOL_SEED) -> list[list[Path]]:
    """The clips shuffled once (fixed seed) and cut into disjoint pools of about ``clips``."""
    import numpy as np

    files = list(files)
    order = np.random.default_rng(seed).permutation(len(files))
    n = max(1, int(round(len(files) / clips)))
    return [[files[i] for i in sorted(part)] for part in np.array_split(order, n)]


def rank_on_clips(models: dict, files: Sequence[Path], chunkings=("fixed:5", "beats:8"), clips: int = RANK_POOL_CLIPS,
                  on_pool=None) -> dict:
    """Successor ranking (``stitcher eval``'s protocol: 50 ms trimmed, every other chunk of the
    pool a candidate) on disjoint pools of clips, for every model in ``models`` (name ->
    EdgeScorer: its pool-normalised scores and its plain cosines) and the boundary cosine.
    Figures are means over all queries of all pools (MRR, top-1, top-5; AUC: query-weighted
    mean of the pools' AUCs). ``in_sample``: how many of the clips each model trained on."""
    from .evaluate import TRIM_S, _PlainCosine, rank_metrics, training_songs, _song_key
    from .pool import build_pool, load_songs
    from .scorers import BoundaryScorer

    pools = ranking_pools(files, clips)
    acc: dict = {}

    def add(ch, name, m):
        a = acc.setdefault(ch, {}).setdefault(name, {"queries": 0, "mrr": 0.0, "top1": 0.0, "top5": 0.0, "auc": 0.0})
        q = m["queries"]
        if not q:
            return
        a["queries"] += q
        for k in ("mrr", "top1", "top5", "auc"):
            a[k] += q * (m[k] or 0.0)

    sizes: dict = {}
    for pk, pf in enumerate(pools):
        songs, _ = load_songs(pf)
        for ch in chunkings:
            pool = build_pool(songs, ch)
            sizes.setdefault(ch, []).append(len(pool.chunks))
            trim = int(round(TRIM_S * pool.sr))
            for name, sc in models.items():
                enc = sc.encode(pool, trim=trim)
                add(ch, name, rank_metrics(pool, enc))
                if hasattr(enc, "ends") and getattr(sc, "pool_norm", "none") != "none":
                    add(ch, name + ":plain", rank_metrics(pool, _PlainCosine(enc)))
            add(ch, "boundary", rank_metrics(pool, BoundaryScorer().encode(pool, trim=trim)))
        if on_pool is not None:
            on_pool(pk + 1, len(pools))
    out = {"clips": len(files), "pools": len(pools), "pool_chunks": {}, "figures": {}, "in_sample": {}}
    for ch, by in acc.items():
        out["pool_chunks"][ch] = [int(min(sizes[ch])), int(max(sizes[ch]))]
        out["figures"][ch] = {n: {"queries": a["queries"], **{k: round(a[k] / max(a["queries"], 1), 4)
                                                            for k in ("mrr", "top1", "top5", "auc")}}
                              for n, a in by.items()}
    keys = {_song_key(p.stem) for p in files}
    for name, sc in models.items():
        tr = training_songs(sc)
        out["in_sample"][name] = None if tr is None else len(keys & tr)
    return out


def cross_data(clips: str, queries: int = 30, per_query: int = 6) -> dict:
    """Audited cross-song pairs of a clip set (:func:`.train.cross_pair_data` on its ranking
    pools), cached in the user cache folder."""
    import numpy as np
    import torch

    from ..jobs import TextProgress
    from .pool import _cache_dir
    from .train import cross_pair_data

    path = _cache_dir() / f"cross-pairs-v1-{clips}-{queries}x{per_query}.pt"
    if path.exists():
        d = torch.load(path, weights_only=True)
        d["group_start"] = np.asarray(d["group_start"])
        return d
    d = cross_pair_data(ranking_pools(clip_set(clips)), queries=queries, per_query=per_query,
                        on_progress=TextProgress(f"audit {clips}"))
    torch.save({**d, "group_start": torch.from_numpy(np.asarray(d["group_start"]))}, path)
    return d


def main(argv=None) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from ..models import shipped_models_dir
    from .evaluate import evaluate_all
    from .pool import build_pool, demo_song_paths, load_songs
    from .scorers import BoundaryScorer, EdgeScorer, RandomScorer
    from .seed import SeedScorer, train_seed
    from .train import EDGE_RECIPE, train_edge

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["edge", "seed", "eval"], default=None)
    ap.add_argument("--cv", action="store_true",
                    help="2-fold cross-validation of the edge recipe (songs sorted by name, even/odd); writes nothing")
    ap.add_argument("--holdout", action="store_true",
                    help="train the default without the four HOLDOUT songs (default: on all songs)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock limit for the edge model")
    ap.add_argument("--seed-minutes", type=float, default=4.0, help="wall-clock limit for the seed model")
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--clips", choices=["none", "tune-train"], default="none",
                    help="train the default on the 20 songs plus these emotion clips (labels unused): "
                         "tune-train = the TUNE half's artists without the validation artists")
    ap.add_argument("--eval-clips", choices=["report", "tune-val", "tune"], default=None,
                    help="successor ranking on disjoint pools of these emotion clips (by artist: report = "
                         "the REPORT half, never trained or tuned on) for --models, the boundary cosine and "
                         "plain cosines; without --only nothing is trained")
    ap.add_argument("--models", default="default",
                    help="comma-separated model names/files for --eval-clips (default: the shipped one; a "
                         "model trained in this run is added as 'new')")
    ap.add_argument("--pool-clips", type=int, default=RANK_POOL_CLIPS, help="clips per ranking pool")
    ap.add_argument("--seed", type=int, default=0, help="training seed of the edge model")
    ap.add_argument("--json", action="store_true", help="(for --eval-clips) one JSON line, as always")
    ap.add_argument("--cross", type=int, default=0, metavar="N",
                    help="with --eval-clips: also audit N random cross-song joins x --per-query candidates per "
                         "pool (8-beat chunks, spliced, the seam audit's verdict) against each scorer's score")
    ap.add_argument("--per-query", type=int, default=6)
    ap.add_argument("--no-ranking", action="store_true", help="with --cross: skip the successor ranking")
    ap.add_argument("--cross-weight", type=float, default=0.0,
                    help="train the edge model with a second loss on audited cross-song joins of the "
                         "tune-train clips (weight of that loss); 0: off (the shipped recipe)")
    ap.add_argument("--cross-val", action="store_true",
                    help="after training: cross-song figures on audited joins of the tune-val clips")
    ap.add_argument("--cross-queries", type=int, default=30, help="chunk ends A per pool for the audited pairs")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = shipped_models_dir("stitcher") if args.out_dir is None else Path(args.out_dir)

    def eval_clips(extra: Optional[dict] = None) -> None:
        models = {m: EdgeScorer.load(m) for m in args.models.split(",") if m}
        models.update(extra or {})
        files = clip_set(args.eval_clips)
        t0 = time.monotonic()
        res = {} if args.no_ranking else rank_on_clips(models, files, clips=args.pool_clips,
                                                        on_pool=TextProgress(f"ranking {args.eval_clips}"))
        if args.cross:
            from .evaluate import cross_song_audit

            res["cross_song"] = cross_song_audit(models, ranking_pools(files, args.pool_clips), queries=args.cross,
                                                 per_query=args.per_query, on_pool=TextProgress("cross-song audit"))
        res.update({"clip_set": args.eval_clips, "unseen_split": args.eval_clips == "report",
                    "seconds": round(time.monotonic() - t0, 1)})
        print(json_line(res))

    if args.eval_clips and args.only is None:
        eval_clips()
        return 0
    songs, msgs = load_songs(demo_song_paths(), on_progress=TextProgress("loading"))
    for m in msgs:
        print(m, file=sys.stderr)
    if args.cv:
        songs.sort(key=lambda s: s.name)
        folds = [songs[0::2], songs[1::2]]
        for k in range(2):
            sc, _h = train_edge(folds[1 - k], steps=args.steps, on_progress=TextProgress(f"fold {k + 1}"),
                                **EDGE_RECIPE)
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
        edge_songs = list(train if args.holdout else songs)
        clip_meta = {}
        if args.clips != "none":
            clips, cmsgs = load_songs(clip_set(args.clips), on_progress=TextProgress("loading clips"))
            for m in cmsgs:
                print(m, file=sys.stderr)
            edge_songs += clips
            clip_meta = {"clips": args.clips, "clip_count": len(clips),
                         "clip_split": "emotion/4q by artist: TUNE half (sha1 of the artist, even) minus its "
                                       "validation artists (salted hash); REPORT half never used"}
        cross = cross_data("tune-train", args.cross_queries) if args.cross_weight > 0 else None
        # the shipped model as it is before this run may overwrite it (the --cross-val comparison)
        shipped = EdgeScorer.load("default") if args.cross_val else None
        sc, hist = train_edge(edge_songs, steps=args.steps, on_progress=TextProgress("edge"),
                              max_seconds=args.minutes * 60, seed=args.seed, cross=cross,
                              cross_weight=args.cross_weight, **EDGE_RECIPE)
        sc.meta.update({"holdout": list(HOLDOUT) if args.holdout else [], "train_seconds": hist["seconds"],
                        **clip_meta})
        sc.to_file(out / "default.pt")
        print(f"edge: {hist['steps_done']} steps in {hist['seconds']} s, loss {hist['loss'][-1]}", file=sys.stderr)
        if args.cross_val:
            from .train import cross_pair_figures

            val = cross_data("tune-val", args.cross_queries)
            print(json_line({"cross_val": {"pairs": int(len(val["group"])),
                                           "inaudible_share": round(float((~val["audible"]).float().mean()), 4),
                                           "shipped": cross_pair_figures(shipped, val),
                                           "new": cross_pair_figures(sc, val)}}))
        if args.eval_clips:
            eval_clips({"new": sc})
            return 0
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
        res["default_seen"] = bool(set(default.meta.get("songs") or []) & set(HOLDOUT))
        res["seconds"] = round(time.monotonic() - t0, 1)
        print(json_line(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
