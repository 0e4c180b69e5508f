"""Emotion core: features, metrics, data loading, training, prediction, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musiclab.audio.io import save_audio
from musiclab.errors import ModelFileError
from musiclab.paths import shared_data_dir

from test_emotion_helpers import SR, make_labelled_folder, random_model, tone

DATA4Q = shared_data_dir() / "emotion" / "4q"


# -- features ---------------------------------------------------------------------------------

def test_frame_features_shapes_and_windows():
    from musiclab.emotion.features import (N_FRAME_FEATS, N_SUMMARY, clip_windows, frame_features,
                                           win_frames, window_starts)

    y = tone(0, 30.0)
    logmel, ff = frame_features(y, SR)
    assert logmel.shape[0] == 128 and ff.shape[0] == N_FRAME_FEATS
    assert logmel.shape[1] == ff.shape[1] == 1 + len(y) // 512
    # prediction with musicnn members only skips these features and counts the frames itself
    from musiclab.emotion.features import n_frames

    for n in (0, 100, SR // 2 + 1, len(y) - 511, len(y)):
        assert n_frames(n) == frame_features(y[:n], SR)[0].shape[1]
    starts, summ = clip_windows(ff)
    assert starts == [0, 215, 430, 645, 860]
    assert summ.shape == (5, N_SUMMARY) and np.all(np.isfinite(summ))
    assert window_starts(100) == [0]  # shorter than a window: one window
    s = window_starts(2000)
    assert s[-1] + win_frames() <= 2000 and s[-1] + win_frames() >= 2000 - 108


def test_axis_heads_multiply_into_the_quadrant_probabilities():
    from musiclab.emotion.model import lr_window_probs

    Xz = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    W, b = np.zeros((4, 2)), np.zeros(4)  # the quadrant regression says nothing: 1/4 each
    assert np.allclose(lr_window_probs(Xz, W, b), 0.25)
    # an arousal head sure of "high" on the first window, of "low" on the second, undecided on the third
    axes = {"arousal": (np.array([20.0, -20.0]), 0.0)}
    p = lr_window_probs(Xz, W, b, axes)
    assert np.allclose(p.sum(axis=1), 1)
    assert p[0, :2].sum() > 0.999 and p[1, 2:].sum() > 0.999 and np.allclose(p[2], 0.25)
    # with a valence head too, sure of "positive" on the first window: Q1 takes it all
    axes["valence"] = (np.array([20.0, 0.0]), 0.0)
    p = lr_window_probs(Xz, W, b, axes)
    assert p[0, 0] > 0.999 and np.allclose(p[1, 2:], 0.5, atol=1e-6)
    # a quadrant regression with an opinion is weighed against the heads, not overruled
    W[3, 0] = 3.0  # Q4 (low arousal) on the first window
    p = lr_window_probs(Xz[:1], W, b, {"arousal": (np.array([1.0, 0.0]), 0.0)})
    assert p[0, 3] > p[0, 2] and p[0, 0] > p[0, 2]
    # experts that all but rule each other out still give a distribution (computed in log space)
    p = lr_window_probs(Xz, W * 1e3, b, {"arousal": (np.array([1e4, 0.0]), 0.0),
                                         "valence": (np.array([-1e4, 0.0]), 0.0)})
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1)


def test_temperature_sharpens_or_softens_without_reordering():
    from musiclab.emotion.model import sharpen

    p = np.array([[0.7, 0.2, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25]])
    assert np.array_equal(sharpen(p, 1.0), p)
    for T in (0.5, 2.0, 10.0):
        q = sharpen(p, T)
        assert np.allclose(q.sum(axis=1), 1) and np.isfinite(q).all()
        assert np.array_equal(np.argsort(q[0]), np.argsort(p[0])) and np.allclose(q[1], 0.25)
        assert (q[0, 0] < p[0, 0]) == (T > 1) and q[0, 3] < 1e-20
    assert np.allclose(sharpen(p[:1], 2.0), np.sqrt(p[:1]) / np.sqrt(p[:1]).sum())


def _synthetic_clips(n_clips: int = 96, signal: float = 0.8, seed: int = 0):
    """Clips of 'linear' features with a signal in two of 183 dimensions, two clips per artist."""
    from types import SimpleNamespace

    from musiclab.emotion.features import N_SUMMARY
    from musiclab.emotion.train import Clips

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n_clips)
    items = [SimpleNamespace(label=int(l), group=f"artist{i // 2}", path=Path(f"c{i}.wav")) for i, l in enumerate(labels)]
    c = Clips(items, [None] * n_clips, [None] * n_clips)
    feats = []
    for l in labels:
        x = rng.standard_normal((3, N_SUMMARY))
        x[:, 0] += signal * (l in (0, 1))
        x[:, 1] += signal * (l in (0, 3))
        feats.append(x)
    c._summ = feats
    return c


def test_temperature_is_chosen_by_out_of_fold_log_loss():
    from musiclab.emotion.train import choose_temperature

    clips = _synthetic_clips()
    # barely regularised on 183 dimensions of mostly noise: overconfident, so the temperature softens it
    T, rep = choose_temperature(clips, ["linear"], {"linear": 1.0}, {"linear": {"C": 10.0}})
    assert T > 1.5 and T == rep["temperature"]
    assert rep["log_loss_after"] < rep["log_loss_before"]
    assert rep["mean_confidence_after"] < rep["mean_confidence_before"]
    assert rep["clips"] == len(clips)
    # a clear signal regularised almost to nothing: timid, so the temperature sharpens it
    T, rep = choose_temperature(_synthetic_clips(signal=4.0), ["linear"], {"linear": 1.0}, {"linear": {"C": 1e-2}})
    assert T < 1.0 and rep["log_loss_after"] < rep["log_loss_before"]
    # too few artists to fold: left as it is
    few = clips.subset(np.where(np.isin(clips.groups, ["artist0"]))[0])
    assert choose_temperature(few, ["linear"], {"linear": 1.0}, {"linear": {"C": 1.0}}) == (1.0, {})


def test_model_temperature_is_applied_and_checked(tmp_path):
    import torch
    from musiclab.emotion.features import frame_features, win_frames
    from musiclab.emotion.model import load, sharpen

    path = random_model(tmp_path / "lin.pt", arch="linear", seed=3)
    obj = torch.load(path, weights_only=True)
    obj["state_dict"]["weight"] *= 100  # an opinionated model, so that a temperature shows
    torch.save(obj, path)
    logmel, ff = frame_features(tone(1, 12.0), SR)
    p1 = load(str(path)).predict_windows(logmel, ff, [0, 50], win_frames())
    obj["meta"]["temperature"] = 2.5
    torch.save(obj, tmp_path / "t.pt")
    m = load(str(tmp_path / "t.pt"))
    assert m.temperature == 2.5
    assert np.allclose(m.predict_windows(logmel, ff, [0, 50], win_frames()), sharpen(p1, 2.5))
    for bad in (0.0, -1.0, 100.0, float("nan"), "warm"):
        obj["meta"]["temperature"] = bad
        torch.save(obj, tmp_path / "bad.pt")
        with pytest.raises(ModelFileError, match="temperature"):
            load(str(tmp_path / "bad.pt"))


def test_chroma_of_a_minor_chord_prefers_minor_mode():
    from musiclab.emotion.features import SUMMARY_NAMES, frame_features, window_summary

    t = np.arange(5 * SR) / SR
    minor = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)).astype(np.float32) * 0.2  # A minor
    major = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)).astype(np.float32) * 0.2  # A major
    i = SUMMARY_NAMES.index("mode_diff")
    s_min = window_summary(frame_features(minor)[1])[i]
    s_maj = window_summary(frame_features(major)[1])[i]
    assert s_maj > s_min


def test_tiny_and_silent_audio_do_not_crash():
    from musiclab.emotion.features import frame_features, window_summary

    for y in (np.zeros(10, np.float32), np.zeros(0, np.float32), np.zeros(SR * 2, np.float32)):
        lm, ff = frame_features(y)
        assert np.all(np.isfinite(window_summary(ff)))


# -- metrics ------------------------------------------------------------------------------------

def test_metrics_known_answer():
    from musiclab.emotion.metrics import evaluate, roc_curve

    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    pred = np.array([0, 1, 1, 1, 2, 3, 3, 3])
    probs = np.eye(4)[pred] * 0.7 + 0.075
    m = evaluate(y, probs)
    assert m["clips"] == 8
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["confusion"][0] == [1, 1, 0, 0]
    assert m["per_class"]["Q1"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(0.6667, abs=1e-4)}
    # arousal: Q1 predicted as Q2 stays high; Q3 as Q4 stays low -> all right
    assert m["arousal_accuracy"] == 1.0
    assert m["valence_accuracy"] == pytest.approx(6 / 8)
    fpr, tpr, auc = roc_curve(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0], bool))
    assert auc == pytest.approx(1.0)
    _, _, auc = roc_curve(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0], bool))
    assert auc == pytest.approx(0.0)


# -- data -------------------------------------------------------------------------------------------

def test_labelled_folder_and_csvs(tmp_path):
    from musiclab.emotion.dataset import DataError, load_labelled

    root = make_labelled_folder(tmp_path / "set", per_class=1, seconds=1.0)
    (root / "Q9").mkdir()
    ds = load_labelled(root)
    assert sorted(it.label for it in ds.items) == [0, 1, 2, 3]
    assert any("Q9" in s for s in ds.skipped)
    files = sorted(p for p in root.rglob("*.wav"))
    csvp = root / "labels.csv"
    csvp.write_text("file,quadrant\n" + f"{files[0].relative_to(root)},Q1\n" + f"{files[1].name},happy\n"
                    + "missing.wav,Q2\n" + f"{files[2].stem},3\n")
    ds = load_labelled(csvp)
    assert [it.label for it in ds.items] == [0, 2]
    assert any("unknown label" in s for s in ds.skipped) and any("not found" in s for s in ds.skipped)
    num = root / "va.csv"
    num.write_text("path,valence,arousal\n" + f"{files[0].name},8,8\n{files[1].name},2,7\n{files[2].name},,3\n"
                   + f"{files[3].name},3,1\n")
    ds = load_labelled(num)
    assert ds.numeric and [it.label for it in ds.items] == [0, 1, 2]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,mood\na,b\n")
    with pytest.raises(DataError):
        load_labelled(bad)
    with pytest.raises(DataError):
        load_labelled(tmp_path / "nope")


def test_artist_split_is_disjoint():
    from musiclab.emotion.train import artist_split

    rng = np.random.default_rng(0)
    groups = np.array([f"a{i // 3}" for i in range(120)])
    labels = rng.integers(0, 4, 120)
    tr, va = artist_split(labels, groups, 0.25, seed=1)
    assert len(set(groups[tr]) & set(groups[va])) == 0
    assert 20 <= len(va) <= 40 and len(tr) + len(va) == 120


# -- training, prediction -------------------------------------------------------------------------

def test_train_linear_and_crnn_on_separable_sounds(tmp_path):
    from musiclab.emotion.predict import evaluate_labelled
    from musiclab.emotion.train import train

    root = make_labelled_folder(tmp_path / "set", per_class=2, seconds=3.0)
    out = tmp_path / "lin.pt"
    rep = train([root], out, arch="linear", val_fraction=0.0, cache_dir=tmp_path / "cache")
    assert out.is_file() and rep["clips"] == 8
    m = evaluate_labelled(root, str(out))
    assert m["accuracy"] >= 0.9, m["confusion"]
    epochs = []
    out2 = tmp_path / "crnn.pt"
    rep = train([root], out2, arch="crnn", epochs=2, val_fraction=0.25, cache_dir=tmp_path / "cache",
                on_epoch=epochs.append)
    assert [e["epoch"] for e in epochs] == [1, 2] and "val_accuracy" in epochs[0]
    assert rep["val_clips"] >= 1 and out2.is_file()


def test_predict_timeline_long_short_silent_broken(tmp_path):
    from musiclab.emotion.model import load
    from musiclab.emotion.predict import predict_file, predict_files

    model = load(str(random_model(tmp_path / "rand.pt")))
    long_y = np.concatenate([tone(k % 4, 25.0, seed=k) for k in range(8)])  # 200 s: read in chunks
    save_audio(tmp_path / "long.wav", long_y, SR)
    r = predict_file(tmp_path / "long.wav", model)
    starts = [s["start"] for s in r["segments"]]
    assert starts[0] == 0 and np.all(np.diff(starts) > 4.9) and np.all(np.diff(starts) < 5.1)
    assert r["segments"][-1]["end"] >= 199.0
    assert abs(sum(r["probs"].values()) - 1) < 1e-3 and -1 <= r["valence"] <= 1

    save_audio(tmp_path / "short.wav", tone(0, 2.0), SR)
    save_audio(tmp_path / "silence.wav", np.zeros(SR * 3, np.float32), SR)
    (tmp_path / "broken.ogg").write_bytes(b"OggS" + b"\x00" * 300)
    res = predict_files([tmp_path / "short.wav", tmp_path / "broken.ogg", tmp_path / "silence.wav"], model)
    names = [x["name"] for x in res["results"]]
    assert names == ["short.wav", "silence.wav"]
    assert len(res["errors"]) == 1 and "broken.ogg" in res["errors"][0]["error"]
    short, silent = res["results"]
    assert any("2.0 s" in w for w in short["warnings"]) and len(short["segments"]) == 1
    assert silent["uncertainty"] == pytest.approx(1.0) and any("silent" in w for w in silent["warnings"])


def test_foreign_model_file_is_refused(tmp_path):
    import torch
    from musiclab.emotion.model import load
    from musiclab.models import make_meta, save_model

    bad = tmp_path / "other.pt"
    save_model({"meta": make_meta("composer", "lstm"), "state_dict": {}}, bad)
    with pytest.raises(ModelFileError):
        load(str(bad))
    wrong = tmp_path / "wrong.pt"
    save_model({"meta": make_meta("emotion", "crnn"), "state_dict": {"x": torch.zeros(3)}}, wrong)
    with pytest.raises(ModelFileError):
        load(str(wrong))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load(str(junk))


def test_cli_eval_json_last_line(tmp_path, capsys):
    from musiclab.cli import main

    root = make_labelled_folder(tmp_path / "set", per_class=1, seconds=2.0)
    model = random_model(tmp_path / "rand.pt", "linear")
    assert main(["emotion", "eval", "--data", str(root), "--model", str(model), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(out)[:7] == ["clips", "accuracy", "macro_f1", "arousal_accuracy", "valence_accuracy", "per_class",
                             "confusion"]
    # honest numbers: skipped clips counted, material the model trained on detected (or said to be unknowable)
    assert out["n_skipped"] == 0 and out["in_sample"] == 0 and out["in_sample_known"] is False
    assert "cannot be detected" in out["warning"]
    assert out["clips"] == 4 and set(out["per_class"]) == {"Q1", "Q2", "Q3", "Q4"}
    assert set(out["per_class"]["Q1"]) == {"precision", "recall", "f1"}
    assert np.array(out["confusion"]).shape == (4, 4) and np.array(out["confusion"]).sum() == 4
    # numeric valence/arousal labels: Spearman per axis is added
    files = sorted(root.rglob("*.wav"))
    va = root / "va.csv"
    va.write_text("file,valence,arousal\n" + "".join(f"{f.name},{v},{a}\n" for f, (v, a) in
                                                      zip(files, [(0.8, 0.7), (-0.6, 0.9), (-0.5, -0.4), (0.4, -0.8)])))
    assert main(["emotion", "eval", "--data", str(va), "--model", str(model), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["clips"] == 4 and "spearman_valence" in out and "spearman_arousal" in out


@pytest.mark.skipif(not DATA4Q.is_dir(), reason="shared emotion data not available")
def test_shipped_models_load_and_predict_a_real_clip():
    from musiclab.emotion.model import available, load
    from musiclab.emotion.predict import predict_file

    clip = sorted((DATA4Q / "Q2").glob("*.ogg"))[0]
    for name in ("default", "fast", "seed-cnn", "seed-lstm"):
        if name not in available():
            pytest.skip(f"shipped model {name} not built yet")
        m = load(name)
        r = predict_file(clip, m)
        assert abs(sum(r["probs"].values()) - 1) < 1e-3
        assert len(r["segments"]) == 5 and r["duration"] == pytest.approx(30, abs=1.5)
        if name == "default":  # the two pre-trained networks, nothing that reads the spectral features
            assert [mm.arch for mm, _ in m.members] == ["musicnn", "musicnn-mtt"]
            assert m.needs_audio and not m.needs_frame_features
            # a 4Q clip of the training data: the default tells its quadrant (Q2)
            assert r["quadrant"] == "Q2"


def test_ensemble_with_several_crnn_members_trains_saves_and_loads(tmp_path):
    import torch
    from musiclab.emotion.features import frame_features, win_frames
    from musiclab.emotion.model import load
    from musiclab.emotion.train import train

    root = make_labelled_folder(tmp_path / "set", per_class=2, seconds=3.0)
    out = tmp_path / "ens.pt"
    rep = train([root], out, arch="ensemble", epochs=1, val_fraction=0.25, crnn_members=2, member_seed=5,
                last_epoch=True, ensemble_weights={"linear": 0.25, "crnn": 0.75}, cache_dir=tmp_path / "cache")
    assert rep["settings"]["crnn"]["seed"] == 5 and rep["settings"]["crnn#1"]["seed"] == 6
    assert {"linear", "crnn", "crnn#1", "crnn_mean"} <= set(rep["members"])
    obj = torch.load(out, map_location="cpu", weights_only=True)
    assert obj["meta"]["members"] == [["linear", 0.25], ["crnn", 0.375], ["crnn#1", 0.375]]
    assert set(obj["norms"]) == {"crnn", "crnn#1"}
    assert any(k.startswith("crnn#1.") for k in obj["state_dict"])
    m = load(str(out))
    assert [mm.arch for mm, _ in m.members] == ["linear", "crnn", "crnn"]
    logmel, ff = frame_features(tone(1, 12.0), SR)
    r = m.predict_windows(logmel, ff, [0], win_frames())
    assert r.shape == (1, 4) and abs(r.sum() - 1) < 1e-4
    # an old two-member file (linear + crnn) still loads
    old = load(str(random_model(tmp_path / "old.pt")))
    assert [mm.arch for mm, _ in old.members] == ["linear", "crnn"]


def test_ensemble_member_names_are_validated(tmp_path):
    import torch
    from musiclab.emotion.model import load

    good = torch.load(random_model(tmp_path / "ok.pt"), map_location="cpu", weights_only=True)
    for members in ([["linear", 0.5], ["linear", 0.5]], [["linear", 0.5], ["lstm#1", 0.5]],
                    [["linear", 0.5], ["crnn#1", 0.5]], [["linear"]]):
        obj = dict(good, meta=dict(good["meta"], members=members))
        p = tmp_path / "bad.pt"
        torch.save(obj, p)
        with pytest.raises(ModelFileError):
            load(str(p))


def test_train_options_are_checked_before_reading_any_data(tmp_path):
    from musiclab.emotion.train import TrainError, TrainOptions, train

    nowhere = [tmp_path / "nowhere"]
    with pytest.raises(TrainError, match="Unknown architecture"):
        train(nowhere, tmp_path / "x.pt", arch="vgg")
    with pytest.raises(TrainError, match="weights"):
        train(nowhere, tmp_path / "x.pt", TrainOptions(ensemble_weights={"vgg": 1.0}))
    with pytest.raises(TrainError, match="at least one CRNN"):
        train(nowhere, tmp_path / "x.pt", TrainOptions(ensemble_weights={"crnn": 1.0}), crnn_members=0)
    with pytest.raises(TypeError):
        train(nowhere, tmp_path / "x.pt", epochz=3)
    # the shipped default's members: the two musicnn regressions, equal weights
    assert TrainOptions().members() == (["musicnn", "musicnn-mtt"], {"musicnn": 0.5, "musicnn-mtt": 0.5})
    members, weights = TrainOptions(ensemble_weights={"linear": 0.25, "crnn": 0.75}, crnn_members=3).members()
    assert members == ["linear", "crnn", "crnn#1", "crnn#2"] and weights["crnn#2"] == pytest.approx(0.25)


def test_train_steps_compose_to_train(tmp_path):
    """plan -> fit -> validate -> save by hand writes the file train() writes."""
    import torch
    from musiclab.emotion import train as T

    root = make_labelled_folder(tmp_path / "set", per_class=2, seconds=2.0)
    opts = T.TrainOptions(arch="linear", val_fraction=0.25, cache_dir=tmp_path / "cache")
    hooks = T.Hooks()
    p = T.plan([root], opts, hooks)
    assert p.members == ["linear"] and len(p.train_set) + len(p.val_set) == 8 and len(p.val_set) >= 1
    assert not set(p.train_set.groups) & set(p.val_set.groups)
    f = T.fit(p, hooks)
    v = T.validate(p, f, hooks)
    assert set(v["members"]) == {"linear"} and "validation" in v
    path = T.save(p, f, tmp_path / "steps.pt", v["validation"])
    rep = T.train([root], tmp_path / "whole.pt", opts)
    a = torch.load(path, weights_only=True)
    b = torch.load(tmp_path / "whole.pt", weights_only=True)
    assert set(a["state_dict"]) == set(b["state_dict"])
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert rep["validation"] == v["validation"] and a["meta"]["validation"] == b["meta"]["validation"]
