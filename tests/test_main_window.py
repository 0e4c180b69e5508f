"""The main window: tabs, drag and drop routing, messages, transport, jobs, settings."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from musiclab.jobs import check_stop

from conftest import data_file


def drop(win, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(win.width() / 2, win.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    ev = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(win, ev)
    wait_for_files(win)


def wait_for_files(win, timeout=20.0):
    """Files are probed on a worker: wait until the drop has been routed to the tabs."""
    import time

    t0 = time.monotonic()
    while win.files_svc.is_busy() or win.files_svc.jobs():
        assert time.monotonic() - t0 < timeout, "the drop was never routed"
        QApplication.processEvents()
        time.sleep(0.005)
    QApplication.processEvents()


def spy_on(tab, kinds=("audio",)):
    from musiclab.audio.io import is_audio_file, is_midi_file

    got = []
    tab.accepts = lambda p: ("audio" in kinds and is_audio_file(p)) or ("midi" in kinds and is_midi_file(p))
    tab.open_files = lambda paths: got.extend(paths)
    return got


def test_window_has_four_workbenches(main_window):
    titles = [main_window.tabs.tabText(i) for i in range(main_window.tabs.count())]
    assert titles == ["Live", "Composer", "Stitcher", "Emotion"]
    menus = [a.text().replace("&", "") for a in main_window.menuBar().actions()]
    assert menus == ["File", "View", "Playback", "Help"]


def test_dropped_real_audio_reaches_current_tab(main_window):
    f = sorted(data_file("audio", "librosa").glob("*.ogg"))[0]
    main_window.tabs.setCurrentWidget(main_window.tab_by_key["stitcher"])
    got = spy_on(main_window.current_tab())
    drop(main_window, [f])
    assert got == [f]
    assert main_window.recent_files()[0] == str(f)
    assert not [m for m, err in main_window.messages if err]


def test_dropped_folder_is_expanded(main_window, tmp_path):
    import soundfile as sf

    for name in ["b.wav", "a.flac"]:
        sf.write(tmp_path / name, np.zeros(800, dtype=np.float32), 8000)
    (tmp_path / "notes.txt").write_text("x")
    got = spy_on(main_window.current_tab())
    drop(main_window, [tmp_path])
    assert [p.name for p in got] == ["a.flac", "b.wav"]
    assert main_window.recent_files()[0] == str(tmp_path)  # the folder, not each file in it


def test_broken_and_unsupported_files_give_messages_and_no_crash(main_window, tmp_path):
    broken = tmp_path / "broken song.ogg"
    broken.write_bytes(b"OggS" + b"\x00" * 200)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    other = tmp_path / "photo.jpg"
    other.write_bytes(b"\xff\xd8\xff")
    good = sorted(data_file("audio", "librosa").glob("*.ogg"))[0]
    got = spy_on(main_window.current_tab())
    drop(main_window, [broken, empty, other, good])
    errors = [m for m, err in main_window.messages if err]
    assert len(errors) == 1 and errors[0].startswith("3 files could not be opened")  # one message, not 3 dialogs
    assert any("broken song.ogg" in m for m in errors)
    assert any("empty.wav" in m and "empty" in m for m in errors)
    assert any("photo.jpg" in m and "unsupported" in m for m in errors)
    assert got == [good]  # the good file still arrives
    assert main_window.isVisible()


def test_midi_goes_to_composer(main_window, tmp_path):
    f = sorted(data_file("midi", "nottingham").glob("*.mid"))[0]
    got = spy_on(main_window.tab_by_key["composer"], kinds=("midi",))
    spy_on(main_window.current_tab())
    drop(main_window, [f])
    assert got == [f]
    assert main_window.current_tab() is main_window.tab_by_key["composer"]


def test_transport_plays_the_current_tabs_audio(main_window, qtbot):
    tab = main_window.current_tab()
    y = np.sin(np.arange(44100) / 10).astype(np.float32) * 0.1
    tab.playable_audio = lambda: (y, 44100, "test tone")
    positions = []
    tab.on_playback_position = positions.append
    main_window.act_play.trigger()
    assert main_window.player.state == "playing"
    assert main_window.now_playing.text() == "test tone"
    stream = main_window.player.core._stream
    stream.pull(22050)
    qtbot.waitUntil(lambda: positions and positions[-1] == pytest.approx(0.5), timeout=2000)
    assert main_window.time_label.text() == "0:00 / 0:01"
    main_window.act_play.trigger()  # Space again pauses
    assert main_window.player.state == "paused"
    main_window.act_stop.trigger()
    assert main_window.player.state == "stopped"


def test_space_is_the_play_shortcut(main_window):
    assert main_window.act_play.shortcut().toString() == "Space"


def test_no_audio_output_is_reported_and_app_keeps_working(qtbot, monkeypatch, settings_path):
    import musiclab.audio.playback as pb
    from musiclab.errors import NoAudioDeviceError
    from musiclab.gui.main_window import MainWindow
    from musiclab.gui.player import PlayerController

    def no_portaudio():
        raise NoAudioDeviceError("No audio output: the PortAudio library is not available (test).")

    monkeypatch.setattr(pb, "import_sounddevice", no_portaudio)
    win = MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                     player=PlayerController(pb.Player()), headless=True)
    qtbot.addWidget(win)
    assert win.audio_status.text() == "no audio output"
    win.current_tab().playable_audio = lambda: (np.zeros(100, dtype=np.float32), 8000, "x")
    win.act_play.trigger()
    assert any("PortAudio" in m for m, err in win.messages if err)
    assert win.player.state == "stopped"


def test_job_progress_and_cancel_in_status_bar(main_window, qtbot):
    svc = main_window.ctx.make_service("test-job")
    started = threading.Event()

    def long_job(*, should_stop, on_progress):
        started.set()
        for i in range(100000):
            check_stop(should_stop)
            on_progress(i, 100000, "working")
            threading.Event().wait(0.001)

    with qtbot.waitSignal(svc.job_started, timeout=3000):
        svc.submit(long_job, label="Long job")
    qtbot.waitUntil(lambda: main_window.cancel_button.isVisible() and main_window.progress.isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: "Long job" in main_window.job_label.text(), timeout=3000)
    with qtbot.waitSignal(svc.cancelled, timeout=5000):
        main_window.cancel_button.click()
    qtbot.waitUntil(lambda: not main_window.cancel_button.isVisible(), timeout=3000)


def test_settings_survive_a_restart(qtbot, settings_path, fake_player):
    from musiclab.gui.main_window import MainWindow
    from musiclab.gui.player import PlayerController

    def make():
        w = MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                       player=PlayerController(fake_player), headless=True)
        qtbot.addWidget(w)
        return w

    w1 = make()
    w1.resize(1100, 760)
    w1.show()
    w1.tabs.setCurrentWidget(w1.tab_by_key["emotion"])
    w1.add_recent("/music/one.ogg")
    w1.add_recent("/music/two.flac")
    w1.close()
    w2 = make()
    assert w2.current_tab().key == "emotion"
    assert w2.recent_files() == ["/music/two.flac", "/music/one.ogg"]
    assert [a.text() for a in w2.recent_menu.actions()][:2] == ["&1 two.flac", "&2 one.ogg"]
    assert (w2.width(), w2.height()) == (1100, 760)


def test_screenshot_command(tmp_path):
    out = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "musiclab", "--screenshot", str(out), "--tab", "live",
         "--settings", str(tmp_path / "s.ini"), "--timeout", "60"],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert img.width() == 1280 and img.height() == 820


def test_output_device_choice_is_remembered(qtbot, settings_path, fake_player):
    from musiclab.gui.main_window import MainWindow
    from musiclab.gui.player import PlayerController

    w1 = MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                    player=PlayerController(fake_player), headless=True)
    qtbot.addWidget(w1)
    w1.set_output_device("USB Speakers")
    w1.close()
    from musiclab.audio.playback import Player

    w2 = MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                    player=PlayerController(Player(stream_factory=fake_player._factory)), headless=True)
    qtbot.addWidget(w2)
    assert w2.player.core.device == "USB Speakers"


def test_a_broken_workbench_does_not_take_the_app_down(qtbot, monkeypatch, settings_path, fake_player):
    import musiclab.gui.main_window as mw
    from musiclab.gui.player import PlayerController

    monkeypatch.setattr(mw, "TABS", [*mw.TABS[:3], ("emotion", "musiclab.gui.tabs.base", "WorkbenchTab",
                                                    "Emotion", "text")])
    # WorkbenchTab(ctx) works; make construction fail like a buggy tab would
    import musiclab.gui.tabs.base as base

    class Broken(base.WorkbenchTab):
        def __init__(self, ctx):
            raise RuntimeError("model file missing")

    monkeypatch.setattr(base, "WorkbenchTab", Broken, raising=True)
    win = mw.MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                        player=PlayerController(fake_player), headless=True)
    qtbot.addWidget(win)
    assert win.failed_tabs == {"emotion": "RuntimeError: model file missing"}
    assert win.tabs.count() == 4 and win.tab_by_key["emotion"].accepts(Path("x.ogg")) is False


@pytest.mark.parametrize("key", ["live", "composer", "stitcher", "emotion"])
def test_escape_cancels_the_running_job_on_every_tab(main_window, qtbot, key):
    """Esc belongs to the status bar's Cancel; a second Esc shortcut in a tab would make
    Qt treat the key as ambiguous and cancel nothing."""
    main_window.tabs.setCurrentWidget(main_window.tab_by_key[key])
    main_window.activateWindow()
    qtbot.waitUntil(main_window.isActiveWindow, timeout=5000)
    svc = main_window.ctx.make_service(f"esc-{key}")
    started = threading.Event()

    def long_job(*, should_stop, on_progress):
        started.set()
        for _ in range(20000):
            check_stop(should_stop)
            threading.Event().wait(0.001)
        return "finished"

    with qtbot.waitSignal(svc.cancelled, timeout=10000):
        svc.submit(long_job, label="Long job")
        assert started.wait(5)
        qtbot.waitUntil(main_window.cancel_button.isVisible, timeout=3000)
        qtbot.keyClick(main_window, Qt.Key_Escape)


@pytest.mark.parametrize("key", ["live", "composer", "stitcher", "emotion"])
def test_ctrl_e_exports_from_every_tab(main_window, qtbot, key):
    """File > Export (Ctrl+E) must reach the current tab; a tab's own Ctrl+E would make it ambiguous."""
    tab = main_window.tab_by_key[key]
    main_window.tabs.setCurrentWidget(tab)
    main_window.activateWindow()
    qtbot.waitUntil(main_window.isActiveWindow, timeout=5000)
    calls = []
    tab.export = lambda: calls.append(key)
    qtbot.keyClick(main_window, Qt.Key_E, Qt.ControlModifier)
    assert calls == [key]


