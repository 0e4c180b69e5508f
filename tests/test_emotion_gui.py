"""Emotion tab: analyse files (one broken), table/plane/timeline, CSV export, playable audio,
evaluation on a labelled folder, training with per-epoch records, settings."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QObject, QSettings, Signal

pytest.importorskip("pyqtgraph")

from musiclab.audio.io import save_audio  # noqa: E402

from test_emotion_helpers import SR, make_labelled_folder, random_model, tone  # noqa: E402


class FakePlayer(QObject):
    position_changed = Signal(float)
    state_changed = Signal(str)

    def __init__(self):
        super().__init__()
        self.seeks = []

    def play(self, samples=None, sr=0, label="", owner=None):
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
    from musiclab.gui.tabs.emotion import EmotionTab

    ctx = AppContext(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), FakePlayer())
    ctx.headless = True
    msgs = []
    ctx.message.connect(lambda text, err: msgs.append((text, err)))
    t = EmotionTab(ctx)
    t.messages = msgs
    qtbot.addWidget(t)
    t.resize(1280, 800)
    # a random-weight model keeps this test independent of the shipped weights
    model = random_model(tmp_path / "rand.pt")
    t.model_name = lambda: str(model)
    yield t
    for s in ctx.services:
        s.shutdown()


def _wait_idle(qtbot, t, timeout=90000):
    qtbot.waitUntil(lambda: not t._jobs, timeout=timeout)


def test_analyse_export_play_and_bad_file(tab, qtbot, tmp_path):
    save_audio(tmp_path / "happy song's take.wav", tone(0, 12.0), SR)
    save_audio(tmp_path / "quiet.wav", tone(2, 3.0), SR)
    (tmp_path / "broken.mp3").write_bytes(b"ID3" + b"\x00" * 100)
    tab.open_files([tmp_path / "happy song's take.wav", tmp_path / "broken.mp3", tmp_path / "quiet.wav"])
    _wait_idle(qtbot, tab)
    assert tab.table.rowCount() == 2
    assert any("broken.mp3" in m and err for m, err in tab.messages)
    # sorting by valence keeps rows consistent with results
    tab.table.sortItems(3)
    idx = tab.table.item(0, 0).data(0x0100)
    vals = sorted(r["valence"] for r in tab.results)
    assert tab.results[idx]["valence"] == pytest.approx(vals[0])
    tab._select_result(0)
    y, sr, label = tab.playable_audio()
    assert sr == SR and len(y) == 12 * SR and "happy" in label
    tab.on_playback_position(3.0)
    tab._seek(4.0)
    assert tab.ctx.player.seeks == [4.0]
    out = tab.export_csv(tmp_path / "out.csv")
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 2 and {"file", "quadrant", "valence", "arousal", "uncertainty", "p_q1"} <= set(rows[0])
    assert abs(sum(float(rows[0][f"p_q{i}"]) for i in range(1, 5)) - 1) < 1e-2
    img = tab.grab()
    assert not img.isNull()


def test_evaluate_and_train_pages(tab, qtbot, tmp_path):
    root = make_labelled_folder(tmp_path / "set", per_class=2, seconds=3.0)
    rid = tab.start_evaluation(str(root))
    assert rid
    _wait_idle(qtbot, tab)
    ev = tab.last_eval
    assert ev["clips"] == 8 and np.array(ev["confusion"]).sum() == 8
    assert set(ev["roc"]) == {"Q1", "Q2", "Q3", "Q4"}
    assert tab.class_table.item(0, 0) is not None
    tab.arch_box.setCurrentText("crnn")
    tab.epochs.setValue(2)
    tab.val_frac.setValue(0.25)
    tab.out_name.setText("tiny-test-model")
    rid = tab.start_training([str(root)])
    assert rid
    _wait_idle(qtbot, tab, timeout=120000)
    assert tab.epoch_table.rowCount() == 2
    assert tab.last_train is not None and tab.last_train["out"].endswith("tiny-test-model.pt")
    assert tab.model_box.findText("tiny-test-model") >= 0


def test_settings_roundtrip(tab, tmp_path):
    s = QSettings(str(tmp_path / "x.ini"), QSettings.IniFormat)
    tab.eval_path.setText("/some/folder")
    tab.arch_box.setCurrentText("linear")
    tab.save_settings(s)
    tab.eval_path.setText("")
    tab.arch_box.setCurrentText("ensemble")
    tab.restore_settings(s)
    assert tab.eval_path.text() == "/some/folder" and tab.arch_box.currentText() == "linear"
