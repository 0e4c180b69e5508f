"""The pointer composer net (``event-lstm-ptr``): the LSTM plus a learnt pointer over the piece's
own past. Its three implementations (a whole piece at once, window by window with the state
carried, the numpy sampler step by step) must agree; the pointer may only vote for sub-tokens
that followed earlier positions of the same piece within its reach; eval's beam and exact
scoring must see the same probabilities as the whole-piece pass."""

import math

import numpy as np
import pytest

from musiclab.composer import encoding as enc
from musiclab.composer.events import load_corpus, split_by_piece
from musiclab.errors import ModelFileError

from conftest import data_file

torch = pytest.importorskip("torch")


def notts(n):
    return sorted(data_file("midi", "nottingham").glob("*.mid"))[:n]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(notts(6))


def tiny_ptr(memory=64, gate_bias=0.0, seed=0):
    from musiclab.composer.model import ComposerModel, build_net
    from musiclab.models import make_meta

    torch.manual_seed(seed)
    hp = {"arch": "event-lstm-ptr", "emb": 16, "hidden": 32, "layers": 2, "dropout": 0.0, "ptr_dim": 8,
          "memory": memory}
    net = build_net(hp)
    with torch.no_grad():  # a pointer that looks: random query, gate as asked
        torch.nn.init.normal_(net.wq.weight, std=1.0)
        net.gate.bias.fill_(gate_bias)
    net.eval()
    meta = make_meta("composer", hp["arch"], hparams=hp, preset="pointer")
    meta["representation"] = "sequential"
    return ComposerModel(net=net, meta=meta)


def piece_tensors(piece):
    toks = enc.encode_piece(piece.events)
    x = torch.tensor(toks).unsqueeze(0)
    pos = torch.tensor(enc.positions(toks)).unsqueeze(0)
    return toks, x, pos


def test_a_converted_model_keeps_its_lstm_and_a_closed_gate_gives_it_back(corpus):
    from musiclab.composer.model import load_composer, to_pointer

    base = load_composer("jazz")  # a sequential LSTM without metre inputs (they are added, at zero)
    assert base.arch == "event-lstm"
    toks, x, pos = piece_tensors(corpus.pieces[0])
    with torch.no_grad():
        ref = torch.log_softmax(base.net(x, None, pos)[0], -1)
        before = {k: v.clone() for k, v in base.net.state_dict().items()}
        m = to_pointer(base)
        assert to_pointer(m) is m
        assert m.arch == "event-lstm-ptr" and m.copy is None and "copy" not in m.meta
        sd = m.net.state_dict()
        assert all(torch.equal(sd[k], v) for k, v in before.items())
        lp, _ = m.net(x, None, pos)
        # as converted: half LSTM, half pointer
        allowed = ref > -1e3
        assert float((lp.exp() - ref.exp()).abs().max()) > 0.05
        m.net.gate.bias.fill_(60.0)  # gate shut: exactly the LSTM
        lp, _ = m.net(x, None, pos)
        assert float((lp - ref)[allowed].abs().max()) < 1e-4


def test_window_by_window_equals_the_whole_piece(corpus):
    m = tiny_ptr(memory=40)
    toks, x, pos = piece_tensors(corpus.pieces[1])
    assert len(toks) > 120
    with torch.no_grad():
        whole, _ = m.net(x, None, pos)
        outs, st, at = [], None, 0
        for w in [1, 7, 33, 2, 64, 1, 5000]:
            o, st = m.net(x[:, at : at + w], st, pos[:, at : at + w])
            outs.append(o)
            at += w
            if at >= x.shape[1]:
                break
    ok = whole > -1e3  # (masked entries sit near -1e4, where float32 steps are ~1e-3)
    assert float((torch.cat(outs, 1) - whole)[ok].abs().max()) < 1e-4
    assert torch.allclose(torch.logsumexp(whole[0], -1), torch.zeros(len(toks)), atol=1e-4)


def test_the_pointer_votes_only_within_its_piece_and_its_reach(corpus):
    """With the gate open (g ~ 0) every likely sub-token at a step must have followed an earlier
    position of the same piece at most ``memory`` sub-tokens back."""
    mem = 24
    m = tiny_ptr(memory=mem, gate_bias=-40.0)
    ta, _, _ = piece_tensors(corpus.pieces[2])
    tb, _, _ = piece_tensors(corpus.pieces[3])
    row = ta + tb
    x = torch.tensor(row).unsqueeze(0)
    pos = torch.tensor(enc.positions(ta) + enc.positions(tb)).unsqueeze(0)
    with torch.no_grad():
        lp, _ = m.net(x, None, pos)
    p = lp[0].exp().numpy()
    start_b = len(ta)
    checked = 0
    for t in range(len(row)):
        piece_start = start_b if t >= start_b else 0
        lo = max(piece_start, t - mem)
        allowed = set(np.flatnonzero(enc.allowed_matrix("sequential")[row[t]]).tolist())
        followers = {row[j + 1] for j in range(lo, t)} & allowed  # votes for masked ones are dropped
        if not followers or t == piece_start:
            continue
        likely = set(np.flatnonzero(p[t] > 1e-3).tolist())
        assert likely <= followers, (t, likely - followers)
        checked += 1
    assert checked > 100


