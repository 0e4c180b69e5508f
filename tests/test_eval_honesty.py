"""Honest numbers: an eval recognises material the model trained on, by content, and says so."""

import shutil

import numpy as np

from musiclab.fingerprint import fingerprint, in_sample

from test_emotion_helpers import make_labelled_folder


def test_fingerprint_follows_content_not_path(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(np.random.default_rng(0).bytes(300_000))
    b = tmp_path / "moved" / "renamed.bin"
    b.parent.mkdir()
    shutil.copy(a, b)
    assert fingerprint(a) == fingerprint(b)
    data = bytearray(a.read_bytes())
    data[-10] ^= 0xFF  # an edit at the end changes it
    a.write_bytes(bytes(data))
    assert fingerprint(a) != fingerprint(b)


def test_in_sample_from_stored_fingerprints_and_from_trained_on_folders(tmp_path):
    train = make_labelled_folder(tmp_path / "train", per_class=1, seconds=1.0)
    files = sorted(train.rglob("*.wav"))
    copy = tmp_path / "elsewhere" / "same.wav"
    copy.parent.mkdir()
    shutil.copy(files[0], copy)
    other = make_labelled_folder(tmp_path / "other", per_class=1, seconds=1.3)  # different audio
    evals = [copy] + sorted(other.rglob("*.wav"))
    by_fp = in_sample(evals, trained=[fingerprint(f) for f in files])
    by_folder = in_sample(evals, trained_on=[str(train)])
    assert by_fp["in_sample"] == by_folder["in_sample"] == 1 and by_fp["files"] == [str(copy)]
    assert in_sample(evals)["known"] is False  # nothing to check against: said so, not "0 in sample"


def test_emotion_eval_warns_counts_in_sample_and_caches_by_content(tmp_path, monkeypatch):
    import torch

    import musiclab.emotion.predict as predict
    from musiclab.emotion.features import N_SUMMARY
    from musiclab.models import make_meta, save_model

    train = make_labelled_folder(tmp_path / "train", per_class=1, seconds=2.0)
    fresh = make_labelled_folder(tmp_path / "fresh", per_class=2, seconds=2.5)
    mix = tmp_path / "mix"
    shutil.copytree(fresh, mix)
    for f in sorted(train.rglob("*.wav")):  # the training clips, re-copied under new names
        shutil.copy(f, mix / f.parent.name / f"copy of {f.name}")
    torch.manual_seed(0)
    lin = {"mean": torch.zeros(N_SUMMARY), "scale": torch.ones(N_SUMMARY),
           "weight": 0.01 * torch.randn(4, N_SUMMARY), "bias": torch.zeros(4)}
    model = save_model({"meta": make_meta("emotion", "linear", trained_on=[str(train)]), "state_dict": lin},
                       tmp_path / "m.pt")
    calls = []
    real = predict.predict_file
    monkeypatch.setattr(predict, "predict_file", lambda p, m, **k: calls.append(p) or real(p, m, **k))
    cache = tmp_path / "cache"
    res = predict.evaluate_labelled(mix, str(model), cache_dir=cache)
    assert res["clips"] == 12 and res["in_sample"] == 4 and res["n_unseen"] == 8
    assert res["unseen"]["clips"] == 8 and "4 of 12 clips" in res["warning"]
    assert sum(p["in_sample"] for p in res["predictions"]) == 4
    distinct = {fingerprint(f) for f in mix.rglob("*.wav")}
    assert len(calls) == len(distinct) >= 8  # identical audio is predicted once
    n_calls = len(calls)
    moved = tmp_path / "moved mix"
    shutil.move(mix, moved)
    again = predict.evaluate_labelled(moved, str(model), cache_dir=cache)
    assert len(calls) == n_calls  # every clip came from the content-keyed cache
    assert again["accuracy"] == res["accuracy"] and again["in_sample"] == 4


def test_emotion_feature_cache_is_keyed_by_content(tmp_path, monkeypatch):
    import musiclab.emotion.dataset as dataset

    root = make_labelled_folder(tmp_path / "clips", per_class=1, seconds=1.0)
    f = sorted(root.rglob("*.wav"))[0]
    decoded = []
    real = dataset.load_audio
    monkeypatch.setattr(dataset, "load_audio", lambda p, **k: decoded.append(p) or real(p, **k))
    cache = tmp_path / "cache"
    a = dataset.clip_features(f, cache)
    moved = tmp_path / "elsewhere" / "renamed.wav"
    moved.parent.mkdir()
    shutil.move(f, moved)
    b = dataset.clip_features(moved, cache)
    assert len(decoded) == 1 and np.array_equal(a[0], b[0])


def test_a_trained_emotion_model_names_its_clips_by_content(tmp_path):
    from musiclab.emotion.predict import evaluate_labelled
    from musiclab.emotion.train import train
    from musiclab.models import load_model_file

    root = make_labelled_folder(tmp_path / "set", per_class=2, seconds=2.0)
    out = tmp_path / "lin.pt"
    train([root], out, arch="linear", val_fraction=0.0, cache_dir=tmp_path / "cache")
    meta = load_model_file(out, "emotion")["meta"]
    assert sorted(meta["trained_clips"]) == sorted({fingerprint(f) for f in root.rglob("*.wav")})
    moved = tmp_path / "moved"
    shutil.move(root, moved)  # the folder named in trained_on is gone: the fingerprints still find them
    res = evaluate_labelled(moved, str(out), cache_dir=None)
    assert res["in_sample"] == res["clips"] == 8
    assert res["unseen"] is None and res["warning"]
