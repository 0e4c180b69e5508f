"""Score conditions (style, key signature, mode, metre): the labels read from files, the
grouped condition input (one embedding per group, summed; torch and the numpy sampler agree),
training that moves a transposed piece's key with it, generation that asks for a metre and
gets its bar in the AABB form, eval told each piece's labels, and the Generate panel's boxes."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from musiclab.errors import MusiclabError

from conftest import data_file

torch = pytest.importorskip("torch")


def test_abc_and_midi_labels():
    from musiclab.composer.labels import abc_key, abc_metre, key_name, piece_labels, scale_pcs, shift_key, tonic_pc

    assert abc_key("G") == ("G", "major") and abc_key("Em") == ("G", "minor")
    assert abc_key("Ador") == ("G", "minor") and abc_key("Dmix") == ("G", "major")
    assert abc_key("Bb") == ("Bb", "major") and abc_key("F#m") == ("A", "minor")
    assert abc_key("Gm") == ("Bb", "minor") and abc_key("none") == (None, None)
    assert abc_metre("C|") == "4/4" and abc_metre("6/8") == "6/8" and abc_metre("2/2") == "4/4"
    assert key_name("G", "minor") == "Em" and key_name("Bb", "major") == "Bb" and tonic_pc("Bb", "minor") == 7
    assert shift_key("G", 2) == "A" and shift_key("B", 1) == "C" and shift_key(None, 3) is None
    assert scale_pcs("G") == frozenset({7, 9, 11, 0, 2, 4, 6})
    notts = sorted(data_file("midi", "nottingham").glob("*.mid"))
    lab = piece_labels(str(notts[0]), notts[0].name)
    assert lab["style"] == "nottingham" and lab["key"] in {"C", "G", "D", "A", "F", "E"} and lab["metre"]
    assert lab["mode"] in ("major", "minor")


def test_abc_labels_follow_the_tune_index(tmp_path):
    from musiclab.composer.labels import piece_labels

    d = tmp_path / "oneills1850"
    d.mkdir()
    f = d / "tunes.abc"
    f.write_text("X: 1\nT: One\nM: 2/4\nL: 1/8\nK:Gm\nGABc|d2d2||\n\n"
                 "X: 2\nT: Two\nM: 6/8\nL: 1/8\nK:D\nDFA dAF|[M:3/4]D6||\n\n"
                 "X: 3\nT: Three\nM: C|\nL: 1/8\nK:Ador\nABcd efge||\n")
    assert piece_labels(str(f), "tunes.abc#1") == {"style": "oneills", "key": "Bb", "mode": "minor", "metre": "2/4"}
    assert piece_labels(str(f), "tunes.abc#2") == {"style": "oneills", "key": "D", "mode": "major", "metre": "6/8"}
    assert piece_labels(str(f), "tunes.abc#3")["key"] == "G" and piece_labels(str(f), "tunes.abc#3")["metre"] == "4/4"
    assert piece_labels(str(f), "tunes.abc#9") == {"style": "oneills", "key": None, "mode": None, "metre": None}


def _score_model(seed=0):
    from musiclab.composer.model import add_conditions, new_model

    torch.manual_seed(seed)
    names = ["style:nottingham", "style:oneills", "key:C", "key:G", "key:D", "mode:major", "mode:minor",
             "metre:3/4", "metre:4/4", "metre:6/8"]
    m = add_conditions(new_model("small"), names, "score")
    with torch.no_grad():
        m.net.cond.weight[1:] = torch.randn(len(names), m.net.cond.weight.shape[1]) * 2
    m.net.eval()
    return m


def test_grouped_ids_and_clear_errors():
    m = _score_model()
    assert m.condition_groups == ["style", "key", "mode", "metre"]
    assert m.condition_values("metre") == ["3/4", "4/4", "6/8"]
    assert m.condition_ids({"key": "G", "metre": "6/8"}) == (0, 4, 0, 10)
    assert m.condition_ids(["style:oneills", "mode:minor"]) == (2, 0, 7, 0)
    assert m.condition_ids({"key": None}) == (0, 0, 0, 0)
    with pytest.raises(MusiclabError):
        m.condition_ids(["key:G", "key:D"])  # two of one group
    with pytest.raises(MusiclabError):
        m.condition_ids({"metre": "5/4"})  # a value it does not know


def test_the_sum_of_group_embeddings_in_torch_and_numpy():
    from musiclab.composer import encoding as enc
    from musiclab.composer.generate import _NpLSTM

    m = _score_model()
    ids = m.condition_ids({"style": "nottingham", "key": "D", "metre": "3/4"})
    toks = [enc.BOS, enc.P0 + 62, enc.D0 + 12, enc.P0 + 66, enc.D0 + 6, enc.REST, enc.D0 + 12]
    x = torch.tensor([toks])
    pos = torch.tensor([enc.positions(toks)])
    with torch.no_grad():
        full, _ = m.net(x, None, pos, torch.tensor(ids).reshape(1, 1, -1).expand(1, len(toks), -1))
        w = m.net.cond.weight
        by_hand = m.net.emb(x) + w[list(ids)].sum(0)
        assert torch.allclose(m.net.embed(x, pos, torch.tensor(ids).reshape(1, 1, -1)) -
                              m.net.embed(x, pos), by_hand - m.net.emb(x), atol=1e-5)
        plain, _ = m.net(x, None, pos)
    assert not torch.allclose(full, plain)
    npl = _NpLSTM(m.net)
    st = npl.initial_state()
    plist = enc.positions(toks)
    for t, tok in enumerate(toks):
        lg, st = npl.step(tok, st, plist[t], ids)
        r = full[0, t].numpy()
        ok = r > -1e3
        assert np.abs(lg[ok] - r[ok]).max() < 1e-3


def test_generation_asks_for_a_metre_and_its_bar():
    from musiclab.composer.generate import generate, requested_bar

    assert requested_bar({"metre": "6/8"}) == 3.0 and requested_bar(["key:G", "metre:2/4"]) == 2.0
    assert requested_bar({"key": "G"}) is None and requested_bar(None) is None
    m = _score_model()
    plain = generate(m, [], 60, temperature=1.0, seed=4, form="free")
    assert generate(m, [], 60, temperature=1.0, seed=4, form="free", condition={"key": None}) == plain
    asked = generate(m, [], 60, temperature=1.0, seed=4, form="free", condition={"key": "D", "metre": "3/4"})
    assert asked != plain
    import musiclab.composer.generate as G

    calls = []
    real = G._bar_quarters
    G._bar_quarters = lambda evs: calls.append(len(evs)) or real(evs)
    try:
        generate(m, [], 80, temperature=1.0, seed=4, form="aabb", strain_bars=2, condition={"metre": "3/4"})
        assert calls == []  # the bar asked for, not one estimated from the first strain
        generate(m, [], 80, temperature=1.0, seed=4, form="aabb", strain_bars=2)
        assert calls  # unconditioned: the first strain's metre decides
    finally:
        G._bar_quarters = real


def test_training_moves_the_key_with_the_transposition(tmp_path):
    from musiclab.composer.events import load_corpus
    from musiclab.composer.model import load_composer
    from musiclab.composer.train import piece_condition_ids, prepare_model, score_conditions, train_model

    files = sorted(data_file("midi", "nottingham").glob("*.mid"))[:12]
    pieces = load_corpus(files).pieces
    conds = score_conditions(pieces, min_pieces=1)
    assert conds[0] == "style:nottingham" and "key:G" in conds and "mode:minor" in conds
    assert any(c.startswith("metre:") for c in conds)
    p = pieces[0]
    ids0 = piece_condition_ids(conds, p.source, p.name)
    ids2 = piece_condition_ids(conds, p.source, p.name, shift=2)
    assert ids0[0] == ids2[0] and ids0[2:] == ids2[2:]  # style, mode, metre stay
    k0, k2 = conds[ids0[1] - 1], conds[ids2[1] - 1]
    from musiclab.composer.labels import PC_NAMES

    assert PC_NAMES.index(k2[4:]) == (PC_NAMES.index(k0[4:]) + 2) % 12  # the key moves 2 semitones up
    m = prepare_model("small", pieces[:-2], pieces[-2:], [str(files[0].parent)], conditions=["score"])
    assert m.meta["condition_kind"] == "score" and m.conditions == conds[: len(m.conditions)]
    train_model(m, pieces[:-2], pieces[-2:], tmp_path / "m.pt", epochs=1, seq_len=32, batch=4, max_steps=3,
                cond_dropout=0.0)
    back = load_composer(tmp_path / "m.pt")
    cp = back.meta["condition_pieces"]
    assert cp["style:nottingham"] == 10 and sum(v for k, v in cp.items() if k.startswith("mode:")) == 10
    w = back.net.cond.weight.detach().abs().sum(1).numpy()
    assert w[conds.index("style:nottingham") + 1] > 0


def test_eval_told_the_labels_scores_with_the_condition(tmp_path):
    from musiclab.composer.events import load_corpus
    from musiclab.composer.evaluate import evaluate, piece_condition_spec
    from musiclab.composer.model import add_conditions, new_model

    files = sorted(data_file("midi", "nottingham").glob("*.mid"))[:2]
    corpus = load_corpus(files)
    torch.manual_seed(0)
    from musiclab.composer.train import score_conditions

    m = add_conditions(new_model("small"), score_conditions(corpus.pieces, 1), "score")
    m.net.eval()
    plain = evaluate(m, corpus, use_copy=False)
    told0 = evaluate(m, corpus, use_copy=False, condition="labels")  # zero embeddings: the same figures
    assert told0["nll_per_event"] == pytest.approx(plain["nll_per_event"], rel=1e-5)
    assert told0["conditioned_pieces"] == 2 and piece_condition_spec(m, corpus.pieces[0], "labels")
    with torch.no_grad():
        m.net.cond.weight[1:] += torch.randn_like(m.net.cond.weight[1:])
    told = evaluate(m, corpus, use_copy=False, condition="labels")
    assert told["nll_per_event"] != pytest.approx(plain["nll_per_event"], rel=1e-4)


def test_compose_writes_the_asked_key_and_metre_and_refuses_a_mood_model():
    from musiclab.composer import session as S

    m = _score_model()
    m.path = None
    res = S.compose(m, [], S.GenerateSettings(length=40, seed=1, score={"key": "G", "mode": "minor",
                                                                      "metre": "6/8"}))
    assert res.key == "Em" and res.time_signature == (6, 8)
    assert res.settings.score == {"key": "G", "mode": "minor", "metre": "6/8"}
    assert S.model_score_groups(m)["key"] == ["C", "G", "D"]
    from musiclab.composer.model import add_conditions, new_model

    mood = add_conditions(new_model("small"), ["Q1", "Q2"], "mood")
    with pytest.raises(MusiclabError):
        S.compose(mood, [], S.GenerateSettings(length=10, score={"key": "G"}))
    with pytest.raises(MusiclabError):
        S.compose(m, [], S.GenerateSettings(length=10, score={"key": "Ab"}))


def test_generate_panel_offers_style_key_metre_only_for_a_model_with_them(qtbot, tmp_path):
    from conftest import composer_tab_with_model

    from musiclab.gui.tabs.composer.generate_panel import score_for

    assert score_for({"key": "Ab", "mode": "minor", "metre": "3/4"}, {"key": ["G"], "mode": ["minor"],
                                                                      "metre": ["3/4"]}) == {"metre": "3/4"}
    assert score_for({"key": "", "mode": "minor"}, {"mode": ["major", "minor"]}) == {"mode": "minor"}
    assert score_for({"style": ""}, None) is None
    with composer_tab_with_model(qtbot, tmp_path, "score-test", _score_model()) as tab:
        g = tab.gen_box
        g.refresh_models(select="jazz")
        qtbot.waitUntil(lambda: g._score is not None, timeout=60000)
        assert not g.key_combo.isEnabled() and not g.metre_combo.isEnabled()
        g.key_combo.setCurrentIndex(g.key_combo.findData("G|minor"))
        g.metre_combo.setCurrentIndex(g.metre_combo.findData("6/8"))
        assert g.settings().score is None  # jazz takes none
        g.model_combo.setCurrentIndex(g.model_combo.findData("score-test"))
        qtbot.waitUntil(lambda: g._score is not None, timeout=60000)
        assert g.key_combo.isEnabled() and g.style_combo.isEnabled()
        model = g.style_combo.model()
        assert model.item(g.style_combo.findData("nottingham")).isEnabled()
        assert not model.item(g.style_combo.findData("jazz")).isEnabled()  # not a style this model knows
        assert g.settings().score == {"key": "G", "mode": "minor", "metre": "6/8"}
        assert {"style", "key", "metre"} <= set(tab.persist())


def test_fit_conditions_moves_only_the_condition_embeddings():
    from musiclab.composer.events import load_corpus
    from musiclab.composer.model import add_conditions, new_model
    from musiclab.composer.train import fit_conditions, score_conditions

    files = sorted(data_file("midi", "nottingham").glob("*.mid"))[:10]
    pieces = load_corpus(files).pieces
    torch.manual_seed(0)
    m = add_conditions(new_model("small"), score_conditions(pieces, 1), "score")
    before = {k: v.clone() for k, v in m.net.state_dict().items()}
    rep = fit_conditions(m, pieces[:8], pieces[8:], head=48, epochs=2, lr=5e-2, batch=4, cond_dropout=0.0)
    after = m.net.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == ["cond.weight"]
    assert float(after["cond.weight"][0].abs().sum()) == 0.0  # row 0, "not given", stays zero
    assert rep["epochs"] == 2 and rep["val_told"] <= rep["history"][0]["val_told"] + 1e-9
    assert m.meta["condition_fit"]["head"] == 48 and all(p.requires_grad for p in m.net.parameters())
    with pytest.raises(MusiclabError):
        fit_conditions(new_model("small"), pieces[:2], pieces[2:3])
    # balanced on mode: every epoch holds as many tunes of the rarer mode as of the commoner
    from musiclab.composer.labels import piece_labels

    every = sorted(data_file("midi", "nottingham").glob("*.mid"))
    minor = [f for f in every if piece_labels(str(f), f.name)["mode"] == "minor"][:2]
    mixed = load_corpus(files[:5] + minor).pieces
    modes = [piece_labels(p.source, p.name)["mode"] for p in mixed]
    assert modes.count("minor") == 2 and modes.count("major") == 5
    rep = fit_conditions(m, mixed, pieces[8:], head=48, epochs=1, lr=5e-2, batch=4, balance="mode")
    assert rep["balance"] == "mode" and rep["pieces_per_epoch"] == 10
    with pytest.raises(MusiclabError, match="balance"):
        fit_conditions(m, pieces[:8], pieces[8:], epochs=1, balance="tempo")


def test_any_key_is_drawn_from_the_style_keys():
    from musiclab.composer import session as S
    from musiclab.composer.train import key_prior

    prior = key_prior([{"style": "nottingham", "key": "G", "mode": "major"},
                       {"style": "nottingham", "key": "D", "mode": "minor"},
                       {"style": "oneills", "key": "C", "mode": "major"}, {"style": None, "key": None}])
    assert prior == {"": {"G|major": 1, "D|minor": 1, "C|major": 1}, "nottingham": {"G|major": 1, "D|minor": 1},
                     "oneills": {"C|major": 1}}
    m = _score_model()
    m.meta["key_prior"] = prior
    assert S.draw_key(m, {"style": "oneills"}, 3) == {"key": "C", "mode": "major"}
    assert S.draw_key(m, {"style": "nottingham", "mode": "minor"}, 5) == {"key": "D", "mode": "minor"}
    drawn = {S.draw_key(m, {"style": "nottingham"}, s)["key"] for s in range(30)}
    assert drawn == {"G", "D"}
    assert S.draw_key(m, None, 1) == S.draw_key(m, None, 1)  # seeded
    res = S.compose(m, [], S.GenerateSettings(length=20, seed=2, score={"style": "oneills"}))
    assert res.settings.score == {"style": "oneills", "key": "C", "mode": "major"} and res.key == "C"
    primed = S.compose(m, list(res.events[:8]), S.GenerateSettings(length=10, seed=2, score={"style": "oneills"}))
    assert primed.settings.score == {"style": "oneills"}  # a primer has its own key: none is drawn
    del m.meta["key_prior"]
    assert S.draw_key(m, None, 1) is None


def test_the_shipped_fiddle_model_takes_style_key_and_metre():
    from musiclab.composer import session as S
    from musiclab.composer.generate import events_to_notes
    from musiclab.composer.labels import scale_pcs
    from musiclab.models import list_models, resolve_model

    assert "fiddle" in list_models("composer")
    assert Path(resolve_model("composer", "fiddle")).with_suffix(".md").is_file()
    what = S.probe_conditions("fiddle")
    assert what["moods"] == [] and what["score"]["style"] == ["nottingham", "oneills", "ryans"]
    assert {"2/4", "3/4", "4/4", "6/8", "9/8"} == set(what["score"]["metre"]) and len(what["score"]["key"]) == 12
    m = S.load_model("fiddle")
    assert m.meta["guidance"] == 3.0 and m.meta["key_prior"]["nottingham"]["G|major"] > 100
    res = S.compose(m, [], S.GenerateSettings(length=120, seed=3, score={"style": "nottingham", "key": "Eb"}))
    notes = events_to_notes(res.events)
    inside = sum(n[1] for n in notes if n[2] % 12 in scale_pcs("Eb")) / sum(n[1] for n in notes)
    assert inside > 0.8 and res.key == "Eb"  # a key the Nottingham tunes are almost never in


def test_key_profile_and_the_minor_key_bias(tmp_path):
    """The key profile is counted from real tunes up from their signature's tonic; a key bias
    for the asked mode moves the pitches towards it (E minor, asked as G + minor: more E and B)
    without changing how often a pitch rather than a rest comes; no bias, the same events as
    before; a malformed profile or bias in a file is refused."""
    from musiclab.composer import generate as G
    from musiclab.composer.events import load_corpus
    from musiclab.composer.labels import piece_labels
    from musiclab.composer.model import check_key_profile, load_composer, save_composer
    from musiclab.composer.train import key_profile
    from musiclab.errors import ModelFileError

    files = sorted(data_file("midi", "nottingham").glob("*.mid"))[:12]
    pieces = load_corpus(files).pieces
    prof = key_profile(pieces, [piece_labels(p.source, p.name) for p in pieces])
    assert set(prof) == {"major"} and abs(sum(prof["major"]) - 1) < 1e-9
    do, re_, di = prof["major"][0], prof["major"][2], prof["major"][1]
    assert do > di * 10 and re_ > di * 10  # scale degrees over chromatic neighbours

    m = _score_model()
    minor = [0.17, 0.003, 0.11, 0.002, 0.2, 0.03, 0.012, 0.11, 0.02, 0.22, 0.001, 0.12]
    m.meta["key_profile"] = {"major": prof["major"], "minor": minor}
    cid = G._condition_id(m, {"key": "G", "mode": "minor"})
    plain = G.generate(m, [], 60, seed=3, condition={"key": "G", "mode": "minor"})
    assert G.key_bias_vector(m, cid) is None  # a profile but no bias: nothing changes
    m.meta["key_bias"] = {"minor": 2.0}
    v = G.key_bias_vector(m, cid)
    assert v.shape == (128,) and v[64] > v[67] > v[63]  # E (la of G) over G (do) over Eb
    assert G.key_bias_vector(m, G._condition_id(m, {"key": "G", "mode": "major"})) is None  # no major bias

    def pitch_classes(bias):
        m.meta["key_bias"] = {"minor": bias}
        s = G._EventSampler(m, [], 1.0, 0, 1.0, 0, condition=cid)
        lg = s.logits.astype(np.float64)
        p = np.exp(lg - lg.max())
        p /= p.sum()
        pcs = np.bincount(np.arange(128) % 12, weights=p[2:130], minlength=12)
        return pcs / pcs.sum(), p[2:130].sum()

    (pc0, mass0), (pc2, mass2) = pitch_classes(0.0), pitch_classes(2.0)
    assert pc2[4] + pc2[11] > pc0[4] + pc0[11] + 0.1  # E and B
    assert abs(mass2 - mass0) < 1e-5  # pitch against rest/duration: the net's own odds
    m.meta["key_bias"] = {"minor": 0.0}
    assert G.generate(m, [], 60, seed=3, condition={"key": "G", "mode": "minor"}) == plain

    for bad in ({"key_profile": {"minor": [0.1] * 11}}, {"key_profile": {"dorian": [0.1] * 12}},
                {"key_profile": {"minor": [0.0] + [0.1] * 11}}, {"key_bias": {"minor": 1.0}},
                {"key_profile": {"major": [0.1] * 12}, "key_bias": {"minor": 1.0}},
                {"key_profile": {"minor": [0.1] * 12}, "key_bias": {"minor": 9.0}},
                {"style_chords": {"oneills": 2.0}}, {"style_chords": [0.1]}):
        with pytest.raises(ModelFileError):
            check_key_profile(bad, "x.pt")
    m.meta["key_bias"] = {"minor": float("nan")}
    path = tmp_path / "bad.pt"
    save_composer(m, path)
    with pytest.raises(ModelFileError, match="key bias"):
        load_composer(path)


def test_a_melody_only_style_gets_no_chords():
    """Asked for a style whose training tunes have no chords, every generated event is one
    note or a rest; another style keeps its chords; the shares are counted from real tunes."""
    from musiclab.composer import generate as G
    from musiclab.composer.events import load_corpus
    from musiclab.composer.labels import piece_labels
    from musiclab.composer.train import style_chords

    files = sorted(data_file("midi", "nottingham").glob("*.mid"))[:6]
    pieces = load_corpus(files).pieces
    share = style_chords(pieces, [piece_labels(p.source, p.name) for p in pieces])
    assert set(share) == {"nottingham"} and 0.05 < share["nottingham"] < 0.6  # melody + chords

    m = _score_model()
    with torch.no_grad():  # a net that likes chords: pitch after pitch
        m.net.out.bias[2:130] += 3.0
    m.meta["style_chords"] = {"nottingham": share["nottingham"], "oneills": 0.0}

    def chords(style):
        evs = G.generate(m, [], 120, seed=1, condition={"style": style}, form="free")
        return sum(1 for e in evs if len(e[0]) >= 2)

    assert chords("nottingham") > 10
    assert chords("oneills") == 0
    m.meta["style_chords"] = {"nottingham": share["nottingham"]}  # a style the file has no share for
    assert chords("oneills") > 10


def test_a_style_keeps_to_its_pitch_range_and_strains_still_end():
    """Asked for a style with a pitch range (counted from real tunes, widened by the
    transposition augmentation), no note falls outside it; melody-only AABB tunes keep time
    (every strain ends: no run of zero-length notes at a strain's end)."""
    from musiclab.composer import generate as G
    from musiclab.composer.events import load_corpus
    from musiclab.composer.labels import piece_labels
    from musiclab.composer.train import style_range

    files = sorted(data_file("midi", "nottingham").glob("*.mid"))[:6]
    pieces = load_corpus(files).pieces
    rng = style_range(pieces, [piece_labels(p.source, p.name) for p in pieces])
    ps = [q for p in pieces for ev in p.events for q in ev[0]]
    assert rng["nottingham"][0] <= min(ps) - 5 + 3 and rng["nottingham"][1] >= max(ps) + 6 - 3

    m = _score_model()
    m.meta["style_range"] = {"oneills": [60, 72]}
    m.meta["style_chords"] = {"oneills": 0.0}
    evs = G.generate(m, [], 150, seed=2, condition={"style": "oneills"}, form="free")
    assert all(60 <= q <= 72 for e in evs for q in e[0]) and any(e[0] for e in evs)
    free = G.generate(m, [], 150, seed=2, condition={"style": "nottingham"}, form="free")
    assert any(q < 60 or q > 72 for e in free for q in e[0])
    with pytest.raises(Exception):
        from musiclab.composer.model import check_key_profile

        check_key_profile({"style_range": {"oneills": [80, 60]}}, "x.pt")
    # one 1/12 quarter before a strain's end, a net that likes zero-length notes still moves on
    from musiclab.composer import encoding as enc

    with torch.no_grad():
        m.net.out.bias[enc.D0] += 30.0
    s = G._EventSampler(m, [], 1.0, 0, 1.0, 0, voices="melody", condition=G._condition_id(m, {"style": "oneills"}))
    s.feed(((64,), "E4", "11/12"))
    got = [s.sample(boundary=1.0) for _ in range(3)]
    assert got[0] is not None and Fraction(got[0][2]) == Fraction(1, 12) and got[1] is None


def test_the_musicality_panel_judges_against_the_asked_collection(tmp_path):
    """A tune asked for a melody-only collection kept as ABC (no MIDI) is judged against that
    collection's tunes read as events; asked for nothing, against the MIDI of the sources."""
    from musiclab.composer.judge import judge_result, reference_for_model

    d = tmp_path / "ryansMammoth"
    d.mkdir()
    tunes = ["GABc dcBA|GABc d2d2|edcB AGFE|D2F2 A4|", "DFAd fdAF|GBdg bgdB|AceA cBAG|F2D2 D4|",
             "cBAG FEDC|DEFG ABcd|edcB AGFE|D4 D4|", "EFGA BcBA|GFED EFGA|B2c2 d2e2|f8|"]
    for i, body in enumerate(tunes):
        (d / f"Tune{i}.abc").write_text(f"X: 1\nT: Tune {i}\nM: 4/4\nL: 1/8\nK:D\n{body}\n")
    notts = data_file("midi", "nottingham")
    meta = {"sources": [str(notts), str(d)], "style_chords": {"nottingham": 0.2, "ryans": 0.0}}
    ref, desc, ceiling = reference_for_model(meta, style="ryans")
    assert desc == "ryansMammoth (4 tunes)" and len(ref) == 4 and ceiling is not None
    _, desc_none, _ = reference_for_model(meta)
    assert desc_none.startswith("nottingham (")
    notes = [(i * 0.5, 0.5, 62 + (i * 5) % 12) for i in range(64)]
    rep = judge_result(meta, notes, style="ryans")
    assert rep["reference_name"] == "ryansMammoth (4 tunes)" and 0 < rep["mean_oa"] <= 1
