"""How good the stitcher's time-stretch sounds, per Rubber Band setting, against a ground truth (issue 15).

    .venv/bin/python benchmarks/stretch_quality.py [--tunes 8] [--seconds 20] [--songs 6]

The stitcher stretches an incoming chunk by up to ±8 % (``joins.stretch``, Rubber Band through
``pedalboard``). A cheaper setting makes the build faster; this says what it costs the ear.

**Ground truth** (``synthetic``): Nottingham tunes (melody + chords) with a drum part added (kick on
the beats, hi-hat on the eighths: the transients a stretcher smears), rendered with the app's
SoundFont at 120 BPM and again at 120·r BPM. The second render is what a musician playing faster
sounds like; the stretcher turns the first into an estimate of it. Per setting and ratio
r ∈ {0.92, 0.96, 1.04, 1.08}:

- ``lsd_db``: log-mel spectral distance to the truth (dB, RMS over 64 mel bands × frames), at a
  long (2048/512) and a short (512/128, transients) resolution;
- ``onset_f``: onset F-measure of the estimate against the truth's onsets (``mir_eval``, ±30 ms).

**Real songs** (``roundtrip``): 20-s excerpts of the shared songs, stretched by r and back by 1/r
with the same setting; log-mel distance to the original (no truth exists for a real recording at
another tempo; a round trip doubles the artefacts, so only the comparison between settings counts;
resampling there and back is exact by construction and is left out).

Settings: ``current`` (``high_quality=False``, the stitcher's), ``short`` (+ ``use_long_fft_window=False``),
``hq`` (``high_quality=True``, Rubber Band's best), and ``resample`` (plain resampling: tempo *and*
pitch change, the floor a real stretcher must beat). CPU seconds per second of 48 kHz stereo audio
are timed in the same run (two channels, as the stitcher renders). The last line of stdout is JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
RATIOS = (0.92, 0.96, 1.04, 1.08)
SETTINGS = {
    "current": dict(high_quality=False),
    "short": dict(high_quality=False, use_long_fft_window=False),
    "hq": dict(high_quality=True),
}


def stretch(x: np.ndarray, sr: int, speed: float, setting: str) -> np.ndarray:
    """``x`` (ch, n) played ``speed`` times faster with ``setting``."""
    if setting == "resample":
        from musiclab.audio.io import resample

        n_sr = int(round(sr / speed))
        return np.atleast_2d(resample(x, sr, n_sr)).astype(np.float32)  # same samples, read at sr
    from pedalboard import time_stretch

    return np.asarray(time_stretch(np.ascontiguousarray(x, np.float32), float(sr), stretch_factor=float(speed),
                                   **SETTINGS[setting]), np.float32)


def with_drums_at(path: Path, speed: float, seconds: float) -> bytes:
    """The tune's MIDI with a drum part, its tempo times ``speed``, cut after ``seconds`` at 120 BPM."""
    import mido

    mf = mido.MidiFile(str(path), clip=True)
    tpb = mf.ticks_per_beat
    limit = int(seconds * 2 * tpb)  # ticks at 120 BPM
    out = mido.MidiFile(type=1, ticks_per_beat=tpb)
    tempo = mido.bpm2tempo(120.0 * speed)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    out.tracks.append(meta)
    for tr in mf.tracks:
        t, new = 0, mido.MidiTrack()
        last = 0
        for msg in tr:
            t += msg.time
            if msg.is_meta or t > limit:
                continue
            new.append(msg.copy(time=t - last))
            last = t
        if any(m.type == "note_on" for m in new):
            out.tracks.append(new)
    drums, t_prev = mido.MidiTrack(), 0
    for k in range(int(limit / (tpb // 2))):
        t = k * (tpb // 2)
        notes = [42] + ([36] if k % 2 == 0 else []) + ([38] if k % 4 == 2 else [])
        for j, n in enumerate(notes):
            drums.append(mido.Message("note_on", channel=9, note=n, velocity=100, time=(t - t_prev) if j == 0 else 0))
            t_prev = t
        for n in notes:
            drums.append(mido.Message("note_off", channel=9, note=n, velocity=0, time=0))
    out.tracks.append(drums)
    buf = io.BytesIO()
    out.save(file=buf)
    return buf.getvalue()


def logmel(y: np.ndarray, sr: int, n_fft: int, hop: int) -> np.ndarray:
    import librosa

    m = librosa.feature.melspectrogram(y=np.asarray(y, np.float32).mean(axis=0) if y.ndim > 1 else y, sr=sr,
                                       n_fft=n_fft, hop_length=hop, n_mels=64, power=2.0)
    return 10 * np.log10(np.maximum(m, 1e-8))


def lsd(est: np.ndarray, ref: np.ndarray, sr: int, n_fft: int, hop: int) -> float:
    a, b = logmel(est, sr, n_fft, hop), logmel(ref, sr, n_fft, hop)
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    floor = b.max() - 80.0  # do not count differences far below the music
    a, b = np.maximum(a, floor), np.maximum(b, floor)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def onset_f(est: np.ndarray, ref: np.ndarray, sr: int) -> float:
    import librosa
    import mir_eval

    def onsets(y):
        y = y.mean(axis=0) if y.ndim > 1 else y
        return librosa.onset.onset_detect(y=y, sr=sr, units="time", hop_length=256, backtrack=False)

    return float(mir_eval.onset.f_measure(onsets(ref), onsets(est), window=0.03)[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tunes", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--songs", type=int, default=6)
    ap.add_argument("--settings", default="current,short,hq,resample")
    args = ap.parse_args(argv)
    settings = args.settings.split(",")
    from musiclab.audio.io import load_audio
    from musiclab.audio.synth import render_midi

    sr = 44100
    tunes = sorted((SHARED / "midi" / "nottingham").glob("*.mid"))[:: max(1, 934 // max(1, args.tunes))][: args.tunes]
    syn = {s: {"lsd_long": [], "lsd_short": [], "onset_f": []} for s in settings}
    syn["unstretched"] = {"lsd_long": [], "lsd_short": [], "onset_f": []}
    for ti, path in enumerate(tunes):
        base = render_midi(with_drums_at(path, 1.0, args.seconds), sr=sr)[None, :]
        for r in RATIOS:
            truth = render_midi(with_drums_at(path, r, args.seconds), sr=sr)[None, :]
            n = int(args.seconds / r * sr * 0.95)
            for s in settings + ["unstretched"]:
                est = base if s == "unstretched" else stretch(base, sr, r, s)
                e, t = est[:, :n], truth[:, :n]
                syn[s]["lsd_long"].append(lsd(e, t, sr, 2048, 512))
                syn[s]["lsd_short"].append(lsd(e, t, sr, 512, 128))
                syn[s]["onset_f"].append(onset_f(e, t, sr))
        print(f"tune {ti + 1}/{len(tunes)} {path.name}", file=sys.stderr)

    songs = sorted(p for p in (SHARED / "audio").rglob("*.ogg") if ".hq." not in p.name)[: args.songs]
    rt = {s: [] for s in settings if s != "resample"}  # resampling there and back is exact by construction
    for path in songs:
        y, ysr = load_audio(path, sr=sr, mono=True)
        start = max(0, len(y) // 2 - int(args.seconds * sr / 2))
        x = y[start:start + int(args.seconds * sr)][None, :].astype(np.float32)
        for r in RATIOS:
            for s in rt:
                back = stretch(stretch(x, sr, r, s), sr, 1.0 / r, s)
                n = min(back.shape[1], x.shape[1]) - sr // 10
                rt[s].append(lsd(back[:, :n], x[:, :n], sr, 2048, 512))
        print(f"song {path.name}", file=sys.stderr)

    # CPU per second of 48 kHz stereo (the stitcher's render format)
    rng = np.random.default_rng(0)
    sr48 = 48000
    y, _ = load_audio(songs[0], sr=sr48, mono=True) if songs else (rng.standard_normal(sr48 * 10), sr48)
    clip = np.stack([y[: sr48 * 10], y[: sr48 * 10]]).astype(np.float32)
    cpu = {}
    for s in settings:
        t0 = time.process_time()
        for r in (0.95, 1.05):
            stretch(clip, sr48, r, s)
        cpu[s] = round((time.process_time() - t0) / (2 * clip.shape[1] / sr48), 4)

    def agg(d):
        return {k: round(float(np.mean(v)), 3) for k, v in d.items()}

    res = {"tunes": len(tunes), "ratios": list(RATIOS), "seconds": args.seconds,
           "synthetic": {s: agg(v) for s, v in syn.items()},
           "roundtrip_lsd_db": {s: round(float(np.mean(v)), 3) for s, v in rt.items()},
           "songs": [p.name for p in songs], "cpu_s_per_s_48k_stereo": cpu}
    for s in settings:
        print(f"{s:10s} truth LSD long {res['synthetic'][s]['lsd_long']:.2f} dB, short "
              f"{res['synthetic'][s]['lsd_short']:.2f} dB, onset F {res['synthetic'][s]['onset_f']:.3f}; "
              f"round trip {res['roundtrip_lsd_db'].get(s, float('nan')):.2f} dB; CPU {cpu[s]:.3f} s/s",
              file=sys.stderr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
