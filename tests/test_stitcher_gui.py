"""Stitcher tab: pool with a bad file, cutting, building, joins/alternatives/swap, export."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QObject, QSettings, Signal

from tests.test_stitcher_core import melody

pytest.importorskip("pyqtgraph")


class FakePlayer(QObject):
    position_changed = Signal(float)
    state_changed = Signal(str)

    def __init__(self):
        super().__init__()
        self.owner, self.label, self.played, self.seeks = None, "", [], []

    def play(self, samples=None, sr=0, label="", owner=None):
        self.played.append((label, None if samples is None else len(samples), sr))
        self.owner, self.label = owner, label
        return True

    def toggle(self):
        return True

    def stop(self):
        pass

    def seek(self, seconds):
        self.seeks.append(seconds)


@pytest.fixture
def tab(qtbot, tmp_path):
    from musiclab.gui.context import AppContext
    from musiclab.gui.tabs.stitcher import StitcherTab

    ctx = AppContext(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), FakePlayer())
    ctx.headless = True
    msgs = []
    ctx.message.connect(lambda text, err: msgs.append((text, err)))
    t = StitcherTab(ctx)
    t.msgs = msgs
    qtbot.addWidget(t)
    t.resize(1280, 800)
    t.show()
    yield t
    t.svc.shutdown()


def _songs(tmp_path):
    sf.write(tmp_path / "one.wav", melody(20, 1, 44100), 44100)
    sf.write(tmp_path / "two stereo.flac", np.stack([melody(16, 2, 32000)] * 2, 1), 32000)
    (tmp_path / "bad.mp3").write_bytes(b"\x00garbage" * 50)
    return [tmp_path / "one.wav", tmp_path / "two stereo.flac", tmp_path / "bad.mp3"]


def test_pool_build_swap_export(tab, qtbot, tmp_path):
    assert tab.key == "stitcher" and tab.title == "Stitcher"
    assert tab.playable_audio() is None
    tab.set_chunking("fixed:2")
    tab.open_files(_songs(tmp_path))
    qtbot.waitUntil(lambda: tab.pool is not None, timeout=30000)
    assert len(tab.pool.songs) == 2 and len(tab.pool.chunks) == 18
    assert any("bad.mp3" in m and err for m, err in tab.msgs)
    assert tab.song_list.count() == 2

    tab._play_chunk(3)
    assert tab.ctx.player.played[-1][1] == 2 * 22050
    tab.on_playback_position(0.5)  # the cursor runs in the song view while a chunk plays
    assert tab.song_view._cursor.value() == 3 * 2 + 0.5

    tab.scorer.setCurrentIndex(tab.scorer.findData("boundary"))
    tab.minutes.setValue(0.4)
    tab.crossfade.setValue(30)
    tab.build()
    qtbot.waitUntil(lambda: tab.built is not None, timeout=60000)
    y, sr, label = tab.playable_audio()
    assert sr == 22050 and len(y) >= 0.4 * 60 * sr - 1
    chain = tab.built.chain
    assert all(a != b for a, b in zip(chain.items, chain.items[1:]))

    tab._select_join(2)
    assert tab.alt_list.count() > 0
    tab.alt_list.setCurrentRow(0)
    alt = tab.alt_list.currentItem().data(0x0100)
    old = tab.built
    tab.swap_selected()
    qtbot.waitUntil(lambda: tab.built is not old, timeout=60000)
    assert tab.built.chain.items[:2] == old.chain.items[:2] and tab.built.chain.items[2] == alt

    tab._play_result()
    assert tab.ctx.player.played[-1][0] == "stitched song"
    tab.on_playback_position(3.0)
    assert tab.result_view._cursor.isVisible() and tab.result_view._cursor.value() == 3.0
    out = tab.export_to(str(tmp_path / "out.wav"))
    assert out is not None and out.exists() and (tmp_path / "out.csv").exists()
    info = sf.info(str(out))
    assert info.samplerate == 22050 and abs(info.frames - len(tab.built.rendered.y)) <= 1

    # recutting replaces the pool; adding only a broken file keeps it (with a message)
    pool = tab.pool
    tab.chunk_kind.setCurrentIndex(tab.chunk_kind.findData("fixed"))
    tab.chunk_value.setValue(1.0)
    tab.recut()
    qtbot.waitUntil(lambda: tab.pool is not pool, timeout=30000)
    assert len(tab.pool.songs) == 2 and len(tab.pool.chunks) == 36
    pool = tab.pool
    n_msgs = len(tab.msgs)
    (tmp_path / "bad2.ogg").write_bytes(b"junk" * 100)
    tab.open_files([tmp_path / "bad2.ogg"])
    qtbot.waitUntil(lambda: tab.pool is not pool, timeout=30000)
    assert len(tab.pool.songs) == 2 and any("bad2.ogg" in m for m, _e in tab.msgs[n_msgs:])
    assert tab.built is not None  # the built song survives


def test_train_in_background_with_loss_plot(tab, qtbot, tmp_path):
    tab.set_chunking("fixed:2")
    tab.open_files(_songs(tmp_path)[:2])
    qtbot.waitUntil(lambda: tab.pool is not None, timeout=30000)
    tab.train_steps.setValue(20)
    tab.train()
    qtbot.waitUntil(lambda: tab.model_path is not None, timeout=90000)
    assert len(tab._loss) >= 2
    assert tab.scorer.currentData() == "edge"
    tab.minutes.setValue(0.2)
    tab.build()
    qtbot.waitUntil(lambda: tab.built is not None, timeout=60000)
    tab.grab().save(str(tmp_path / "stitcher.png"))
