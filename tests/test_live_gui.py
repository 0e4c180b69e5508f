"""The Live tab, offscreen, with an injected FakeSource (no PortAudio, no display)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QSettings

from musiclab.audio.io import save_audio
from musiclab.audio.sources import FakeSource
from musiclab.gui.tabs.live import LiveTab
from conftest import tab_context  # noqa: E402

SR = 48000


@pytest.fixture
def tab(qtbot, tmp_path):
    ctx = tab_context(tmp_path)
    ctx.messages = []
    ctx.message.connect(lambda text, err: ctx.messages.append((text, err)))
    # stand in for the main window, which reports every failed job once
    ctx.service_added.connect(lambda svc: svc.error.connect(lambda rid, msg: ctx.notify(msg, error=True)))
    t = LiveTab(ctx)
    qtbot.addWidget(t)
    t.resize(1280, 800)
    yield t
    t.shutdown()
    for s in ctx.services:
        s.shutdown()


def _sine(freq=440.0, seconds=4.0, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _run(tab, src, blocks):
    for _ in range(blocks):
        src.pump(2)
        tab._tick()


def test_live_views_fill_from_fake_source_and_readout(tab):
    assert tab.key == "live" and tab.title == "Live"
    src = FakeSource(_sine(), SR, block=512)
    tab.set_source(src, start=False)
    _run(tab, src, 150)
    assert tab.first_render_done()
    s = tab.session.scroll
    assert s.frames > 200
    chroma = s.image("chroma")[:, -50:].mean(axis=1)
    assert int(np.argmax(chroma)) == 9  # A
    img = tab.views.images["stft"].image
    assert img.dtype == np.float32 and img.shape == (1024, s.columns)
    text = tab.views.readout("stft", -0.5, 440.0)
    assert "440.0 Hz" in text and "A4" in text and "dB" in text
    db = float(text.split("dB")[0].split()[-1])
    assert db > -20  # the sine is there, near full scale (0.5 -> about -6 dBFS)
    assert "pitch class A" in tab.views.readout("chroma", -0.5, 9.5)


def test_freeze_holds_picture_and_params_apply_live(tab):
    src = FakeSource(_sine(), SR, block=512, loop=True)
    tab.set_source(src, start=False)
    _run(tab, src, 20)
    frames = tab.session.scroll.frames
    tab.freeze_btn.setChecked(True)
    _run(tab, src, 20)
    assert tab.session.scroll.frames == frames
    tab.freeze_btn.setChecked(False)
    tab.nfft_box.setCurrentIndex(tab.nfft_box.findData(4096))
    tab.overlap_box.setCurrentIndex(tab.overlap_box.findData(0.75))
    assert tab.hop_spin.value() == 1024
    tab.window_box.setCurrentIndex(tab.window_box.findData("blackman"))
    tab.scale_box.setCurrentIndex(tab.scale_box.findData("log"))
    _run(tab, src, 40)
    p = tab.session.engine.params
    assert (p.n_fft, p.hop, p.window) == (4096, 1024, "blackman")
    assert tab.session.scroll.mapper.scale == "log"
    assert "A4" in tab.views.readout("stft", -0.2, np.log10(440.0))


def test_device_failure_stops_cleanly_and_another_source_recovers(tab):
    src = FakeSource(_sine(), SR, block=512, fail_after=30)
    tab.set_source(src, start=False)
    _run(tab, src, 20)
    assert tab.session.engine is None and not tab._timer.isActive()
    assert any("disappeared" in m and err for m, err in tab.ctx.messages)
    assert "disappeared" in tab.source_msg.text()
    src2 = FakeSource(_sine(261.63), SR, block=512)
    tab.set_source(src2, start=False)
    _run(tab, src2, 30)
    assert tab.session.engine is not None and tab.session.scroll.frames > 0


def test_no_device_message_instead_of_crash(tab):
    tab.mode_box.setCurrentIndex(tab.mode_box.findData("device"))
    tab.refresh_devices()
    tab.start_btn.click()  # no PortAudio on the test machine
    assert tab.session.engine is None
    assert tab.source_msg.text()


def test_whole_file_playing_file_export_and_settings(tab, qtbot, tmp_path):
    path = tmp_path / "tone 'A'.wav"
    save_audio(path, _sine(seconds=3.0, sr=22050), 22050)
    tab.open_files([path])
    assert tab.mode() == "file"
    qtbot.waitUntil(lambda: tab.session.result is not None, timeout=60000)
    a = tab.session.result
    assert a.duration == pytest.approx(3.0, abs=0.01)
    assert tab.views.mode == "file"
    y, sr, label = tab.playable_audio()
    assert sr == 22050 and label == path.name
    tab.on_playback_position(1.0)  # whole-file view: a playhead line
    for name in ("view.png", "f.mel.npy", "f.chroma.csv", "f.stft.npy"):
        out = tab.export_to(tmp_path / name)
        assert out.exists() and out.stat().st_size > 0
    assert np.load(tmp_path / "f.mel.npy").shape == (128, a.analysis.mel.shape[0])
    header = (tmp_path / "f.chroma.csv").read_text().splitlines()[0]
    assert header == "time_s,C,C#,D,D#,E,F,F#,G,G#,A,A#,B"
    # playing file: the view follows the transport's position
    tab.mode_box.setCurrentIndex(tab.mode_box.findData("playing"))
    for i in range(1, 40):
        tab.on_playback_position(i * 0.05)
        tab._tick()
    assert tab.session.scroll.frames > 20
    tab.on_playback_position(0.2)  # seek back: restarts cleanly
    tab._tick()
    # settings round trip
    tab.mels_spin.setValue(64)
    tab.cmap_box.setCurrentIndex(tab.cmap_box.findData("viridis"))
    tab.view_checks["wave"].setChecked(False)
    st = QSettings(str(tmp_path / "x.ini"), QSettings.IniFormat)
    tab.save_settings(st)
    other = LiveTab(tab.ctx)
    other.restore_settings(st)
    assert other.mels_spin.value() == 64 and other.cmap_box.currentData() == "viridis"
    assert not other.view_checks["wave"].isChecked()
    other.shutdown()


def test_bad_file_is_reported(tab, qtbot, tmp_path):
    bad = tmp_path / "broken.ogg"
    bad.write_bytes(b"OggS garbage")
    tab.open_files([bad])
    qtbot.waitUntil(lambda: bool(tab.ctx.messages), timeout=20000)
    assert tab.ctx.messages and tab.ctx.messages[-1][1] is True
    assert "broken.ogg" in tab.ctx.messages[-1][0]
    assert tab.playable_audio() is None


def test_pitch_class_labels_never_overlap(qtbot):
    """E/F and B/C are one semitone apart: short chroma views label fewer notes."""
    from musiclab.gui.widgets.live_views import LiveViews

    v = LiveViews()
    qtbot.addWidget(v)
    v.set_visible_views({"stft": False, "mel": False, "chroma": True, "beat": False, "wave": False})
    seen = set()
    for h in (900, 260, 170, 110):
        v.resize(800, h)
        v.show()
        qtbot.wait(50)
        vb = v.plots["chroma"].getViewBox()
        px = vb.height() / 12
        major = v.plots["chroma"].getAxis("left")._tickLevels[0]
        pos = sorted(p for p, _ in major)
        gaps = [b - a for a, b in zip(pos, pos[1:])]
        assert not gaps or min(gaps) * px >= 12, (h, px, major)  # at least one text line between labels
        assert ("F" in [n for _, n in major]) == (px >= 13), (h, px, major)
        seen.add(len(major))
    assert len(seen) >= 2  # the labels did adapt


# -- issue 19: what a new user meets -------------------------------------------------------
def test_empty_views_show_sensible_axes_before_any_file(tab):
    v = tab.views
    tab.show()
    (x0, x1), (y0, y1) = v.plots["stft"].vb.viewRange()
    assert (x0, x1) == pytest.approx((-10.0, 0.0))  # the history, to now
    assert (y0, y1) == pytest.approx((0.0, 24000.0))  # 0 … Nyquist of the 48 kHz live rate
    assert v.plots["mel"].vb.viewRange()[1] == pytest.approx([0.0, 128.0])
    assert v.plots["chroma"].vb.viewRange()[1] == pytest.approx([0.0, 12.0])
    for key, plot in v.plots.items():
        for side in ("left", "bottom"):
            ax = plot.getAxis(side)
            assert "x0.001" not in ax.labelString() and "(k" not in ax.labelString(), (key, side)
    ticks = v._axes["stft"].tickStrings([0.0, 12000.0, 24000.0], 1.0, 12000.0)
    assert ticks == ["0", "12k", "24k"]
    mel = [t for _, t in v.plots["mel"].getAxis("left")._tickLevels[0]]
    assert mel and set(mel) <= {"20k", "10k", "5k", "2k", "1k", "500", "200", "100", "50"}, mel  # round Hz
    tab.history_spin.setValue(20)
    assert v.plots["stft"].vb.viewRange()[0] == pytest.approx([-20.0, 0.0])


def test_overlap_reads_75_percent_from_the_start(tab, tmp_path):
    assert (tab.nfft_box.currentData(), tab.hop_spin.value()) == (2048, 512)
    assert tab.overlap_box.currentText() == "75 %"
    tab.hop_spin.setValue(500)
    assert tab.overlap_box.currentText() == "custom"
    tab.hop_spin.setValue(256)
    assert tab.overlap_box.currentText() == "87.5 %"
    st = QSettings(str(tmp_path / "o.ini"), QSettings.IniFormat)
    tab.save_settings(st)
    other = LiveTab(tab.ctx)
    other.restore_settings(st)
    assert other.hop_spin.value() == 256 and other.overlap_box.currentText() == "87.5 %"
    other.shutdown()


def _lines(v, key="stft") -> int:
    x = v._beat_lines[key].getData()[0]
    return 0 if x is None else len(x) // 2


def test_beat_lines_toggle_and_thin_out_when_dense(tab):
    v = tab.views
    tab.show()
    v.set_freq_axes("linear", 0.0, 11025.0, np.linspace(50, 11000, 128), 1024, np.linspace(0, 11025, 1025))
    beats = np.arange(566) * (360.0 / 566)  # a 6-minute song
    v.plots["stft"].vb.setLimits(xMin=0, xMax=360)
    v.plots["stft"].setXRange(0, 360, padding=0)
    v.set_beats(beats)
    assert v.beat_step >= 4 and 0 < _lines(v) <= 566 // 4 + 1  # bar lines (or sparser), not 566 lines
    v.plots["stft"].setXRange(100, 110, padding=0)  # zoomed in: every beat
    assert v.beat_step == 1 and _lines(v) == 566
    tab.beats_check.setChecked(False)  # the toggle
    assert _lines(v) == 0 and _lines(v, "chroma") == 0
    tab.beats_check.setChecked(True)
    assert _lines(v) == 566


def test_a_48k_file_is_analysed_at_its_own_rate(tab, qtbot, tmp_path):
    sr = 48000
    path = tmp_path / "high.wav"
    save_audio(path, _sine(15000.0, seconds=2.0, sr=sr), sr)
    tab.open_files([path])
    qtbot.waitUntil(lambda: tab.session.result is not None and tab.views.mode == "file", timeout=60000)
    r = tab.session.result
    assert r.sr == 48000 and tab.playable_audio()[1] == 48000
    assert tab.views.plots["stft"].vb.viewRange()[1][1] == pytest.approx(24000.0)
    text = tab.views.readout("stft", 1.0, 15000.0)
    assert "15,000.0 Hz" in text and float(text.split("dB")[0].split()[-1]) > -20
    # a lower rate when the user asks for it (faster); no second decode
    decoded = tab.session.audio
    tab.rate_box.setCurrentIndex(tab.rate_box.findData(22050))
    qtbot.waitUntil(lambda: tab.session.result.sr == 22050, timeout=60000)
    assert tab.session.audio is decoded
    assert "22050 Hz" in tab.source_msg.text() or "22,050" in tab.source_msg.text() or "11" in tab.source_msg.text()


def _wheel(widget, dy=120) -> bool:
    """Send a wheel event; True when the widget took it (an ignored one goes on to the
    scroll area around it: Qt propagates real wheel events to the parent, not sent ones)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(), QPoint(0, dy), Qt.NoButton,
                     Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)
    return ev.isAccepted()


