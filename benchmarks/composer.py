"""Composer speed: events generated per second by the shipped model (500 events incl.
writing the MIDI file; also per form and placement: free with the seed's placement as the
baseline, free placed, AABB placed without and with the strains' cadences), and training
throughput in events per second. An AABB tune ends where a strain's repeat ends, the one
nearest the length asked, so its times are given per ``--events`` events generated.

    .venv/bin/python benchmarks/composer.py [--model folk] [--train-steps 20]

Prints JSON as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="folk")
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--condition", nargs="+", default=None, metavar="GROUP:VALUE",
                    help="score models: also time AABB generation asked for these (with the model's guidance: two "
                         "LSTM states per step)")
    ap.add_argument("--judge-files", type=int, default=100,
                    help="Nottingham files for the musicality-report timing (0 = skip it)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from musiclab.composer.events import load_corpus
    from musiclab.composer.generate import generate, write_output
    from musiclab.composer.model import load_composer, new_model
    from musiclab.composer.train import _batches, _stream_event
    from musiclab.paths import shared_data_dir

    model = load_composer(args.model)
    generate(model, [], 20, seed=0)  # warm-up (builds the numpy weights)
    runs = []
    with tempfile.TemporaryDirectory() as td:
        for seed in range(3):
            t = time.perf_counter()
            ev = generate(model, [], args.events, temperature=1.0, top_p=0.95, seed=seed)
            write_output(ev, Path(td) / "bench.mid")
            runs.append(time.perf_counter() - t)
    gen_s = sorted(runs)[1]
    # the same with each form / placement (the Generate panel's default: AABB, events placed
    # where they sound; the baseline in this run: free, the seed's one-after-another placement)
    forms = {}
    with tempfile.TemporaryDirectory() as td:
        runs_by = [("free_seed_placement", {"form": "free", "voices": False}), ("free", {"form": "free"}),
                   ("aabb_no_cadence", {"form": "aabb", "cadence": False}), ("aabb", {"form": "aabb"})]
        if args.condition:
            from musiclab.composer.session import model_guidance

            asked = dict(c.split(":", 1) for c in args.condition)
            runs_by.append(("aabb_conditioned", {"form": "aabb", "condition": asked, "guidance": model_guidance(model)}))
        for label, kw in runs_by:
            rs = []
            for seed in range(3):
                t = time.perf_counter()
                ev = generate(model, [], args.events, temperature=1.0, top_p=0.95, seed=seed, **kw)
                write_output(ev, Path(td) / "bench.mid")
                # AABB ends where a strain's repeat ends, the one nearest the length asked: per 500 events
                rs.append((time.perf_counter() - t) * args.events / max(len(ev), 1))
            forms[label] = round(sorted(rs)[1], 4)

    # training throughput of the default preset on real tunes
    files = sorted((shared_data_dir() / "midi" / "nottingham").glob("*.mid"))[:30]
    corpus = load_corpus(files)
    m = new_model("default")
    net = m.net
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    stream = _stream_event(corpus.pieces, None)
    ev_per_tok = corpus.n_events / len(stream)
    import torch.nn.functional as F

    steps = 0
    toks = 0
    t = time.perf_counter()
    while steps < args.train_steps:
        for x, y, pos in _batches(stream, 32, 128, with_pos=True):
            logits, _ = net(x, None, pos)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            toks += x.numel()
            if steps >= args.train_steps:
                break
    train_s = time.perf_counter() - t
    res = {
        "model": args.model,
        "generate_events": args.events,
        "generate_seconds_incl_midi": round(gen_s, 4),
        "generated_events_per_s": round(args.events / gen_s, 1),
        "goal_500_events_under_1s": bool(gen_s * 500 / args.events < 1.0),
        "generate_seconds_incl_midi_by_form": forms,
        "goal_500_events_under_1s_aabb": bool(forms["aabb"] * 500 / args.events < 1.0),
        "train_preset": "default",
        "train_batch": [32, 128],
        "train_events_per_s": round(toks * ev_per_tok / train_s, 1),
        "train_subtokens_per_s": round(toks / train_s, 1),
        "torch_threads": args.threads,
        "cpu_count": os.cpu_count(),
    }
    if args.judge_files > 0:
        res.update(_judge_timing(args.judge_files))
    print(json.dumps(res))
    return 0


def _judge_timing(n_files: int) -> dict:
    """Musicality report: MIDI files read + featurised per second, and one tune judged against
    the reference (what a Composer panel would call after each generation)."""
    from musiclab.composer.generate import events_to_notes, generate
    from musiclab.composer.judge import Reference, load_features
    from musiclab.composer.model import load_composer
    from musiclab.paths import shared_data_dir

    files = sorted((shared_data_dir() / "midi" / "nottingham").glob("*.mid"))[:n_files]
    t = time.perf_counter()
    names, feats, _ = load_features(files)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    ref = Reference(names, feats)
    ref_s = time.perf_counter() - t
    ev = generate(load_composer("folk"), [], 200, temperature=0.9, top_p=0.95, seed=0)
    t = time.perf_counter()
    rep = ref.judge_notes(events_to_notes(ev))
    one_s = time.perf_counter() - t
    return {"judge_files": len(files), "judge_files_per_s": round(len(files) / read_s, 1),
            "judge_reference_build_s": round(ref_s, 3), "judge_one_tune_s": round(one_s, 3),
            "judge_one_tune_mean_oa": round(rep["mean_oa"], 3)}


if __name__ == "__main__":
    sys.exit(main())
