"""Composer tab: first-time Generate with the shipped model, piano roll, playback hooks,
export, bad drops, corpus reading and a short training run with a live loss plot."""

from pathlib import Path

import mido
import pytest

from conftest import data_file, tab_context


@pytest.fixture
def tab(qtbot, tmp_path):
    from musiclab.gui.tabs.composer import ComposerTab

    ctx = tab_context(tmp_path)
    msgs = []
    ctx.message.connect(lambda t, e: msgs.append((t, e)))
    t = ComposerTab(ctx)
    t.msgs = msgs
    qtbot.addWidget(t)
    t.resize(1280, 800)
    t.show()
    yield t
    for s in ctx.services:
        s.shutdown()


def test_generate_at_once_with_shipped_model(tab, qtbot, tmp_path):
    assert tab.key == "composer" and tab.title == "Composer"
    assert tab.model_combo.findData("folk") >= 0
    tab.length_spin.setValue(40)
    tab.seed_spin.setValue(1234)
    tab.keep_seed.setChecked(True)
    tab.generate()
    qtbot.waitUntil(lambda: tab.result is not None, timeout=30000)
    assert len(tab.result["events"]) == 40 and tab.result["seed"] == 1234
    assert tab.roll.n_notes > 0
    assert "Copied" in tab.result_label.text() and "repeats itself" in tab.result_label.text()
    samples, sr, label = tab.playable_audio()
    assert sr == 44100 and len(samples) > sr
    first = list(tab.result["events"])
    tab.toggle_play()
    assert tab.ctx.player.played
    tab.on_playback_position(1.5)
    assert abs(tab.roll.cursor.value() - 1.5) < 1e-9
    # same seed -> same music
    tab.result = None
    tab.generate()
    qtbot.waitUntil(lambda: tab.result is not None, timeout=30000)
    assert tab.result["events"] == first
    mid = tab.export_to(tmp_path / "out.mid")
    assert mido.MidiFile(str(mid)).length > 1
    wav = tab.export_to(tmp_path / "out.wav")
    assert wav.stat().st_size > 44100
    tab.grab().save(str(tmp_path / "composer.png"))


def test_drop_continue_and_bad_files(tab, qtbot, tmp_path):
    bad = tmp_path / "broken file's.mid"
    bad.write_bytes(b"MThd nonsense")
    assert tab.accepts(Path("a.MID")) and not tab.accepts(Path("a.wav"))
    tab.open_files([data_file("midi", "nottingham", "ashover1.mid"), bad])
    qtbot.waitUntil(lambda: tab.dropped_corpus is not None, timeout=30000)
    assert len(tab.dropped_corpus.pieces) == 1 and len(tab.dropped_corpus.skipped) == 1
    assert tab.skipped_list.count() == 1 and "unreadable" in tab.skipped_list.item(0).text()
    assert any("broken file's.mid" in m for m, err in tab.msgs)
    assert tab.primer_combo.currentData() == "dropped"
    tab.primer_len.setValue(10)
    tab.length_spin.setValue(20)
    tab.generate()
    qtbot.waitUntil(lambda: tab.result is not None, timeout=30000)
    assert len(tab.result["primer"]) == 10


def test_training_with_live_loss_plot(tab, qtbot, tmp_path):
    folder = data_file("midi", "nottingham")
    files = sorted(folder.glob("*.mid"))[:5]
    tab.open_files(files)
    qtbot.waitUntil(lambda: tab.corpus is not None, timeout=30000)
    tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("small"))
    tab.epochs_spin.setValue(1)
    tab.seq_spin.setValue(32)
    tab.name_edit.setText("gui-test")
    tab.start_training()
    qtbot.waitUntil(lambda: tab.train_btn.isEnabled(), timeout=60000)
    assert "Done" in tab.train_status.text(), tab.train_status.text()
    assert tab.history and tab.model_combo.findData("gui-test") >= 0
    from musiclab.composer.model import load_composer

    trained = load_composer("gui-test")
    assert ("self-copy mixture fitted" in tab.train_status.text()) == (trained.copy is not None)
