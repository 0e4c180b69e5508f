"""The Emotion workbench's Qt-free session: the table of predictions and its operations, driven
without Qt (the tab and the CLI drive the same code)."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

from musiclab.audio.io import save_audio

from test_emotion_helpers import SR, make_labelled_folder, random_model, tone


def _result(i: int, path="x.wav", v: float = 0.5, a: float = -0.2, warnings=()) -> dict:
    probs = {"Q1": 0.1, "Q2": 0.2, "Q3": 0.3, "Q4": 0.4}
    return {"file": str(path), "name": f"song {i}.wav", "duration": 3.0 + i, "model": "m", "probs": probs,
            "quadrant": "Q4", "mood": "calm / relaxed", "valence": v, "arousal": a, "uncertainty": 0.9,
            "warnings": list(warnings), "segments": []}


def test_the_session_is_qt_free():
    import subprocess

    code = ("import sys, musiclab.emotion.session; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph') or m.startswith('musiclab.gui')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_table_add_remove_clear_and_identity():
    from musiclab.emotion.session import EmotionSession

    s = EmotionSession()
    rs = [_result(i, f"/m/{i}.wav") for i in range(5)]
    assert [s.add(r) for r in rs] == [0, 1, 2, 3, 4] and len(s) == 5
    assert s.paths() == [f"/m/{i}.wav" for i in range(5)]
    assert s.remove([1, 3, 99]) == 2
    assert s.paths() == ["/m/0.wav", "/m/2.wav", "/m/4.wav"]
    # a result is found by identity, wherever it moved
    assert s.index_of(rs[4]) == 2 and s.index_of(rs[1]) is None and s.index_of(None) is None
    s.clear()
    assert len(s) == 0 and s.paths() == []


def test_export_csv_in_the_given_order(tmp_path):
    from musiclab.emotion.session import CSV_FIELDS, EmotionSession

    s = EmotionSession()
    s.extend([_result(0, "/m/a b's.wav", v=0.3), _result(1, "/m/z.wav", v=-0.7, warnings=["nearly silent", "short"])])
    out = s.export_csv(tmp_path / "t.csv", order=[1, 0])
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert list(rows[0]) == CSV_FIELDS
    assert [r["file"] for r in rows] == ["/m/z.wav", "/m/a b's.wav"]
    assert float(rows[0]["valence"]) == -0.7 and rows[0]["notes"] == "nearly silent; short"
    assert abs(sum(float(rows[0][f"p_q{i}"]) for i in range(1, 5)) - 1) < 1e-9
    assert [r["file"] for r in csv.DictReader(open(s.export_csv(tmp_path / "u.csv")))] == ["/m/a b's.wav", "/m/z.wav"]


def test_restorable_keeps_existing_files_up_to_a_limit(tmp_path):
    from musiclab.emotion.session import EmotionSession

    files = []
    for i in range(4):
        f = tmp_path / f"{i}.wav"
        f.write_bytes(b"x")
        files.append(str(f))
    keep, left = EmotionSession.restorable(files + [str(tmp_path / "gone.wav"), ""], limit=3)
    assert [p.name for p in keep] == ["0.wav", "1.wav", "2.wav"] and left == 2


def test_errors_message_names_every_bad_file():
    from musiclab.emotion.session import errors_message

    assert errors_message([]) == ""
    assert errors_message([{"file": "a", "error": "'a.mp3' is broken"}]) == "'a.mp3' is broken"
    msg = errors_message([{"file": "a", "error": "'a.mp3' is broken"}, {"file": "b", "error": "'b.ogg': empty"}])
    assert msg.startswith("2 files could not be analysed") and "a.mp3" in msg and "b.ogg" in msg


def test_predict_streams_each_file_through_on_partial(tmp_path):
    from musiclab.emotion.model import load
    from musiclab.emotion.session import EmotionSession, predict

    save_audio(tmp_path / "one.wav", tone(0, 3.0), SR)
    save_audio(tmp_path / "two.wav", tone(3, 3.0), SR)
    (tmp_path / "broken.ogg").write_bytes(b"OggS" + b"\x00" * 300)
    s = EmotionSession()
    seen = []
    res = predict([tmp_path], load(str(random_model(tmp_path / "r.pt", arch="linear"))),
                  on_partial=lambda r: seen.append(s.add(r)))
    assert seen == [0, 1] and [r["name"] for r in s.results] == ["one.wav", "two.wav"]
    assert s.results == res["results"]
    assert len(res["errors"]) == 1 and "broken.ogg" in res["errors"][0]["error"]


def test_decode_for_playback_reads_at_most_the_first_minutes(tmp_path, monkeypatch):
    import musiclab.emotion.session as session

    y = np.stack([tone(0, 3.0), tone(1, 3.0)])
    save_audio(tmp_path / "st.wav", y, SR)
    got, sr = session.decode_for_playback(tmp_path / "st.wav", 3.0)
    assert sr == SR and got.shape == (2, 3 * SR)  # own rate and channels
    assert session.playback_label({"name": "long.ogg", "duration": 2.0}) == "long.ogg"
    assert "first 10 min" in session.playback_label({"name": "long.ogg", "duration": 2.0e3})
    monkeypatch.setattr(session, "PLAY_MAX_S", 1.0)
    got, sr = session.decode_for_playback(tmp_path / "st.wav", 3.0)
    assert got.shape[-1] == SR


def test_train_model_reports_epochs_through_on_partial(tmp_path):
    from musiclab.emotion.session import train_model
    from musiclab.emotion.train import TrainOptions

    root = make_labelled_folder(tmp_path / "set", per_class=2, seconds=2.0)
    epochs = []
    rep = train_model([root], tmp_path / "c.pt", on_partial=epochs.append,
                      options=TrainOptions(arch="crnn", epochs=2, val_fraction=0.25, cache_dir=tmp_path / "cache"))
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["member"] == "crnn" for e in epochs)
    assert rep["history"] == epochs and (tmp_path / "c.pt").is_file()


def test_cli_predict_writes_the_same_csv_as_the_tab(tmp_path, capsys):
    from musiclab.cli import main
    from musiclab.emotion.session import CSV_FIELDS

    save_audio(tmp_path / "one.wav", tone(0, 3.0), SR)
    model = random_model(tmp_path / "r.pt", arch="linear")
    out = tmp_path / "res.csv"
    assert main(["emotion", "predict", str(tmp_path / "one.wav"), "--model", str(model), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == CSV_FIELDS and rows[0]["file"] == str(tmp_path / "one.wav")
    assert pytest.approx(1.0, abs=1e-3) == sum(float(rows[0][f"p_q{i}"]) for i in range(1, 5))
