"""Composer core: event extraction, encoding, skipped files, trigram, training, eval, generation."""

import io
import math
import re

import mido
import numpy as np
import pytest

from musiclab.composer import encoding as enc
from musiclab.composer.events import Corpus, load_corpus, parse_file, seed_token, split_by_piece
from musiclab.errors import ModelFileError

from conftest import data_file


def notts(n=6):
    folder = data_file("midi", "nottingham")
    return sorted(folder.glob("*.mid"))[:n]


def write_midi(path, notes, channel=0):
    mf = mido.MidiFile()
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    for p in notes:
        tr.append(mido.Message("note_on", note=p, velocity=80, channel=channel, time=0))
        tr.append(mido.Message("note_off", note=p, velocity=0, channel=channel, time=480))
    mf.save(str(path))
    return path


def test_events_are_the_seed_tokens():
    res = parse_file(notts(1)[0])
    assert res["skipped"] is None
    name, events = res["pieces"][0]
    toks = [seed_token((tuple(e[0]), e[1], e[2])) for e in events]
    assert len(toks) > 50
    pat = re.compile(r"^(rest|[A-G][#-]*-?\d|\d+(\.\d+)*) (\d+(\.\d+)?|\d+/\d+)$")
    assert all(pat.match(t) for t in toks), [t for t in toks if not pat.match(t)][:5]
    assert any(" " in t and "." in t.split()[0] for t in toks)  # chords as normalOrder


def test_known_melody(tmp_path):
    p = write_midi(tmp_path / "scale it's.mid", [60, 62, 64])
    c = load_corpus([p])
    evs = c.pieces[0].events
    notes = [e for e in evs if e[0]]
    assert [seed_token(e) for e in notes] == ["C4 1.0", "D4 1.0", "E4 1.0"]


def test_bad_files_are_skipped_with_reasons(tmp_path):
    drums = write_midi(tmp_path / "drums.mid", [36, 38, 42], channel=9)
    empty = tmp_path / "empty.mid"
    mf = mido.MidiFile()
    mf.tracks.append(mido.MidiTrack())
    mf.save(str(empty))
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06garbage" + bytes(range(50)))
    good = write_midi(tmp_path / "good.mid", [60, 64, 67])
    c = load_corpus([tmp_path])
    reasons = {p.split("/")[-1]: r for p, r in c.skipped}
    assert "drums" in reasons["drums.mid"]
    assert reasons["empty.mid"] == "no notes"
    assert reasons["corrupt.mid"].startswith("unreadable")
    assert [p.name for p in c.pieces] == ["good.mid"]


def test_factorised_encoding_round_trip():
    ev = ((60, 64, 67), "0.4.7", "1/3")
    toks = enc.encode_event(ev)
    assert toks == [enc.P0 + 60, enc.P0 + 64, enc.P0 + 67, enc.D0 + 4]
    assert enc.decode_event(toks) == ((60, 64, 67), 4)
    assert enc.encode_event(((), "rest", "2.5")) == [enc.REST, enc.D0 + 30]
    assert enc.encode_event(((60,), "C4", "40.0")) is None  # beyond 16 quarters
    a = enc.allowed_matrix()
    assert a[enc.BOS, enc.P0 + 60] and not a[enc.BOS, enc.D0]
    assert a[enc.P0 + 60, enc.P0 + 61] and not a[enc.P0 + 60, enc.P0 + 59]
    assert a[enc.REST, enc.D0 + 12] and not a[enc.REST, enc.P0 + 70]


