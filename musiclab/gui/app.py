"""``musiclab``: start the desktop app (or take a screenshot of it and exit)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

TAB_KEYS = ("live", "composer", "stitcher", "emotion")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="musiclab", description="musiclab desktop app")
    p.add_argument("files", nargs="*", help="audio or MIDI files (or folders) to open")
    p.add_argument("--open", action="append", default=[], metavar="FILE", help="open a file (repeatable)")
    p.add_argument("--tab", choices=TAB_KEYS, help="start on this workbench")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the window (offscreen if there is no display), save it as PNG and exit "
                        "(exit status 3 if a workbench failed to start)")
    p.add_argument("--size", default="1280x820", help="window size for --screenshot (WxH)")
    p.add_argument("--timeout", type=float, default=120.0, help="--screenshot: longest wait for the first render (s)")
    p.add_argument("--settings", metavar="FILE.ini", help="use this settings file instead of the user's")
    p.add_argument("--exit-when-shown", action="store_true", help=argparse.SUPPRESS)  # benchmarks/startup.py
    return p.parse_args(argv)


def make_settings(path: Optional[str] = None):
    from PySide6.QtCore import QSettings

    path = path or os.environ.get("MUSICLAB_SETTINGS")
    if path:
        return QSettings(path, QSettings.IniFormat)
    return QSettings()


def collect_garbage_on_the_gui_thread(app):
    """Python's cycle collector only on the GUI thread, on a 1-s timer (pyqtgraph's
    ``GarbageCollector``). Left automatic, it runs in whichever thread allocates: a service thread
    then destroys a closed window's widgets, holding Qt's lock while it waits for the GIL that the
    GUI thread holds while waiting for that lock — the whole app freezes (seen in the tests, stacks
    taken with gdb). Returns the collector (kept on ``app``)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    gc_ = getattr(app, "_musiclab_gc", None)
    if gc_ is None:
        gc_ = GarbageCollector(interval=1.0)
        app._musiclab_gc = gc_
    return gc_


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.screenshot and not os.environ.get("QT_QPA_PLATFORM") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import musiclab.gui  # noqa: F401  (selects PySide6 for pyqtgraph)
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("musiclab")
    QCoreApplication.setApplicationName("musiclab")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationDisplayName("musiclab")
    collect_garbage_on_the_gui_thread(app)
    from .main_window import MainWindow

    from ..warmup import configure_cache_dir, start_in_background

    configure_cache_dir()
    settings = make_settings(args.settings)
    win = MainWindow(settings=settings, headless=bool(args.screenshot))
    if args.tab:
        win.tabs.setCurrentWidget(win.tab_by_key[args.tab])
    if args.screenshot:
        w, h = (int(x) for x in args.size.lower().split("x"))
        win.resize(w, h)
    win.show()
    if args.exit_when_shown:
        app.processEvents()
        print("shown", flush=True)
        win.close()
        return 0
    if not args.screenshot:
        # first start of a new installation: compile librosa's kernels in a background process
        win.warmup_process = start_in_background()
    files = list(args.files) + list(args.open)
    if files:
        QTimer.singleShot(0, lambda: win.open_paths(files))
    if not args.screenshot:
        return app.exec()
    return _screenshot(app, win, Path(args.screenshot), args.timeout)


def _screenshot(app, win, out: Path, timeout: float) -> int:
    """Wait until the current tab has rendered and no job runs, then save the window."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    settle_until = t0 + 0.5
    while time.monotonic() < deadline:
        app.processEvents()
        tab = win.current_tab()
        if time.monotonic() > settle_until and tab.first_render_done() and not win.busy():
            break
        time.sleep(0.02)
    else:
        print(f"warning: the tab was still busy after {timeout:.0f} s; saving what it shows", file=sys.stderr)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = win.grab().save(str(out))
    for text, error in win.messages:
        print(("error: " if error else "") + text, file=sys.stderr)
    for key, why in win.failed_tabs.items():
        print(f"error: the {key} workbench failed to start: {why}", file=sys.stderr)
    win.close()
    app.processEvents()
    if not ok:
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    print(out)
    return 3 if win.failed_tabs else 0


if __name__ == "__main__":
    sys.exit(main())