@pytest.mark.parametrize("key", ["live", "composer", "stitcher", "emotion"])
def test_a_missing_folder_dropped_on_any_tab_gives_exactly_one_message(main_window, tmp_path, key):
    main_window.tabs.setCurrentWidget(main_window.tab_by_key[key])
    gone = tmp_path / "gone"
    main_window.open_paths([gone])
    wait_for_files(main_window)
    for _ in range(20):  # let any second route (a tab's own job) report too, if there were one
        QApplication.processEvents()
    errors = [m for m, err in main_window.messages if err]
    assert len(errors) == 1 and "gone" in errors[0]
    assert str(gone) not in main_window.recent_files()


def test_a_failed_job_is_reported_once(main_window, qtbot):
    from musiclab.errors import MusiclabError

    def fails(*, should_stop, on_progress):
        raise MusiclabError("no such folder: /nowhere")

    svc = main_window.ctx.services[0]
    tab_side = []
    job = svc.submit(fails, label="Failing").on_error(tab_side.append)
    qtbot.waitUntil(lambda: job.done, timeout=5000)
    assert tab_side == ["no such folder: /nowhere"]
    assert [m for m, err in main_window.messages if err] == ["no such folder: /nowhere"]


def test_dropped_files_are_probed_once_off_the_gui_thread(main_window, monkeypatch):
    import musiclab.audio.io as io

    calls = []
    real = io.audio_info

    def counting(path, *a, **k):
        calls.append((Path(path).name, threading.current_thread() is threading.main_thread()))
        return real(path, *a, **k)

    monkeypatch.setattr(io, "audio_info", counting)
    f = sorted(data_file("audio", "librosa").glob("*.ogg"))[0]
    got = spy_on(main_window.current_tab())
    drop(main_window, [f])
    assert got == [f] and calls == [(f.name, False)]


