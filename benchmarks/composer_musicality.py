"""Composer musicality: generate tunes from scratch and judge them (MGEval-style OA, see
:mod:`musiclab.composer.judge`) against a reference, with the real-tune ceiling beside them.

    .venv/bin/python benchmarks/composer_musicality.py --model folk --reference DIR \
        [--ceiling DIR | --holdout N] [--n 20] [--length 200] [--temperature 0.9] [--top-p 0.95] \
        [--repeat 1.0] [--form free|aabb] [--best-of 1] [--seed0 0] [--save DIR]

Protocols (say which one a figure comes from):

* ``--reference R --holdout N``: exactly ``musiclab-cli composer judge GEN --reference R
  --holdout N`` (N tunes of R drawn with seed 0 are the ceiling, the rest the reference).
* ``--reference R --ceiling C``: the generated tunes and the real tunes of C are each judged
  against all of R (the same as two ``judge`` calls with ``--holdout 0``), e.g. R = the model's
  training tunes, C = its validation tunes (never trained on).

``--only mode=minor`` keeps, of the reference and the ceiling, the real tunes whose files are
labelled so (e.g. tunes asked for a minor key judged against real minor tunes).

Tunes go through the MIDI writer and the judge's MIDI reader, as with the CLI; they are written
as the app exports them, with the metre and key the tune was asked for (or drew from the
style's), so bar-based features read a 6/8 jig in 6/8 (before 2026-12-02 the writer estimated
the metre of every tune). Prints JSON as
its last line: mean OA, ceiling, ratio, per-feature OA of both, silent/one-note tunes, and the
generation time per tune.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def model_split(model) -> tuple[list, list]:
    """(training files, validation files) of a model, from its metadata: every score file under
    its ``sources`` whose name is / is not among its ``val_piece_names``."""
    from musiclab.composer.events import find_score_files

    val_names = set(model.meta.get("val_piece_names") or [])
    if not val_names:
        raise SystemExit(f"{model.meta.get('name', 'model')} lists no validation pieces: use --reference/--ceiling")
    files = [f for f in find_score_files(model.meta.get("sources") or [])
             if f.suffix.lower() in (".mid", ".midi")]  # the judge reads MIDI
    train = [str(f) for f in files if f.name not in val_names]
    val = [str(f) for f in files if f.name in val_names]
    if not val:
        raise SystemExit("none of the model's validation pieces were found under its sources "
                         f"{model.meta.get('sources')}")
    return train, val


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="folk")
    ap.add_argument("--reference", nargs="+", default=None)
    ap.add_argument("--split-from-model", action="store_true",
                    help="reference = the model's training tunes, ceiling = its validation tunes (never trained "
                         "on), both taken from the model file's sources and val_piece_names")
    ap.add_argument("--ceiling", nargs="+", default=None)
    ap.add_argument("--holdout", type=int, default=None)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=0.9)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--repeat", type=float, default=1.0)
    ap.add_argument("--form", default="free")
    ap.add_argument("--strain-bars", type=int, default=8)
    ap.add_argument("--best-of", type=int, default=1)
    ap.add_argument("--pointer", type=float, default=None,
                    help="pointer nets: the pointer's weight in sampling (default: the model's own)")
    ap.add_argument("--condition", nargs="+", default=None, metavar="GROUP:VALUE",
                    help="models with score conditions: what every tune is asked for (style:nottingham key:G ...)")
    ap.add_argument("--key-bias", nargs="+", default=None, metavar="MODE=A",
                    help="override the model's key bias (meta['key_bias'], e.g. minor=0.5; needs its key profile)")
    ap.add_argument("--guidance", type=float, default=None,
                    help="with --condition: classifier-free guidance (default: the model's own)")
    ap.add_argument("--no-cadence", action="store_true",
                    help="form aabb: strains do not close on the tonic (the generation before 2026-12-02)")
    ap.add_argument("--only", nargs="+", default=None, metavar="GROUP=VALUE",
                    help="judge against the real tunes (reference and ceiling) whose files say so only, e.g. "
                         "mode=minor (labels as musiclab.composer.labels reads them)")
    ap.add_argument("--save", default=None, help="also keep the generated MIDI files here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from musiclab.composer import session as S
    from musiclab.composer.generate import events_to_midi_bytes
    from musiclab.composer.judge import FEATURES, judge_sets, load_features

    model = S.load_model(args.model)
    if args.key_bias:
        from musiclab.composer.cli import parse_key_bias
        from musiclab.composer.model import check_key_profile

        model.meta["key_bias"] = parse_key_bias(args.key_bias)
        check_key_profile(model.meta, str(args.model))
    if args.split_from_model:
        args.reference, args.ceiling = model_split(model)
    if not args.reference:
        ap.error("--reference or --split-from-model")
    want = dict(o.split("=", 1) for o in args.only) if args.only else {}

    def only(names, feats):
        if not want:
            return names, feats
        from musiclab.composer.labels import piece_labels

        keep = [i for i, n in enumerate(names)
                if all(piece_labels(n, Path(n).name).get(g) == v for g, v in want.items())]
        return [names[i] for i in keep], [feats[i] for i in keep]

    rn, rf = only(*load_features(args.reference)[:2])
    times, pitches_per_tune = [], []
    with tempfile.TemporaryDirectory() as td:
        out_dir = Path(args.save) if args.save else Path(td)
        out_dir.mkdir(parents=True, exist_ok=True)
        for i in range(args.n):
            st = S.GenerateSettings(length=args.length, temperature=args.temperature, top_p=args.top_p,
                                    seed=args.seed0 + i, repeat=args.repeat)
            if hasattr(st, "form"):
                st.form, st.strain_bars = args.form, args.strain_bars
            if hasattr(st, "best_of"):
                st.best_of = args.best_of
            if args.pointer is not None:
                st.pointer = args.pointer
            if args.condition:
                st.score = dict(c.split(":", 1) for c in args.condition)
            if args.guidance is not None:
                st.guidance = args.guidance
            if args.no_cadence:
                st.cadence = False
            t = time.perf_counter()
            res = S.compose(model, [], st)
            times.append(time.perf_counter() - t)
            pitches_per_tune.append(len({p for e in res.events for p in e[0]}))
            (out_dir / f"gen{i:02d}.mid").write_bytes(events_to_midi_bytes(  # as the app exports it
                res.all_events, tempo=120.0, time_signature=res.time_signature, key=res.key))
        gn, gf, gs = load_features([out_dir])
    if args.ceiling:
        cn, cf = only(*load_features(args.ceiling)[:2])
        gen = judge_sets(gn, gf, rn, rf, holdout=0, per_piece=False)["generated"]
        ceil = judge_sets(cn, cf, rn, rf, holdout=0, per_piece=False)["generated"]
        protocol = (f"model split: {len(rf)} training tunes, ceiling {len(cf)} validation tunes"
                    if args.split_from_model else
                    f"reference {args.reference} ({len(rf)}), ceiling {args.ceiling} ({len(cf)})")
    else:
        r = judge_sets(gn, gf, rn, rf, holdout=args.holdout, per_piece=False)
        gen, ceil = r["generated"], r["ceiling"]
        protocol = f"reference {args.reference} ({len(rf)}), holdout {r['reference']['holdout']}"
    out = {
        "model": args.model, "protocol": protocol,
        "settings": {k: getattr(args, k) for k in ("n", "seed0", "length", "temperature", "top_p", "repeat",
                                                   "form", "strain_bars", "best_of", "pointer", "condition", "guidance",
                                                   "key_bias", "only", "no_cadence")},
        "mean_oa": round(gen["mean_oa"], 4), "ceiling": round(ceil["mean_oa"], 4) if ceil else None,
        "ratio": round(gen["mean_oa"] / ceil["mean_oa"], 4) if ceil else None,
        "oa": {k: round(gen["oa"][k], 3) for k in FEATURES},
        "ceiling_oa": {k: round(ceil["oa"][k], 3) for k in FEATURES} if ceil else None,
        "judged": len(gf), "without_notes": len(gs), "one_note_tunes": sum(1 for n in pitches_per_tune if n <= 1),
        "seconds_per_tune": round(sorted(times)[len(times) // 2], 4),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
