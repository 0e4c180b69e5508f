"""Test setup: offscreen Qt, private user folders, no sound card, shared data location."""

import os
import tempfile
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