def test_the_numpy_sampler_matches_the_torch_net(corpus):
    from musiclab.composer.generate import _NpLSTM

    m = tiny_ptr(memory=30)
    toks, x, pos = piece_tensors(corpus.pieces[4])
    with torch.no_grad():
        ref, _ = m.net(x, None, pos)
    npl = _NpLSTM(m.net)
    st = npl.initial_state()
    plist = enc.positions(toks)
    worst = 0.0
    snaps = {}
    for t, tok in enumerate(toks):
        lg, st = npl.step(tok, st, plist[t])
        if t in (40, 80):
            snaps[t] = (lg, st)
        r = ref[0, t].numpy()
        ok = r > -1e3
        worst = max(worst, float(np.abs(lg[ok] - r[ok]).max()))
    assert worst < 1e-3
    # a restored snapshot continues exactly as the first time (the memory is copied on write)
    lg40, st40 = snaps[40]
    for t in range(41, 81):
        lg40, st40 = npl.step(toks[t], st40, plist[t])
    assert np.allclose(lg40, snaps[80][0], atol=1e-5)
    # ... and a branch from the snapshot does not disturb the saved state after it
    alt = npl.step(enc.REST, snaps[40][1], plist[41])[1]
    npl.step(enc.D0 + 12, alt, plist[41])
    again = snaps[40][1]
    for t in range(41, 81):
        lg_again, again = npl.step(toks[t], again, plist[t])
    assert np.allclose(lg_again, snaps[80][0], atol=1e-5)


@pytest.mark.parametrize("pointer", [True, False])
def test_fed_sub_tokens_skip_only_the_logits(corpus, pointer):
    """``step(..., logits=False)`` (sub-tokens fed, not sampled) returns no logits but the same
    state: the next sampled step's logits are those of a run that computed every step's."""
    from musiclab.composer.generate import _NpLSTM
    from musiclab.composer.model import new_model

    torch.manual_seed(1)
    net = tiny_ptr(memory=30).net if pointer else new_model("small").net
    npl = _NpLSTM(net)
    toks, _, _ = piece_tensors(corpus.pieces[4])
    plist = enc.positions(toks)
    full, lazy = npl.initial_state(), npl.initial_state()
    for t, tok in enumerate(toks[:120]):
        lg_full, full = npl.step(tok, full, plist[t])
        need = t % 4 == 3
        lg_lazy, lazy = npl.step(tok, lazy, plist[t], logits=need)
        if need:
            assert np.allclose(lg_lazy, lg_full, atol=1e-6)
        else:
            assert lg_lazy is None
    assert all(np.allclose(a[0], b[0]) for a, b in zip(full[:2], lazy[:2]))


def test_eval_scores_events_with_the_same_probabilities_as_the_whole_piece(corpus):
    """The beam's log-prob of the true event (from boundary states carrying the keys) equals the
    sum of the whole-piece pass's sub-token log-probs."""
    from musiclab.composer.evaluate import event_records

    m = tiny_ptr(memory=48)
    recs = event_records(m, corpus.pieces[:2], beam=8)
    compared = 0
    for rec in recs:
        for ei, (lp_true, cands) in rec["events"].items():
            k = rec["keys"][ei]
            if k in cands:
                assert abs(cands[k] - lp_true) < 1e-3, (ei, cands[k], lp_true)
                compared += 1
            assert all(v <= 1e-6 for v in cands.values())
    assert compared > 100


def test_train_save_load_generate_and_eval(tmp_path, corpus):
    from musiclab.composer.evaluate import evaluate
    from musiclab.composer.events import Corpus
    from musiclab.composer.generate import generate
    from musiclab.composer.model import load_composer, save_composer
    from musiclab.composer.train import train_model

    torch.set_num_threads(1)
    m = tiny_ptr(memory=64)
    tr, va = split_by_piece(corpus.pieces, 0.34)
    out = tmp_path / "ptr.pt"
    res = train_model(m, tr, va, out, epochs=2, seq_len=48, batch=4)
    assert out.is_file() and res["history"][-1]["val_loss"] < math.log(enc.VOCAB)
    back = load_composer(out)
    assert back.arch == "event-lstm-ptr" and back.net.memory == 64
    a = generate(back, [], 80, temperature=0.9, top_p=0.95, seed=3)
    b = generate(back, [], 80, temperature=0.9, top_p=0.95, seed=3)
    assert a == b and len(a) == 80 and any(e[0] for e in a)
    r = evaluate(back, Corpus(va, []))
    assert 0 <= r["top1"] <= r["top5"] <= 1 and r["nll_per_event"] > 0
    # a file whose pointer sizes make no sense is refused with a clear message
    bad = load_composer(out)
    bad.meta["hparams"]["ptr_dim"] = 0
    save_composer(bad, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="Pointer sizes"):
        load_composer(tmp_path / "bad.pt")


def test_generation_weighs_the_pointer_as_asked(corpus):
    """``pointer=0`` samples the LSTM part alone (= the same net with its gate shut); the model
    file's ``generate_pointer`` is the default weight."""
    from musiclab.composer.generate import generate, model_pointer

    m = tiny_ptr(memory=64, gate_bias=0.0, seed=1)
    primer = corpus.pieces[0].events[:24]
    kw = dict(temperature=0.9, top_p=0.95, seed=5, form="free", repeat=0.0)
    full = generate(m, primer, 60, pointer=1.0, **kw)
    alone = generate(m, primer, 60, pointer=0.0, **kw)
    assert full != alone
    shut = tiny_ptr(memory=64, gate_bias=60.0, seed=1)
    assert generate(shut, primer, 60, pointer=1.0, **kw) == alone
    assert model_pointer(m) == 1.0
    m.meta["generate_pointer"] = 0.0
    assert generate(m, primer, 60, **kw) == alone
    m.meta["generate_pointer"] = "junk"
    assert model_pointer(m) == 1.0
