"""The pre-trained musicnn front-ends (MSD and MTT backbones): the PyTorch port against
TensorFlow's own output, the shipped weights files, the checkpoint reader, and the
``musicnn`` / ``musicnn-mtt`` ensemble members."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musiclab.errors import ModelFileError
from test_emotion_helpers import SR, make_labelled_folder, tone

REF = Path(__file__).parent / "data" / "musicnn_tf_reference.npz"


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _reference_input() -> np.ndarray:
    # the input the references were computed on (musicnn 0.1.0 + TensorFlow 2.21, the MSD_musicnn and
    # MTT_musicnn checkpoints: keys logits/penultimate and mtt_logits/mtt_penultimate)
    rng = np.random.default_rng(2026)
    t = np.arange(187)[:, None]
    f = np.arange(96)[None, :]
    x = 2.0 + 1.5 * np.sin(t / 9.0 + f / 13.0) + 0.5 * rng.standard_normal((187, 96))
    return x.clip(0, None).astype(np.float32)[None]


@pytest.mark.parametrize("backbone,key", [("msd", ""), ("mtt", "mtt_")])
def test_port_matches_tensorflow_outputs(backbone, key):
    import torch
    from musiclab.emotion import musicnn

    net = musicnn.load_net(backbone=backbone)
    ref = np.load(REF)
    with torch.inference_mode():
        logits, emb = net(torch.from_numpy(_reference_input()))
    assert np.abs(logits[0].numpy() - ref[key + "logits"]).max() < 1e-3
    assert np.abs(emb[0, :200].numpy() - ref[key + "penultimate"]).max() < 1e-3
    # and the outputs are not trivially equal to something else
    assert np.abs(ref[key + "logits"]).max() > 1.0
    assert np.abs(ref["logits"] - ref["mtt_logits"]).max() > 1.0


def test_reordered_front_end_equals_the_plain_computation():
    # the front-end pools before its batch norm and convolves the channels of each sign apart:
    # check it against conv -> ReLU -> norm -> max over frequency done the plain way
    import torch
    import torch.nn.functional as F
    from musiclab.emotion import musicnn

    net = musicnn.load_net(backbone="mtt")
    x = torch.from_numpy(_reference_input()).unsqueeze(1)
    with torch.inference_mode():
        for conv, bn in ((net.t74, net.bn_t74), (net.s1, net.bn_s1)):
            xin = F.pad(x, (0, 0, 3, 3)) if conv is net.t74 else F.pad(x, (0, 0, 63, 64))
            plain = F.batch_norm(F.relu(conv(xin)), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                 eps=bn.eps).amax(dim=3)
            assert torch.allclose(net._block(xin, conv, bn), plain, atol=1e-4)


def test_patch_features_cover_the_audio_and_windows_pool_them():
    from musiclab.emotion import musicnn

    net = musicnn.load_net()
    y16 = tone(0, 16.0)[: 16 * 16000]  # any 16 s of sound, read as 16 kHz
    times, feats = musicnn.patch_features(net, y16, hop=100)
    assert feats.shape == (len(times), musicnn.FEATURE_DIM) and np.isfinite(feats).all()
    patch_s, hop_s = musicnn.PATCH * musicnn.HOP / musicnn.SR, 100 * musicnn.HOP / musicnn.SR
    assert times[0] == 0 and np.allclose(np.diff(times[:-1]), hop_s)
    assert 16.0 - hop_s / 2 <= times[-1] + patch_s <= 16.05  # the tail is covered
    assert ((feats[:, :50] >= 0) & (feats[:, :50] <= 1)).all()  # tag probabilities
    w = musicnn.window_features(times, feats, 0.0, 10.0)
    inside = times + patch_s <= 10.05
    assert 1 < inside.sum() < len(times)
    assert np.allclose(w, feats[inside].mean(axis=0))
    # a 1 s sound is repeated to one patch
    t1, f1 = musicnn.patch_features(net, y16[:16000])
    assert len(t1) == 1 and np.isfinite(f1).all()


def test_weights_file_is_checked(tmp_path, monkeypatch):
    import torch
    from musiclab.emotion import musicnn

    with pytest.raises(ModelFileError):
        musicnn.load_net(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a tensor file")
    with pytest.raises(ModelFileError):
        musicnn.load_net(bad)
    obj = torch.load(musicnn.weights_path(), map_location="cpu", weights_only=True)
    assert obj["meta"]["arch"] == "msd-musicnn" and len(obj["meta"]["tags"]) == 50
    mtt = torch.load(musicnn.weights_path("mtt"), map_location="cpu", weights_only=True)
    assert mtt["meta"]["arch"] == "mtt-musicnn" and mtt["meta"]["tags"] == musicnn.MTT_TAGS
    # one backbone's file is not taken for the other's
    with pytest.raises(ModelFileError, match="MTT"):
        musicnn.load_net(musicnn.weights_path("msd"), backbone="mtt")
    with pytest.raises(ModelFileError):
        musicnn.load_net(backbone="vgg")
    obj["state_dict"]["dense.weight"] = obj["state_dict"]["dense.weight"][:, :10]
    torch.save(obj, bad)
    with pytest.raises(ModelFileError):
        musicnn.load_net(bad)


def test_checkpoint_reader_refuses_foreign_bytes():
    from musiclab.emotion.convert_musicnn import read_bundle

    with pytest.raises(ValueError):
        read_bundle(b"\0" * 100, b"")


def test_ensemble_with_musicnn_members_trains_and_predicts(tmp_path, monkeypatch):
    import torch
    from musiclab.emotion.features import frame_features, win_frames
    from musiclab.emotion.model import load
    from musiclab.emotion.predict import predict_file
    from musiclab.emotion.train import train

    root = make_labelled_folder(tmp_path / "set", per_class=3, seconds=3.0)
    out = tmp_path / "mnn.pt"
    rep = train([root], out, arch="ensemble", val_fraction=0.0, cache_dir=tmp_path / "cache",
                ensemble_weights={"musicnn": 0.4, "musicnn-mtt": 0.4, "linear": 0.2})
    assert set(rep["settings"]) == {"musicnn", "musicnn-mtt", "linear"}
    obj = torch.load(out, map_location="cpu", weights_only=True)
    assert obj["meta"]["members"] == [["musicnn", 0.4], ["musicnn-mtt", 0.4], ["linear", 0.2]]
    # the two backbones give the members different features, so different weights
    assert not torch.allclose(obj["state_dict"]["musicnn.weight"], obj["state_dict"]["musicnn-mtt.weight"])
    # each musicnn member has its arousal and valence heads (C chosen for each), the summary regression has none
    for mem in ("musicnn", "musicnn-mtt"):
        assert set(rep["settings"][mem]["axis_C"]) == {"arousal", "valence"}
        assert obj["state_dict"][f"{mem}.arousal.weight"].shape == (1756,)
        assert obj["state_dict"][f"{mem}.valence.bias"].shape == ()
    assert "linear.arousal.weight" not in obj["state_dict"]
    # a model of regressions only is calibrated: the temperature chosen out of fold is stored and used
    assert obj["meta"]["temperature"] == rep["calibration"]["temperature"]
    assert rep["calibration"]["log_loss_after"] <= rep["calibration"]["log_loss_before"]
    m = load(str(out))
    assert m.needs_audio
    y = tone(1, 12.0)
    logmel, ff = frame_features(y, SR)
    with pytest.raises(ValueError):
        m.predict_windows(logmel, ff, [0], win_frames())
    p = m.predict_windows(logmel, ff, [0, 100], win_frames(), audio=y)
    assert p.shape == (2, 4) and np.allclose(p.sum(axis=1), 1)
    # the two musicnn members ran side by side; one at a time gives the same numbers
    import musiclab.emotion.model as model_mod

    monkeypatch.setattr(model_mod.os, "cpu_count", lambda: 1)
    assert np.allclose(m.predict_windows(logmel, ff, [0, 100], win_frames(), audio=y), p, atol=1e-6)
    monkeypatch.undo()
    # trained on separable sounds, it tells the training clips apart through the normal path
    clip = sorted((root / "Q2").iterdir())[0]
    assert predict_file(clip, m)["quadrant"] == "Q2"
    # the features of each backbone were cached beside the spectrogram features
    # (keyed by content: clips with identical audio share one entry)
    from musiclab.fingerprint import fingerprint

    cache = tmp_path / "cache"
    distinct = len({fingerprint(f) for f in root.rglob("*.wav")})
    assert 8 <= distinct <= 12
    assert len(list(cache.glob("*.mtt-musicnn*.npz"))) == distinct
    assert len(list(cache.glob("*.musicnn*.npz"))) == distinct
    # an axis head of the wrong width, or without its bias, is refused
    bad = dict(obj, state_dict=dict(obj["state_dict"]))
    bad["state_dict"]["musicnn.arousal.weight"] = bad["state_dict"]["musicnn.arousal.weight"][:10]
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="arousal"):
        load(str(tmp_path / "bad.pt"))
    bad = dict(obj, state_dict={k: v for k, v in obj["state_dict"].items() if k != "musicnn-mtt.valence.bias"})
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="valence"):
        load(str(tmp_path / "bad.pt"))
    # a musicnn member of the wrong width is refused
    obj["state_dict"]["musicnn.weight"] = obj["state_dict"]["musicnn.weight"][:, :100]
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError):
        load(str(tmp_path / "bad.pt"))
    # without the heads: plain regressions
    rep = train([root], tmp_path / "plain.pt", arch="musicnn", val_fraction=0.0, cache_dir=tmp_path / "cache",
                axis_heads=False)
    assert "axis_C" not in rep["settings"]["musicnn"]
    rep = train([root], tmp_path / "uncal.pt", arch="musicnn", val_fraction=0.0, cache_dir=tmp_path / "cache",
                calibrate=False)
    assert "calibration" not in rep and "temperature" not in torch.load(tmp_path / "uncal.pt",
                                                                         weights_only=True)["meta"]
    assert load(str(tmp_path / "uncal.pt")).temperature == 1.0
    assert not any(".arousal." in k or k.startswith("arousal.")
                   for k in torch.load(tmp_path / "plain.pt", weights_only=True)["state_dict"])
