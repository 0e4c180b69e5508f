"""MIDI ingestion speed: files per second, music21 (the reference) vs symusic (the fast path),
and the event store written by 1 and 2 worker processes.

    nice -n 10 .venv/bin/python benchmarks/ingest.py [--music21-sample 50] [--repeat 1]

All MIDI files under the shared data folder (``../shared/data``) are read; music21 only on a
random sample (it takes about half a second a file), which the JSON says. ``--repeat N`` reads
the file list N times (the store's shards then cover N copies of each file) to time a larger
run, e.g. ``--repeat 5`` for ~10,000 files. Also reports how often the fast path gives exactly
the reference's events on the music21 sample, per corpus. ``--music21-corpus bach`` also times
the chorale ingestion (music21 for every score: it has no fast path). Prints JSON as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the worker processes)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--music21-sample", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=1, help="read the file list this many times")
    ap.add_argument("--shard-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--music21-corpus", default=None, choices=["bach"],
                    help="also time `composer ingest --music21-corpus NAME` (music21 scores -> sounding-slice MIDI "
                         "-> store), on the first --music21-corpus-limit scores")
    ap.add_argument("--music21-corpus-limit", type=int, default=40)
    args = ap.parse_args()

    from musiclab.composer import ingest
    from musiclab.composer.events import MIDI_EXTS, parse_file
    from musiclab.paths import shared_data_dir

    root = shared_data_dir()
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in MIDI_EXTS and p.is_file())
    corpus_of = {f: Path(f).relative_to(root / "midi").parts[0] if "/midi/" in f else "other" for f in files}
    out: dict = {"material": str(root), "midi_files": len(files), "cpu_count": os.cpu_count()}

    # symusic fast path, one process, in this process (warm: one file first for the imports)
    ingest.symusic_parse(files[0])
    c = _cpu()
    t = time.perf_counter()
    fast = {}
    for f in files:
        try:
            fast[f] = ingest.symusic_parse(f)
        except ingest.SymusicFailed as exc:
            fast[f] = {"pieces": [], "skipped": f"symusic failed: {exc}"}
    dt = time.perf_counter() - t
    c = _cpu() - c
    out["symusic_1proc"] = {"files": len(files), "seconds": round(dt, 3), "files_per_s": round(len(files) / dt, 1),
                            "cpu_seconds": round(c, 3), "files_per_cpu_s": round(len(files) / c, 1)}

    # music21 reference on a sample
    rnd = random.Random(args.seed)
    sample = sorted(rnd.sample(files, min(args.music21_sample, len(files))))
    parse_file(sample[0])  # warm-up (imports)
    c = _cpu()
    t = time.perf_counter()
    ref = {f: parse_file(f) for f in sample}
    dt = time.perf_counter() - t
    c = _cpu() - c
    out["music21_1proc"] = {"files": len(sample), "seconds": round(dt, 3), "files_per_s": round(len(sample) / dt, 2),
                            "cpu_seconds": round(c, 3), "files_per_cpu_s": round(len(sample) / c, 2),
                            "note": f"music21 timed on a random sample of {len(sample)} files (seed {args.seed}), "
                                    "not all of them: it is too slow"}
    out["speedup"] = round(out["symusic_1proc"]["files_per_s"] / out["music21_1proc"]["files_per_s"], 1)
    out["speedup_cpu"] = round(out["symusic_1proc"]["files_per_cpu_s"] / out["music21_1proc"]["files_per_cpu_s"], 1)
    match: dict = {}
    for f in sample:
        c = corpus_of[f]
        m = match.setdefault(c, [0, 0])
        m[0] += ref[f] == fast[f]
        m[1] += 1
    out["same_events_as_music21"] = {c: {"equal": a, "of": b} for c, (a, b) in sorted(match.items())}

    # the event store: 1 and 2 worker processes, all files (x repeat)
    with tempfile.TemporaryDirectory() as td:
        if args.repeat > 1:  # distinct paths for the copies: symlinks in folders
            for r in range(args.repeat):
                d = Path(td) / f"copy{r}"
                d.mkdir()
                for k, f in enumerate(files):
                    link = d / f"{k:05d}{Path(f).suffix}"
                    os.symlink(f, link)
            src = [Path(td) / f"copy{r}" for r in range(args.repeat)]
        else:
            src = files
        for workers in (1, 2):
            store = Path(td) / f"store{workers}"
            c = _cpu()
            t = time.perf_counter()
            index = ingest.ingest(src, store, workers=workers, shard_size=args.shard_size)
            dt = time.perf_counter() - t
            c = _cpu() - c
            out[f"store_{workers}proc"] = {
                "files": index["files"], "seconds": round(dt, 3), "files_per_s": round(index["files"] / dt, 1),
                "cpu_seconds": round(c, 3),
                "pieces": index["pieces"], "tokens": index["tokens"], "skipped": len(index["skipped"]),
                "shards": len(index["shards"])}
        reasons: dict = {}
        for _, r in index["skipped"]:
            key = r.split(" (")[0]
            reasons[key] = reasons.get(key, 0) + 1
        out["skipped_reasons"] = reasons
        t = time.perf_counter()
        st = ingest.EventStore(Path(td) / "store2")
        n = sum(int(a.size) for a in st)
        out["store_read"] = {"pieces": len(st), "tokens": n, "seconds": round(time.perf_counter() - t, 3)}
    if args.music21_corpus:  # music21's own corpus: every score through music21 (no MIDI fast path)
        with tempfile.TemporaryDirectory() as td:
            c = _cpu()
            t = time.perf_counter()
            idx = ingest.ingest_music21_corpus(args.music21_corpus, Path(td) / "store", workers=2,
                                               limit=args.music21_corpus_limit)
            dt = time.perf_counter() - t
            c = _cpu() - c
            m = idx["music21"]
            out["music21_corpus"] = {"corpus": args.music21_corpus, "scores": m["files"], "written": m["written"],
                                     "skipped": m["skipped"], "seconds": round(dt, 3),
                                     "scores_per_s": round(m["files"] / dt, 2), "cpu_seconds": round(c, 3),
                                     "pieces": idx["pieces"], "tokens": idx["tokens"]}
    n2 = max(1, out["store_2proc"]["files"])
    load = os.getloadavg()[0]
    out["goal"] = {
        "target": "10,000 files in under 60 s on this machine (2 processes)",
        "estimated_seconds_for_10000_from_wall": round(out["store_2proc"]["seconds"] / n2 * 10000, 1),
        "estimated_seconds_for_10000_from_cpu": round(out["store_2proc"]["cpu_seconds"] / n2 * 10000 / 2, 1),
        "note": "from_cpu = CPU seconds per file (2-process run, workers included) x 10,000 / 2 cores: "
                "the wall time on an otherwise idle machine; from_wall is what this run saw",
        "load_average_1min_at_end": round(load, 2)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