def test_the_wheel_scrolls_the_panel_and_changes_only_a_focused_box(tab, qtbot):
    from PySide6.QtCore import Qt

    tab.resize(1280, 500)  # the panel is taller than the window: it scrolls
    tab.show()
    qtbot.waitExposed(tab)
    tab.activateWindow()
    qtbot.waitUntil(tab.isActiveWindow, timeout=5000)
    bar = tab.settings_panel.verticalScrollBar()
    assert bar.maximum() > 0
    for w in (tab.dbmin_spin, tab.hop_spin, tab.nfft_box, tab.cmap_box, tab.mode_box, tab.history_spin):
        assert w.focusPolicy() == Qt.StrongFocus
    before = (tab.dbmin_spin.value(), tab.nfft_box.currentIndex(), tab.cmap_box.currentIndex())
    assert not _wheel(tab.dbmin_spin, -120)  # not focused: ignored, so the panel scrolls
    assert not _wheel(tab.nfft_box, -120)
    assert not _wheel(tab.cmap_box, -120)
    assert (tab.dbmin_spin.value(), tab.nfft_box.currentIndex(), tab.cmap_box.currentIndex()) == before
    # the ignored event reaches the scroll area, which scrolls
    _wheel(tab.settings_panel.viewport(), -120)
    assert bar.value() > 0
    tab.dbmin_spin.setFocus()
    qtbot.waitUntil(tab.dbmin_spin.hasFocus, timeout=3000)
    assert _wheel(tab.dbmin_spin, 120)
    assert tab.dbmin_spin.value() != before[0]  # focused: the wheel changes it


