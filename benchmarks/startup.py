"""Time from process start to a shown main window (median of 5), printed as JSON.

Run: .venv/bin/python benchmarks/startup.py [--runs 5]
Each run starts ``python -m musiclab --exit-when-shown`` offscreen with fresh settings and
measures the wall time until it prints that the window is shown.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def one_run(tmp: str) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MUSICLAB_SETTINGS=os.path.join(tmp, "s.ini"))
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one_run(tmp)  # warm the file cache; not counted
        times = [one_run(tmp) for _ in range(args.runs)]
    print(json.dumps({"benchmark": "startup", "runs": args.runs, "median_s": round(statistics.median(times), 3),
                      "min_s": round(min(times), 3), "max_s": round(max(times), 3)}))


if __name__ == "__main__":
    main()