def test_trigram_is_a_distribution():
    from musiclab.composer.stats import Trigram, fit_trigram

    c = load_corpus(notts(4))
    tg = Trigram(fit_trigram([p.events for p in c.pieces]))
    d = tg.dist(0, 0)
    assert abs(d.sum() - 1) < 1e-9
    w = tg.index[seed_token(c.pieces[0].events[0])]
    assert abs(tg.dist(w, w).sum() - 1) < 1e-9
    s = tg.score([p.events for p in c.pieces])
    assert 0 < s["top1"] <= 1 and math.isfinite(s["nll_per_event"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    from musiclab.composer.model import load_composer
    from musiclab.composer.train import prepare_model, train_model

    torch.set_num_threads(1)
    c = load_corpus(notts(8))
    tr, va = split_by_piece(c.pieces, 0.25)
    assert tr and va
    out = tmp_path_factory.mktemp("m") / "tiny.pt"
    m = prepare_model("small", tr, va, ["nottingham"])
    points = []
    res = train_model(m, tr, va, out, epochs=2, seq_len=32, batch=8, on_partial=points.append)
    hist = res["history"]
    assert out.is_file() and len(hist) == 2
    assert [p.record for p in points if p.kind == "val"] == hist  # loss points reach on_partial
    assert hist[-1]["val_loss"] < math.log(enc.VOCAB)  # learnt something beyond uniform
    return load_composer(out), c, va


def test_eval_keys_and_ranges(tiny):
    from musiclab.composer.evaluate import evaluate

    model, c, va = tiny
    res = evaluate(model, Corpus(va, [("x.mid", "no notes")]))
    assert list(res) == ["pieces", "skipped", "events", "top1", "top5", "nll_per_event", "oov_rate", "baselines"]
    assert list(res["baselines"]["trigram"]) == ["top1", "nll_per_event"]
    assert res["skipped"] == 1 and res["events"] == sum(len(p.events) for p in va)
    assert 0 <= res["top1"] <= res["top5"] <= 1
    assert res["oov_rate"] < 0.02
    assert res["nll_per_event"] > 0


def test_beam_top1_is_at_least_as_likely_as_the_greedy_event(tiny):
    """The beam's best event has a probability >= the greedy (argmax per sub-token) event."""
    import torch

    from musiclab.composer.evaluate import beam_topk

    model, c, va = tiny
    net = model.net
    assert model.arch == "event-lstm-v2" and net.metre
    toks = enc.encode_piece(va[0].events[:20])
    x = torch.tensor([toks])
    onset = enc.positions(toks)[-1]
    with torch.inference_mode():
        logits, (h, cc) = net(x)
        first = torch.log_softmax(logits[0, -1:], -1)
        best = beam_topk(net, h, cc, first, beam=8, pos=torch.tensor([onset]))[0]
        # greedy
        state, lp, tok, total = (h, cc), first[0], None, 0.0
        seq = []
        while True:
            tok = int(lp.argmax())
            total += float(lp[tok])
            seq.append(tok)
            if tok >= enc.D0:
                break
            lg, state = net(torch.tensor([[tok]]), state, torch.tensor([[onset]]))
            lp = torch.log_softmax(lg[0, -1], -1)
    assert best[0][1] >= total - 1e-4
    assert all(best[i][1] >= best[i + 1][1] for i in range(len(best) - 1))


def test_generation_is_reproducible_and_writes_midi(tiny, tmp_path):
    from musiclab.composer.generate import events_to_midi_bytes, generate, write_output
    from musiclab.composer.stats import copied_share

    model, c, va = tiny
    a = generate(model, va[0].events[:16], 60, temperature=1.0, top_p=0.9, seed=7)
    b = generate(model, va[0].events[:16], 60, temperature=1.0, top_p=0.9, seed=7)
    d = generate(model, va[0].events[:16], 60, temperature=1.0, top_p=0.9, seed=8)
    assert a == b and a != d and len(a) == 60
    mf = mido.MidiFile(file=io.BytesIO(events_to_midi_bytes(a)))
    assert sum(1 for m in mf.tracks[0] if m.type == "note_on" and m.velocity > 0) >= sum(1 for e in a if e[0])
    out = write_output(a, tmp_path / "out put.mid")
    assert out.stat().st_size > 50
    share = copied_share(a, model.ngram_hashes)
    assert 0.0 <= share <= 1.0
    # a training piece copied verbatim is 100 % copied
    train_piece = [p for p in c.pieces if p not in va][0]
    assert copied_share(train_piece.events[:40], model.ngram_hashes) == 1.0


def test_metrical_positions():
    """The metre input of a sub-token is the onset (1/12-quarter steps since BOS) of the
    event being predicted after it; BOS resets it."""
    evs = [((60,), "C4", "1.0"), ((), "rest", "0.5"), ((60, 64, 67), "0.4.7", "1.5"), ((62,), "D4", "1/3")]
    toks = enc.encode_piece(evs)
    assert enc.positions(toks) == [0, 0, 12, 12, 18, 18, 18, 18, 36, 36, 40]
    assert enc.positions(toks + toks)[len(toks)] == 0
    long = enc.encode_piece([((60,), "C4", "16.0")] * 10)
    assert max(enc.positions(long)) < enc.POS_MOD


def test_numpy_generator_matches_the_metre_net(tiny):
    """The numpy step (generation) computes the same logits as the torch net, positions included."""
    import torch

    from musiclab.composer.generate import _NpLSTM

    model, c, va = tiny
    net = model.net
    assert float(net.pos4.weight.detach().abs().sum()) > 0  # trained: the metre embeddings moved off zero
    toks = enc.encode_piece(va[0].events[:12])
    with torch.inference_mode():
        lg, _ = net(torch.tensor([toks]))
    npl = _NpLSTM(net)
    st = [(np.zeros(npl.H, np.float32), np.zeros(npl.H, np.float32)) for _ in npl.layers]
    pos, outs = 0, []
    for t in toks:
        pos = enc.next_pos(t, pos)
        out, st = npl.step(t, st, pos)
        outs.append(out)
    assert np.abs(np.stack(outs) - lg[0].numpy()).max() < 1e-2
    # the metre matters: other positions give other logits
    st0 = [(np.zeros(npl.H, np.float32), np.zeros(npl.H, np.float32)) for _ in npl.layers]
    a, _ = npl.step(toks[1], st0, 0)
    b, _ = npl.step(toks[1], st0, 6)
    assert np.abs(a - b).max() > 1e-6


def test_old_event_lstm_files_still_load_and_upgrade(tmp_path, tiny):
    """A v1 (no metre) file loads and evaluates; upgrading it keeps its outputs exactly."""
    import torch

    from musiclab.composer.evaluate import evaluate
    from musiclab.composer.model import load_composer, new_model, save_composer, upgrade_to_metre

    model, c, va = tiny
    old = new_model("default-v1")
    old.net = old.net.eval()
    assert old.arch == "event-lstm" and not old.net.metre
    p = save_composer(old, tmp_path / "v1.pt", half=False)
    m1 = load_composer(p)
    assert m1.arch == "event-lstm"
    res = evaluate(m1, Corpus(va[:1], []))
    assert 0 <= res["top1"] <= 1
    x = torch.tensor([enc.encode_piece(va[0].events[:10])])
    with torch.inference_mode():
        a, _ = m1.net(x)
        m2 = upgrade_to_metre(m1)
        m2.net.eval()
        b, _ = m2.net(x)
    assert m2.arch == "event-lstm-v2" and m2.net.metre
    assert torch.allclose(a, b)


def test_foreign_model_file_is_refused(tmp_path):
    from musiclab.composer.model import load_composer

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load_composer(bad)
    with pytest.raises(ModelFileError):
        load_composer("no-such-model-name")


def test_synth_renders_audible_audio(tmp_path):
    from musiclab.audio.synth import render_midi
    from musiclab.composer.generate import events_to_midi_bytes

    ev = [((69,), "A4", "1.0"), ((), "rest", "0.5"), ((60, 64, 67), "0.4.7", "1.0")]
    y = render_midi(events_to_midi_bytes(ev, tempo=120), sr=22050, program=73)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) > 22050 * 1.0
    assert np.abs(y[:22050 // 2]).max() > 0.01  # the A4 sounds
