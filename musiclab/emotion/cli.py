"""``musiclab-cli emotion predict|train|eval|models``. Imports nothing heavy at module level."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("emotion", help="music emotion recognition (Russell quadrants, valence/arousal)")
    sub = p.add_subparsers(dest="emotion_command", metavar="ACTION")

    pp = sub.add_parser("predict", help="quadrant probabilities, valence and arousal of audio files")
    pp.add_argument("files", nargs="+", help="audio files or folders")
    pp.add_argument("--model", default="default", help="model name (default, seed-cnn, seed-lstm, ...) or .pt path")
    pp.add_argument("--json", action="store_true", help="print one JSON object (results + errors) as the last line")
    pp.add_argument("--segments", action="store_true", help="also print the per-segment timeline")
    pp.add_argument("--csv", metavar="OUT.csv", default=None,
                    help="also write the results table as CSV (the columns of the app's Export CSV)")
    pp.set_defaults(func=_predict)

    pt = sub.add_parser("train", help="train or fine-tune a model on labelled folders (Q1..Q4 subfolders or CSV)")
    pt.add_argument("--data", nargs="+", required=True, metavar="DIR", help="labelled folder(s) or CSV file(s)")
    pt.add_argument("--out", required=True, metavar="MODEL", help="output model file (.pt) or a model name")
    pt.add_argument("--arch", default="ensemble",
                    choices=["ensemble", "musicnn", "musicnn-mtt", "crnn", "linear", "seed-cnn", "seed-lstm"])
    pt.add_argument("--epochs", type=int, default=None, help="epochs of the neural part (default per architecture)")
    pt.add_argument("--val-fraction", type=float, default=0.2, help="share of artists held out for validation")
    pt.add_argument("--refit-all", action="store_true", help="after validation, refit on all clips")
    pt.add_argument("--init", default=None, help="fine-tune from this model (same architecture)")
    pt.add_argument("--ensemble-weights", default=None, metavar="musicnn=W,musicnn-mtt=W,linear=W,crnn=W",
                    help="weights of the ensemble members' probabilities; a member left out or at 0 is not trained "
                         "(default: the shipped default's, " + _default_weights() + ")")
    pt.add_argument("--crnn-members", type=int, default=None, metavar="N",
                    help="CRNNs in the ensemble, trained with seeds S, S+1, ... (default 3)")
    pt.add_argument("--member-seed", type=int, default=None, metavar="S",
                    help="base seed of the networks (default: --seed, which also draws the validation split)")
    pt.add_argument("--last-epoch", action="store_true",
                    help="keep each network's last epoch, not its best validation epoch (validation is only reported)")
    pt.add_argument("--no-axis-heads", action="store_true",
                    help="musicnn members without their arousal / valence heads (4-quadrant regression only)")
    pt.add_argument("--no-calibrate", action="store_true",
                    help="no temperature chosen by cross-validated log loss (models of regressions only)")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--cache", default=None, help="feature cache folder")
    pt.add_argument("--workers", type=int, default=1, help="processes for feature extraction")
    pt.add_argument("--threads", type=int, default=1, help="torch threads")
    pt.add_argument("--json", action="store_true", help="print the training report as JSON (last line)")
    pt.set_defaults(func=_train)

    pe = sub.add_parser("eval", help="accuracy, per-class P/R/F1, confusion matrix (and Spearman) on labelled data")
    pe.add_argument("--data", required=True, metavar="DIR", help="labelled folder or CSV")
    pe.add_argument("--model", default="default", help="model name or .pt path")
    pe.add_argument("--json", action="store_true", help="print the metrics as JSON (last line)")
    pe.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    pe.set_defaults(func=_eval)

    pm = sub.add_parser("models", help="list the available emotion models")
    pm.set_defaults(func=_models)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _default_weights() -> str:
    from .train import DEFAULT_ENSEMBLE_WEIGHTS

    return ",".join(f"{k}={v:g}" for k, v in DEFAULT_ENSEMBLE_WEIGHTS.items())


def _threads(n: int) -> None:
    if n and n > 0:
        import torch

        torch.set_num_threads(n)


def _predict(args) -> int:
    from ..jobs import TextProgress, json_line
    from .predict import get_model
    from .session import EmotionSession, predict

    session = EmotionSession(args.model)
    res = predict(args.files, get_model(args.model), on_progress=TextProgress("emotion"), on_partial=session.add)
    for e in res["errors"]:
        print(f"error: {e['error']}", file=sys.stderr)
    if args.csv and len(session):
        print(f"wrote {session.export_csv(args.csv)}", file=sys.stderr)
    if args.json:
        if not args.segments:
            for r in res["results"]:
                r.pop("segments", None)
        print(json_line(res))
    else:
        for r in res["results"]:
            pr = " ".join(f"{q}={v:.2f}" for q, v in r["probs"].items())
            warn = f"  [{'; '.join(r['warnings'])}]" if r["warnings"] else ""
            print(f"{r['name']}: {r['quadrant']} ({r['mood']})  valence {r['valence']:+.2f}  "
                  f"arousal {r['arousal']:+.2f}  uncertainty {r['uncertainty']:.2f}  {pr}{warn}")
            if args.segments:
                for s in r["segments"]:
                    print(f"    {s['start']:8.1f}-{s['end']:8.1f} s  valence {s['valence']:+.2f}  "
                          f"arousal {s['arousal']:+.2f}")
    return 0 if res["results"] or not res["errors"] else 1


def _train(args) -> int:
    from pathlib import Path

    from ..jobs import TextProgress, json_line
    from ..models import user_models_dir
    from .session import train_model
    from .train import TrainOptions

    _threads(args.threads)
    out = Path(args.out)
    if out.suffix != ".pt" and "/" not in args.out:
        out = user_models_dir("emotion") / f"{args.out}.pt"
    weights = None
    if args.ensemble_weights:
        try:
            weights = {k.strip(): float(v) for k, v in (kv.split("=") for kv in args.ensemble_weights.split(","))}
        except ValueError:
            print(f"error: --ensemble-weights wants e.g. {_default_weights()}", file=sys.stderr)
            return 2
        from .train import ENSEMBLE_WEIGHT_KEYS

        if not set(weights) <= set(ENSEMBLE_WEIGHT_KEYS) or not any(v > 0 for v in weights.values()) \
                or any(v < 0 for v in weights.values()):
            print(f"error: --ensemble-weights takes the members {', '.join(ENSEMBLE_WEIGHT_KEYS)}, weights >= 0, "
                  "at least one above 0", file=sys.stderr)
            return 2
    if args.crnn_members is not None and args.crnn_members < 1:
        print("error: --crnn-members must be at least 1", file=sys.stderr)
        return 2
    from .train import DEFAULT_CRNN_MEMBERS

    opts = TrainOptions(arch=args.arch, ensemble_weights=weights, epochs=args.epochs, val_fraction=args.val_fraction,
                        crnn_members=args.crnn_members or DEFAULT_CRNN_MEMBERS, member_seed=args.member_seed,
                        last_epoch=args.last_epoch, axis_heads=not args.no_axis_heads,
                        calibrate=not args.no_calibrate, refit_all=args.refit_all, init=args.init, seed=args.seed,
                        cache_dir=args.cache, workers=args.workers)
    rep = train_model(args.data, out, on_progress=TextProgress("train"),
                      log=lambda s: print(s, file=sys.stderr, flush=True), options=opts)
    if "validation" in rep:
        v = rep["validation"]
        print(f"validation ({rep['val_clips']} clips of unseen artists): accuracy {v['accuracy']:.3f}, "
              f"macro F1 {v['macro_f1']:.3f}, arousal {v['arousal_accuracy']:.3f}, valence {v['valence_accuracy']:.3f}, "
              f"log loss {v['log_loss']:.3f}",
              file=sys.stderr)
    print(f"wrote {rep['out']}", file=sys.stderr)
    if args.json:
        print(json_line(rep))
    return 0


def _eval(args) -> int:
    from ..jobs import TextProgress, json_line
    from .session import evaluate

    _threads(args.threads)
    res = evaluate(args.data, args.model, on_progress=TextProgress("eval"))
    for s in res.get("skipped", []):
        print(f"skipped: {s}", file=sys.stderr)
    if res.get("warning"):
        print(f"warning: {res['warning']}", file=sys.stderr)
    keys = ["clips", "accuracy", "macro_f1", "arousal_accuracy", "valence_accuracy", "per_class", "confusion",
            "n_skipped", "in_sample", "in_sample_known", "n_unseen", "unseen", "warning"]
    out = {k: res[k] for k in keys if k in res}
    for k in ("spearman_valence", "spearman_arousal"):
        if k in res:
            out[k] = res[k]
    if args.json:
        print(json_line(out))
    else:
        print(f"{res['clips']} clips: accuracy {res['accuracy']:.3f}, macro F1 {res['macro_f1']:.3f}, "
              f"arousal {res['arousal_accuracy']:.3f}, valence {res['valence_accuracy']:.3f}")
        for q, d in res["per_class"].items():
            print(f"  {q}: precision {d['precision']:.3f} recall {d['recall']:.3f} f1 {d['f1']:.3f}  AUC {res['auc'][q]}")
        print("confusion (rows true Q1..Q4, columns predicted):")
        for row in res["confusion"]:
            print("  " + " ".join(f"{x:4d}" for x in row))
    return 0


def _models(args) -> int:
    from .model import available

    for name, path in available().items():
        print(f"{name}\t{path}")
    return 0
