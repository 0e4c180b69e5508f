"""`musiclab-cli composer train|generate|eval` end to end on a few real tunes."""

import json

import mido

from musiclab.cli import main

from conftest import data_file

EVAL_KEYS = ["pieces", "skipped", "events", "top1", "top5", "nll_per_event", "oov_rate", "baselines"]


def test_train_eval_generate(tmp_path, capsys):
    folder = data_file("midi", "nottingham")
    train_dir = tmp_path / "train"
    test_dir = tmp_path / "test dir"
    train_dir.mkdir()
    test_dir.mkdir()
    files = sorted(folder.glob("*.mid"))
    for f in files[:6]:
        (train_dir / f.name).symlink_to(f)
    for f in files[40:42]:
        (test_dir / f.name).symlink_to(f)
    (test_dir / "broken.mid").write_bytes(b"MThd broken")
    model = tmp_path / "m.pt"
    rc = main(["composer", "train", "--midi", str(train_dir), "--preset", "small", "--out", str(model),
               "--epochs", "1", "--seq-len", "32", "--batch", "8", "--workers", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and model.is_file()
    summary = json.loads(out[-1])
    assert summary["epochs"] == 1 and summary["pieces"] == 6

    rc = main(["composer", "eval", "--model", str(model), "--midi", str(test_dir), "--json", "--workers", "1"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0
    assert list(res) == EVAL_KEYS + ["in_sample", "fair_fight"]
    assert res["in_sample"]["pieces"] == 0 and res["fair_fight"]["unseen"]["pieces"] == 2  # trained on files[:6]
    assert res["pieces"] == 2 and res["skipped"] == 1 and res["events"] > 100
    assert list(res["baselines"]["trigram"]) == ["top1", "nll_per_event"]

    mid = tmp_path / "gen.mid"
    rc = main(["composer", "generate", "--model", str(model), "--length", "50", "--temperature", "0.9",
               "--seed", "3", "--form", "free", "--out", str(mid)])
    g = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and g["seed"] == 3 and g["events"] == 50
    assert len(mido.MidiFile(str(mid)).tracks[0]) > 50

    wav = tmp_path / "gen.wav"
    rc = main(["composer", "generate", "--model", str(model), "--length", "20", "--seed", "3", "--out", str(wav)])
    assert rc == 0 and wav.stat().st_size > 10000


def test_bad_model_gives_an_error_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"junk")
    rc = main(["composer", "generate", "--model", str(bad), "--out", str(tmp_path / "o.mid")])
    assert rc == 1
    assert "error:" in capsys.readouterr().err
