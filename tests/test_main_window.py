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


def test_no_audio_output_is_a_status_note_and_app_keeps_working(qtbot, monkeypatch, settings_path):
    """Issue 19: Play with no audio device is one non-modal note everywhere (the status bar and
    the transport), the same as the Composer's "No sound: ...": no error, no dialog."""
    import musiclab.audio.playback as pb
    from PySide6.QtWidgets import QDialog
    from musiclab.errors import NoAudioDeviceError
    from musiclab.gui.main_window import MainWindow
    from musiclab.gui.player import PlayerController

    def no_portaudio():
        raise NoAudioDeviceError("No audio output: the PortAudio library is not available (test).")

    monkeypatch.setattr(pb, "import_sounddevice", no_portaudio)
    win = MainWindow(settings=QSettings(settings_path, QSettings.IniFormat),
                     player=PlayerController(pb.Player()), headless=False)  # a real window would show dialogs
    qtbot.addWidget(win)
    win.show()
    assert win.audio_status.text() == "no audio output"
    for key in ("live", "stitcher", "emotion"):
        win.tabs.setCurrentWidget(win.tab_by_key[key])
        win.current_tab().playable_audio = lambda: (np.zeros(100, dtype=np.float32), 8000, "x")
        win.act_play.trigger()
        assert win.player.state == "stopped"
        assert win.messages[-1] == ("No sound: No audio output: the PortAudio library is not available (test).",
                                    False)
        assert "PortAudio" in win.statusBar().currentMessage()
        assert "no audio output" in win.now_playing.text()
    assert not [m for m, err in win.messages if err]
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
    win.close()


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


def test_a_long_message_is_one_dialog_of_a_screens_height():
    from musiclab.gui.main_window import DIALOG_MAX_LINES, dialog_text, status_line

    text = "3 files could not be opened:\n'a.wav' is empty.\n'b.mp3': no audio.\n'c.ogg': no audio."
    assert dialog_text(text) == (text, "")
    many = "2997 files could not be opened:\n" + "\n".join(f"'bad{i}.wav' is empty (0 bytes)." for i in range(2997))
    short, details = dialog_text(many)
    assert details == many  # every name, behind Show Details
    assert len(short.splitlines()) == DIALOG_MAX_LINES and "and 2987 more" in short.splitlines()[-1]
    assert status_line(many) == "2997 files could not be opened: (+2997 more lines)"


def _dump_folder(root: Path, n_total: int = 3000, n_text: int = 100, binary: bool = False):
    """A folder of ``n_total`` files: a few real songs, ``n_text`` text files renamed to audio
    (``binary``: bytes that are neither text nor audio, so each needs a decoder's look), and
    0-byte "audio" files, some of them in sub-folders; returns (good, bad)."""
    import shutil

    good = []
    for f in sorted(data_file("audio", "librosa").glob("*.ogg"))[:3]:
        shutil.copy(f, root / f.name)
        good.append(root / f.name)
    bad = []
    exts = (".wav", ".mp3", ".ogg", ".flac")
    for i in range(n_total - len(good)):
        sub = root / f"disc {i % 7}" if i % 3 == 0 else root
        sub.mkdir(exist_ok=True)
        p = sub / f"track{i:04d}{exts[i % len(exts)]}"
        junk = bytes(range(128, 256)) * 2 if binary else b"not audio at all, just text\n" * 4
        p.write_bytes(junk if i < n_text else b"")
        bad.append(p)
    return good, bad


def test_a_folder_of_3000_files_is_probed_in_a_job_with_progress_and_one_message(main_window, qtbot, tmp_path):
    """Issue 19: a folder of 3,000 files, nearly all bad: the probe runs as a job (progress and
    Cancel in the status bar), the event loop keeps turning, one message names every bad
    file and the good ones open."""
    import time

    from PySide6.QtCore import QTimer
    from musiclab.gui.services.base import Job

    folder = tmp_path / "dump"
    folder.mkdir()
    # binary junk: its 100 bad files need a decoder's look (renamed text is refused at once, and the
    # probe could end before the event loop was watched 20 times)
    good, bad = _dump_folder(folder, binary=True)
    assert len(good) + len(bad) == 3000
    got = spy_on(main_window.current_tab())
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    t0 = time.monotonic()
    job = main_window.open_paths([folder])
    assert isinstance(job, Job) and time.monotonic() - t0 < 0.5  # handed to the files service at once
    seen_progress = seen_cancel = False
    labels = set()
    while not job.done or main_window.files_svc.is_busy():
        assert time.monotonic() - t0 < 240, "the folder was never routed"
        QApplication.processEvents()
        seen_progress |= main_window.progress.isVisible()
        seen_cancel |= main_window.cancel_button.isVisible()
        labels.add(main_window.job_label.text())
        time.sleep(0.005)
    for _ in range(5):
        QApplication.processEvents()
    timer.stop()
    assert seen_progress and seen_cancel
    assert any(lbl.startswith("Opening files:") and "track" in lbl for lbl in labels)  # progress names files
    assert len(ticks) > 20
    gaps = np.diff([t0] + ticks)
    assert gaps.max() < 1.0, f"the event loop stalled for {gaps.max():.2f} s"
    errors = [m for m, err in main_window.messages if err]
    assert len(errors) == 1 and errors[0].startswith(f"{len(bad)} files could not be opened")
    assert all(f"'{p.name}'" in errors[0] for p in bad)  # every bad file named, in one message
    assert sorted(got) == sorted(good)
    assert main_window.recent_files()[0] == str(folder)
    assert "(+" in main_window.statusBar().currentMessage()  # one status line, not 3,000


