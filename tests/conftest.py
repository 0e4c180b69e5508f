"""Test setup: offscreen Qt, private user folders, no sound card, shared data location."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

_tmp = Path(tempfile.mkdtemp(prefix="musiclab-tests-"))
# offscreen Qt with a 1920x1200 virtual screen (the plugin's default is 800x600)
(_tmp / "screen.json").write_text(
    '{"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, '
    '"logicalDpiX": 96, "logicalDpiY": 96}]}')
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_tmp / 'screen.json'}"
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("MUSICLAB_USER_DATA", str(_tmp / "user"))
os.environ.setdefault("MUSICLAB_CACHE", str(_tmp / "cache"))
os.environ.setdefault("MUSICLAB_SETTINGS", str(_tmp / "settings.ini"))
# nothing a test does may write into the real home folder (QSettings(), caches, fonts)
os.environ["HOME"] = str(_tmp / "home")
os.environ["XDG_CONFIG_HOME"] = str(_tmp / "home" / ".config")
os.environ["XDG_CACHE_HOME"] = str(_tmp / "home" / ".cache")
os.environ["XDG_DATA_HOME"] = str(_tmp / "home" / ".local" / "share")
os.environ.setdefault("NUMBA_CACHE_DIR", str(_tmp / "numba"))
(_tmp / "home").mkdir(exist_ok=True)

from musiclab.paths import shared_data_dir  # noqa: E402

DATA = shared_data_dir()


def data_file(*parts: str) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p}")
    return p


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data folder not found: {DATA}")
    return DATA


class FakeOutputStream:
    """Stands in for sounddevice.OutputStream: the test pulls blocks with ``pull``."""

    instances: list = []

    def __init__(self, samplerate, channels, dtype, callback, device=None):
        self.samplerate, self.channels, self.callback = samplerate, channels, callback
        self.active = False
        self.closed = False
        FakeOutputStream.instances.append(self)

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def close(self):
        self.closed = True

    def pull(self, frames: int):
        import numpy as np

        out = np.full((frames, self.channels), np.nan, dtype=np.float32)
        self.callback(out, frames, None, None)
        return out


def recording_player():
    """A stand-in for :class:`musiclab.gui.player.PlayerController` that records calls.

    ``played`` holds ``(samples, sr, label)`` for every ``play`` with new samples.
    """
    from PySide6.QtCore import QObject, Signal

    class RecordingPlayer(QObject):
        position_changed = Signal(float)
        state_changed = Signal(str)

        def __init__(self):
            super().__init__()
            self.played, self.seeks = [], []
            self.owner, self.label, self.state = None, "", "stopped"

        def play(self, samples=None, sr=0, label="", owner=None):
            if samples is not None:
                self.played.append((samples, sr, label))
                self.owner, self.label = owner, label
            self.state = "playing"
            return True

        def toggle(self):
            self.state = "paused" if self.state == "playing" else "playing"
            return True

        def stop(self):
            self.state = "stopped"

        def seek(self, seconds):
            self.seeks.append(seconds)

    return RecordingPlayer()


def tab_context(tmp_path):
    """An AppContext for a tab under test: its own settings file, a recording player, no dialogs,
    and ``ctx.log`` of its notifications."""
    from PySide6.QtCore import QSettings

    from musiclab.gui.context import AppContext

    ctx = AppContext(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), recording_player())
    ctx.headless = True
    ctx.log = []  # every (text, is_error) the tab notified
    ctx.message.connect(lambda text, err: ctx.log.append((text, err)))
    return ctx


@contextmanager
def composer_tab_with_model(qtbot, tmp_path, name: str, model):
    """A Composer tab under test with ``model`` saved as the user's model ``name`` for as long
    as the block runs (the file and the tab's services are removed afterwards)."""
    from musiclab.composer.model import save_composer
    from musiclab.gui.tabs.composer import ComposerTab
    from musiclab.paths import user_models_dir

    mine = user_models_dir("composer") / f"{name}.pt"
    save_composer(model, mine)
    ctx = tab_context(tmp_path)
    tab = ComposerTab(ctx)
    qtbot.addWidget(tab)
    try:
        yield tab
    finally:
        mine.unlink()
        for s in ctx.services:
            s.shutdown()


@pytest.fixture
def fake_player():
    from musiclab.audio.playback import Player

    FakeOutputStream.instances.clear()
    return Player(stream_factory=FakeOutputStream)


@pytest.fixture
def settings_path(tmp_path) -> str:
    return str(tmp_path / "musiclab.ini")


@pytest.fixture
def main_window(qtbot, settings_path, fake_player):
    from PySide6.QtCore import QSettings

    from musiclab.gui.main_window import MainWindow
    from musiclab.gui.player import PlayerController

    win = MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                     player=PlayerController(fake_player), headless=True)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture(scope="session", autouse=True)
