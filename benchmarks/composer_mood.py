"""Mood-conditioned composing: does the music carry the mood that was asked for?

    .venv/bin/python benchmarks/composer_mood.py [--model emopia] [--n 20] [--length 300] \
        [--temperature 0.9] [--top-p 0.95] [--repeat 1.0] [--form free] [--guidance 1.0] \
        [--seed0 0] [--audio 0] [--classifier mood-classifier] [--save DIR]

For every requested quadrant (Q1 happy, Q2 tense, Q3 sad, Q4 calm) ``--n`` pieces are generated
from scratch (seeds ``seed0 .. seed0+n-1``) through :func:`musiclab.composer.session.compose` and
written to MIDI with :func:`~musiclab.composer.session.export` (the path the app and the CLI take),
then read back and classified by the symbolic quadrant classifier
(:mod:`musiclab.composer.mood`, which never reads velocity). Reported: how often the predicted
quadrant's arousal half (Q1/Q2 vs Q3/Q4) and valence half (Q1/Q4 vs Q2/Q3) are the requested
ones; the same seeds with ``mood=None`` (the unconditioned model) as the baseline; and the
velocities found in the written files (one value: velocity cannot carry the mood).

``--audio K``: also render the first K pieces per quadrant with the SoundFont
(:func:`~musiclab.composer.session.render`) and rate them with the Emotion model
(:func:`musiclab.emotion.predict.predict_file`): its agreement with the request and with the
symbolic classifier. Prints JSON as its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _velocities(path) -> list:
    import symusic

    sc = symusic.Score(str(path))
    vs = set()
    for tr in sc.tracks:
        vs.update(int(v) for v in tr.notes.numpy()["velocity"])
    return sorted(vs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="emopia")
    ap.add_argument("--classifier", default="mood-classifier")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--length", type=int, default=300)
    ap.add_argument("--temperature", type=float, default=0.9)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--repeat", type=float, default=1.0)
    ap.add_argument("--form", default="free", choices=["free", "aabb"])
    ap.add_argument("--guidance", type=float, default=None, help="default: the model's recommendation")
    ap.add_argument("--tempo", type=float, default=120.0)
    ap.add_argument("--audio", type=int, default=0, help="render and rate this many pieces per quadrant")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--save", default=None, help="keep the generated MIDI files here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from musiclab.composer import session as S
    from musiclab.composer.mood import (QUADRANTS, arousal_high, hit_rates, load_classifier, notes_from_midi,
                                        valence_positive)

    model = S.load_model(args.model)
    clf = load_classifier(args.classifier)
    moods = S.model_moods(model)
    if not moods:
        raise SystemExit(f"model {args.model!r} has no mood input")
    out_dir = Path(args.save) if args.save else Path(tempfile.mkdtemp(prefix="musiclab-mood-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    requests = list(QUADRANTS) + ([] if args.no_baseline else [None])
    rows = []
    velocities: set = set()
    t0 = time.perf_counter()
    gen_s = 0.0
    for q in requests:
        for i in range(args.n):
            seed = args.seed0 + i
            st = S.GenerateSettings(length=args.length, temperature=args.temperature, top_p=args.top_p,
                                    seed=seed, repeat=args.repeat, form=args.form, tempo=args.tempo, mood=q,
                                    guidance=args.guidance)
            t = time.perf_counter()
            res = S.compose(model, [], st)
            gen_s += time.perf_counter() - t
            path = out_dir / f"{q or 'none'}_{seed:03d}.mid"
            S.export(res, path)
            velocities.update(_velocities(path))
            d = clf.judge_notes(notes_from_midi(path))
            rows.append({"requested": q, "seed": seed, "file": str(path), "predicted": d["quadrant"],
                         "p_high_arousal": d["p_high_arousal"], "p_positive_valence": d["p_positive_valence"],
                         "events": len(res.events), "result": res})
    asked = [r for r in rows if r["requested"]]
    per_q = {q: hit_rates([q] * sum(1 for r in asked if r["requested"] == q),
                          [r["predicted"] for r in asked if r["requested"] == q]) for q in QUADRANTS}
    for q in QUADRANTS:
        per_q[q]["predicted"] = {p: sum(1 for r in asked if r["requested"] == q and r["predicted"] == p)
                                 for p in QUADRANTS}
        per_q[q]["mean_p_high_arousal"] = round(sum(r["p_high_arousal"] for r in asked if r["requested"] == q)
                                                / max(1, args.n), 4)
        per_q[q]["mean_p_positive_valence"] = round(
            sum(r["p_positive_valence"] for r in asked if r["requested"] == q) / max(1, args.n), 4)
    out = {
        "model": args.model, "classifier": str(clf.path),
        "settings": {"n_per_quadrant": args.n, "seeds": f"{args.seed0}..{args.seed0 + args.n - 1}",
                     "length": args.length, "temperature": args.temperature, "top_p": args.top_p,
                     "repeat": args.repeat, "form": args.form,
                     "guidance": args.guidance if args.guidance is not None else S.model_guidance(model), "tempo": args.tempo,
                     "primer": "none (from scratch)"},
        "conditioned": {**hit_rates([r["requested"] for r in asked], [r["predicted"] for r in asked]),
                        "per_quadrant": per_q},
        "goals": {"arousal_hit": 0.80, "valence_hit": 0.65},
        "written_velocities": sorted(velocities),
    }
    base = [r for r in rows if r["requested"] is None]
    if base:
        dist = {p: sum(1 for r in base if r["predicted"] == p) for p in QUADRANTS}
        # the unconditioned pieces scored against every request in turn (same seeds)
        reqs = [q for q in QUADRANTS for _ in base]
        preds = [r["predicted"] for _ in QUADRANTS for r in base]
        out["baseline_unconditioned"] = {**hit_rates(reqs, preds), "pieces": len(base), "predicted": dist,
                                         "per_quadrant": {q: hit_rates([q] * len(base), [r["predicted"] for r in base])
                                                          for q in QUADRANTS}}
        out["conditioned_vs_baseline_mean_p_high_arousal"] = {
            q: round(per_q[q]["mean_p_high_arousal"] - sum(r["p_high_arousal"] for r in base) / len(base), 4)
            for q in QUADRANTS}
    if args.audio > 0:
        from musiclab.audio.io import save_audio
        from musiclab.emotion.predict import predict_file

        arows = []
        for q in QUADRANTS:
            for r in [r for r in asked if r["requested"] == q][: args.audio]:
                res = r["result"]
                rend = S.render(res.all_events, res.tempo, res.program)
                wav = Path(r["file"]).with_suffix(".wav")
                save_audio(wav, rend.audio, S.SR)
                e = predict_file(wav)
                eq = e.get("quadrant")
                arows.append({"requested": q, "seed": r["seed"], "emotion_quadrant": eq,
                              "symbolic_quadrant": r["predicted"],
                              "valence": e.get("valence"), "arousal": e.get("arousal")})
        ok = [a for a in arows if a["emotion_quadrant"] in QUADRANTS]
        n = max(1, len(ok))
        out["audio_emotion_model"] = {
            "pieces": len(arows),
            "vs_request": hit_rates([a["requested"] for a in ok], [a["emotion_quadrant"] for a in ok]),
            "vs_symbolic": {
                "quadrant_agree": round(sum(a["emotion_quadrant"] == a["symbolic_quadrant"] for a in ok) / n, 4),
                "arousal_agree": round(sum(arousal_high(a["emotion_quadrant"]) == arousal_high(a["symbolic_quadrant"])
                                           for a in ok) / n, 4),
                "valence_agree": round(sum(valence_positive(a["emotion_quadrant"])
                                           == valence_positive(a["symbolic_quadrant"]) for a in ok) / n, 4)},
            "rows": arows}
    out["seconds"] = {"total": round(time.perf_counter() - t0, 1), "generate_per_piece": round(gen_s / len(rows), 3)}
    out["saved"] = str(out_dir) if args.save else None
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
