"""The core stays Qt-free, and start-up stays light."""

import ast
import subprocess
import sys
from pathlib import Path

import musiclab

PKG = Path(musiclab.__file__).parent
FORBIDDEN = ("PySide6", "pyqtgraph", "musiclab.gui", "shiboken6")
#: ``python -m musiclab`` is the app's launcher: it starts the GUI and nothing imports it.
LAUNCHERS = {"__main__.py"}


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.module is None:
                continue
            mod = node.module or ""
            if node.level:  # resolve relative imports against the file's package
                parts = path.relative_to(PKG.parent).with_suffix("").parts[:-node.level]
                mod = ".".join(parts + ((mod,) if mod else ()))
            yield mod
            if mod == "musiclab":
                for a in node.names:
                    yield f"musiclab.{a.name}"


def test_no_qt_outside_gui():
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "gui" or rel.as_posix() in LAUNCHERS:
            continue
        for mod in imported_modules(path):
            if any(mod == f or mod.startswith(f + ".") for f in FORBIDDEN):
                offenders.append(f"{rel}: {mod}")
    assert offenders == []


def test_scanner_catches_a_qt_import(tmp_path):
    # the rule above must be able to fail
    bad = PKG / "analysis" / "_probe_for_test.py"
    bad.write_text("from PySide6 import QtCore\nfrom ..gui import app\n")
    try:
        found = list(imported_modules(bad))
    finally:
        bad.unlink()
    assert "PySide6" in found and "musiclab.gui" in found


def test_core_imports_without_qt_and_heavy_libs():
    code = (
        "import sys, importlib, pkgutil, musiclab\n"
        "mods = ['musiclab.cli', 'musiclab.audio.io', 'musiclab.audio.playback', 'musiclab.models']\n"
        "for m in mods: importlib.import_module(m)\n"
        "import musiclab.cli as c; c.build_parser()\n"
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'torch', 'librosa', 'sounddevice') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_window_starts_without_torch_or_librosa(tmp_path):
    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        f"os.environ['MUSICLAB_SETTINGS'] = {str(tmp_path / 's.ini')!r}\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from musiclab.gui.main_window import MainWindow\n"
        "w = MainWindow(headless=True); w.show(); app.processEvents()\n"
        "print(','.join(m for m in ('torch', 'librosa', 'music21') if m in sys.modules))\n"
        "w.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