def test_chroma_labels_all_twelve_when_there_is_room(tab, qtbot):
    from musiclab.analysis.streaming import NOTE_NAMES

    tab.resize(1280, 800)
    tab.show()
    qtbot.waitExposed(tab)
    qtbot.wait(50)
    vb = tab.views.plots["chroma"].getViewBox()
    assert vb.height() / 12 >= 13, vb.height()  # a normal window leaves room for twelve
    major = tab.views.plots["chroma"].getAxis("left")._tickLevels[0]
    assert [n for _, n in major] == list(NOTE_NAMES)


def test_a_file_that_failed_to_open_is_not_in_open_recent(main_window, qtbot, tmp_path):
    main_window.tabs.setCurrentWidget(main_window.tab_by_key["live"])
    bad = tmp_path / "broken.ogg"
    bad.write_bytes(b"OggS garbage")
    job = main_window.open_paths([bad])
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert any("broken.ogg" in m and err for m, err in main_window.messages)
    assert str(bad) not in main_window.recent_files()
    good = tmp_path / "good.wav"
    save_audio(good, _sine(seconds=1.0, sr=22050), 22050)
    job = main_window.open_paths([good])
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert main_window.recent_files()[0] == str(good)
    live = main_window.tab_by_key["live"]
    qtbot.waitUntil(lambda: live.session.result is not None, timeout=60000)
    assert str(bad) not in main_window.recent_files()


