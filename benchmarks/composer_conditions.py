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
  estimator agrees with a real file's key signature). ``by_mode`` gives the same for the major
  and the minor requests apart (the ceiling from the real major / minor tunes).
* **metre**: how often a metre reader (:class:`MetreReader`: logistic regression on how the
  pitch line and onsets repeat after each lag, fitted on the model's own training tunes; 2/4 and
  4/4 are one class) reads the requested metre; floor as above, ceiling = the reader on the real
  held-out tunes of that metre. (The MIDI writer's accent-based estimator cannot read a jig
  written as a stream of eighths without chords, so it is not used here.)
* **style**: the tunes asked for each style judged (MGEval OA, :mod:`musiclab.composer.judge`)
  against each style's held-out tunes, written to MIDI by the same writer: the diagonal should
  win. The real held-out tunes of a style are not judged against themselves (no ceiling row).
  ``chord_share``: the share of events with two or more pitches in the tunes asked for each
  style, how many of them have any, and the share in that style's real held-out tunes; beside
  it the share of notes below G3 and the lowest note, asked and real.

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


METRE_CLASSES = {"2/4": "duple", "4/4": "duple", "3/4": "3/4", "6/8": "6/8", "9/8": "9/8"}
LAGS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 4.5, 6.0, 8.0, 9.0)


def rhythm_features(notes) -> np.ndarray:
    """What says a melody's metre without relying on accents (a jig is a stream of eighths):
    how well the pitch line and the onsets repeat after each lag (1/12-quarter grid, the top
    note at each moment), the share of note lengths in a few classes, and how onsets gather
    on the beats of 2-, 3- and 4.5-quarter bars (best phase)."""
    if not notes:
        return np.zeros(2 * len(LAGS) + 7 + 3)
    arr = np.asarray(notes, dtype=np.float64)
    st = np.round(arr[:, 0] * 12).astype(np.int64)
    st -= st.min()
    T = int(min(st.max() + 1, 12 * 400))
    pitch = np.full(T, np.nan)
    onset = np.zeros(T)
    for s, l, p in zip(st, np.round(arr[:, 1] * 12).astype(np.int64), arr[:, 2]):
        if s >= T:
            continue
        e = min(T, s + max(1, l))
        seg = pitch[s:e]
        pitch[s:e] = np.where(np.isnan(seg) | (seg < p), p, seg)
        onset[s] = 1.0
    f = []
    for lag in LAGS:
        k = int(round(lag * 12))
        if k >= T:
            f += [0.0, 0.0]
            continue
        a, b = pitch[:-k], pitch[k:]
        ok = ~(np.isnan(a) | np.isnan(b))
        f.append(float(np.mean(a[ok] == b[ok])) if ok.any() else 0.0)
        f.append(float(np.sum(onset[:-k] * onset[k:]) / max(onset.sum(), 1.0)))
    lens = arr[:, 1]
    for lo, hi in ((0, 0.3), (0.3, 0.6), (0.6, 0.9), (0.9, 1.1), (1.1, 1.6), (1.6, 2.6), (2.6, 99)):
        f.append(float(np.mean((lens >= lo) & (lens < hi))))
    for bar in (24, 36, 54):
        h = np.bincount(st % bar, minlength=bar).astype(np.float64)
        f.append(float(h.max() / max(h.sum(), 1.0)))
    return np.asarray(f)


