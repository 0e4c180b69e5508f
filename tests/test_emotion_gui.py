"""Emotion tab: analyse files (one broken), table/plane/timeline, CSV export, playable audio,
evaluation on a labelled folder, training with per-epoch records, settings."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PySide6.QtCore import QSettings

pytest.importorskip("pyqtgraph")

from musiclab.audio.io import save_audio  # noqa: E402

from test_emotion_helpers import SR, make_labelled_folder, random_model, tone  # noqa: E402
from conftest import tab_context  # noqa: E402


@pytest.fixture
def tab(qtbot, tmp_path):
    from musiclab.gui.tabs.emotion import EmotionTab

    ctx = tab_context(tmp_path)
    t = EmotionTab(ctx)
    t.messages = ctx.log
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
    # per-class numbers with 3 decimals, clip counts per quadrant, no empty "skipped" box
    assert re.fullmatch(r"\d\.\d{3}|n/a", tab.class_table.item(0, 0).text())
    assert [tab.class_table.item(i, 4).text() for i in range(4)] == ["2", "2", "2", "2"]
    assert not tab.skipped.isVisibleTo(tab)
    # how sure the model was, set against how often it was right
    assert 0.25 <= ev["mean_confidence"] <= 1 and ev["log_loss"] > 0
    assert f"mean top probability {ev['mean_confidence']:.3f} against accuracy {ev['accuracy']:.3f}" in \
        tab.eval_summary.text()
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
    # the default's design (regressions on the two musicnn networks) trains from the page too: no epochs,
    # the validation result is reported
    tab.arch_box.setCurrentText("ensemble")
    tab.out_name.setText("tiny-ensemble")
    assert tab.start_training([str(root)])
    _wait_idle(qtbot, tab, timeout=120000)
    assert set(tab.last_train["settings"]) == {"musicnn", "musicnn-mtt"}
    assert 0.25 <= tab.last_train["calibration"]["temperature"] <= 4.0  # calibrated on the training clips
    assert tab.last_train["out"].endswith("tiny-ensemble.pt") and tab.model_box.findText("tiny-ensemble") >= 0
    assert re.search(r"validation on (1 clip|\d+ clips) of unseen artists: accuracy \d\.\d{3}", tab.train_log.text())


def test_settings_roundtrip(tab, tmp_path):
    s = QSettings(str(tmp_path / "x.ini"), QSettings.IniFormat)
    tab.eval_path.setText("/some/folder")
    tab.arch_box.setCurrentText("linear")
    tab.save_settings(s)
    tab.eval_path.setText("")
    tab.arch_box.setCurrentText("ensemble")
    tab.restore_settings(s)
    assert tab.eval_path.text() == "/some/folder" and tab.arch_box.currentText() == "linear"


def _fake_result(i: int, path, v: float, a: float, unc: float = 0.5, warnings=()) -> dict:
    q = "Q1" if v >= 0 and a >= 0 else "Q2" if a >= 0 else "Q3" if v < 0 else "Q4"
    probs = {qq: (0.7 if qq == q else 0.1) for qq in ("Q1", "Q2", "Q3", "Q4")}
    segs = [{"start": 5.0 * k, "end": 5.0 * k + 10, "probs": list(probs.values()),
             "valence": v * 0.9, "arousal": a * 0.9} for k in range(2)]
    return {"file": str(path), "name": f"a rather long file name number {i:02d}.wav", "duration": 3.0,
            "model": "x", "probs": probs, "quadrant": q, "mood": "m", "valence": v, "arousal": a,
            "valence_std": 0.1, "arousal_std": 0.05, "uncertainty": unc, "warnings": list(warnings),
            "segments": segs}


@pytest.fixture
def filled(tab, tmp_path):
    """A tab with 24 results spread over the plane (corners included), no model run."""
    wav = tmp_path / "clip.wav"
    save_audio(wav, tone(0, 3.0), SR)
    rng = np.random.default_rng(1)
    pts = [(0.99, 0.99), (-0.99, 0.99), (-0.99, -0.99), (0.99, -0.99), (0.0, 0.0)]
    pts += [tuple(rng.uniform(-1, 1, 2)) for _ in range(19)]
    for i, (v, a) in enumerate(pts):
        tab._add_result(_fake_result(i, wav, float(v), float(a), warnings=["nearly silent"] if i == 3 else []))
    tab.show()
    return tab


def test_empty_plane_shows_no_label_box(tab):
    plane = tab.plane
    assert not plane._label.isVisible() and not plane._ellipse.isVisible()
    tab.show()
    assert not plane._label.isVisible()


def test_plane_is_square_and_labels_stay_off_the_titles(filled, qtbot):
    plane = filled.plane
    qtbot.waitUntil(lambda: abs(plane.plot.getPlotItem().vb.size().width()
                                - plane.plot.getPlotItem().vb.size().height()) <= 3, timeout=5000)
    (x0, x1), (y0, y1) = plane.view_range()
    # both axes show -1..1 plus a thin margin, the same on both (square plane)
    assert -1.4 < x0 < -1.0 and 1.0 < x1 < 1.4 and -1.4 < y0 < -1.0 and 1.0 < y1 < 1.4
    assert x1 - x0 == pytest.approx(y1 - y0, rel=0.03)
    square = (-1.0 - 1e-6, 1.0 + 1e-6)
    for q, t in plane.titles.items():  # titles live in the margin, outside the coloured square
        assert abs(t.pos().y()) == pytest.approx(1.0)
    for idx in range(len(filled.results)):  # each point's label stays inside the square (no title, no clipping)
        filled._select_result(idx)
        r = plane.label_rect()
        assert square[0] <= r.left() and r.right() <= square[1], (idx, r)
        assert square[0] <= r.top() and r.bottom() <= square[1], (idx, r)
    # hovering a point names it; the selected file is highlighted
    assert "number 05" in plane._tip(data=5)
    filled._select_result(7)
    assert len(plane._sel.data) == 1 and plane._sel.data[0]["x"] == pytest.approx(filled.results[7]["valence"])
    assert "uncertainty" in plane.caption.text() and "ring" in plane.caption.toolTip()


def test_table_fits_keys_play_and_delete(filled, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    t = filled.table
    hh = t.horizontalHeader()
    wanted = ["File", "Quadrant", "Mood", "Valence", "Arousal", "Uncertainty", "P(Q1)", "P(Q2)", "P(Q3)", "P(Q4)"]
    assert [t.horizontalHeaderItem(j).text() for j in range(10)] == wanted
    visible = sum(hh.sectionSize(j) for j in range(t.columnCount()) if not t.isColumnHidden(j))
    assert visible <= t.viewport().width() + 1
    assert hh.sectionSize(0) >= 120  # the file name keeps a useful width
    warned = next(r for r in range(t.rowCount()) if t.item(r, 0).data(Qt.UserRole) == 3)
    assert not t.item(warned, 0).icon().isNull() and "nearly silent" in t.item(warned, 0).toolTip()
    # Enter and double-click play the selected file through the window's transport
    filled._select_result(2)
    t.setFocus()
    qtbot.keyClick(t, Qt.Key_Return)
    player = filled.ctx.player
    assert len(player.played) == 1 and player.played[0][1] == SR and "number 02" in player.played[0][2]
    assert player.owner is filled
    filled.on_playback_position(1.0)
    assert filled.timeline._cursor.isVisible()
    row = next(r for r in range(t.rowCount()) if t.item(r, 0).data(Qt.UserRole) == 4)
    rect = t.visualRect(t.model().index(row, 1))
    t.scrollTo(t.model().index(row, 1))
    rect = t.visualRect(t.model().index(row, 1))
    qtbot.mouseClick(t.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.mouseDClick(t.viewport(), Qt.LeftButton, pos=rect.center())
    assert len(player.played) == 2 and "number 04" in player.played[1][2]
    # Delete removes the selected rows; indices stay consistent with results
    t.sortItems(3)
    t.clearSelection()
    t.selectRow(0)
    from PySide6.QtCore import QItemSelectionModel

    t.selectionModel().select(t.model().index(1, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)
    gone = {filled.results[i]["name"] for i in filled.selected_indices()}
    assert len(gone) == 2
    qtbot.keyClick(t, Qt.Key_Delete)
    assert t.rowCount() == len(filled.results) == 22
    names = {r["name"] for r in filled.results}
    assert not (gone & names)
    for r in range(t.rowCount()):
        assert t.item(r, 0).text() == filled.results[t.item(r, 0).data(Qt.UserRole)]["name"]
        assert t.item(r, 3).text() == f"{filled.results[t.item(r, 0).data(Qt.UserRole)]['valence']:+.2f}"
    assert filled._selected is not None and len(filled.plane._results) == 22
    # Ctrl+A selects everything; Delete then empties the table
    qtbot.keyClick(t, Qt.Key_A, Qt.ControlModifier)
    assert len(filled.selected_indices()) == 22
    qtbot.keyClick(t, Qt.Key_Delete)
    assert t.rowCount() == 0 and filled.results == [] and filled.playable_audio() is None
