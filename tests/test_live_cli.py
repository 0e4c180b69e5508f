"""``musiclab-cli analyze`` on generated files."""

import json

import numpy as np
import pytest

pytest.importorskip("librosa")

from musiclab.audio.io import save_audio
from musiclab.cli import main


@pytest.fixture
def sine_file(tmp_path):
    sr = 22050
    t = np.arange(sr * 2) / sr
    path = tmp_path / "a 440 'sine'.wav"
    save_audio(path, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    return path


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_analyze_chroma_json(sine_file, capsys):
    assert main(["analyze", str(sine_file), "--feature", "chroma", "--json"]) == 0
    d = _last_json(capsys)
    assert list(d) == ["sr", "frames", "hop", "bins", "mean", "labels"]
    assert d["labels"] == ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    assert d["bins"] == 12 and len(d["mean"]) == 12 and d["sr"] == 22050 and d["hop"] == 512
    assert d["frames"] == 1 + 2 * 22050 // 512
    assert int(np.argmax(d["mean"])) == 9  # A


def test_analyze_stft_and_mel_outputs(sine_file, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["analyze", str(sine_file), "--feature", "stft", "--n-fft", "1024", "--hop", "256",
                 "--out", str(out), "--json"]) == 0
    d = _last_json(capsys)
    m = np.load(out)
    assert m.shape == (513, d["frames"]) and d["bins"] == 513 and len(d["labels"]) == 513
    assert abs(d["labels"][int(np.argmax(d["mean"]))] - 440) < 22050 / 1024
    csv = tmp_path / "m.csv"
    assert main(["analyze", str(sine_file), "--feature", "mel", "--n-mels", "40", "--out", str(csv), "--json"]) == 0
    d = _last_json(capsys)
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("time_s,") and len(lines[0].split(",")) == 41
    assert len(lines) == d["frames"] + 1 and d["bins"] == 40


def test_analyze_bad_input(tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really audio")
    assert main(["analyze", str(bad), "--json"]) == 1
    assert "broken.wav" in capsys.readouterr().err
    assert main(["analyze", str(bad), "--n-fft", "100"]) == 2
