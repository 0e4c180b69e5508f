"""``musiclab-cli``: the headless face of the core.

Each workbench adds its own sub-command from ``musiclab/<workbench>/cli.py``, which
defines ``add_parser(subparsers)``; a handler is a function ``run(args) -> int`` set
with ``parser.set_defaults(func=run)``. Those modules import nothing heavy at import
time. JSON results are printed as the last line of standard output; progress and
messages go to standard error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from . import __version__
from .errors import MusiclabError
from .jobs import TextProgress, json_line  # noqa: F401 (re-exported for scripts)

WORKBENCH_CLIS = ("analysis", "composer", "stitcher", "emotion")


def _cmd_info(args) -> int:
    from .audio.io import audio_info

    status = 0
    for path in args.files:
        try:
            info = audio_info(path).to_dict()
        except MusiclabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            if args.json:
                print(json_line({"path": str(path), "error": str(exc)}))
            continue
        if args.json:
            print(json_line(info))
        else:
            pk = info["peak_dbfs"]
            print(
                f"{info['path']}: {info['format']} {info['subtype']}, {info['duration']:.2f} s, "
                f"{info['sample_rate']} Hz, {info['channels']} ch, peak "
                f"{'-inf' if pk is None or pk == float('-inf') else f'{pk:.1f}'} dBFS"
            )
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musiclab-cli", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"musiclab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="describe audio files (format, duration, rate, channels, peak)")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_cmd_info)
    for name in WORKBENCH_CLIS:
        try:
            mod = importlib.import_module(f"musiclab.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name == f"musiclab.{name}.cli":
                continue  # workbench not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MusiclabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
