"""A/B (issue 18, item 5): the two sides' spectrograms on one dB reference, where playback goes
on when switching, which audio each side of a Composer result and of a stitched song is; the
view's one transport switching A ⇄ B at the same position (an injected output, no sound card),
each side's emotion rated in a job (or a note without a model); the Composer's and the
Stitcher's A/B buttons."""

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import FakeOutputStream, tab_context
from test_composer_gui import fake_result, tab  # noqa: F401 - the Composer tab fixture

SLOW = 180000


def sine(f, seconds, sr=22050, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_spectrograms_share_one_reference():
    from musiclab.analysis.compare import FLOOR_DB, item, spectrograms

    a = item("loud", sine(440, 2.0), 22050, "A")
    b = item("quiet", sine(440, 3.0, sr=44100, amp=0.05), 44100, "B")  # 20 dB lower, another rate
    sa, sb = spectrograms([a, b])
    assert sa.image.dtype == np.float32 and sa.image.flags.c_contiguous
    assert sa.image.max() == pytest.approx(0.0, abs=0.01) and sa.image.min() >= FLOOR_DB
    assert sb.image.max() == pytest.approx(-20.0, abs=1.5)  # quieter side looks quieter
    assert sb.frames > sa.frames and sb.duration == pytest.approx(3.0)
    for sp, f in ((sa, 440), (sb, 440)):  # the loudest band holds the tone
        band = int(np.argmax(sp.image[:, sp.frames // 2]))
        assert abs(np.log2(sp.band_hz[band] / f)) < 0.25
    with pytest.raises(Exception, match="no audio"):
        item("nothing", np.zeros(0), 22050)


def test_switch_position_and_the_two_sides():
    from musiclab.analysis.compare import composer_pair, stitcher_pair, switch_position

    assert switch_position(3.0, 10.0) == 3.0
    assert switch_position(12.0, 10.0) == pytest.approx(9.95)  # a shorter side: just before its end
    assert switch_position(-1.0, 10.0) == 0.0 and switch_position(1.0, 0.0) == 0.0
    res = fake_result(seconds=6.0)
    res.primer = [((60,), "C4", "1.0", "0.0"), ((62,), "D4", "1.0", "1.0")]
    res.events = [((64,), "E4", "1.0", "2.0"), ((65,), "F4", "1.0", "1.0")]  # continuation at quarter 3: 1.5 s
    res.audio = np.arange(int(44100 * 6.0), dtype=np.float32) / 1e6
    a, b = composer_pair(res, 44100)
    assert a.role == "primer (rendered)" and b.role == "continuation"
    assert len(a.y) == int(1.5 * 44100) and np.array_equal(b.y, res.audio[len(a.y):])
    # a primer transcribed from a recording: A is the recording up to where the continuation starts
    tr = SimpleNamespace(audio=np.full(44100 * 4, 0.25, np.float32), events=list(res.primer), quarters_per_beat=1.0,
                         origin_beats=0.5, beats=[0.25 + 0.5 * k for k in range(8)], beat_tempo=120.0,
                         name="hum.wav (transcribed)")
    a2, b2 = composer_pair(res, 44100, tr)
    assert a2.role == "original recording" and a2.name == "hum.wav"
    assert len(a2.y) == int(round(2.0 * 44100)) and np.all(a2.y == 0.25)  # beat 3.5 of the grid: 0.25 + 1.75 s
    res.primer = []
    with pytest.raises(Exception, match="from scratch"):
        composer_pair(res, 44100)
    # a stitched song: the selected source song when it is used, else the one used most
    songs = [SimpleNamespace(name=f"song {k}", y=sine(200 * (k + 1), 2.0), sr=22050) for k in range(3)]
    chunks = [SimpleNamespace(song=s) for s in (0, 1, 1, 2)]
    built = SimpleNamespace(pool=SimpleNamespace(songs=songs, chunks=chunks), chain=SimpleNamespace(items=[1, 2, 3]),
                            rendered=SimpleNamespace(y=sine(300, 3.0), sr=22050))
    a3, b3 = stitcher_pair(built)
    assert a3.name == "song 1" and b3.role == "stitched song" and "3 chunks from 2 song(s)" in b3.name
    assert stitcher_pair(built, 2)[0].name == "song 2" and stitcher_pair(built, 0)[0].name == "song 1"


@pytest.fixture
def view(qtbot, tmp_path):
    from musiclab.audio.playback import Player
    from musiclab.gui.player import PlayerController
    from musiclab.gui.services.base import ModelService
    from musiclab.gui.widgets.ab_compare import ABCompareView

    FakeOutputStream.instances.clear()
    player = PlayerController(Player(stream_factory=FakeOutputStream))
    svc = ModelService("ab-test")
    v = ABCompareView(player, svc, emotion_model="no-such-emotion-model")
    qtbot.addWidget(v)
    v.resize(1100, 600)
    v.show()
    yield v
    svc.shutdown()


def test_one_transport_switches_at_the_same_position(view, qtbot):
    from musiclab.analysis.compare import item

    sr = 1000
    a = item("ramp", np.linspace(0, 0.5, 4 * sr).astype(np.float32), sr, "primer")
    b = item("negative ramp", -np.linspace(0, 0.5, 3 * sr).astype(np.float32), sr, "continuation")
    jobs = view.set_items(a, b)
    qtbot.waitUntil(lambda: all(j.done for j in jobs), timeout=SLOW)
    assert all(j.state == "done" for j in jobs), [j.message for j in jobs]
    assert view.sides["A"].spectrogram is not None and view.sides["B"].spectrogram.duration == pytest.approx(3.0)
    assert "Not rated" in view.sides["A"].note.text() and "No Emotion model" in view.sides["B"].note.text()
    view.toggle_play()
    p = view.player
    assert p.owner is view and p.state == "playing" and "A/B A" in p.label
    out = FakeOutputStream.instances[-1].pull(1500)
    assert np.allclose(out[:, 0], a.y[:1500]) and p.position == pytest.approx(1.5)
    view.switch_to("B")  # playing on, from 1.5 s of B
    assert view.active == "B" and p.state == "playing" and "A/B B" in p.label
    assert p.position == pytest.approx(1.5)
    out = FakeOutputStream.instances[-1].pull(500)
    assert np.allclose(out[:, 0], b.y[1500:2000])
    p._poll()  # the controller's timer: position_changed moves the cursor and the label
    assert "0:02.0 / 0:03.0" in view.pos_label.text()
    assert view.sides["B"].spec_cursor.isVisible() and not view.sides["A"].spec_cursor.isVisible()
    view.toggle_play()  # pause; a switch keeps it paused, at the same place
    assert p.state == "paused"
    view.switch_to("A")
    assert p.state != "playing" and "A/B A" in p.label and p.position == pytest.approx(2.0)
    view.toggle_play()  # on from there, in A
    out = FakeOutputStream.instances[-1].pull(100)
    assert p.state == "playing" and np.allclose(out[:, 0], a.y[2000:2100])
    view.toggle_play()
    view.seek(3.99)
    view.switch_to("B")  # B is shorter: just before its end
    assert p.position == pytest.approx(2.95)
    view.stop()
    assert p.state == "stopped"


def test_each_side_is_rated_with_the_emotion_model(view, qtbot):
    from musiclab.analysis.compare import item

    view.emotion_model = "default"
    jobs = view.set_items(item("low", sine(110, 6.0), 22050, "A"), item("high", sine(880, 6.0), 22050, "B"))
    qtbot.waitUntil(lambda: all(j.done for j in jobs), timeout=SLOW)
    for key in "AB":
        r = view.sides[key].rating
        assert r is not None and r["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and r["segments"]
        assert "predicted" in view.sides[key].note.text()


def test_composer_ab_button(tab, qtbot):  # noqa: F811
    res = fake_result(seconds=5.0)
    tab.result = res
    tab.playable_changed.emit()
    assert not tab.view.ab_btn.isEnabled()  # from scratch: nothing to compare with
    assert tab.compare_ab() is None and any("from scratch" in t for t, _e in tab.ctx.log)
    res = fake_result(seconds=5.0)
    res.primer = [((60,), "C4", "2.0", "0.0")]
    res.events = [((64,), "E4", "1.0", "2.0")]
    tab.result = res
    tab.playable_changed.emit()
    assert tab.view.ab_btn.isEnabled()
    dlg = tab.compare_ab()
    assert dlg is not None and dlg.isVisible()
    items = dlg.view.items
    assert items["A"].role == "primer (rendered)" and items["A"].duration == pytest.approx(1.0)
    assert items["B"].duration == pytest.approx(4.0)
    assert tab.compare_ab() is dlg  # one window per tab, reused
    qtbot.waitUntil(lambda: all(j.done for j in dlg.view.jobs), timeout=SLOW)
    dlg.close()


def test_stitcher_ab_button(qtbot, tmp_path):
    from musiclab.gui.tabs.stitcher import StitcherTab

    ctx = tab_context(tmp_path)
    t = StitcherTab(ctx)
    qtbot.addWidget(t)
    assert not t.seams_panel.btn_ab.isEnabled()  # nothing built
    assert t.compare_ab() is None
    songs = [SimpleNamespace(name=f"song {k}", y=sine(200 * (k + 1), 2.0), sr=22050) for k in range(2)]
    t.built = SimpleNamespace(pool=SimpleNamespace(songs=songs, chunks=[SimpleNamespace(song=0), SimpleNamespace(song=1),
                                                                        SimpleNamespace(song=1)]),
                              chain=SimpleNamespace(items=[0, 1, 2]), rendered=SimpleNamespace(y=sine(300, 3.0), sr=22050))
    t._update_buttons()
    assert t.seams_panel.btn_ab.isEnabled()
    dlg = t.compare_ab()
    assert dlg.view.items["A"].name == "song 1" and dlg.view.items["B"].role == "stitched song"
    qtbot.waitUntil(lambda: all(j.done for j in dlg.view.jobs), timeout=SLOW)
    dlg.close()
    for s in ctx.services:
        s.shutdown()
