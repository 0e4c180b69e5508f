"""Composer training throughput with 1 and 2 processes (1 thread each), in one run, as JSON.

Run: .venv/bin/python benchmarks/train_scale.py [--steps 40] [--batch 64] [--seq-len 64] [--preset default]
Both runs train the same model on the same global batch (``--batch`` rows of ``--seq-len``
tokens) for ``--steps`` optimiser steps; the 2-process run is ``torch.distributed`` with gloo,
as ``torchrun --nproc-per-node 2 musiclab-cli composer train`` runs it. Samples/s counts
tokens of the global batch per second of wall time, from the first finished step to the
last (process start-up left out); the 1-process run is timed before and after the 2-process
one, so a change in the machine's load shows. With ``--device cuda`` (a GPU box) the
1-process runs use the GPU.
"""

import argparse
import json
import os
import socket
import tempfile
import time


def _pieces(n=40, length=400, seed=0):
    import random

    from musiclab.composer.events import Piece

    rng = random.Random(seed)
    names = ["C4", "D4", "E4", "F4", "G4", "A4", "B4"]
    steps = [0, 2, 4, 5, 7, 9, 11]
    out = []
    for k in range(n):
        evs = []
        for _ in range(length):
            i = rng.randrange(len(names))
            evs.append(((60 + steps[i],), names[i], rng.choice(["0.5", "1.0", "0.25", "1.5"])))
        out.append(Piece(f"p{k}.mid", f"p{k}.mid", evs))
    return out


def _train(args, out, device="cpu"):
    """Steady samples/s of one training run (global batch tokens per second, from the first
    finished step to the last, so process start-up and the first step's warm-up are left out)."""
    import torch

    from musiclab.composer.train import prepare_model, train_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ps = _pieces()
    model = prepare_model(args.preset, ps[:-2], ps[-2:], ["synthetic"])
    if device != "cpu":
        model.net.to(device)
    t = {}

    def on_progress(done, total, msg):
        if "t1" not in t:
            t["t1"] = (done, time.perf_counter())
        t["last"] = (done, time.perf_counter())

    train_model(model, ps[:-2], ps[-2:], out, epochs=10_000, seq_len=args.seq_len, batch=args.batch,
                augment=False, max_steps=args.steps, on_progress=on_progress, patience=10_000)
    if not t:  # a rank other than 0: train_model reports progress on rank 0 only
        return 0.0, 0
    (d0, t0), (d1, t1) = t["t1"], t["last"]
    return (d1 - d0) * args.batch * args.seq_len / (t1 - t0), d1


def _rank(rank, port, args, out, q):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), CUDA_VISIBLE_DEVICES="")
    from musiclab.distributed import reset_world

    q.put((rank, _train(args, out)))
    reset_world()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        one, steps_one = _train(args, os.path.join(tmp, "one.pt"), args.device)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=_rank, args=(r, port, args, os.path.join(tmp, "two.pt"), q)) for r in range(2)]
        for p in procs:
            p.start()
        got = dict(q.get(timeout=1800) for _ in procs)
        for p in procs:
            p.join()
        two, steps_two = got[0]
        one_again, _ = _train(args, os.path.join(tmp, "one-again.pt"), args.device)  # before and after: noise
    print(json.dumps({
        "benchmark": "train_scale", "preset": args.preset, "steps": steps_one, "global_batch": args.batch,
        "seq_len": args.seq_len, "cpu_count": os.cpu_count(), "device": args.device,
        "one_process_samples_per_s": [round(one, 1), round(one_again, 1)],
        "two_process_samples_per_s": round(two, 1),
        "speedup_2_vs_1": round(two / ((one + one_again) / 2), 3),
        "goal_speedup": 1.6,
    }))


if __name__ == "__main__":
    main()
