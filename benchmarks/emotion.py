"""Emotion workbench speed and memory.

    .venv/bin/python benchmarks/emotion.py [--model default] [--clips 100] [--hour-minutes 60]

Figures (last line of stdout, JSON):
* ``predict_30s_s``: seconds to predict one 30 s clip once the model is loaded (median of 5; goal <= 0.3 s);
* ``folder_100_s``: seconds to predict a folder of 100 clips (the 4Q data if present, else generated; goal < 60 s);
* ``hour_peak_rss_mb`` / ``hour_predict_s``: peak resident memory and time of a child process predicting a
  generated one-hour file (read in segments, so memory is bounded), beside ``baseline_peak_rss_mb`` of the
  same child predicting a 30 s clip.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import resource, sys, time, json
from musiclab.emotion.predict import predict_file
from musiclab.emotion.model import load
import torch
torch.set_num_threads(int(sys.argv[3]))
m = load(sys.argv[2])
t = time.perf_counter()
r = predict_file(sys.argv[1], m)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "segments": len(r["segments"]),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--hour-minutes", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from musiclab.audio.io import save_audio
    from musiclab.emotion.model import load
    from musiclab.emotion.predict import predict_file, predict_files
    from musiclab.paths import shared_data_dir

    tmp = Path(tempfile.mkdtemp(prefix="emotion-bench-"))
    try:
        data = shared_data_dir() / "emotion" / "4q"
        clips = sorted(data.rglob("*.ogg"))[: args.clips] if data.is_dir() else []
        sr = 22050
        if len(clips) < args.clips:
            rng = np.random.default_rng(0)
            t = np.arange(30 * sr) / sr
            for i in range(args.clips - len(clips)):
                y = 0.2 * np.sin(2 * np.pi * (200 + 10 * i) * t) + 0.02 * rng.standard_normal(len(t))
                p = tmp / f"gen {i:03d}.wav"
                save_audio(p, y.astype(np.float32), sr)
                clips.append(p)
        t0 = time.perf_counter()
        model = load(args.model)
        load_s = time.perf_counter() - t0
        predict_file(clips[0], model)  # warm-up (numba compilation in librosa)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            predict_file(clips[1], model)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = predict_files(clips, model)
        folder_s = time.perf_counter() - t0

        # one-hour file: a generated mixture, written in pieces so this process stays small too
        import soundfile as sf

        hour = tmp / "one hour.wav"
        rng = np.random.default_rng(1)
        with sf.SoundFile(str(hour), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
            for k in range(int(args.hour_minutes)):
                t = np.arange(60 * sr) / sr
                y = 0.2 * np.sin(2 * np.pi * (110 * (1 + k % 5)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t))
                y += 0.05 * rng.standard_normal(len(t))
                f.write(y.astype(np.float32))

        def child(path):
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), args.model, str(args.threads)],
                                 capture_output=True, text=True, env=env, cwd=str(ROOT))
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            return json.loads(out.stdout.strip().splitlines()[-1])

        base = child(clips[1])
        big = child(hour)
        fig = {
            "model": args.model,
            "model_load_s": round(load_s, 3),
            "predict_30s_s": round(float(np.median(times)), 3),
            "predict_30s_goal_s": 0.3,
            "folder_clips": len(clips),
            "folder_ok": len(res["results"]),
            "folder_s": round(folder_s, 2),
            "folder_goal_s": 60,
            "hour_minutes": args.hour_minutes,
            "hour_predict_s": round(big["seconds"], 1),
            "hour_segments": big["segments"],
            "hour_peak_rss_mb": round(big["maxrss_mb"], 1),
            "baseline_peak_rss_mb": round(base["maxrss_mb"], 1),
            "threads": args.threads,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