def _numba_compiled_on_the_main_thread():
    """Compile librosa's numba kernels once, before any test starts a QThread.

    A fresh environment compiles them on first use. Once in five fresh CI runs that first
    compile, inside a service thread while Qt timers ran on the main thread, hung with both
    threads waiting for the GIL. Compiling here keeps the tests deterministic; the hang
    itself is recorded on issue 3.
    """
    import numpy as np

    import librosa

    sr = 22050
    y = np.zeros(sr * 4, dtype=np.float32)
    y[:: sr // 2] = 1.0
    librosa.beat.beat_track(y=y, sr=sr)
    librosa.feature.chroma_stft(y=y, sr=sr)
    yield


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_gui_thread(request):
    """In every test that uses Qt: Python's cycle collector runs only on the main (GUI) thread, as
    in the app (:func:`musiclab.gui.app.collect_garbage_on_the_gui_thread`), and everything the
    test left is collected there at its end. Left automatic, the collector ran in a service
    thread, destroyed the previous test's closed window there, and deadlocked with the GUI
    thread over Qt's lock and the GIL (test_main_window, stacks taken with gdb)."""
    if not any(f in request.fixturenames for f in ("qtbot", "qapp", "main_window")):
        yield
        return
    import gc

    request.getfixturevalue("qapp")
    from pyqtgraph.util.garbage_collector import GarbageCollector

    was_enabled = gc.isenabled()
    gc.collect()
    collector = GarbageCollector(interval=0.5)  # disables automatic collection
    try:
        yield
    finally:
        collector.timer.stop()
        gc.collect()
        if was_enabled:
            gc.enable()


# -- nothing slow on the GUI thread -------------------------------------------------------
GUI_PKG = str(Path(__file__).resolve().parent.parent / "musiclab" / "gui")


def _called_from_gui_code() -> bool:
    import sys
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename.startswith(GUI_PKG):
            return True
        f = f.f_back
    return False


def _gui_frame() -> str:
    import traceback

    frames = [fr for fr in traceback.extract_stack()[:-3] if fr.filename.startswith(GUI_PKG)]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}" if frames else "?"


@pytest.fixture(autouse=True)
def slow_work_guard(request):
    """Record decoding, probing and torch work that GUI code runs on the GUI thread.

    Active in the GUI tests (``test_*_gui.py``, ``test_main_window.py``): such a call fails
    the test. ``load_audio`` and ``audio_info`` report through :data:`musiclab.jobs.slow_call_hook`;
    torch through a :class:`torch.overrides.TorchFunctionMode` pushed on the main thread only
    (modes are per thread, so the services' threads run unwatched). A test whose own body
    computes something on the main thread is not caught: only calls with GUI code on the stack.
    """
    name = Path(str(request.node.fspath)).name
    if not (name.endswith("_gui.py") or name == "test_main_window.py") or "allow_gui_thread_work" in request.keywords:
        yield []
        return
    import musiclab.jobs as jobs

    seen: list[str] = []

    def hook(what: str) -> None:
        if _called_from_gui_code():
            seen.append(f"{what} from {_gui_frame()}")

    prev = jobs.slow_call_hook
    jobs.slow_call_hook = hook
    mode = _torch_guard(seen)
    try:
        yield seen
    finally:
        jobs.slow_call_hook = prev
        if mode is not None:
            mode.__exit__(None, None, None)
    assert not seen, "slow work on the GUI thread: " + "; ".join(dict.fromkeys(seen))


def _torch_guard(seen):
    import torch
    from torch.overrides import TorchFunctionMode

    class GuiThreadTorch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if _called_from_gui_code():
                seen.append(f"torch {getattr(func, '__name__', func)} from {_gui_frame()}")
            return func(*args, **(kwargs or {}))

    mode = GuiThreadTorch()
    mode.__enter__()
    return mode
