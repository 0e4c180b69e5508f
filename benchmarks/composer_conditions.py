"""Composer conditions: does a model with score conditions (style, key, mode, metre; see
:mod:`musiclab.composer.labels`) write what it is asked for? Tunes are generated from
scratch as the Generate panel does (``session.compose``: T 0.9, top-p 0.95, 200 events,
the model's own form), once with each request and once unconditioned (the same seeds), and
measured on the notes the MIDI writer plays:

* **key**: for each requested key (signature + mode), the share of note time whose pitch
  class lies in the signature's scale (``in_scale``) and how often the Krumhansl-Schmuckler
  estimate (:func:`musiclab.composer.judge.estimate_key`) names the requested key
  (``key_hit``). The unconditioned tunes measured against the same request are the floor;
  real held-out tunes measured against their own file's key are the ceiling (how often the
  estimator agrees with a real file's key signature).
* **metre**: how often :func:`musiclab.composer.midifile.estimate_time_signature` (4/4, 3/4 or
  6/8; 2/4 counts as 4/4) reads the requested metre; floor and ceiling as above.
* **style**: the tunes asked for each style judged (MGEval OA, :mod:`musiclab.composer.judge`)
  against each style's held-out tunes, written to MIDI by the same writer: the diagonal should
  win. The real held-out tunes of a style are not judged against themselves (no ceiling row).

    .venv/bin/python benchmarks/composer_conditions.py --model cache/composer-work/folk-score.pt \
        [--n 10] [--seed0 0] [--what key,metre,style] [--held-out FILE]

``--held-out``: the held-out tunes (one file name per line; default: the model's own
``val_piece_names``, which it chose its checkpoint on, so its ceiling rows say so) found
under the model's ``sources``. Prints JSON as its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KEYS = (("G", "major"), ("D", "major"), ("A", "major"), ("C", "major"), ("F", "major"), ("Bb", "major"),
        ("Eb", "major"), ("E", "major"), ("G", "minor"), ("C", "minor"), ("F", "minor"), ("D", "minor"))
METRES = ("4/4", "3/4", "6/8", "2/4")


def metre_class(m: str) -> str:
    return {"2/4": "4/4", "4/4": "4/4", "3/4": "3/4", "6/8": "6/8"}.get(m, m)


def notes_of(events) -> list:
    from musiclab.composer.generate import events_to_notes

    return [tuple(n)[:3] for n in events_to_notes(events)]


def key_measures(notes, sig: str, mode: str) -> tuple[float, bool]:
    from musiclab.composer.judge import estimate_key
    from musiclab.composer.labels import scale_pcs, tonic_pc

    if not notes:
        return 0.0, False
    arr = np.asarray(notes, dtype=np.float64)
    pcs = arr[:, 2].astype(np.int64) % 12
    w = arr[:, 1]
    scale = scale_pcs(sig)
    inside = float(w[np.isin(pcs, list(scale))].sum() / max(w.sum(), 1e-9))
    t, m, _ = estimate_key(arr[:, 2].astype(np.int64), w)
    return inside, (t == tonic_pc(sig, mode) and m == mode)


def metre_of(notes) -> str:
    from musiclab.composer.midifile import estimate_time_signature

    n, d = estimate_time_signature(notes)
    return f"{n}/{d}"


def held_out_pieces(model, names_file):
    from musiclab.composer.events import find_score_files, load_corpus

    names = ([ln.strip() for ln in Path(names_file).read_text().splitlines() if ln.strip()] if names_file
             else list(model.meta.get("val_piece_names") or []))
    want = {n.split("#", 1)[0] for n in names}
    files = [f for f in find_score_files(model.meta.get("sources") or []) if f.name in want]
    corpus = load_corpus(files)
    exact = set(names)
    return [p for p in corpus.pieces if p.name in exact or (p.name.split("#", 1)[0] in exact)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=10, help="tunes per request")
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--what", default="key,metre,style")
    ap.add_argument("--held-out", default=None)
    ap.add_argument("--style", default=None, help="the style every key/metre request also asks for (default none)")
    args = ap.parse_args()
    what = set(args.what.split(","))

    import torch

    torch.set_num_threads(1)
    from musiclab.composer import session as S
    from musiclab.composer.generate import events_to_midi_bytes
    from musiclab.composer.labels import piece_labels

    model = S.load_model(args.model)
    groups = S.model_score_groups(model)
    if not groups:
        raise SystemExit(f"{args.model} has no score conditions")
    t_start = time.perf_counter()
    cache: dict = {}

    def tunes(score):
        key = json.dumps(score, sort_keys=True)
        if key not in cache:
            out = []
            for i in range(args.n):
                st = S.GenerateSettings(length=args.length, temperature=0.9, top_p=0.95, seed=args.seed0 + i,
                                        score=score)
                out.append(S.compose(model, [], st).events)
            cache[key] = out
        return cache[key]

    base = {"style": args.style} if args.style else None
    held = held_out_pieces(model, args.held_out)
    held_labels = [piece_labels(p.source, p.name) for p in held]
    res: dict = {"model": args.model, "n": args.n, "seed0": args.seed0, "length": args.length,
                 "held_out": len(held), "held_out_note": ("the model's own validation pieces (it chose its "
                                                          "checkpoint on them)" if not args.held_out else
                                                          args.held_out)}
    uncond = [notes_of(e) for e in tunes(base)]
    if "key" in what:
        rows = []
        for sig, mode in KEYS:
            if sig not in groups.get("key", []):
                continue
            req = dict(base or {}, key=sig, mode=mode)
            got = [key_measures(notes_of(e), sig, mode) for e in tunes(req)]
            flo = [key_measures(n, sig, mode) for n in uncond]
            rows.append({"key": f"{sig} {mode}", "in_scale": float(np.mean([g[0] for g in got])),
                         "key_hit": float(np.mean([g[1] for g in got])),
                         "floor_in_scale": float(np.mean([f[0] for f in flo])),
                         "floor_key_hit": float(np.mean([f[1] for f in flo]))})
        real = [key_measures(notes_of(p.events), lab["key"], lab["mode"]) for p, lab in zip(held, held_labels)
                if lab["key"] and lab["mode"]]
        res["key"] = {"rows": rows,
                      "mean_in_scale": float(np.mean([r["in_scale"] for r in rows])),
                      "mean_key_hit": float(np.mean([r["key_hit"] for r in rows])),
                      "floor_in_scale": float(np.mean([r["floor_in_scale"] for r in rows])),
                      "floor_key_hit": float(np.mean([r["floor_key_hit"] for r in rows])),
                      "ceiling_in_scale": float(np.mean([r[0] for r in real])) if real else None,
                      "ceiling_key_hit": float(np.mean([r[1] for r in real])) if real else None,
                      "ceiling_tunes": len(real)}
    if "metre" in what:
        rows = []
        for m in METRES:
            if m not in groups.get("metre", []):
                continue
            got = [metre_of(notes_of(e)) == metre_class(m) for e in tunes(dict(base or {}, metre=m))]
            flo = [metre_of(n) == metre_class(m) for n in uncond]
            real = [metre_of(notes_of(p.events)) == metre_class(m) for p, lab in zip(held, held_labels)
                    if lab["metre"] == m]
            rows.append({"metre": m, "hit": float(np.mean(got)), "floor": float(np.mean(flo)),
                         "ceiling": float(np.mean(real)) if real else None, "ceiling_tunes": len(real)})
        res["metre"] = {"rows": rows, "mean_hit": float(np.mean([r["hit"] for r in rows])),
                        "floor": float(np.mean([r["floor"] for r in rows])),
                        "ceiling": float(np.mean([r["ceiling"] for r in rows if r["ceiling"] is not None]))}
    if "style" in what and groups.get("style"):
        from musiclab.composer.judge import judge_sets, load_features

        styles = [s for s in groups["style"] if any(lab["style"] == s for lab in held_labels)]
        with tempfile.TemporaryDirectory() as td:
            feats = {}
            for s in styles:  # each style's held-out tunes, through the same writer
                d = Path(td) / f"ref-{s}"
                d.mkdir()
                for k, (p, lab) in enumerate(zip(held, held_labels)):
                    if lab["style"] == s:
                        (d / f"{k:04d}.mid").write_bytes(events_to_midi_bytes(p.events, tempo=120.0))
                feats[s] = load_features([d])
            table = {}
            for s in styles:
                d = Path(td) / f"gen-{s}"
                d.mkdir()
                for i, ev in enumerate(tunes({"style": s})):
                    (d / f"gen{i:02d}.mid").write_bytes(events_to_midi_bytes(ev, tempo=120.0))
                gn, gf, _ = load_features([d])
                table[s] = {r: round(judge_sets(gn, gf, feats[r][0], feats[r][1], holdout=0,
                                                per_piece=False)["generated"]["mean_oa"], 4) for r in styles}
            d = Path(td) / "gen-none"
            d.mkdir()
            for i, ev in enumerate(tunes(None)):
                (d / f"gen{i:02d}.mid").write_bytes(events_to_midi_bytes(ev, tempo=120.0))
            gn, gf, _ = load_features([d])
            table["(none)"] = {r: round(judge_sets(gn, gf, feats[r][0], feats[r][1], holdout=0,
                                                   per_piece=False)["generated"]["mean_oa"], 4) for r in styles}
        res["style"] = {"oa": table, "reference_tunes": {s: len(feats[s][1]) for s in styles},
                        "diagonal_wins": sum(max(table[s], key=table[s].get) == s for s in styles),
                        "styles": len(styles)}
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
