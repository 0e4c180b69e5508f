"""The self-copy mixture: match lengths, the fit, model-file checks, eval and generation."""

import json

import numpy as np
import pytest
import torch

from musiclab.cli import main
from musiclab.composer import encoding as enc
from musiclab.composer.selfcopy import CAP, N_BUCKETS, CopyParams, Tracker, bucket, fit_lambdas
from musiclab.errors import ModelFileError

from conftest import data_file

torch.set_num_threads(1)  # tiny tensors: extra threads only spin (and crawl when the other core is busy)


def brute_distribution(seq, beta):
    """Copy distribution for the event after ``seq``, straight from the definition."""
    n = len(seq)
    w = {}
    L = 0
    for j in range(1, n):
        m = 0
        while m < j and m < CAP and seq[j - 1 - m] == seq[n - 1 - m]:
            m += 1
        if m >= 1:
            L = max(L, m)
            w.setdefault(seq[j], []).append(m)
    if not w:
        return 0, {}
    tot = {k: sum(np.exp(beta * (m - L)) for m in ms) for k, ms in w.items()}
    z = sum(tot.values())
    return L, {k: v / z for k, v in tot.items()}


def test_tracker_matches_the_definition():
    rng = np.random.default_rng(0)
    for alphabet in (2, 3, 6):
        seq = [int(x) for x in rng.integers(0, alphabet, 120)]
        seq += seq[:40]  # a long exact repeat (exercises the cap)
        tr = Tracker()
        for i, x in enumerate(seq):
            L, ids, p = tr.distribution(0.7)
            bL, bd = brute_distribution(seq[:i], 0.7)
            assert L == bL
            got = {tr.keys[a]: b for a, b in zip(ids.tolist(), p.tolist())}
            assert got.keys() == bd.keys()
            for k in got:
                assert got[k] == pytest.approx(bd[k], rel=1e-9)
            tr.push(x)


def test_a_repeated_phrase_is_predicted_by_the_copy():
    phrase = [("a",), ("b",), ("c",), ("a",), ("d",), ("e",)]
    tr = Tracker()
    for k in phrase + phrase[:3]:
        tr.push(k)
    L, ids, p = tr.distribution(2.0)
    assert L == 3  # "a b c" matches the opening (nothing before it to extend the match)
    best = tr.keys[int(ids[int(np.argmax(p))])]
    assert best == ("a",)  # what followed "a b c" the first time


def test_fit_lambdas_learns_how_far_to_trust_the_copy():
    rng = np.random.default_rng(1)
    n = 4000
    b = np.where(rng.random(n) < 0.5, bucket(2), bucket(20))
    pm = np.full(n, 0.05)
    # long matches: the copy is right 95 % of the time; short ones: 10 %
    right = np.where(b == bucket(20), rng.random(n) < 0.95, rng.random(n) < 0.10)
    pc = np.where(right, 1.0, 0.0)
    lam, ll = fit_lambdas(b, pm, pc)
    assert lam[0] == 0 and lam.shape == (N_BUCKETS,)
    assert lam[bucket(20)] > 0.9
    assert lam[bucket(2)] < 0.2
    assert np.isfinite(ll)


@pytest.mark.parametrize("bad", [
    {"version": 2, "cap": CAP, "edges": [1], "beta": 1.0, "lam": [0.0] * N_BUCKETS},
    {"version": 1, "cap": CAP, "edges": [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32], "beta": 1.0, "lam": [0.5] * 3},
    {"version": 1, "cap": CAP, "edges": [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32], "beta": 1.0, "lam": [1.5] * N_BUCKETS},
    {"version": 1, "cap": CAP, "edges": [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32], "beta": float("nan"),
     "lam": [0.5] * N_BUCKETS},
    {"version": 1, "cap": CAP, "edges": [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32], "beta": "x", "lam": []},
    "not a dict",
])
def test_invalid_copy_parameters_are_refused(bad):
    with pytest.raises(ModelFileError):
        CopyParams.from_meta(bad, "m.pt")


def test_model_file_with_broken_copy_metadata_gives_a_clear_message(tmp_path):
    from musiclab.composer.model import load_composer, new_model, save_composer

    m = new_model("small")
    m.set_copy(CopyParams(1.0, np.linspace(0, 0.9, N_BUCKETS)), fit_on="test")
    ok = save_composer(m, tmp_path / "ok.pt")
    back = load_composer(ok)
    assert back.copy is not None and back.copy.beta == 1.0
    assert back.copy.lam_for(0) == 0.0 and back.copy.lam_for(40) == pytest.approx(0.9)
    obj = torch.load(ok, weights_only=True)
    obj["meta"]["copy"]["lam"] = [7.0] * N_BUCKETS
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="copy parameters"):
        load_composer(tmp_path / "bad.pt")


def repetitive_piece(name, reps=4, seed=0):
    """A tune that plays one 24-event strain ``reps`` times (folk tunes repeat their strains)."""
    from musiclab.composer.events import Piece

    rng = np.random.default_rng(seed)
    strain = []
    for _ in range(24):
        p = int(rng.integers(60, 80))
        k = int(rng.choice([6, 12, 24]))
        strain.append(((p,), "x", enc.dur_string(k)))
    return Piece(name, f"{name}.mid", strain * reps)