def test_the_folder_probe_can_be_cancelled(main_window, qtbot, tmp_path):
    folder = tmp_path / "dump"
    folder.mkdir()
    # binary junk: every file needs a decoder's look (renamed text is refused at once), a slow scan
    _dump_folder(folder, n_total=600, n_text=600, binary=True)
    got = spy_on(main_window.current_tab())
    with qtbot.waitSignal(main_window.files_svc.job_started, timeout=5000):
        job = main_window.open_paths([folder])
    qtbot.waitUntil(main_window.cancel_button.isVisible, timeout=5000)
    with qtbot.waitSignal(main_window.files_svc.cancelled, timeout=30000):
        main_window.cancel_button.click()
    wait_for_files(main_window)
    assert job.done and got == [] and not [m for m, err in main_window.messages if err]
    assert str(folder) not in main_window.recent_files()


def _bad_inputs(tmp_path: Path):
    """A 0-byte file, a text file renamed to .mp3, a truncated MP3, a MIDI file with no notes and
    one good (short) recording."""
    import mido

    from musiclab.audio.io import save_audio

    sr = 22050
    t = np.arange(int(sr * 4.0)) / sr
    good = tmp_path / "good tone.wav"
    save_audio(good, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    full = tmp_path / "full.mp3"
    save_audio(full, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr)
    cut = tmp_path / "truncated.mp3"
    cut.write_bytes(full.read_bytes()[: max(200, full.stat().st_size // 7)])
    full.unlink()
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    text = tmp_path / "notes.mp3"
    text.write_text("Shopping list: milk, eggs, a new sound card.\n" * 20)
    mid = tmp_path / "no notes.mid"
    mf = mido.MidiFile()
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    tr.append(mido.MetaMessage("end_of_track", time=960))
    mf.tracks.append(tr)
    mf.save(str(mid))
    return good, {"zero": zero, "text": text, "truncated": cut, "midi": mid}


def _wait_all_idle(win, timeout=180.0):
    import time

    t0 = time.monotonic()
    while True:
        QApplication.processEvents()
        if not any(s.is_busy() or s.jobs() for s in win.ctx.services):
            for _ in range(10):
                QApplication.processEvents()
            if not any(s.is_busy() or s.jobs() for s in win.ctx.services):
                return
        assert time.monotonic() - t0 < timeout, "jobs never finished"
        time.sleep(0.01)


@pytest.mark.parametrize("key", ["live", "composer", "stitcher", "emotion"])
def test_every_tabs_drop_path_takes_bad_input_with_one_message_per_step(main_window, tmp_path, key):
    """Issue 19 "Bad input, once more": a 0-byte file, a renamed text file, a truncated MP3 and a
    MIDI file with no notes, dropped with a good file on each tab: the bad ones are named (the
    window's probe names the unreadable ones in one message, the tab what it finds on decoding),
    the good one opens, no traceback, the app keeps working."""
    win = main_window
    if key == "emotion":  # a small random model: this is about the drop path, not the shipped weights
        from test_emotion_helpers import random_model

        model = random_model(tmp_path / "rand.pt", arch="linear")
        win.tab_by_key["emotion"].model_name = lambda: str(model)
    win.tabs.setCurrentWidget(win.tab_by_key[key])
    good, bad = _bad_inputs(tmp_path)
    drop(win, [good, *bad.values()])
    _wait_all_idle(win)
    errors = [m for m, err in win.messages if err]
    text = "\n".join(errors)
    assert errors and "Traceback" not in text
    first = errors[0]  # the window's one message for what the probe could not read
    assert "zero.wav" in first and "empty" in first and "notes.mp3" in first
    assert len([m for m in errors if "zero.wav" in m]) == 1  # named once, not again by the tab
    assert "no notes.mid" in text  # the Composer names the MIDI file it cannot use
    routed = win.last_routed
    assert any(good in v for v in routed.values())
    tab = win.tab_by_key[key]
    if key == "live":
        assert tab.session.path == good and tab.session.result is not None
        assert any("one file at a time" in m and not err for m, err in win.messages)
    elif key == "stitcher":
        assert tab.pool is not None and any(str(good) == s.path for s in tab.pool.songs)
    elif key == "emotion":
        assert any(r["file"] == str(good) for r in tab.results)
    # the truncated MP3 either opened (what could be decoded of it) or is named in a message
    assert "truncated.mp3" in text or any(bad["truncated"] in v for v in routed.values())
    assert len(errors) <= 3 and win.isVisible()
