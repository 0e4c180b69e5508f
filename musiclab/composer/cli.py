"""``musiclab-cli composer train|generate|eval|judge`` (imports nothing heavy at module level)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("composer", help="LSTM composer: train, generate, evaluate on MIDI")
    sub = p.add_subparsers(dest="composer_cmd", metavar="ACTION")

    t = sub.add_parser("train", help="train a model on MIDI files/folders")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--midi", nargs="+", help="MIDI files or folders (music21 corpus files too)")
    src.add_argument("--store", default=None, metavar="DIR",
                     help="an event store written by `composer ingest` (streamed from disk, never all in memory; "
                          "sequential presets only)")
    t.add_argument("--max-val", type=int, default=2000,
                   help="with --store: at most this many validation pieces (the rest of the share trains)")
    t.add_argument("--preset", default="default", choices=["default", "large", "small", "seed", "default-v1", "timed", "timed-small", "pointer"],
                   help="network: default = 2x256 LSTM with metre inputs, large = 2x384, default-v1 = without metre, "
                        "pointer = default plus a learnt pointer over the piece's past (with --init: the init's LSTM)")
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
    t.add_argument("--resume", action="store_true",
                   help="continue exactly where the last finished epoch left off (the state kept beside --out)")
    t.add_argument("--max-steps", type=int, default=None, help=argparse.SUPPRESS)  # tests: stop after N steps
    t.add_argument("--workers", type=int, default=2, help="processes for MIDI parsing")
    t.add_argument("--threads", type=int, default=1, help="torch threads")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--generate-pointer", type=float, default=None, metavar="W",
                   help="pointer preset: the pointer's weight when generating, stored in the file (0..1; "
                        "default 1 = as trained; see composer/generate.py)")
    t.add_argument("--no-copy", action="store_true",
                   help="do not fit the self-copy mixture on the validation pieces after training")
    t.add_argument("--conditions", nargs="+", default=None, metavar="NAME",
                   help="give the net a condition input over these names, each piece's read from its file-name "
                        "prefix (NAME_...); 'emopia' = the mood quadrants Q1 Q2 Q3 Q4")
    t.add_argument("--condition-kind", default="mood", help="what the conditions are (the Generate panel offers 'mood')")
    t.add_argument("--cond-dropout", type=float, default=0.15,
                   help="share of training pieces fed without their condition (keeps the unconditioned model)")
    t.add_argument("--train-list", default=None, metavar="FILE",
                   help="train only on the pieces whose file names this file lists (one a line, or a CSV column; "
                        "e.g. EMOPIA's split/train_clip.csv)")
    t.add_argument("--val-list", default=None, metavar="FILE",
                   help="validate on the pieces whose file names this file lists (e.g. EMOPIA's split/val_clip.csv)")
    t.set_defaults(func=_train)

    g = sub.add_parser("ingest", help="parse MIDI/score files into an event store for `train --store` "
                                      "(parallel, resumable, with a report of skipped files)")
    g.add_argument("paths", nargs="*", help="MIDI files or folders")
    g.add_argument("--music21-corpus", default=None, choices=["bach"], metavar="NAME",
                   help="instead of PATHS: music21's own corpus (bach = the chorales), every voice as sounding "
                        "slices, written as MIDI to STORE/midi and ingested from there")
    g.add_argument("--out", required=True, help="store folder (created; an unfinished one is resumed)")
    g.add_argument("--workers", type=int, default=2, help="worker processes")
    g.add_argument("--shard-size", type=int, default=256, help="files per shard")
    g.add_argument("--engine", default="symusic", choices=["symusic", "music21"],
                   help="MIDI reader (music21: the reference, ~20x slower)")
    g.add_argument("--json", action="store_true", help="print the index summary as JSON")
    g.set_defaults(func=_ingest)

    f = sub.add_parser("fit-copy", help="fit a model's self-copy mixture on pieces its LSTM was not trained on")
    f.add_argument("--model", required=True, help="model name or path")
    f.add_argument("--midi", nargs="+", required=True, help="MIDI files or folders (not the LSTM's training data)")
    f.add_argument("--out", required=True, help="model file to write (.pt)")
    f.add_argument("--only-val", action="store_true",
                   help="use only the pieces of --midi that the model's metadata lists as its validation pieces")
    f.add_argument("--workers", type=int, default=2)
    f.add_argument("--threads", type=int, default=1)
    f.set_defaults(func=_fit_copy)

    fc = sub.add_parser("fit-conditions", help="teach a model's style/key/metre input how tunes begin "
                                                 "(only the condition embeddings learn, on the first bars)")
    fc.add_argument("--model", required=True, help="model name or path (trained with --conditions score)")
    fc.add_argument("--midi", nargs="+", required=True, help="its training files/folders")
    fc.add_argument("--val-list", required=True, metavar="FILE",
                    help="the pieces to keep out and choose the epoch on (e.g. the list the model trained with)")
    fc.add_argument("--out", required=True)
    fc.add_argument("--head", type=int, default=128, help="sub-tokens of each piece's opening that are scored")
    fc.add_argument("--epochs", type=int, default=4)
    fc.add_argument("--lr", type=float, default=2e-2)
    fc.add_argument("--cond-dropout", type=float, default=0.3)
    fc.add_argument("--guidance", type=float, default=None,
                    help="the classifier-free guidance to recommend in the file (meta['guidance'])")
    fc.add_argument("--workers", type=int, default=1)
    fc.add_argument("--threads", type=int, default=1)
    fc.add_argument("--seed", type=int, default=0)
    fc.add_argument("--balance", default=None, metavar="GROUP",
                    help="draw the tunes of each value of this group equally often (e.g. mode: as many minor "
                         "tunes as major ones)")
    fc.add_argument("--key-bias", nargs="+", default=None, metavar="MODE=A",
                    help="how strongly generation tilts the pitches towards the asked key's profile, per mode "
                         "(e.g. minor=0.5; meta['key_bias']; 0 = not at all)")
    fc.set_defaults(func=_fit_conditions)

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
    g.add_argument("--form", default="auto", choices=["auto", "aabb", "free"],
                   help="auto (default): the model's own (free for bach, aabb otherwise); aabb: 8-bar strains, each "
                        "played twice (A A B B ...); free: one event after another")
    g.add_argument("--strain-bars", type=int, default=8, help="bars per strain with --form aabb")
    g.add_argument("--no-cadence", action="store_true",
                   help="with --form aabb: do not close every strain on the tonic (melody models: folk, fiddle)")
    g.add_argument("--mood", default=None, metavar="Q",
                   help="requested mood for models with a mood input (emopia): Q1 happy, Q2 tense, Q3 sad, Q4 calm")
    g.add_argument("--guidance", type=float, default=None,
                   help="with --mood: > 1 pushes the mood harder (classifier-free guidance); 1 = plain; "
                        "default: the model's recommendation (emopia: 6)")
    g.add_argument("--style", default=None, metavar="NAME",
                   help="models with style/key/metre inputs (fiddle): the collection it should sound like "
                        "(nottingham, oneills, ryans)")
    g.add_argument("--key", default=None, metavar="KEY",
                   help="models with a key input: G, Em, F#m, Bb ... or just major / minor")
    g.add_argument("--metre", default=None, metavar="N/D", help="models with a metre input: 2/4, 3/4, 4/4, 6/8, 9/8")
    g.add_argument("--out", required=True, help="FILE.mid, .wav or .mp3")
    g.set_defaults(func=_generate)

    e = sub.add_parser("eval", help="score every event of every piece given the events before it")
    e.add_argument("--model", required=True)
    e.add_argument("--midi", nargs="+", required=True)
    e.add_argument("--json", action="store_true")
    e.add_argument("--beam", type=int, default=8, help="beam width for top-1/top-5")
    e.add_argument("--no-copy", action="store_true", help="score with the LSTM alone (no self-copy mixture)")
    e.add_argument("--no-fight", action="store_true",
                   help="skip the fair fight (trigram + copy, copy alone) and the in-sample check")
    e.add_argument("--cross-fit", action="store_true",
                   help="fair fight also with every copy mixture fitted on one half of the pieces, scored on the other")
    e.add_argument("--dt-branches", type=int, default=4,
                   help="timed models: onsets summed over in the event's marginal probability "
                        "(the most likely ones plus the true one)")
    e.add_argument("--condition", nargs="+", default=None, metavar="NAME",
                   help="conditioned models: 'labels' = tell the network each piece's own style, key, mode and "
                        "metre (or mood prefix) from its file; or condition names (key:G metre:6/8); "
                        "default: unconditioned")
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=_eval)

    j = sub.add_parser("judge", help="musicality report: how generated tunes compare with a reference corpus "
                                     "(MGEval-style overlapped areas, with the ceiling of real held-out tunes)")
    j.add_argument("generated", nargs="+", metavar="GENERATED", help="MIDI files or folders to judge")
    j.add_argument("--reference", nargs="+", required=True, metavar="DIR", help="MIDI files or folders of the style")
    j.add_argument("--holdout", type=int, default=None,
                   help="reference tunes held out and judged against the rest as the ceiling "
                        "(default: a fifth, at most 50; 0 = no ceiling)")
    j.add_argument("--seed", type=int, default=0, help="seed of the held-out draw")
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=_judge)
    mt = sub.add_parser("mood-train", help="fit the symbolic mood (EMOPIA quadrant) classifier on EMOPIA's "
                                           "train split, report it on the val split")
    mt.add_argument("--emopia", default=None, metavar="DIR",
                    help="EMOPIA folder with midis/ and split/ (default: the shared data's midi/emopia)")
    mt.add_argument("--out", default=None, help="classifier file to write (.pt; default: none, report only)")
    mt.add_argument("--no-roundtrip", action="store_true",
                    help="fit on the raw clips only (not also on the clips as musiclab's events write them back)")
    mt.add_argument("--json", action="store_true")
    mt.set_defaults(func=_mood_train)

    mj = sub.add_parser("mood-judge", help="predict the mood quadrant of MIDI files (symbolic classifier, no velocity)")
    mj.add_argument("paths", nargs="+", metavar="MIDI", help="MIDI files or folders")
    mj.add_argument("--classifier", default="mood-classifier", help="classifier name or file")
    mj.add_argument("--requested", default=None, metavar="Q",
                    help="the quadrant asked for (default: each file name's Q1_..Q4_ prefix, if any)")
    mj.add_argument("--json", action="store_true")
    mj.set_defaults(func=_mood_judge)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _train(args) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from .events import load_corpus, split_by_piece
    from .model import load_composer
    from .train import prepare_model, train_model

    torch.set_num_threads(max(1, args.threads))
    if args.store:
        train, val, s = _store_split(args)
    else:
        corpus = load_corpus(args.midi, workers=args.workers, on_progress=TextProgress("reading MIDI"))
        for path, reason in corpus.skipped[:20]:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        s = corpus.summary()
        print(f"{s['pieces']} pieces, {s['events']} events, {s['distinct_tokens']} distinct seed tokens, "
              f"{s['skipped']} files skipped", file=sys.stderr)
        if args.train_list or args.val_list:
            tr_names = _name_list(args.train_list) if args.train_list else None
            va_names = _name_list(args.val_list) if args.val_list else set()
            val = [p for p in corpus.pieces if _base(p.name) in va_names]
            train = [p for p in corpus.pieces if _base(p.name) not in va_names
                     and (tr_names is None or _base(p.name) in tr_names)]
            left = len(corpus.pieces) - len(train) - len(val)
            if left:
                print(f"{left} pieces in neither list: not used", file=sys.stderr)
        elif args.val_match:
            keys = [k.lower() for k in args.val_match]
            val = [p for p in corpus.pieces if any(k in p.name.lower() for k in keys)]
            train = [p for p in corpus.pieces if p not in val]
        else:
            train, val = split_by_piece(corpus.pieces, args.val_fraction, seed=args.seed)
    print(f"{len(train)} training pieces, {len(val)} validation pieces", file=sys.stderr)
    start_epoch, best_val, history = 0, float("inf"), []
    from pathlib import Path

    resuming = args.resume and Path(args.out).is_file()
    if args.resume and not resuming:
        print(f"no checkpoint at {args.out} yet: starting a fresh run", file=sys.stderr)
    if resuming:
        model = load_composer(args.out, with_train_state=True)
        ts = model.extra.get("train_state", {})
        start_epoch = int(ts.get("epoch", 0))
        best_val = float(ts.get("best_val", float("inf")))
        history = list(ts.get("history", []))
        print(f"resuming after epoch {start_epoch} (best val loss {best_val:.4f})", file=sys.stderr)
    else:
        conds = args.conditions
        if conds and [c.lower() for c in conds] == ["emopia"]:
            conds = ["Q1", "Q2", "Q3", "Q4"]
        extra = {} if args.generate_pointer is None else {"generate_pointer": min(max(args.generate_pointer, 0.0), 1.0)}
        model = prepare_model(args.preset, train, val, args.midi or [args.store], init=args.init,
                              conditions=conds, condition_kind=args.condition_kind,
                              command=" ".join(["musiclab-cli"] + sys.argv[1:]) if sys.argv else "", **extra)
    res = train_model(
        model, train, val, args.out, epochs=args.epochs, seq_len=args.seq_len, batch=args.batch, lr=args.lr,
        augment=not args.no_augment, patience=args.patience, time_budget=args.time_budget, history=history,
        start_epoch=start_epoch, best_val=best_val, seed=args.seed, on_progress=TextProgress("training"),
        resume=args.resume, max_steps=args.max_steps, cond_dropout=args.cond_dropout,
    )
    from ..distributed import reset_world, world

    if not world().is_main:  # under torchrun: rank 0 alone fits the mixture and prints the result
        reset_world()
        return 0
    for h in res["history"]:
        print(json_line(h), file=sys.stderr)
    out = {k: res[k] for k in ("epochs", "best_val_loss", "stopped_by", "seconds", "train_events_per_s", "out")}
    if not args.no_copy and val:
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
    reset_world()
    return 0


def _base(name: str) -> str:
    from pathlib import Path

    return Path(str(name).split("#", 1)[0]).name.lower()


def _name_list(path) -> set:
    """File names listed in ``path`` (one a line, or any CSV cell that names a score file)."""
    import csv
    from pathlib import Path

    from ..errors import MusiclabError
    from .events import SCORE_EXTS

    p = Path(path)
    if not p.is_file():
        raise MusiclabError(f"List file '{path}' not found.")
    names = set()
    with p.open(newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.reader(fh):
            for cell in row:
                cell = cell.strip()
                if cell and Path(cell).suffix.lower() in SCORE_EXTS:
                    names.add(Path(cell).name.lower())
    if not names:
        raise MusiclabError(f"'{p.name}' lists no MIDI/score file names.")
    return names


def _ingest(args) -> int:
    from ..jobs import TextProgress, json_line
    from ..errors import MusiclabError
    from .ingest import StoreFormatError, ingest, ingest_music21_corpus

    if bool(args.paths) == bool(args.music21_corpus):
        raise MusiclabError("Give MIDI files/folders or --music21-corpus NAME (one of the two).")
    try:
        if args.music21_corpus:
            index = ingest_music21_corpus(args.music21_corpus, args.out, workers=max(1, args.workers),
                                          shard_size=args.shard_size, on_progress=TextProgress("ingesting"))
        else:
            index = ingest(args.paths, args.out, workers=max(1, args.workers), shard_size=args.shard_size,
                           engine=args.engine, on_progress=TextProgress("ingesting"))
    except StoreFormatError as exc:
        raise MusiclabError(str(exc)) from exc
    for path, reason in index["skipped"][:50]:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if len(index["skipped"]) > 50:
        print(f"... and {len(index['skipped']) - 50} more skipped files (all in {args.out}/index.json)", file=sys.stderr)
    summary = {k: index[k] for k in ("files", "pieces", "tokens", "resumed_shards", "seconds")}
    summary.update(out=str(args.out), shards=len(index["shards"]), skipped=len(index["skipped"]))
    if "music21" in index:
        summary["music21"] = {k: v for k, v in index["music21"].items() if k != "skipped"}
    if args.json:
        print(json_line(summary))
    else:
        print(f"{summary['pieces']} pieces from {summary['files']} files in {summary['shards']} shards "
              f"({summary['skipped']} skipped) -> {args.out}", file=sys.stderr)
    return 0


def _store_split(args):
    """Training and validation pieces of an event store (``--store``), read lazily."""
    from ..errors import MusiclabError
    from .model import PRESETS
    from .stream import from_store, open_store, split_store

    if PRESETS.get(args.preset, {}).get("arch") == "event-lstm-timed" or args.preset == "seed":
        raise MusiclabError(f"--store holds sequential sub-tokens without onsets: preset {args.preset!r} needs "
                            "--midi (timed presets need the events' onsets, the seed preset its own tokens).")
    if args.val_match:
        raise MusiclabError("--val-match works with --midi; with --store the split is by piece (--val-fraction).")
    store = open_store(args.store)
    tr, va = split_store(store, args.val_fraction, seed=args.seed, max_val=args.max_val)
    train, val = from_store(store, tr), from_store(store, va)
    n_ev = sum(p.n_events for p in train) + sum(p.n_events for p in val)
    print(f"event store {args.store}: {len(store)} pieces, {store.n_tokens} sub-tokens, {n_ev} events, "
          f"{len(store.skipped)} files skipped at ingestion", file=sys.stderr)
    return train, val, {"pieces": len(store), "skipped": len(store.skipped)}


def _generate(args) -> int:
    import random
    from pathlib import Path

    import torch

    from ..audio.io import SAVE_FORMATS
    from ..jobs import json_line
    from . import session as S

    torch.set_num_threads(1)
    model = S.load_model(args.model)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    primer, primer_meta = [], {}
    if args.primer:
        c = S.read_corpus([args.primer])
        if not c.pieces:
            reason = c.skipped[0][1] if c.skipped else "no events"
            print(f"error: primer '{args.primer}': {reason}", file=sys.stderr)
            return 1
        primer = c.pieces[0].events[: args.primer_events]
        from .midifile import file_meta

        primer_meta = file_meta(args.primer)  # the primer's own metre and key go into the written MIDI
        for path, msg in getattr(c, "warnings", []):
            print(f"warning: primer '{path}': {msg}", file=sys.stderr)
    settings = S.GenerateSettings(length=args.length, temperature=args.temperature, top_k=args.top_k,
                                  top_p=args.top_p, seed=seed, repeat=args.repeat, form=args.form,
                                  strain_bars=args.strain_bars, tempo=args.tempo,
                                  time_signature=primer_meta.get("time_signature"), key=primer_meta.get("key"),
                                  program=args.program, mood=S.normalize_mood(args.mood), guidance=args.guidance,
                                  cadence=not args.no_cadence)
    from .labels import key_request

    try:
        score = {"style": args.style, "metre": args.metre, **key_request(args.key)}
    except ValueError as exc:
        print(f"error: --key: {exc}", file=sys.stderr)
        return 2
    settings.score = {k: v for k, v in score.items() if v} or None
    res = S.compose(model, primer, settings)
    if Path(args.out).suffix.lower() in SAVE_FORMATS:  # audio: rendered and loudness-normalised
        res = S.with_audio(res, S.render(res.all_events, res.tempo, res.program, legato=res.legato))
    out = S.export(res, args.out)
    print(json_line({"out": str(out), "events": len(res.events), "primer_events": len(primer), "seed": seed,
                     "copied": res.copied, "self_repeated": res.self_repeated, "repeat": args.repeat, "form": res.settings.form,
                     "mood": settings.mood, "score": res.settings.score, **({"lufs": res.loudness["lufs"], "true_peak_dbfs": res.loudness["true_peak_dbfs"]}
                        if res.loudness else {})}))
    return 0


def _eval_condition(names):
    if not names:
        return None
    return "labels" if [n.lower() for n in names] == ["labels"] else list(names)


def _eval(args) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from .evaluate import evaluate
    from .events import load_corpus
    from .model import load_composer

    torch.set_num_threads(max(1, args.threads))
    model = load_composer(args.model)
    if args.dt_branches < 1:
        print("error: --dt-branches must be at least 1", file=sys.stderr)
        return 2
    corpus = load_corpus(args.midi, workers=args.workers, on_progress=TextProgress("reading MIDI"))
    for path, reason in corpus.skipped[:50]:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for path, msg in getattr(corpus, "warnings", [])[:50]:
        print(f"warning: {path}: {msg}", file=sys.stderr)
    res = evaluate(model, corpus, beam=args.beam, on_progress=TextProgress("scoring"), use_copy=not args.no_copy,
                   fight=not args.no_fight, cross_fit=args.cross_fit, dt_branches=args.dt_branches,
                   condition=_eval_condition(args.condition))
    ins = res.get("in_sample")
    if ins and ins["pieces"]:
        print(f"warning: {ins['pieces']} of {res['pieces']} pieces are in-sample for this model "
              f"({ins['trained']} it trained on, {ins['validation']} it chose its checkpoint/copy mixture on); "
              f"figures on the {ins['unseen']} unseen pieces are under fair_fight.unseen", file=sys.stderr)
    if ins and ins["sources_missing"]:
        print(f"warning: training sources not found, in-sample check by validation names only: "
              f"{', '.join(ins['sources_missing'])}", file=sys.stderr)
    if args.json:
        print(json_line(res))
    else:
        print(f"{res['pieces']} pieces ({res['skipped']} skipped), {res['events']} events: top-1 {res['top1']:.3f}, "
              f"top-5 {res['top5']:.3f}, {res['nll_per_event']:.3f} nats/event, OOV {res['oov_rate']:.1%}; "
              f"trigram top-1 {res['baselines']['trigram']['top1']:.3f}, "
              f"{res['baselines']['trigram']['nll_per_event']:.3f} nats/event")
        on = res.get("onset")
        if on and on.get("events"):
            print(f"timed model (onset marginalised over {args.dt_branches} onsets, covering "
                  f"{on['dt_mass']:.1%} of the onset distribution): onset accuracy {on['onset_accuracy']:.3f}, "
                  f"onset {on['onset_nll']:.3f} nats/event, whole timed event {on['joint_nll_per_event']:.3f} "
                  f"nats/event")
        ff = res.get("fair_fight")
        if ff and ff.get("available"):
            for part in ("all", "unseen", "cross_fit"):
                rows = ff.get(part)
                if not isinstance(rows, dict):
                    continue
                print(f"fair fight ({part}):")
                for k, r in rows.items():
                    if isinstance(r, dict):
                        nll = f"{r['nll_per_event']:.3f}" if r.get("nll_per_event") is not None else "-"
                        print(f"  {k:13s} top-1 {r['top1']:.3f}  top-5 {r['top5']:.3f}  {nll} nats/event")
    return 0


def _judge(args) -> int:
    from ..jobs import TextProgress, json_line
    from .judge import FEATURES, judge_paths

    res = judge_paths(args.generated, args.reference, holdout=args.holdout, seed=args.seed,
                      on_progress=TextProgress("judging"))
    for s in res["skipped"][:50]:
        print(f"skipped ({s['set']}) {s['path']}: {s['reason']}", file=sys.stderr)
    g, c = res["generated"], res["ceiling"]
    if res["generated_skipped"]:
        print(f"warning: {res['generated_skipped']} generated file(s) have no notes (counted as failures)",
              file=sys.stderr)
    if args.json:
        print(json_line(res))
        return 0
    ref = res["reference"]
    print(f"reference: {ref['pieces']} tunes; ceiling: {ref['holdout']} held-out real tunes")
    print(f"{'feature':24s} {'generated':>10s} {'ceiling':>10s}")
    for k in FEATURES:
        print(f"{k:24s} {g['oa'][k]:10.3f} {c['oa'][k] if c else float('nan'):10.3f}")
    line = f"mean OA: your tunes {g['mean_oa']:.3f} ({g['pieces']} judged, {res['generated_skipped']} without notes)"
    if c:
        line += f" vs real tunes {c['mean_oa']:.3f} (ratio {res['ratio']:.2f})"
    print(line)
    if res.get("generated_with_empty"):
        print(f"mean OA counting the files without notes as empty tunes: {res['generated_with_empty']['mean_oa']:.3f}")
    return 0


def _mood_train(args) -> int:
    from pathlib import Path

    from ..jobs import TextProgress, json_line
    from ..paths import shared_data_dir
    from .mood import train_on_emopia

    root = Path(args.emopia) if args.emopia else shared_data_dir() / "midi" / "emopia"
    res = train_on_emopia(root, out=args.out, roundtrip=not args.no_roundtrip,
                          on_progress=TextProgress("reading EMOPIA"))
    for path, why in res["skipped"][:20]:
        print(f"skipped {path}: {why}", file=sys.stderr)
    res["skipped"] = len(res["skipped"])
    if args.json:
        print(json_line(res))
    else:
        for part in ("train", "val", "val_roundtrip"):
            r = res.get(part)
            if r:
                print(f"{part:14s} {r['pieces']:4d} clips: 4-way {r['accuracy']:.3f}, arousal {r['arousal_accuracy']:.3f}, "
                      f"valence {r['valence_accuracy']:.3f}")
        if res.get("out"):
            print(f"written {res['out']}")
    return 0


def _mood_judge(args) -> int:
    from ..jobs import TextProgress, json_line
    from .mood import judge_files, load_classifier, normalize_quadrant

    clf = load_classifier(args.classifier)
    res = judge_files(args.paths, clf, requested=normalize_quadrant(args.requested),
                      on_progress=TextProgress("judging"))
    for s_ in res["skipped"][:50]:
        print(f"skipped {s_['file']}: {s_['reason']}", file=sys.stderr)
    if args.json:
        print(json_line(res))
        return 0
    for r in res["files"]:
        want = f" (asked {r['requested']})" if r.get("requested") else ""
        print(f"{r['quadrant']} {r['mood']:6s} arousal+ {r['p_high_arousal']:.2f} valence+ "
              f"{r['p_positive_valence']:.2f}  {r['file']}{want}")
    if res.get("summary"):
        s_ = res["summary"]
        print(f"{s_['pieces']} pieces with a requested quadrant: quadrant hit {s_['quadrant_hit']:.3f}, "
              f"arousal half {s_['arousal_hit']:.3f}, valence half {s_['valence_hit']:.3f}")
    return 0 if res["pieces"] else 1


def parse_key_bias(items) -> dict:
    """``["minor=0.5", "major=0"]`` -> ``{"minor": 0.5, "major": 0.0}``, or a clear error."""
    from ..errors import MusiclabError

    out = {}
    for it in items:
        mode, _, val = str(it).partition("=")
        mode = mode.strip().lower()
        try:
            a = float(val)
        except ValueError:
            a = float("nan")
        if mode not in ("major", "minor") or not (0 <= a <= 4):
            raise MusiclabError(f"--key-bias takes MODE=A with MODE major or minor and A from 0 to 4, not '{it}'.")
        out[mode] = a
    return out


def _fit_conditions(args) -> int:
    import torch

    from ..jobs import TextProgress, json_line
    from ..models import resolve_model
    from .events import load_corpus
    from .model import check_key_profile, load_composer, save_composer
    from .train import fit_conditions

    torch.set_num_threads(max(1, args.threads))
    model = load_composer(resolve_model("composer", args.model), with_train_state=True)
    corpus = load_corpus(args.midi, workers=args.workers, on_progress=TextProgress("reading MIDI"))
    va_names = _name_list(args.val_list)
    val = [p for p in corpus.pieces if _base(p.name) in va_names]
    train = [p for p in corpus.pieces if _base(p.name) not in va_names]
    print(f"{len(train)} training pieces, {len(val)} validation pieces", file=sys.stderr)
    rep = fit_conditions(model, train, val, head=args.head, epochs=args.epochs, lr=args.lr,
                         cond_dropout=args.cond_dropout, seed=args.seed, balance=args.balance,
                         on_progress=TextProgress("fitting"))
    for h in rep.pop("history"):
        print(json_line(h), file=sys.stderr)
    if args.guidance is not None:
        model.meta["guidance"] = float(args.guidance)
    if args.key_bias:
        model.meta["key_bias"] = parse_key_bias(args.key_bias)
        check_key_profile(model.meta, str(args.out))
    model.meta.setdefault("commands", []).append(" ".join(["musiclab-cli"] + sys.argv[1:]) if sys.argv else "")
    save_composer(model, args.out, train_state=model.extra.get("train_state"))
    print(json_line({"out": str(args.out), **rep}))
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
