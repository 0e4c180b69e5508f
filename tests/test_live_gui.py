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
    s = tab._scroll
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
    frames = tab._scroll.frames
    tab.freeze_btn.setChecked(True)
    _run(tab, src, 20)
    assert tab._scroll.frames == frames
    tab.freeze_btn.setChecked(False)
    tab.nfft_box.setCurrentIndex(tab.nfft_box.findData(4096))
    tab.overlap_box.setCurrentIndex(tab.overlap_box.findData(0.75))
    assert tab.hop_spin.value() == 1024
    tab.window_box.setCurrentIndex(tab.window_box.findData("blackman"))
    tab.scale_box.setCurrentIndex(tab.scale_box.findData("log"))
    _run(tab, src, 40)
    p = tab._engine.params
    assert (p.n_fft, p.hop, p.window) == (4096, 1024, "blackman")
    assert tab._scroll.mapper.scale == "log"
    assert "A4" in tab.views.readout("stft", -0.2, np.log10(440.0))


def test_device_failure_stops_cleanly_and_another_source_recovers(tab):
    src = FakeSource(_sine(), SR, block=512, fail_after=30)
    tab.set_source(src, start=False)
    _run(tab, src, 20)
    assert tab._engine is None and not tab._timer.isActive()
    assert any("disappeared" in m and err for m, err in tab.ctx.messages)
    assert "disappeared" in tab.source_msg.text()
    src2 = FakeSource(_sine(261.63), SR, block=512)
    tab.set_source(src2, start=False)
    _run(tab, src2, 30)
    assert tab._engine is not None and tab._scroll.frames > 0


def test_no_device_message_instead_of_crash(tab):
    tab.mode_box.setCurrentIndex(tab.mode_box.findData("device"))
    tab.refresh_devices()
    tab.start_btn.click()  # no PortAudio on the test machine
    assert tab._engine is None
    assert tab.source_msg.text()


def test_whole_file_playing_file_export_and_settings(tab, qtbot, tmp_path):
    path = tmp_path / "tone 'A'.wav"
    save_audio(path, _sine(seconds=3.0, sr=22050), 22050)
    tab.open_files([path])
    assert tab.mode() == "file"
    qtbot.waitUntil(lambda: tab._analysis is not None, timeout=60000)
    a = tab._analysis
    assert a.duration == pytest.approx(3.0, abs=0.01)
    assert tab.views.mode == "file"
    y, sr, label = tab.playable_audio()
    assert sr == 22050 and label == path.name
    tab.on_playback_position(1.0)  # whole-file view: a playhead line
    for name in ("view.png", "f.mel.npy", "f.chroma.csv", "f.stft.npy"):
        out = tab.export_to(tmp_path / name)
        assert out.exists() and out.stat().st_size > 0
    assert np.load(tmp_path / "f.mel.npy").shape == (128, a.mel.shape[0])
    header = (tmp_path / "f.chroma.csv").read_text().splitlines()[0]
    assert header == "time_s,C,C#,D,D#,E,F,F#,G,G#,A,A#,B"
    # playing file: the view follows the transport's position
    tab.mode_box.setCurrentIndex(tab.mode_box.findData("playing"))
    for i in range(1, 40):
        tab.on_playback_position(i * 0.05)
        tab._tick()
    assert tab._scroll.frames > 20
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
