"""How the composer's tunes end, beside how real tunes of the corpus end (issue 16: "tunes that
sound like music when you listen").

    .venv/bin/python benchmarks/composer_endings.py [--model folk] [--n 20] [--seed0 0] \
        [--condition style:nottingham ...] [--length 200]

Generates ``--n`` tunes from scratch (T 0.9, top-p 0.95, AABB form, the Generate panel's
defaults) twice in the same run: as the app writes them (every strain's last bar closes on a
held tonic, the tune ends where a strain's repeat ends, on a bar line) and with
``cadence=False`` (strains as before the cadences; the tune still ends at a repeat's end), and
reads, through the MIDI writer and the judge's MIDI reader, :func:`musiclab.composer.judge.
ending_features` of every tune: the last melody note the tonic of the tune's own
Krumhansl-Schmuckler key (a key estimated from the notes, as for the real tunes; not the key
the generator aimed at), in the tonic chord, held a beat or more, the tune ending on a bar line;
for tunes whose key is known, the last note the tonic of that key (``final_on_key_tonic``: a
real tune's labelled key, a generated tune's asked key or the one drawn for it from the style's
keys); and the longest silence before a tune's first note (``lead_in_max``, quarters). The real tunes are the model's validation tunes (its ``val_piece_names``; never trained on, but
chosen on), read the same way. Prints JSON as its last line.

Result (2026-12-02, 1 thread; seeds 0-19, measured once after the choices, which were made on
seeds 100-139):
see the model cards (folk.md, fiddle.md) for the figures this command printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

KEYS = ("final_tonic", "final_in_tonic_chord", "final_held", "final_length", "ends_on_bar")


def summary(rows: list) -> dict:
    import numpy as np

    if not rows:
        return {}
    out = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in KEYS}
    out["lead_in_max"] = round(max(r["lead_in"] for r in rows), 3)  # quarters of silence before the first note
    keyed = [r["final_on_key_tonic"] for r in rows if "final_on_key_tonic" in r]
    if keyed:  # tunes whose key is known (labelled, or asked for / drawn from the style's keys)
        out["final_on_key_tonic"] = round(float(np.mean(keyed)), 3)
        out["keyed_tunes"] = len(keyed)
    return out


def features(path, key=None) -> dict:
    """:func:`ending_features` of a MIDI file, its lead-in and, when ``key`` (``{"key", "mode"}``,
    a file's labels or what a tune was asked for) names one, whether the last melody note is
    that key's tonic (``final_on_key_tonic``)."""
    from musiclab.composer.judge import _melody, ending_features, read_midi
    from musiclab.composer.labels import tonic_pc

    t = read_midi(path)
    out = {**ending_features(t), "lead_in": float(t.onset.min())}
    if key and key.get("key") and key.get("mode"):
        out["final_on_key_tonic"] = float(int(_melody(t)[1][-1]) % 12 == tonic_pc(key["key"], key["mode"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="folk")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--condition", nargs="+", default=None, metavar="GROUP:VALUE")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from composer_musicality import model_split
    from musiclab.composer import session as S
    from musiclab.composer.generate import events_to_midi_bytes
    from musiclab.composer.judge import JudgeError
    from musiclab.composer.labels import piece_labels
    from musiclab.composer.model import load_composer

    model = load_composer(args.model)
    _, val = model_split(model)
    real = []
    for f in val:
        try:
            real.append(features(f, piece_labels(f, Path(f).name)))
        except JudgeError:
            pass
    out = {"model": args.model, "real_validation_tunes": len(real), "real": summary(real)}
    with tempfile.TemporaryDirectory() as td:
        for label, cadence in (("generated", True), ("generated_no_cadence", False)):
            rows, events, secs = [], [], []
            for i in range(args.n):
                st = S.GenerateSettings(length=args.length, temperature=0.9, top_p=0.95, seed=args.seed0 + i,
                                        form="aabb", cadence=cadence)
                if args.condition:
                    st.score = dict(c.split(":", 1) for c in args.condition)
                t = time.perf_counter()
                res = S.compose(model, [], st)
                secs.append(time.perf_counter() - t)
                events.append(len(res.events))
                p = Path(td) / f"{label}{i:02d}.mid"
                p.write_bytes(events_to_midi_bytes(res.all_events, tempo=120.0, time_signature=res.time_signature,
                                                   key=res.key))  # as the app exports it
                rows.append(features(p, (res.settings.score if res.settings is not None else None)))
            out[label] = summary(rows)
            out[label]["events_mean"] = round(sum(events) / len(events), 1)
            out[label]["events_range"] = [min(events), max(events)]
            out[label]["seconds_per_tune"] = round(sorted(secs)[len(secs) // 2], 4)
    out["settings"] = {"n": args.n, "seed0": args.seed0, "length": args.length, "condition": args.condition}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
