"""Memory of composer training: the corpus in memory (``--midi``) vs streamed from an event
store on disk (``--store``), in one run, on the same files.

    nice -n 10 .venv/bin/python benchmarks/train_stream.py [--repeat 3] [--steps 30]

All MIDI files under the shared data folder are ingested into a temporary event store
(``--repeat N`` lists every file N times, to see how memory grows with the corpus); then two
training processes run the same preset for ``--steps`` optimiser steps, one reading the files
(``composer train --midi``), one streaming the store (``composer train --store``). Each
process's peak resident memory (``ru_maxrss`` from ``wait4``) and wall time are reported; the
store process should stay near the model's own footprint while the in-memory one grows with
the corpus. Prints JSON as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _popen_rss(cmd: list[str]) -> dict:
    """Run ``cmd`` and read its peak RSS with wait4 (Popen.wait would reap it first)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_f, err_f = p.stdout, p.stderr
    _, status, ru = os.wait4(p.pid, 0)
    out, err = out_f.read(), err_f.read()
    code = os.waitstatus_to_exitcode(status)
    res = {"seconds": round(time.perf_counter() - t, 2), "returncode": code, "peak_rss_mb": round(ru.ru_maxrss / 1024, 1)}
    if code != 0:
        res["stderr_tail"] = err[-800:]
    else:
        try:
            res["result"] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res["stdout_tail"] = out[-400:]
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="list every MIDI file this many times")
    ap.add_argument("--steps", type=int, default=30, help="optimiser steps per training run")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from musiclab.composer.events import MIDI_EXTS
    from musiclab.paths import shared_data_dir

    root = shared_data_dir() / "midi"
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in MIDI_EXTS and p.is_file())
    out: dict = {"material": str(root), "midi_files": len(files), "repeat": args.repeat, "steps": args.steps,
                 "preset": args.preset, "cpu_count": os.cpu_count(), "load_before": os.getloadavg()[0]}
    cli = [sys.executable, "-m", "musiclab.cli", "composer"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "midi"
        for k in range(args.repeat):  # copies under other folders: the store and load_corpus see N corpora
            d = src / f"copy{k}"
            d.mkdir(parents=True)
            for i, f in enumerate(files):
                (d / f"{i:05d}-{Path(f).name}").symlink_to(f)
        ing = _popen_rss(cli + ["ingest", str(src), "--out", str(tmp / "store"), "--workers", str(args.workers),
                                "--json"])
        out["ingest"] = ing
        common = ["--preset", args.preset, "--epochs", "1", "--max-steps", str(args.steps), "--batch", "32",
                  "--seq-len", "128", "--no-copy"]
        out["train_midi"] = _popen_rss(cli + ["train", "--midi", str(src), "--workers", str(args.workers),
                                              "--out", str(tmp / "a.pt")] + common)
        out["train_store"] = _popen_rss(cli + ["train", "--store", str(tmp / "store"),
                                               "--out", str(tmp / "b.pt")] + common)
        a, b = out["train_midi"].get("peak_rss_mb"), out["train_store"].get("peak_rss_mb")
        if a and b:
            out["rss_ratio_midi_over_store"] = round(a / b, 2)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