class MetreReader:
    """A logistic regression from :func:`rhythm_features` to the metre class (2/4 and 4/4 are
    one class, "duple": their notation is a convention), fitted on real tunes with labels."""

    def __init__(self, pieces, labels, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = [], []
        for p, lab in zip(pieces, labels):
            c = METRE_CLASSES.get(lab.get("metre"))
            if c:
                X.append(rhythm_features(notes_of(p.events)))
                y.append(c)
        self.n = len(y)
        self.clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
        self.clf.fit(np.asarray(X), y)

    def read(self, notes) -> str:
        return str(self.clf.predict(rhythm_features(notes)[None, :])[0])


def held_out_pieces(model, names_file):
    from musiclab.composer.events import find_score_files, load_corpus

    names = ([ln.strip() for ln in Path(names_file).read_text().splitlines() if ln.strip()] if names_file
             else list(model.meta.get("val_piece_names") or []))
    want = {n.split("#", 1)[0] for n in names}
    files = [f for f in find_score_files(model.meta.get("sources") or []) if f.name in want]
    corpus = load_corpus(files)
    exact = set(names)
    return [p for p in corpus.pieces if p.name in exact or (p.name.split("#", 1)[0] in exact)]


def training_pieces(model, exclude: set, limit: int) -> list:
    from musiclab.composer.events import find_score_files, load_corpus

    val = {n.split("#", 1)[0] for n in (model.meta.get("val_piece_names") or [])} | {n.split("#", 1)[0] for n in exclude}
    files = [f for f in find_score_files(model.meta.get("sources") or []) if f.name not in val]
    pieces = load_corpus(files).pieces
    if len(pieces) > limit:
        idx = np.sort(np.random.default_rng(0).choice(len(pieces), limit, replace=False))
        pieces = [pieces[i] for i in idx]
    return pieces


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=10, help="tunes per request")
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--what", default="key,metre,style")
    ap.add_argument("--held-out", default=None)
    ap.add_argument("--reader-tunes", type=int, default=1500, help="training tunes the metre reader is fitted on")
    ap.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance for the requests (default: the model's own, 1 = plain)")
    ap.add_argument("--key-bias", nargs="+", default=None, metavar="MODE=A",
                    help="override the model's key bias (meta['key_bias'], e.g. minor=0.5; needs its key profile)")
    ap.add_argument("--style", default=None, help="the style every key/metre request also asks for (default none)")
    args = ap.parse_args()
    what = set(args.what.split(","))

    import torch

    torch.set_num_threads(1)
    from musiclab.composer import session as S
    from musiclab.composer.generate import events_to_midi_bytes
    from musiclab.composer.labels import piece_labels

    model = S.load_model(args.model)
    if args.key_bias:
        from musiclab.composer.cli import parse_key_bias
        from musiclab.composer.model import check_key_profile

        model.meta["key_bias"] = parse_key_bias(args.key_bias)
        check_key_profile(model.meta, str(args.model))
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
                                        score=score, guidance=args.guidance)
                out.append(S.compose(model, [], st).events)
            cache[key] = out
        return cache[key]

    base = {"style": args.style} if args.style else None
    held = held_out_pieces(model, args.held_out)
    held_labels = [piece_labels(p.source, p.name) for p in held]
    res: dict = {"model": args.model, "n": args.n, "seed0": args.seed0, "length": args.length,
                 "guidance": S.model_guidance(model) if args.guidance is None else args.guidance,
                 "key_bias": model.meta.get("key_bias"),
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
        real_by_mode = {"major": [], "minor": []}
        for p, lab in zip(held, held_labels):
            if lab["key"] and lab["mode"] in real_by_mode:
                real_by_mode[lab["mode"]].append(key_measures(notes_of(p.events), lab["key"], lab["mode"]))
        real = real_by_mode["major"] + real_by_mode["minor"]
        res["key"] = {"rows": rows,
                      "mean_in_scale": float(np.mean([r["in_scale"] for r in rows])),
                      "mean_key_hit": float(np.mean([r["key_hit"] for r in rows])),
                      "floor_in_scale": float(np.mean([r["floor_in_scale"] for r in rows])),
                      "floor_key_hit": float(np.mean([r["floor_key_hit"] for r in rows])),
                      "ceiling_in_scale": float(np.mean([r[0] for r in real])) if real else None,
                      "ceiling_key_hit": float(np.mean([r[1] for r in real])) if real else None,
                      "ceiling_tunes": len(real),
                      "by_mode": {m: {"key_hit": float(np.mean([r["key_hit"] for r in rows if r["key"].endswith(m)])),
                                      "in_scale": float(np.mean([r["in_scale"] for r in rows if r["key"].endswith(m)])),
                                      "floor_key_hit": float(np.mean([r["floor_key_hit"] for r in rows
                                                                      if r["key"].endswith(m)])),
                                      "ceiling_key_hit": (float(np.mean([r[1] for r in real_by_mode[m]]))
                                                          if real_by_mode[m] else None),
                                      "ceiling_tunes": len(real_by_mode[m])}
                                  for m in ("major", "minor") if any(r["key"].endswith(m) for r in rows)}}
    if "metre" in what:
        # the metre is read by a classifier fitted on the model's own training tunes (up to
        # --reader-tunes, seeded draw); its accuracy on the held-out tunes is the ceiling
        train = training_pieces(model, {p.name for p in held}, args.reader_tunes)
        reader = MetreReader(train, [piece_labels(p.source, p.name) for p in train])
        rows = []
        for m in METRES:
            if m not in groups.get("metre", []):
                continue
            want = METRE_CLASSES[m]
            got = [reader.read(notes_of(e)) == want for e in tunes(dict(base or {}, metre=m))]
            flo = [reader.read(n) == want for n in uncond]
            real = [reader.read(notes_of(p.events)) == want for p, lab in zip(held, held_labels)
                    if lab["metre"] == m]
            rows.append({"metre": m, "hit": float(np.mean(got)), "floor": float(np.mean(flo)),
                         "ceiling": float(np.mean(real)) if real else None, "ceiling_tunes": len(real)})
        res["metre"] = {"rows": rows, "mean_hit": float(np.mean([r["hit"] for r in rows])),
                        "floor": float(np.mean([r["floor"] for r in rows])),
                        "ceiling": float(np.mean([r["ceiling"] for r in rows if r["ceiling"] is not None])),
                        "reader": f"logistic regression on rhythm features, fitted on {reader.n} training tunes"}
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

        def chord_share(tunes_):
            n = sum(len(ev) for ev in tunes_)
            return round(sum(1 for ev in tunes_ for e in ev if len(e[0]) >= 2) / max(n, 1), 4)

        def low(tunes_):  # the share of notes below G3 (a fiddle's lowest string) and the lowest note
            ps = [q for ev in tunes_ for e in ev for q in e[0]]
            return (round(sum(1 for q in ps if q < 55) / max(len(ps), 1), 4), min(ps) if ps else None)

        chords = {}
        for s in styles:
            asked = tunes({"style": s})
            real = [p.events for p, lab in zip(held, held_labels) if lab["style"] == s]
            (below_a, lowest_a), (below_r, lowest_r) = low(asked), low(real)
            chords[s] = {"asked": chord_share(asked),
                         "tunes_with_chords": sum(any(len(e[0]) >= 2 for e in ev) for ev in asked),
                         "real": chord_share(real),
                         "below_g3_asked": below_a, "lowest_asked": lowest_a,
                         "below_g3_real": below_r, "lowest_real": lowest_r}
        res["style"] = {"oa": table, "chord_share": chords, "reference_tunes": {s: len(feats[s][1]) for s in styles},
                        "diagonal_wins": sum(max(table[s], key=table[s].get) == s for s in styles),
                        "styles": len(styles)}
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
