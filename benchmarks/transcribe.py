"""Transcription (audio -> notes -> composer primer): note F1 and speed.

Renders Nottingham tunes with the SoundFont (``musiclab.audio.synth``) twice, melody alone
and melody + chords, transcribes them with :func:`musiclab.transcribe.transcribe` and scores
the notes with ``mir_eval.transcription`` (onsets within 50 ms, pitch within 50 cents,
offsets ignored):

* ``raw``: the network's notes in seconds (after the melody selection in melody mode);
* ``grid``: the composer events placed back on the tracked beat grid (what the primer is).

Tune sets: ``--set heldout`` (default) takes 20 of the 65 tunes the shipped ``folk``
composer held out (its ``val_piece_names``, every third in name order), which nothing in
the transcription code was chosen on; ``--set tuning`` takes 8 other tunes, the ones the
thresholds and the melody rule were chosen on.

Speed: seconds of CPU time (one process, wall clock) per minute of audio, for the whole
``transcribe`` call and for the network alone (baseline in the same run: the audio's own
duration, i.e. real time = 60 s per minute).

    .venv/bin/python benchmarks/transcribe.py [--set heldout|tuning] [--tunes 20] [--seconds 60]
        [--recording ../shared/data/audio/librosa/sorohanro_-_solo-trumpet-06.ogg]

Prints JSON as its last line.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def tune_files(which: str, n: int) -> list[Path]:
    from musiclab.composer.model import load_composer
    from musiclab.paths import shared_data_dir

    root = shared_data_dir() / "midi" / "nottingham"
    val = sorted(load_composer("folk").meta.get("val_piece_names") or [])
    if which == "heldout":
        names = val[::3][:n]
    else:
        others = sorted(p.name for p in root.glob("*.mid") if p.name not in set(val))
        names = others[:: max(1, len(others) // 8)][:n]
    return [root / nm for nm in names if (root / nm).exists()]


def split_tune(path: Path, seconds: float):
    """(melody MIDI bytes, full MIDI bytes, melody notes, all notes) of a tune, cut at ``seconds``."""
    import pretty_midi

    m = pretty_midi.PrettyMIDI(str(path))
    insts = [i for i in m.instruments if i.notes and not i.is_drum]
    melody = max(insts, key=lambda i: np.mean([n.pitch for n in i.notes]))

    def cut(notes):
        return [n for n in notes if n.start < seconds - 0.05]

    def to_bytes(instruments):
        out = pretty_midi.PrettyMIDI(initial_tempo=120.0)
        for inst in instruments:
            k = pretty_midi.Instrument(program=inst.program)
            k.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, min(n.end, seconds)) for n in cut(inst.notes)]
            out.instruments.append(k)
        buf = io.BytesIO()
        out.write(buf)
        return buf.getvalue()

    mel = [(n.start, n.end, n.pitch) for n in cut(melody.notes)]
    allnotes = [(n.start, n.end, n.pitch) for i in insts for n in cut(i.notes)]
    return to_bytes([melody]), to_bytes(insts), mel, allnotes


def f1(ref: list, est: list) -> dict:
    import mir_eval

    def arr(notes):
        if not notes:
            return np.zeros((0, 2)), np.zeros(0)
        iv = np.array([[max(a, 0.0), max(b, a + 0.01, 0.01)] for a, b, _ in notes], dtype=float)
        hz = 440.0 * 2 ** ((np.array([p for _, _, p in notes], dtype=float) - 69) / 12)
        return iv, hz

    ri, rp = arr(ref)
    ei, ep = arr(est)
    if len(ri) == 0 or len(ei) == 0:
        return {"p": 0.0, "r": 0.0, "f1": 0.0}
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, onset_tolerance=0.05,
                                                                     offset_ratio=None)
    return {"p": round(float(p), 4), "r": round(float(r), 4), "f1": round(float(f), 4)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="heldout", choices=["heldout", "tuning"])
    ap.add_argument("--tunes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0, help="transcribe (and score) each tune's opening")
    ap.add_argument("--recording", default="", help="also transcribe this real recording and print its notes")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    from musiclab.audio.synth import render_midi
    from musiclab.transcribe import SR, activations, transcribe

    files = tune_files(args.set, args.tunes)
    warm = (0.2 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR)).astype(np.float32)
    transcribe(warm, sr=SR)  # imports, the ONNX session and librosa's numba kernels, outside the timing
    rows = []
    audio_s = t_total = t_net = 0.0
    for path in files:
        mel_midi, full_midi, mel_ref, all_ref = split_tune(path, args.seconds)
        row = {"tune": path.name}
        for kind, midi in (("melody", mel_midi), ("mix", full_midi)):
            y = render_midi(midi, sr=SR)
            t = time.perf_counter()
            tr_m = transcribe(y, sr=SR, melody=True)
            t_total += time.perf_counter() - t
            audio_s += len(y) / SR
            t = time.perf_counter()
            activations(y)
            t_net += time.perf_counter() - t
            row[f"{kind}_tempo"] = round(tr_m.tempo, 1)
            raw = [(n.start, n.end, n.pitch) for n in tr_m.notes]
            row[f"{kind}_melody_raw"] = f1(mel_ref, raw)
            row[f"{kind}_melody_grid"] = f1(mel_ref, tr_m.quantised_notes())
            if kind == "mix":
                tr_p = transcribe(y, sr=SR, melody=False)
                row["mix_poly_raw"] = f1(all_ref, [(n.start, n.end, n.pitch) for n in tr_p.notes])
                row["mix_poly_grid"] = f1(all_ref, tr_p.quantised_notes())
        rows.append(row)
        if args.verbose:
            print(json.dumps(row), file=sys.stderr)

    def mean(key):
        return round(float(np.mean([r[key]["f1"] for r in rows])), 4) if rows else None

    out = {
        "set": args.set, "tunes": len(rows), "seconds_per_tune": args.seconds,
        "f1_melody_alone_raw": mean("melody_melody_raw"), "f1_melody_alone_grid": mean("melody_melody_grid"),
        "f1_mix_melody_raw": mean("mix_melody_raw"), "f1_mix_melody_grid": mean("mix_melody_grid"),
        "f1_mix_all_notes_raw": mean("mix_poly_raw"), "f1_mix_all_notes_grid": mean("mix_poly_grid"),
        "audio_minutes": round(audio_s / 60, 2),
        "seconds_per_audio_minute": round(t_total / (audio_s / 60), 2) if audio_s else None,
        "network_seconds_per_audio_minute": round(t_net / (audio_s / 60), 2) if audio_s else None,
        "baseline_real_time_seconds_per_minute": 60.0,
        "per_tune": rows,
    }
    if args.recording:
        p = Path(args.recording)
        t = time.perf_counter()
        tr = transcribe(p, melody=True)
        el = time.perf_counter() - t
        out["recording"] = {**tr.summary(), "wall_s": round(el, 2),
                            "first_notes": [(round(n.start, 2), round(n.end, 2), n.pitch) for n in tr.notes[:40]],
                            "first_events": [list(e) for e in tr.events[:40]]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
