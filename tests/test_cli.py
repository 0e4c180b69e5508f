"""musiclab-cli info."""

import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from musiclab.cli import json_line, main

from conftest import data_file


def test_info_json_on_real_file(capsys):
    f = sorted(data_file("audio", "singularity").glob("*.ogg"))[0]
    assert main(["info", str(f), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["format"] == "OGG" and info["sample_rate"] == 48000 and info["channels"] == 2
    assert info["duration"] > 30 and -30 < info["peak_dbfs"] <= 0.1


def test_info_on_generated_wav(tmp_path, capsys):
    p = tmp_path / "it's a test.wav"
    sf.write(p, 0.5 * np.ones(8000, dtype=np.float32), 8000, subtype="PCM_24")
    assert main(["info", str(p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info == {**info, "format": "WAV", "subtype": "PCM_24", "sample_rate": 8000, "channels": 1,
                    "frames": 8000, "duration": 1.0}
    assert abs(info["peak_dbfs"] - 20 * np.log10(0.5)) < 0.01


def test_info_bad_file_exit_code(tmp_path, capsys):
    p = tmp_path / "bad.flac"
    p.write_bytes(b"\x00" * 100)
    assert main(["info", str(p), "--json"]) == 1
    captured = capsys.readouterr()
    assert "bad.flac" in captured.err
    assert "error" in json.loads(captured.out.strip().splitlines()[-1])


def test_json_line_is_strict():
    line = json_line({"a": float("nan"), "b": np.float32(0.5), "c": np.arange(2), "d": float("-inf")})
    assert json.loads(line) == {"a": None, "b": 0.5, "c": [0, 1], "d": None}


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "musiclab.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "info" in out.stdout