def test_a_restart_restores_the_mode_and_the_file(tab, qtbot, tmp_path):
    """Issue 19: the Live mode and the open file survive a restart (the path, decoded again in
    a job); "playing" follows the transport again once the file is decoded."""
    path = tmp_path / "restored tone.wav"
    save_audio(path, _sine(seconds=2.0, sr=22050), 22050)
    tab.open_files([path])
    qtbot.waitUntil(lambda: tab.session.result is not None, timeout=60000)
    for mode in ("file", "playing"):
        tab.mode_box.setCurrentIndex(tab.mode_box.findData(mode))
        st = QSettings(str(tmp_path / f"{mode}.ini"), QSettings.IniFormat)
        tab.save_settings(st)
        assert st.value("file") == str(path)
        other = LiveTab(tab.ctx)
        qtbot.addWidget(other)
        other.restore_settings(st)
        assert other.mode() == mode and other.session.path == path
        assert other.session.result is None  # not decoded during the restore: a job does it
        qtbot.waitUntil(lambda o=other: o.session.result is not None, timeout=60000)
        assert other.playable_audio()[2] == path.name
        if mode == "file":
            assert other.views.mode == "file"
        else:
            from musiclab.audio.sources import FileSource

            qtbot.waitUntil(lambda o=other: isinstance(o._source, FileSource), timeout=5000)
        other.shutdown()
    # a live mode keeps its mode; the file comes back, analysed once a file view is chosen
    tab.mode_box.setCurrentIndex(tab.mode_box.findData("test"))
    st = QSettings(str(tmp_path / "test.ini"), QSettings.IniFormat)
    tab.save_settings(st)
    live = LiveTab(tab.ctx)
    qtbot.addWidget(live)
    live.restore_settings(st)
    assert live.mode() == "test" and live.session.path == path and live.session.result is None
    live.mode_box.setCurrentIndex(live.mode_box.findData("file"))
    qtbot.waitUntil(lambda: live.session.result is not None, timeout=60000)
    live.shutdown()
    # a file that is gone: a note, and the whole-file mode falls back to the default source
    path.unlink()
    st = QSettings(str(tmp_path / "file.ini"), QSettings.IniFormat)
    third = LiveTab(tab.ctx)
    qtbot.addWidget(third)
    third.restore_settings(st)
    assert third.session.path is None and "gone" in third.source_msg.text() and third.mode() != "file"
    third.shutdown()


def test_a_file_that_failed_is_not_restored(tab, qtbot, tmp_path):
    bad = tmp_path / "broken.ogg"
    bad.write_bytes(b"OggS garbage")
    tab.open_files([bad])
    qtbot.waitUntil(lambda: bool(tab.ctx.messages), timeout=20000)
    st = QSettings(str(tmp_path / "bad.ini"), QSettings.IniFormat)
    tab.save_settings(st)
    assert st.value("file") == ""
