"""Time from process start to a shown main window (median of 5), printed as JSON.

Run: .venv/bin/python benchmarks/startup.py [--runs 5] [--baseline DIR]
Each run starts ``python -m musiclab --exit-when-shown`` offscreen with fresh settings and
measures the wall time until it prints that the window is shown. ``--baseline DIR`` (another
checkout, e.g. ``git worktree add /tmp/base HEAD~5``) is timed in the same run, alternating
with this checkout, so a busy machine slows both alike.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def one_run(tmp: str, code_dir: str = "") -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MUSICLAB_SETTINGS=os.path.join(tmp, "s.ini"),
               MUSICLAB_NO_WARMUP="1")
    if code_dir:
        env["PYTHONPATH"] = code_dir
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "musiclab", "--exit-when-shown"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.strip() == "shown":
            elapsed = time.perf_counter() - t0
            break
    else:
        raise RuntimeError("the app exited without showing its window")
    proc.wait(timeout=60)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", default="", help="another checkout to time in the same run")
    args = ap.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    times, base = [], []
    with tempfile.TemporaryDirectory() as tmp:
        one_run(tmp, here)  # warm the file cache; not counted
        if args.baseline:
            one_run(tmp, args.baseline)
        for _ in range(args.runs):
            times.append(one_run(tmp, here))
            if args.baseline:
                base.append(one_run(tmp, args.baseline))
    out = {"benchmark": "startup", "runs": args.runs, "median_s": round(statistics.median(times), 3),
           "min_s": round(min(times), 3), "max_s": round(max(times), 3)}
    if base:
        out["baseline"] = {"dir": args.baseline, "median_s": round(statistics.median(base), 3),
                           "min_s": round(min(base), 3), "max_s": round(max(base), 3)}
        out["ratio_to_baseline"] = round(statistics.median(times) / statistics.median(base), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
