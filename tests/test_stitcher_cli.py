"""``musiclab-cli stitcher train|stitch|eval`` on generated songs (shipped models)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from musiclab.cli import main
from tests.test_stitcher_core import glide, melody

KEYS = ["songs", "pool", "queries", "mrr", "top1", "top5", "auc", "baselines"]


def _dir(tmp_path):
    d = tmp_path / "songs dir"
    d.mkdir()
    sf.write(d / "a song.wav", melody(16, 1), 22050)
    sf.write(d / "b's song.flac", np.stack([glide(14, 2, 44100)] * 2, 1), 44100)
    (d / "broken.ogg").write_bytes(b"nope" * 30)
    return d


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_eval_json_keys(tmp_path, capsys):
    d = _dir(tmp_path)
    assert main(["stitcher", "eval", "--songs", str(d), "--chunking", "fixed:2", "--json",
                 "--seed-queries", "3"]) == 0
    res = _last_json(capsys)
    assert list(res) == KEYS
    assert res["songs"] == 2 and res["pool"] == 15 and res["queries"] == 13
    assert set(res["baselines"]) == {"boundary", "seed", "random"}
    for b in res["baselines"].values():
        assert {"mrr", "top1", "top5", "auc"} <= set(b)
    assert res["baselines"]["seed"]["queries"] == 3
    assert 0 < res["mrr"] <= 1 and 0 <= res["top1"] <= res["top5"] <= 1


def test_stitch_writes_audio_csv_and_seams(tmp_path, capsys):
    d = _dir(tmp_path)
    out = tmp_path / "new song.wav"
    assert main(["stitcher", "stitch", "--songs", str(d), "--minutes", "0.3", "--seed", "3", "--out", str(out),
                 "--chunking", "fixed:2", "--json"]) == 0
    res = _last_json(capsys)
    assert out.exists() and (tmp_path / "new song.csv").exists()
    assert res["seconds"] >= 17 and res["chunks"] == len((tmp_path / "new song.csv").read_text().splitlines()) - 1
    assert len(res["joins"]) == res["chunks"] - 1
    assert all(np.isfinite(j["z"]) and j["jump"] >= 0 for j in res["joins"])


def test_train_tiny(tmp_path, capsys):
    d = _dir(tmp_path)
    out = tmp_path / "m.pt"
    assert main(["stitcher", "train", "--songs", str(d), "--out", str(out), "--steps", "4", "--json"]) == 0
    res = _last_json(capsys)
    assert out.exists() and res["steps"] == 4 and res["songs"] == 2
