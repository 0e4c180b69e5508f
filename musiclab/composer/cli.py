"""``musiclab-cli composer train|generate|eval`` (imports nothing heavy at module level)."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("composer", help="LSTM composer: train, generate, evaluate on MIDI")
    sub = p.add_subparsers(dest="composer_cmd", metavar="ACTION")

    t = sub.add_parser("train", help="train a model on MIDI files/folders")
    t.add_argument("--midi", nargs="+", required=True, help="MIDI files or folders (music21 corpus files too)")
    t.add_argument("--preset", default="default", choices=["default", "large", "small", "seed", "default-v1"],
                   help="network: default = 2x256 LSTM with metre inputs, large = 2x384, default-v1 = without metre")
    t.add_argument("--out", required=True, help="model file to write (.pt)")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--seq-len", type=int, default=128, help="BPTT length in sub-tokens")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--patience", type=int, default=4, help="early stopping: epochs without improvement")
    t.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    t.add_argument("--val-fraction", type=float, default=0.1, help="share of pieces held out for validation")
    t.add_argument("--val-match", nargs="+", default=None, metavar="TEXT",
                   help="put pieces whose file name contains one of these texts in the validation set "
                        "(instead of a random share): split by song, e.g. all versions of a tune")
    t.add_argument("--init", default=None, help="start from this model (fine-tuning)")
    t.add_argument("--no-augment", action="store_true", help="no transposition augmentation")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    t.add_argument("--workers", type=int, default=2, help="processes for MIDI parsing")
    t.add_argument("--threads", type=int, default=1, help="torch threads")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-copy", action="store_true",
                   help="do not fit the self-copy mixture on the validation pieces after training")
    t.set_defaults(func=_train)

    f = sub.add_parser("fit-copy", help="fit a model's self-copy mixture on pieces its LSTM was not trained on")
    f.add_argument("--model", required=True, help="model name or path")
    f.add_argument("--midi", nargs="+", required=True, help="MIDI files or folders (not the LSTM's training data)")
    f.add_argument("--out", required=True, help="model file to write (.pt)")
    f.add_argument("--only-val", action="store_true",
                   help="use only the pieces of --midi that the model's metadata lists as its validation pieces")
    f.add_argument("--workers", type=int, default=2)
    f.add_argument("--threads", type=int, default=1)
    f.set_defaults(func=_fit_copy)

    g = sub.add_parser("generate", help="generate a continuation and write MIDI or audio")
    g.add_argument("--model", default="folk", help="model name (folk, jazz) or path")
    g.add_argument("--length", type=int, default=200, help="events to generate")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=None, help="random seed (printed when not given)")
    g.add_argument("--primer", default=None, help="MIDI file whose events prime the model")
    g.add_argument("--primer-events", type=int, default=32, help="how many events of the primer to use")
    g.add_argument("--tempo", type=float, default=120.0, help="BPM of the written file")
    g.add_argument("--program", type=int, default=0, help="General-MIDI program (0 = piano)")
    g.add_argument("--repeat", type=float, default=1.0,
                   help="strength of the self-copy mixture: 1 = as fitted, 0 = the LSTM alone")
    g.add_argument("--out", required=True, help="FILE.mid, .wav or .mp3")
    g.set_defaults(func=_generate)

    e = sub.add_parser("eval", help="score every event of every piece given the events before it")
    e.add_argument("--model", required=True)
    e.add_argument("--midi", nargs="+", required=True)
    e.add_argument("--json", action="store_true")
    e.add_argument("--beam", type=int, default=8, help="beam width for top-1/top-5")
    e.add_argument("--no-copy", action="store_true", help="score with the LSTM alone (no self-copy mixture)")
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=_eval)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _train(args) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from .events import load_corpus, split_by_piece
    from .model import load_composer
    from .train import prepare_model, train_model

    torch.set_num_threads(max(1, args.threads))
    corpus = load_corpus(args.midi, workers=args.workers, on_progress=TextProgress("reading MIDI"))
    for path, reason in corpus.skipped[:20]:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    s = corpus.summary()
    print(f"{s['pieces']} pieces, {s['events']} events, {s['distinct_tokens']} distinct seed tokens, "
          f"{s['skipped']} files skipped", file=sys.stderr)
    if args.val_match:
        keys = [k.lower() for k in args.val_match]
        val = [p for p in corpus.pieces if any(k in p.name.lower() for k in keys)]
        train = [p for p in corpus.pieces if p not in val]
    else:
        train, val = split_by_piece(corpus.pieces, args.val_fraction, seed=args.seed)
    print(f"{len(train)} training pieces, {len(val)} validation pieces", file=sys.stderr)
    start_epoch, best_val, history = 0, float("inf"), []
    if args.resume:
        model = load_composer(args.out, with_train_state=True)
        ts = model.extra.get("train_state", {})
        start_epoch = int(ts.get("epoch", 0))
        best_val = float(ts.get("best_val", float("inf")))
        history = list(ts.get("history", []))
        print(f"resuming after epoch {start_epoch} (best val loss {best_val:.4f})", file=sys.stderr)
    else:
        model = prepare_model(args.preset, train, val, args.midi, init=args.init,
                              command=" ".join(["musiclab-cli"] + sys.argv[1:]) if sys.argv else "")
    res = train_model(
        model, train, val, args.out, epochs=args.epochs, seq_len=args.seq_len, batch=args.batch, lr=args.lr,
        augment=not args.no_augment, patience=args.patience, time_budget=args.time_budget, history=history,
        start_epoch=start_epoch, best_val=best_val, seed=args.seed, on_progress=TextProgress("training"),
    )
    for h in res["history"]:
        print(json_line(h), file=sys.stderr)
    out = {k: res[k] for k in ("epochs", "best_val_loss", "stopped_by", "seconds", "train_events_per_s", "out")}
    if not args.no_copy and val:
        from pathlib import Path

        from .train import attach_copy

        if Path(args.out).is_file():
            from ..errors import MusiclabError

            try:
                out["copy"] = attach_copy(args.out, val, on_progress=TextProgress("fitting copy mixture"))
            except MusiclabError as exc:  # the trained network is saved either way
                print(f"warning: no copy mixture fitted: {exc}", file=sys.stderr)
                out["copy"] = None
    out.update({"pieces": s["pieces"], "train_pieces": len(train), "val_pieces": len(val), "skipped": s["skipped"]})
    print(json_line(out))
    return 0


def _generate(args) -> int:
    import random

    import torch

    from ..jobs import json_line
    from .events import load_corpus
    from .generate import generate, write_output
    from .model import load_composer
    from .stats import copied_share, self_repeated_share

    torch.set_num_threads(1)
    model = load_composer(args.model)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    primer = []
    if args.primer:
        c = load_corpus([args.primer], workers=1)
        if not c.pieces:
            reason = c.skipped[0][1] if c.skipped else "no events"
            print(f"error: primer '{args.primer}': {reason}", file=sys.stderr)
            return 1
        primer = c.pieces[0].events[: args.primer_events]
    events = generate(model, primer, args.length, temperature=args.temperature, top_k=args.top_k,
                      top_p=args.top_p, seed=seed, repeat=args.repeat)
    out = write_output(primer + events, args.out, tempo=args.tempo, program=args.program)
    print(json_line({"out": str(out), "events": len(events), "primer_events": len(primer), "seed": seed,
                     "copied": copied_share(events, model.ngram_hashes), "self_repeated": self_repeated_share(events),
                     "repeat": args.repeat}))
    return 0


def _eval(args) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from .evaluate import evaluate
    from .events import load_corpus
    from .model import load_composer

    torch.set_num_threads(max(1, args.threads))
    model = load_composer(args.model)
    corpus = load_corpus(args.midi, workers=args.workers, on_progress=TextProgress("reading MIDI"))
    for path, reason in corpus.skipped[:50]:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    res = evaluate(model, corpus, beam=args.beam, on_progress=TextProgress("scoring"), use_copy=not args.no_copy)
    if args.json:
        print(json_line(res))
    else:
        print(f"{res['pieces']} pieces ({res['skipped']} skipped), {res['events']} events: top-1 {res['top1']:.3f}, "
              f"top-5 {res['top5']:.3f}, {res['nll_per_event']:.3f} nats/event, OOV {res['oov_rate']:.1%}; "
              f"trigram top-1 {res['baselines']['trigram']['top1']:.3f}, "
              f"{res['baselines']['trigram']['nll_per_event']:.3f} nats/event")
    return 0


def _fit_copy(args) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from ..models import resolve_model
    from .events import load_corpus
    from .train import attach_copy

    torch.set_num_threads(max(1, args.threads))
    src = resolve_model("composer", args.model)
    corpus = load_corpus(args.midi, workers=args.workers, on_progress=TextProgress("reading MIDI"))
    pieces = corpus.pieces
    if args.only_val:
        from .model import load_composer

        names = set(load_composer(src).meta.get("val_piece_names") or [])
        pieces = [p for p in pieces if p.name in names]
        print(f"{len(pieces)} of {len(corpus.pieces)} pieces are the model's validation pieces", file=sys.stderr)
    if not pieces:
        print("error: no readable pieces to fit on", file=sys.stderr)
        return 1
    import shutil
    from pathlib import Path

    out = Path(args.out)
    if out.resolve() != Path(src).resolve():
        tmp = out.with_name(out.name + ".part")
        shutil.copyfile(src, tmp)
        tmp.replace(out)
    source = ", ".join(str(m) for m in args.midi) + (" (the model's validation pieces)" if args.only_val else "")
    info = attach_copy(out, pieces, on_progress=TextProgress("fitting copy mixture"), source=source)
    print(json_line({"out": str(out), "pieces": len(pieces), **(info or {})}))
    return 0 if info else 1