def test_transport_names_only_the_current_tabs_item(main_window):
    live, composer = main_window.tab_by_key["live"], main_window.tab_by_key["composer"]
    main_window.tabs.setCurrentWidget(live)
    y = np.zeros(44100, dtype=np.float32)
    live.playable_audio = lambda: (y, 44100, "live tone")
    main_window.act_play.trigger()
    assert main_window.player.owner is live and main_window.now_playing.text() == "live tone"
    main_window.tabs.setCurrentWidget(composer)
    assert main_window.now_playing.text() == ""  # another tab's item is not shown as this tab's
    main_window.tabs.setCurrentWidget(live)
    assert main_window.now_playing.text() == "live tone"
    assert not hasattr(main_window, "_player_tab")  # one owner of what is playing: the player


def test_main_window_without_settings_object_writes_no_home_config(qtbot, tmp_path, monkeypatch):
    import os

    from musiclab.gui.main_window import MainWindow

    ini = tmp_path / "own.ini"
    monkeypatch.setenv("MUSICLAB_SETTINGS", str(ini))
    win = MainWindow(headless=True)
    qtbot.addWidget(win)
    win.close()
    assert win.settings.fileName() == str(ini)
    assert os.environ["HOME"] != str(Path("~root").expanduser())  # conftest points HOME at a temp dir


def test_a_generated_tune_goes_to_the_emotion_tab_with_one_click(main_window, qtbot):
    composer, emotion = main_window.tab_by_key["composer"], main_window.tab_by_key["emotion"]
    from musiclab.composer.session import Result

    audio = (0.2 * np.sin(2 * np.pi * 330 * np.arange(44100 * 3) / 44100)).astype(np.float32)
    composer.session.set_result(Result(events=[((60,), "C4", "4.0")], primer=[], seed=3, model_name="folk",
                                       audio=audio))
    got = []
    main_window.files_routed.connect(lambda key, paths: got.append((key, paths)))
    emotion.open_files = lambda paths: got.append(("opened", [Path(p).name for p in paths]))
    main_window.tabs.setCurrentWidget(composer)
    composer.gen_box.mood_btn.click()
    qtbot.waitUntil(lambda: any(k == "opened" for k, _ in got), timeout=30000)
    assert main_window.current_tab() is emotion
    assert ("opened", ["composer-folk-3.wav"]) in got
    assert not [m for m, err in main_window.messages if err]
