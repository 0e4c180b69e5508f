"""``musiclab-cli stitcher train|stitch|eval`` on generated songs (shipped models)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from musiclab.cli import main
from tests.test_stitcher_core import glide, melody

KEYS = ["songs", "pool", "queries", "mrr", "top1", "top5", "auc", "baselines", "pool_norm", "plain", "in_sample",
        "in_sample_songs", "unseen"]


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
    # the shipped models never heard these songs: nothing in-sample, the unseen part is everything
    assert res["in_sample"] == 0 and res["in_sample_songs"] == []
    assert res["unseen"]["songs"] == 2 and res["unseen"]["mrr"] == res["mrr"]
    assert res["baselines"]["seed"]["in_sample"] == 0
    # plain cosines beside the pool-normalised figures
    assert res["pool_norm"] == "sinkhorn" and res["plain"]["queries"] == 13 and 0 < res["plain"]["mrr"] <= 1
    assert "warning" not in capsys.readouterr().err


def test_eval_counts_in_sample_songs(tmp_path, capsys):
    """A model trained on one of the two songs: the eval warns, counts it and reports the other apart."""
    d = _dir(tmp_path)
    model = tmp_path / "m.pt"
    assert main(["stitcher", "train", "--songs", str(d / "a song.wav"), "--out", str(model), "--steps", "3"]) == 0
    capsys.readouterr()
    # b's song is not in the list
    assert main(["stitcher", "eval", "--songs", str(d), "--chunking", "fixed:2", "--model", str(model), "--json",
                 "--no-seed"]) == 0
    cap = capsys.readouterr()
    res = json.loads(cap.out.strip().splitlines()[-1])
    assert res["in_sample"] == 1 and res["in_sample_songs"] == ["a song"]
    assert "warning: 1 of 2 songs are in the model's training list (a song)" in cap.err
    assert res["unseen"]["songs"] == 1 and res["unseen"]["queries"] == 6  # 14 s of b's song in 2 s chunks: 7 - 1
    assert res["unseen"]["queries"] < res["queries"]
    # the spelling of a file name does not hide a training song ("a_song.hq" = "a song")
    sf.write(tmp_path / "a_song.hq.wav", melody(16, 1), 22050)
    assert main(["stitcher", "eval", "--songs", str(tmp_path / "a_song.hq.wav"), "--chunking", "fixed:2",
                 "--model", str(model), "--json", "--no-seed"]) == 0
    cap = capsys.readouterr()
    res = json.loads(cap.out.strip().splitlines()[-1])
    assert res["in_sample"] == 1 and res["unseen"] is None and "No unseen song" in cap.err


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
