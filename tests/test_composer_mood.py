"""Mood-conditioned composing: the symbolic quadrant classifier, the condition input of the
event LSTM (file round trip, validation, training, generation), old model files, the CLI and
the Generate panel's Mood box."""

import json
from pathlib import Path

import numpy as np
import pytest

from musiclab.errors import ModelFileError, MusiclabError

EMOPIA = Path("/work/shared/data/midi/emopia")
if not EMOPIA.is_dir():
    from musiclab.paths import shared_data_dir

    EMOPIA = shared_data_dir() / "midi" / "emopia"
needs_emopia = pytest.mark.skipif(not (EMOPIA / "midis").is_dir(), reason="EMOPIA not available")
MOODS = ["Q1", "Q2", "Q3", "Q4"]


def _notes(starts, lens, pitches):
    from musiclab.composer.mood import Notes

    s = np.asarray(starts, float)
    e = s + np.asarray(lens, float)
    return Notes(s, e, np.asarray(pitches, float), s * 0.5, e * 0.5)


def _scale(minor=False, step=1.0, n=32):
    deg = [0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11]
    ps = [60 + deg[i % 7] + 12 * ((i // 7) % 2) for i in range(n)]
    return _notes([i * step for i in range(n)], [step] * n, ps)


# --------------------------------------------------------------------------- features
def test_features_read_mode_and_density_not_velocity():
    from musiclab.composer.mood import FEATURES, note_features

    i = {k: j for j, k in enumerate(FEATURES)}
    assert "velocity" not in " ".join(FEATURES)
    major, minor = note_features(_scale()), note_features(_scale(minor=True))
    assert major[i["major_minus_minor"]] > 0 > minor[i["major_minus_minor"]]
    slow, fast = note_features(_scale(step=1.0)), note_features(_scale(step=0.25))
    assert fast[i["notes_per_quarter"]] == pytest.approx(4 * slow[i["notes_per_quarter"]], rel=0.05)
    assert fast[i["notes_per_second"]] > 3 * slow[i["notes_per_second"]]
    assert np.isfinite(major).all() and major.shape == (len(FEATURES),)
    with pytest.raises(MusiclabError):
        note_features(_notes([], [], []))


def test_names_give_quadrant_and_song():
    from musiclab.composer.mood import normalize_quadrant, quadrant_of_name, song_of_name

    assert quadrant_of_name("Q3_egYSmNuIFGk_1.mid") == "Q3"
    assert quadrant_of_name("piece.mid") is None
    assert song_of_name("Q2_L3_TadjSQQ0_0.mid") == "L3_TadjSQQ0"
    assert normalize_quadrant("q4") == "Q4" and normalize_quadrant("sad") == "Q3" and normalize_quadrant("") is None
    with pytest.raises(MusiclabError):
        normalize_quadrant("Q7")


@needs_emopia
def test_features_and_prediction_on_emopia_files(tmp_path):
    from musiclab.composer.mood import (QUADRANTS, file_features, fit, load_classifier, quadrant_of_name,
                                        save_classifier, scores, song_of_name, split_names)

    names = split_names(EMOPIA / "split" / "train_clip.csv")
    pick = []
    for q in QUADRANTS:  # 6 clips per quadrant
        pick += [n for n in names if n.startswith(q + "_")][:6]
    X = np.array([file_features(EMOPIA / "midis" / n) for n in pick])
    y = [quadrant_of_name(n) for n in pick]
    assert np.isfinite(X).all()
    clf, cv = fit(X, y, [song_of_name(n) for n in pick], l2_grid=(0.01, 0.1), folds=3)
    assert scores(clf.predict(X), y)["accuracy"] > 0.6  # fits its own training clips well above chance (0.25)
    p = save_classifier(clf, tmp_path / "m.pt")
    back = load_classifier(p)
    assert np.allclose(back.proba(X), clf.proba(X))
    shipped = Path(__file__).resolve().parent.parent / "resources" / "models" / "composer" / "mood-classifier.pt"
    if shipped.is_file():
        d = load_classifier(shipped).judge_notes(__import__("musiclab.composer.mood", fromlist=["x"]).notes_from_midi(
            EMOPIA / "midis" / pick[0]))
        assert d["quadrant"] in QUADRANTS and abs(sum(d["probs"].values()) - 1) < 1e-3


def test_classifier_file_is_validated(tmp_path):
    import torch

    from musiclab.composer.mood import FEATURES, MoodClassifier, load_classifier, save_classifier

    d = len(FEATURES)
    clf = MoodClassifier(np.zeros(d), np.ones(d), np.zeros((d, 4)), np.zeros(4))
    p = save_classifier(clf, tmp_path / "ok.pt")
    assert load_classifier(p).classes == ("Q1", "Q2", "Q3", "Q4")
    obj = torch.load(p, weights_only=True)
    obj["W"] = torch.zeros(d - 1, 4, dtype=torch.float64)
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError):
        load_classifier(tmp_path / "bad.pt")
    obj = torch.load(p, weights_only=True)
    obj["meta"]["features"] = ["x"] * d
    torch.save(obj, tmp_path / "other.pt")
    with pytest.raises(ModelFileError):
        load_classifier(tmp_path / "other.pt")


# --------------------------------------------------------------------------- the conditioned net
def _tiny(conds=MOODS):
    from musiclab.composer.model import add_conditions, new_model

    m = new_model("small")
    return add_conditions(m, conds, "mood") if conds else m


def test_condition_input_starts_as_the_unconditioned_net_and_round_trips(tmp_path):
    import torch

    from musiclab.composer.model import load_composer, new_model, save_composer

    torch.manual_seed(0)
    base = new_model("small")
    x = torch.tensor([[1, 62, 140, 66, 150]])
    with torch.no_grad():
        before = base.net.eval()(x)[0]
    from musiclab.composer.model import add_conditions

    m = add_conditions(base, MOODS, "mood")
    with torch.no_grad():
        for c in (None, 0, 3):
            assert torch.allclose(m.net.eval()(x, cond=c)[0], before, atol=1e-6)  # zero-initialised
        m.net.cond.weight[2] += 1.0
        assert not torch.allclose(m.net(x, cond=2)[0], before)
    p = save_composer(m, tmp_path / "c.pt", half=False)
    back = load_composer(p)
    assert back.conditions == MOODS and back.condition_kind == "mood"
    assert back.condition_id("q2") == 2 and back.condition_id(None) == 0
    with pytest.raises(MusiclabError):
        back.condition_id("Q9")
    with torch.no_grad():
        assert torch.allclose(back.net(x, cond=2)[0], m.net(x, cond=2)[0], atol=1e-6)


@pytest.mark.parametrize("bad", ["Q1", [], ["Q1", "q1"], ["Q1", 3], ["Q1", "Q2", "Q3"]])
def test_bad_conditions_meta_is_a_model_file_error(tmp_path, bad):
    import torch

    from musiclab.composer.model import load_composer, save_composer

    p = save_composer(_tiny(), tmp_path / "c.pt")
    obj = torch.load(p, weights_only=True)
    obj["meta"]["conditions"] = bad  # the last one: 3 names for 4 rows of weights
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError):
        load_composer(tmp_path / "bad.pt")


def test_conditioned_generation_differs_by_mood():
    import torch

    from musiclab.composer.generate import generate

    torch.manual_seed(1)
    m = _tiny()
    with torch.no_grad():
        m.net.cond.weight[1:] = torch.randn(4, m.net.cond.weight.shape[1]) * 3
    runs = {q: generate(m, [], 40, temperature=1.0, seed=3, condition=q, form="free") for q in [None, "Q1", "Q3"]}
    plain = generate(_strip(m), [], 40, temperature=1.0, seed=3, form="free")
    assert runs[None] == plain  # no mood = the net without its condition input
    assert runs["Q1"] != runs["Q3"] and runs["Q1"] != runs[None]
    assert generate(m, [], 40, temperature=1.0, seed=3, condition="Q1", form="free") == runs["Q1"]  # reproducible
    g2 = generate(m, [], 40, temperature=1.0, seed=3, condition="Q1", guidance=2.0, form="free")
    assert g2 != runs["Q1"]


def _strip(m):
    """The same weights without the condition input."""
    from musiclab.composer.model import ComposerModel, build_net

    net = build_net(m.meta["hparams"])
    sd = {k: v for k, v in m.net.state_dict().items() if not k.startswith("cond.")}
    net.load_state_dict(sd)
    meta = {k: v for k, v in m.meta.items() if k not in ("conditions", "condition_kind")}
    return ComposerModel(net=net.eval(), meta=meta)


def test_a_sequential_model_converts_to_timed_keeping_its_weights(tmp_path):
    import torch

    from musiclab.composer import encoding as enc
    from musiclab.composer.generate import generate
    from musiclab.composer.model import load_composer, save_composer, to_timed

    m = _tiny()
    with torch.no_grad():
        m.net.cond.weight[1:] = 0.5
    old = {k: v.clone() for k, v in m.net.state_dict().items()}
    t = to_timed(m)
    assert t.arch == "event-lstm-timed" and t.representation == "timed" and t.conditions == MOODS
    sd = t.net.state_dict()
    assert torch.equal(sd["emb.weight"][: enc.VOCAB], old["emb.weight"])
    assert torch.equal(sd["emb.weight"][enc.DT0 + 6], old["emb.weight"][enc.D0 + 6])  # onset 1/2 = duration 1/2
    assert torch.equal(sd["cond.weight"], old["cond.weight"])
    back = load_composer(save_composer(t, tmp_path / "t.pt"))
    ev = generate(back, [], 20, seed=2, condition="Q2", form="free")
    assert len(ev) == 20 and all(len(e) == 4 for e in ev)  # timed events carry their onsets


def test_old_model_files_load_and_generate_unchanged():
    from musiclab.composer.generate import generate
    from musiclab.composer.session import GenerateSettings, compose, load_model, model_moods, probe_moods

    for name in ("folk", "jazz"):
        m = load_model(name)
        assert m.conditions == [] and not hasattr(m.net, "cond") and model_moods(m) == [] and probe_moods(name) == []
        a = generate(m, [], 30, seed=4)
        assert a == generate(m, [], 30, seed=4, condition=None)
        with pytest.raises(MusiclabError, match="no mood input"):
            compose(m, [], GenerateSettings(length=10, mood="Q3"))
    res = compose(load_model("folk"), [], GenerateSettings(length=10, seed=2))
    assert res.settings is not None and res.settings.mood is None


def test_training_feeds_each_piece_its_condition(tmp_path):
    from musiclab.composer.events import Piece
    from musiclab.composer.model import load_composer
    from musiclab.composer.train import piece_condition, prepare_model, train_model

    assert piece_condition(MOODS, "Q3_abc_1.mid") == 3 and piece_condition(MOODS, "tune.mid") == 0
    ev = [((60,), "C4", "0.5"), ((64,), "E4", "0.5"), ((67,), "G4", "1.0"), ((), "rest", "0.5")] * 30
    pieces = [Piece(f"{q}_song{i}_0.mid", f"/x/{q}_song{i}_0.mid", list(ev)) for q in ("Q1", "Q3") for i in range(3)]
    with pytest.raises(MusiclabError):
        prepare_model("small", [Piece("tune.mid", "/x/tune.mid", ev)], [], [], conditions=MOODS)
    m = prepare_model("small", pieces[:-1], pieces[-1:], ["/x"], conditions=MOODS)
    train_model(m, pieces[:-1], pieces[-1:], tmp_path / "m.pt", epochs=1, seq_len=32, batch=4, max_steps=4,
                cond_dropout=0.0)
    w = m.net.cond.weight.detach().abs().sum(dim=1).numpy()
    assert w[0] == 0 and w[1] > 0 and w[3] > 0  # the quadrants the pieces have learnt
    assert w[2] == 0 and w[4] == 0  # Q2 and Q4 had no piece
    back = load_composer(tmp_path / "m.pt")
    assert back.meta["condition_pieces"] == {"Q1": 3, "Q2": 0, "Q3": 2, "Q4": 0}


def test_mood_probe_reads_meta_without_torch(tmp_path):
    import subprocess
    import sys

    from musiclab.composer.model import save_composer

    p = save_composer(_tiny(), tmp_path / "tiny.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    code = ("import sys\nfrom musiclab.composer.session import probe_moods\n"
            f"print(probe_moods({str(p)!r}), probe_moods({str(tmp_path / 'bad.pt')!r}), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "['Q1', 'Q2', 'Q3', 'Q4'] [] False", out.stderr


def test_cli_generate_with_mood(tmp_path, capsys):
    from musiclab.cli import main
    from musiclab.composer.model import save_composer

    p = save_composer(_tiny(), tmp_path / "tiny.pt")
    out = tmp_path / "o.mid"
    assert main(["composer", "generate", "--model", str(p), "--length", "20", "--seed", "1", "--mood", "Q3",
                 "--out", str(out)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["mood"] == "Q3" and out.is_file()
    assert main(["composer", "generate", "--model", "folk", "--length", "5", "--mood", "Q3", "--out", str(out)]) != 0
    assert "no mood input" in capsys.readouterr().err  # a clear message, no traceback


# --------------------------------------------------------------------------- the Generate panel
def test_mood_box_enabled_only_for_a_model_with_moods(qtbot, tmp_path):
    from conftest import composer_tab_with_model

    with composer_tab_with_model(qtbot, tmp_path, "mood-test", _tiny()) as tab:
        g = tab.gen_box
        g.refresh_models(select="folk")
        qtbot.waitUntil(lambda: g._moods is not None, timeout=60000)
        assert not g.mood_combo.isEnabled()
        g.mood_combo.setCurrentIndex(g.mood_combo.findData("Q3"))
        assert g.settings().mood is None  # folk takes no mood
        g.model_combo.setCurrentIndex(g.model_combo.findData("mood-test"))
        qtbot.waitUntil(lambda: g._moods is not None, timeout=60000)
        assert g.mood_combo.isEnabled() and g.settings().mood == "Q3"
        assert "mood" in tab.persist()
        tab.resize(1100, 900)
        tab.show()
        tab.grab().save(str(tmp_path / "mood.png"))
