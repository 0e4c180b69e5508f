"""Events that keep time (onsets), the MIDI writer that places them, and the silence rule."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest

from musiclab.composer import encoding as enc
from musiclab.composer.events import has_onsets, onsets, parse_file, strip_onsets, with_dt
from musiclab.composer.generate import (events_length_quarters, events_to_midi_bytes, events_to_notes, generate,
                                        longest_silence, silence_limit)

from conftest import DATA

NOTTS = DATA / "midi" / "nottingham"  # ../shared/data beside the checkout, or MUSICLAB_DATA
MODELS = Path(__file__).resolve().parents[1] / "resources" / "models" / "composer"


def notts(n):
    """``n`` real Nottingham tunes spread over the set (none when the shared data is missing:
    the parametrized test is then reported as skipped)."""
    files = sorted(NOTTS.glob("*.mid"))
    if len(files) < n:
        return []
    return files[:: max(1, len(files) // n)][:n]


def midi_notes(mf: mido.MidiFile) -> list[tuple[float, int]]:
    """(onset in quarters, pitch) of every tonal note-on."""
    tpq = mf.ticks_per_beat
    out = []
    for tr in mf.tracks:
        t = 0
        for m in tr:
            t += m.time
            if m.type == "note_on" and m.velocity > 0 and m.channel != 9:
                out.append((t / tpq, m.note))
    return sorted(out)


def _matched(a, b, tol=1 / 12 + 1e-6) -> float:
    """Share of notes of ``a`` with a note of the same pitch in ``b`` within ``tol`` quarters."""
    by_pitch: dict[int, np.ndarray] = {}
    for t, p in b:
        by_pitch.setdefault(p, []).append(t)
    by_pitch = {p: np.array(v) for p, v in by_pitch.items()}
    ok = sum(1 for t, p in a if p in by_pitch and np.min(np.abs(by_pitch[p] - t)) <= tol)
    return ok / max(1, len(a))


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("path", notts(4), ids=lambda p: p.name)
def test_real_tunes_come_back_at_their_onsets(path):
    res = parse_file(path)
    evs = [tuple(e) for e in res["pieces"][0][1]]
    assert has_onsets(evs) and all(len(e) == 4 for e in evs)
    times = onsets(evs)
    assert times == sorted(times)  # onset order
    # melody and chords share onsets: some sounding event starts with the one before it
    assert any(e[0] and Fraction(e[3]) == 0 for e in evs[1:])
    orig = midi_notes(mido.MidiFile(str(path), clip=True))
    back = midi_notes(mido.MidiFile(file=io.BytesIO(events_to_midi_bytes(evs))))
    assert _matched(orig, back) == 1.0  # every note of the file, at its onset (1/12 quarter)
    assert _matched(back, orig) >= 0.95  # (music21 splits a few long held chords: re-sounded notes)
    # the seed's sequential writing loses them
    seq = midi_notes(mido.MidiFile(file=io.BytesIO(events_to_midi_bytes(strip_onsets(evs)))))
    assert _matched(orig, seq) < 0.8


def test_sequential_events_keep_the_old_placement():
    evs = [((60,), "C4", "1.0"), ((), "rest", "0.5"), ((62, 65), "2.5", "2.0"), ((64,), "E4", "1/3")]
    assert not has_onsets(evs)
    assert events_to_notes(evs) == [(0.0, 1.0, 60), (1.5, 2.0, 62), (1.5, 2.0, 65), (3.5, 1 / 3, 64)]
    assert events_length_quarters(evs) == pytest.approx(3.5 + 1 / 3)


def test_timed_events_are_placed_by_onset():
    evs = [((72,), "C5", "1.0", "0.0"), ((48, 52, 55), "0.4.7", "3.0", "0.0"), ((74,), "D5", "2.0", "1.0"),
           ((), "rest", "3.0", "0.0"), ((76,), "E5", "1/3", "3.0")]
    notes = events_to_notes(evs)
    assert [(t, p) for t, _, p in notes] == [(0.0, 72), (0.0, 48), (0.0, 52), (0.0, 55), (1.0, 74), (4.0, 76)]
    assert events_length_quarters(evs) == pytest.approx(4 + 1 / 3)
    # a sequential continuation (an old model's) starts where the timed primer ends
    cont = evs + [((60,), "C4", "1.0")]
    assert events_to_notes(cont)[-1][0] == pytest.approx(4 + 1 / 3)
    assert with_dt(strip_onsets(evs), onsets(evs)) == evs


# --------------------------------------------------------------------------- encoding
def test_timed_encoding_round_trip_and_mask():
    evs = [((), "rest", "2.0", "0.0"), ((76,), "E5", "1.0", "2.0"), ((43, 47, 50), "7.11.2", "3.0", "0.0"),
           ((74,), "D5", "1/3", "1.0"), ((70,), "B-4", "0.5", "1/3")]
    toks = enc.encode_piece(evs, representation="timed")
    allowed = enc.allowed_matrix("timed")
    assert allowed.shape == (enc.VOCAB_TIMED, enc.VOCAB_TIMED)
    assert all(allowed[a, b] for a, b in zip(toks, toks[1:]))
    # decode event by event
    got, cur = [], []
    for t in toks[1:]:
        cur.append(t)
        if enc.is_dur(t):
            got.append((enc.decode_event(cur), enc.decode_dt(cur)))
            cur = []
    assert got == [(enc.event_key(e), enc.dt_index(e)) for e in evs]
    # metrical positions move at the DT sub-token: the chord is predicted at the melody note's onset
    pos = enc.positions(toks, timed=True)
    dt_at = [i for i, t in enumerate(toks) if t >= enc.DT0]
    assert [pos[i] for i in dt_at] == [0, 24, 24, 36, 40]
    # the sequential encoding is unchanged by the onsets
    assert enc.encode_piece(evs) == enc.encode_piece(strip_onsets(evs))
    assert max(enc.encode_piece(evs)) < enc.VOCAB


def test_model_files_say_their_representation(tmp_path):
    pytest.importorskip("torch")
    from musiclab.composer.model import load_composer, model_to_dict, new_model, save_composer
    from musiclab.errors import ModelFileError
    from musiclab.models import save_model

    m = new_model("timed-small")
    assert m.meta["representation"] == "timed" and m.representation == "timed"
    p = save_composer(m, tmp_path / "t.pt")
    back = load_composer(p)
    assert back.representation == "timed" and back.net.vocab == enc.VOCAB_TIMED
    obj = model_to_dict(m)
    obj["meta"] = dict(obj["meta"], representation="sequential")
    save_model(obj, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="representation"):
        load_composer(tmp_path / "bad.pt")
    if (MODELS / "folk.pt").is_file():
        assert load_composer(MODELS / "folk.pt").representation == "sequential"


def test_timed_model_generates_events_with_onsets(tmp_path):
    pytest.importorskip("torch")
    import torch

    from musiclab.composer.model import new_model

    torch.manual_seed(0)
    m = new_model("timed-small")
    primer = [((72,), "C5", "1.0", "0.0"), ((48, 52, 55), "0.4.7", "3.0", "0.0"), ((74,), "D5", "2.0", "1.0")]
    out = generate(m, primer, 40, temperature=1.0, seed=3)
    assert len(out) == 40 and all(len(e) == 4 for e in out)
    assert all(enc.dt_index(e) is not None for e in out)
    notes = events_to_notes(primer + out)
    assert len(notes) >= len(events_to_notes(primer))
    # random weights would drift into long gaps: the silence rule holds them to 2 bars
    assert longest_silence(primer + out) <= 8.0 + 1e-9


# --------------------------------------------------------------------------- silence
def test_silence_limit_follows_the_primer():
    assert silence_limit([], 2.0, 4.0) == 8.0
    assert silence_limit([((60,), "C4", "1.0"), ((), "rest", "12.0"), ((62,), "D4", "1.0")]) == 12.0
    assert silence_limit([((60,), "C4", "1.0")], None) is None
    assert longest_silence([((), "rest", "2.0"), ((60,), "C4", "1.0"), ((), "rest", "3.0")]) == 3.0


@pytest.mark.skipif(not (MODELS / "jazz.pt").is_file(), reason="shipped jazz model missing")
def test_jazz_from_scratch_never_holds_more_than_two_bars_of_silence():
    pytest.importorskip("torch")
    from musiclab.composer.model import load_composer

    m = load_composer("jazz")
    worst_free, worst, worst_seq = 0.0, 0.0, 0.0
    for seed in range(12):
        out = generate(m, [], 200, temperature=0.9, top_p=0.95, seed=seed)  # the model's own placement
        assert len(out) == 200
        worst = max(worst, longest_silence(out))
        assert sum(1 for e in out if e[0]) >= 20, f"seed {seed}: almost silent"
        # the seed's placement (every rest takes its time) is where silence can pile up
        seq = generate(m, [], 200, temperature=0.9, top_p=0.95, seed=seed, voices=False)
        worst_seq = max(worst_seq, longest_silence(seq))
        free = generate(m, [], 200, temperature=0.9, top_p=0.95, seed=seed, max_silence_bars=None, voices=False)
        worst_free = max(worst_free, longest_silence(free))
    assert worst <= 8.0 + 1e-9 and worst_seq <= 8.0 + 1e-9
    assert worst_free > 8.0  # without the rule these seeds do go silent (the rule is what holds it)


@pytest.mark.skipif(not (MODELS / "folk.pt").is_file(), reason="shipped folk model missing")
def test_primer_silence_is_allowed_again():
    pytest.importorskip("torch")
    from musiclab.composer.model import load_composer

    m = load_composer("folk")
    primer = [((67,), "G4", "1.0"), ((), "rest", "12.0"), ((69,), "A4", "1.0")]
    out = generate(m, primer, 120, temperature=1.0, seed=0)
    assert longest_silence(primer + out) <= 12.0 + 1e-9


# --------------------------------------------------------------------------- eval of timed models
@pytest.fixture(scope="module")
def tiny_timed(tmp_path_factory):
    """A ``timed-small`` model trained a few steps on four Nottingham tunes; two more to score."""
    files = notts(6)
    if not files:
        pytest.skip("Nottingham data missing")
    pytest.importorskip("torch")
    import torch

    from musiclab.composer.events import load_corpus
    from musiclab.composer.model import load_composer
    from musiclab.composer.train import prepare_model, train_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    c = load_corpus(files)
    tr, va = c.pieces[:4], c.pieces[4:]
    out = tmp_path_factory.mktemp("timed") / "tiny-timed.pt"
    m = prepare_model("timed-small", tr, va, [str(NOTTS)])
    train_model(m, tr, va, out, epochs=1, seq_len=32, batch=8, max_steps=40)
    return load_composer(out), tr, va


def _short(piece, n=24):
    from musiclab.composer.events import Piece

    return Piece(piece.name, piece.source, piece.events[:n])


def test_eval_scores_timed_models_on_the_sequential_unit(tiny_timed):
    from musiclab.composer.events import Corpus
    from musiclab.composer.evaluate import evaluate

    model, tr, va = tiny_timed
    assert model.representation == "timed"
    res = evaluate(model, Corpus(va), fight=True)
    assert res["representation"] == "timed" and "marginalised" in res["unit"]
    assert res["events"] == sum(len(p.events) for p in va) and res["oov_rate"] < 0.02
    assert 0 <= res["top1"] <= res["top5"] <= 1 and res["nll_per_event"] > 0
    on = res["onset"]
    assert on["events"] == round(res["events"] * (1 - res["oov_rate"]))
    assert 0 <= on["onset_accuracy"] <= 1 and on["onset_nll"] > 0 and 0 < on["dt_mass"] <= 1 + 1e-9
    # the true onset is one of the branches: the marginal is never less likely than the chained event
    assert res["nll_per_event"] <= on["joint_nll_per_event"] + 1e-6
    # the fair fight on the same events: trigram, trigram + copy, copy alone from the model's counts
    ff = res["fair_fight"]
    assert ff["available"] and res["in_sample"]["validation"] == len(va)
    rows = ff["all"]
    assert rows["lstm"]["top1"] == pytest.approx(res["top1"]) and rows["lstm_copy"] is None  # no mixture fitted
    for k in ("trigram", "trigram_copy", "copy"):
        assert 0 <= rows[k]["top1"] <= 1 and rows[k]["events"] == res["events"]


def test_timed_marginal_is_exact_with_every_onset(tiny_timed):
    """With all 193 onsets the marginal equals a brute-force sum over the onset sub-token."""
    import torch

    from musiclab.composer.evaluate import timed_event_records

    model, tr, va = tiny_timed
    piece = _short(va[0], 12)
    full = timed_event_records(model, [piece], dt_branches=enc.MAX_DUR_K + 1)[0]
    one = timed_event_records(model, [piece], dt_branches=1)[0]
    four = timed_event_records(model, [piece], dt_branches=4)[0]
    toks = enc.encode_piece(piece.events, representation="timed")
    starts = [t for t in range(1, len(toks)) if toks[t] >= enc.DT0]
    net = model.net
    for n in (0, 3, 7):
        ei = n  # every event of this short prefix is representable
        assert enc.encode_event(piece.events[ei]) is not None
        t0 = starts[n]
        end = starts[n + 1] if n + 1 < len(starts) else len(toks)
        body = toks[t0 + 1 : end]  # the event's pitches + duration
        rows = [toks[:t0] + [enc.DT0 + j] + body for j in range(enc.MAX_DUR_K + 1)]
        x = torch.tensor(rows, dtype=torch.long)
        pos = torch.tensor([enc.positions(r, timed=True) for r in rows], dtype=torch.long)
        with torch.inference_mode():
            logits, _ = net(x, None, pos)
        lp = torch.log_softmax(logits, -1)[:, :-1].gather(2, x[:, 1:].unsqueeze(-1)).squeeze(-1)
        per_j = lp[:, t0 - 1 :].sum(1)  # log p(DT=j) + log p(body | DT=j)
        exact = float(torch.logsumexp(per_j, 0))
        assert full["events"][ei][0] == pytest.approx(exact, abs=1e-4)
        assert full["onset"][ei][3] == pytest.approx(1.0, abs=1e-4)  # all the onset mass
        # one branch = the true onset only = the chained (joint) timed event
        true_j = toks[t0] - enc.DT0
        assert one["events"][ei][0] == pytest.approx(float(per_j[true_j]), abs=1e-4)
        assert one["onset"][ei][2] == pytest.approx(float(per_j[true_j]), abs=1e-4)
        # more branches: a tighter lower bound
        assert one["events"][ei][0] <= four["events"][ei][0] + 1e-9 <= full["events"][ei][0] + 2e-9
        dt_lp = lp[:, t0 - 1]  # log p(DT = j), row j
        assert one["onset"][ei][0] == pytest.approx(float(dt_lp[true_j]), abs=1e-4)
        assert one["onset"][ei][1] == (int(dt_lp.argmax()) == true_j)  # onset accuracy


def test_cli_eval_takes_timed_models(tiny_timed, tmp_path, capsys):
    import json

    from musiclab.cli import main

    model, tr, va = tiny_timed
    rc = main(["composer", "eval", "--model", str(model.path), "--midi", va[0].source, "--json", "--workers", "1",
               "--dt-branches", "3", "--no-fight"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and res["representation"] == "timed" and 0 <= res["onset"]["onset_accuracy"] <= 1
    rc = main(["composer", "eval", "--model", str(model.path), "--midi", va[0].source, "--workers", "1",
               "--no-fight"])
    assert rc == 0 and "onset accuracy" in capsys.readouterr().out