def test_eval_with_the_copy_mixture_predicts_repeats():
    from musiclab.composer.evaluate import combine, event_records, fit_copy
    from musiclab.composer.model import new_model

    torch.manual_seed(0)
    m = new_model("small")  # untrained: the LSTM alone is close to uniform
    m.net.eval()
    fit = [repetitive_piece(f"f{i}", seed=i) for i in range(3)]
    test = [repetitive_piece(f"t{i}", seed=10 + i) for i in range(2)]
    params, info = fit_copy(event_records(m, fit))
    assert info["events"] == 3 * 96
    recs = event_records(m, test)
    n, nr, h1_lstm, _, nll_lstm = combine(recs, None)
    n2, nr2, h1_mix, h5_mix, nll_mix = combine(recs, params)
    assert (n, nr) == (n2, nr2) == (192, 192)
    assert h1_lstm / n < 0.2
    # every event after the first strain (and its first event) is a repeat: 3/4 of the events
    assert h1_mix / n > 0.7
    assert nll_mix < 0.5 * nll_lstm


def test_generation_repeat_zero_is_the_lstm_and_copying_continues_a_phrase():
    from musiclab.composer.generate import generate
    from musiclab.composer.model import new_model

    torch.manual_seed(0)
    m = new_model("small")
    m.net.eval()
    plain = generate(m, [], 60, temperature=1.0, seed=5)
    m.set_copy(CopyParams(2.0, np.r_[0.0, np.full(N_BUCKETS - 1, 0.99)]))
    assert generate(m, [], 60, temperature=1.0, seed=5, repeat=0.0) == plain
    a = generate(m, [], 60, temperature=1.0, seed=5)
    assert a == generate(m, [], 60, temperature=1.0, seed=5)  # reproducible with the copy too
    primer = repetitive_piece("p", reps=2).events
    cont = generate(m, primer, 24, temperature=0.0, seed=1)
    # greedy with a trusted copy: the strain comes back exactly
    assert [enc.event_key(e) for e in cont] == [enc.event_key(e) for e in primer[:24]]


def test_cli_fit_copy_and_eval_without_it(tmp_path, capsys):
    from musiclab.composer.model import new_model, save_composer

    folder = data_file("midi", "nottingham")
    test_dir = tmp_path / "tunes"
    test_dir.mkdir()
    for f in sorted(folder.glob("*.mid"))[50:53]:
        (test_dir / f.name).symlink_to(f)
    torch.manual_seed(0)
    src = save_composer(new_model("small"), tmp_path / "plain.pt")
    out = tmp_path / "with copy.pt"
    rc = main(["composer", "fit-copy", "--model", str(src), "--midi", str(test_dir), "--out", str(out),
               "--workers", "1"])
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and out.is_file() and info["pieces"] == 3 and info["beta"] > 0
    res = {}
    for name, extra in (("copy", []), ("plain", ["--no-copy"])):
        rc = main(["composer", "eval", "--model", str(out), "--midi", str(test_dir), "--json", "--workers", "1"] + extra)
        assert rc == 0
        res[name] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["copy"]["events"] == res["plain"]["events"] > 300
    # Nottingham tunes repeat their strains: the copy mixture must help a lot
    assert res["copy"]["nll_per_event"] < res["plain"]["nll_per_event"] - 1.0
    assert res["copy"]["top1"] > res["plain"]["top1"] + 0.2


def test_shipped_models_carry_a_copy_mixture():
    from musiclab.composer.model import load_composer

    for name in ("folk", "jazz"):
        m = load_composer(name)
        assert m.copy is not None, name
        assert m.meta["copy"]["fit_on"] and m.meta["copy"]["fit_pieces"] > 0
        assert m.copy.lam_for(32) > 0.8  # long exact matches are trusted


def test_self_repeated_share_and_the_generate_report(tmp_path, capsys):
    from musiclab.composer.stats import self_repeated_share

    strain = repetitive_piece("s", reps=1).events  # 24 distinct-ish events
    assert self_repeated_share(strain[:5]) is None
    once = self_repeated_share(strain)
    twice = self_repeated_share(strain * 2)
    assert once < 0.1
    # of the 41 windows of 48 events, the 17 lying wholly in the second copy (starts 24..40) repeat;
    # the 7 that straddle the two copies are new
    assert twice == pytest.approx(17 / 41)
    rc = main(["composer", "generate", "--model", "folk", "--length", "120", "--seed", "2", "--repeat", "0",
               "--out", str(tmp_path / "a.mid")])
    g0 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rc1 = main(["composer", "generate", "--model", "folk", "--length", "120", "--seed", "2",
                "--out", str(tmp_path / "b.mid")])
    g1 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == rc1 == 0 and g0["repeat"] == 0 and g1["repeat"] == 1
    assert 0 <= g0["self_repeated"] <= 1 and 0 <= g1["self_repeated"] <= 1


def test_per_event_hits_add_up_and_repeats_are_where_the_copy_wins():
    """``combine(..., hits=)`` gives one top-1 flag per representable event, summing to the
    reported hits; split by the copy's match length (what benchmarks/composer_lead.py reports),
    the untrained LSTM's hits with the copy lie in the repeats."""
    from musiclab.composer.evaluate import combine, event_records, fit_copy
    from musiclab.composer.model import new_model
    from musiclab.composer.selfcopy import piece_copy_stats

    torch.manual_seed(0)
    m = new_model("small")
    m.net.eval()
    params, _ = fit_copy(event_records(m, [repetitive_piece(f"f{i}", seed=i) for i in range(3)]))
    recs = event_records(m, [repetitive_piece(f"t{i}", seed=10 + i) for i in range(2)])
    hits: dict = {}
    _, nr, h1, _, _ = combine(recs, params, hits)
    assert len(hits) == nr == 192 and sum(hits.values()) == h1
    match = [piece_copy_stats(r["keys"], 1.0)[0] for r in recs]  # the copy's longest match, per event
    long_rep = [hit for (ri, ei), hit in hits.items() if match[ri][ei] >= 8]
    novel = [hit for (ri, ei), hit in hits.items() if match[ri][ei] == 0]
    assert long_rep and novel
    assert sum(long_rep) / len(long_rep) > 0.9 > 0.3 > sum(novel) / len(novel)
