"""The musicality report (``composer judge``) and the fair fight of ``composer eval``."""

import json
import math
from types import SimpleNamespace

import mido
import numpy as np
import pytest

from musiclab.cli import main
from musiclab.composer import judge as J
from musiclab.composer.events import Piece

from conftest import data_file


def write_notes(path, notes, tpq=480, channel=0, time_sig=None):
    """A one-track MIDI file from (onset quarter, length quarter, pitch) notes."""
    mf = mido.MidiFile(ticks_per_beat=tpq)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    if time_sig:
        tr.append(mido.MetaMessage("time_signature", numerator=time_sig[0], denominator=time_sig[1], time=0))
    msgs = []
    for on, ln, p in notes:
        msgs.append((int(round(on * tpq)), 1, p))
        msgs.append((int(round((on + ln) * tpq)), 0, p))
    msgs.sort(key=lambda m: (m[0], m[1]))
    now = 0
    for t, is_on, p in msgs:
        tr.append(mido.Message("note_on" if is_on else "note_off", note=p, velocity=80 if is_on else 0,
                               channel=channel, time=t - now))
        now = t
    mf.save(str(path))
    return path


def notts(n):
    return sorted(data_file("midi", "nottingham").glob("*.mid"))[:n]


C_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def test_features_of_a_known_melody():
    notes = [(i * 0.5, 0.5, p) for i, p in enumerate(C_SCALE * 4)]  # 16 quarters = 4 bars of 4/4
    f = J.piece_features(J.tune_from_notes(notes))
    assert J.estimate_key(np.array(C_SCALE))[:2] == (0, "major")
    assert f["in_key"] == 1.0
    assert f["pitch_range"] == 12 and f["pitch_count"] == 8
    assert f["metric_regularity"] == 1.0 and f["silence_share"] == pytest.approx(0.0)
    # every bar has the same rhythm (8 eighths): 3 of 4 bars repeat an earlier one
    assert f["bar_rhythm_repetition"] == pytest.approx(0.75)
    assert f["longest_repeated_note"] == 1
    assert f["note_length_hist"][3] == 1.0  # all eighths (class 0.5)
    assert f["interval_hist"][12 + 2] > 0 and f["interval_hist"][12 - 12] > 0  # steps up, the octave drop
    assert f["pitch_class_hist"].sum() == pytest.approx(1.0)
    # one note repeated, with rests between: a long run, lots of silence, no intervals
    g = J.piece_features(J.tune_from_notes([(i * 2.0, 0.5, 60) for i in range(16)]))
    assert g["longest_repeated_note"] == 16
    assert g["silence_share"] > 0.7
    assert g["interval_hist"][12] == 1.0 and g["pitch_count"] == 1
    with pytest.raises(J.JudgeError, match="no notes"):
        J.piece_features(J.tune_from_notes([]))


def test_melody_is_the_skyline_and_chords_share_an_onset():
    # melody C-D-E over a held chord: the intervals are the melody's, not the chord's
    notes = [(0, 3, 48), (0, 3, 52), (0, 3, 55), (0, 1, 72), (1, 1, 74), (2, 1, 76)]
    f = J.piece_features(J.tune_from_notes(notes))
    assert f["interval_hist"][14] == 1.0  # two steps of +2
    assert f["ioi_hist"][2] == 1.0  # quarter-note onsets


def test_read_midi_quarters_tempo_free_overlaps_and_bad_files(tmp_path):
    a = write_notes(tmp_path / "a.mid", [(0, 1, 60), (1, 1, 62)], tpq=96, time_sig=(3, 4))
    t = J.read_midi(a)
    assert t.onset.tolist() == [0, 1] and t.dur.tolist() == [1, 1] and t.bars == [(0.0, 3.0)]
    # overlapping notes of the same pitch are paired first-in first-out; an unreleased note ends at the track's end
    mf = mido.MidiFile(ticks_per_beat=100)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    tr += [mido.Message("note_on", note=60, velocity=80, time=0), mido.Message("note_on", note=60, velocity=80, time=50),
           mido.Message("note_off", note=60, time=50), mido.Message("note_off", note=60, time=100),
           mido.Message("note_on", note=67, velocity=80, time=0), mido.Message("note_on", note=40, velocity=80,
                                                                                channel=9, time=0),
           mido.MetaMessage("end_of_track", time=200)]
    mf.save(str(tmp_path / "o.mid"))
    t = J.read_midi(tmp_path / "o.mid")
    assert sorted(zip(t.onset.tolist(), t.dur.tolist(), t.pitch.tolist())) == [(0, 1, 60), (0.5, 1.5, 60), (2, 2, 67)]
    drums = write_notes(tmp_path / "d.mid", [(0, 1, 36)], channel=9)
    with pytest.raises(J.JudgeError, match="drums only"):
        J.read_midi(drums)
    mf = mido.MidiFile()
    mf.tracks.append(mido.MidiTrack())
    mf.save(str(tmp_path / "empty.mid"))
    with pytest.raises(J.JudgeError, match="no notes"):
        J.read_midi(tmp_path / "empty.mid")
    (tmp_path / "junk.mid").write_bytes(b"MThd junk")
    with pytest.raises(J.JudgeError, match="unreadable"):
        J.read_midi(tmp_path / "junk.mid")


def test_kde_is_scipys_and_overlap_is_one_for_the_same_sample():
    from scipy.stats import gaussian_kde

    x = np.random.default_rng(0).gamma(2.0, 1.0, 400)
    grid = np.linspace(-1, 12, 512)
    assert np.abs(J._kde(x, grid) - gaussian_kde(x)(grid)).max() < 1e-3 * gaussian_kde(x)(grid).max()
    oa, kl = J.overlap_and_kl(x, x)
    assert oa > 0.98 and kl < 1e-3
    oa, _ = J.overlap_and_kl(x, x + 20)
    assert oa < 0.02
    oa, _ = J.overlap_and_kl(np.zeros(10), np.zeros(10))  # no spread at all: no crash
    assert oa > 0.9


@pytest.fixture(scope="module")
def notts_feats():
    names, feats, skipped = J.load_features(notts(70))
    assert len(feats) == 70 and not skipped
    return names, feats


def test_real_tunes_score_high_and_one_note_or_random_tunes_low(notts_feats):
    names, feats = notts_feats
    ref = J.Reference(names[:50], feats[:50])
    real = ref.compare(feats[50:70])
    one_note = [J.piece_features(J.tune_from_notes([(i, 1.0, 60 + (s % 3)) for i in range(64)])) for s in range(10)]
    rng = np.random.default_rng(0)
    noise = [J.piece_features(J.tune_from_notes([(q, 0.25 + rng.random(), int(rng.integers(30, 100)))
                                                  for q in np.cumsum(rng.random(120) * 0.9)])) for _ in range(10)]
    low1 = ref.compare(one_note)
    low2 = ref.compare(noise)
    assert real["mean_oa"] > 0.8
    assert low1["mean_oa"] < 0.45 and low2["mean_oa"] < 0.45
    assert real["mean_oa"] > low1["mean_oa"] + 0.35
    assert set(real["oa"]) == set(J.FEATURES)
    assert all(0 <= v <= 1 for v in real["oa"].values())


def test_judge_one_tune_given_as_notes(notts_feats):
    names, feats = notts_feats
    ref = J.Reference(names[:60], feats[:60])
    real = J.read_midi(notts(70)[65])
    good = ref.judge_notes(zip(real.onset.tolist(), real.dur.tolist(), real.pitch.tolist()))
    bad = ref.judge_notes([(i * 4.0, 0.25, 60) for i in range(20)])
    assert good["mean_oa"] > bad["mean_oa"] + 0.3
    assert good["reason"] is None and set(good["features"]) == set(J.SCALAR_FEATURES)
    assert good["reference"]["pitch_range"]["p10"] <= good["reference"]["pitch_range"]["p90"]
    silent = ref.judge_notes([])
    assert silent["mean_oa"] == 0 and silent["reason"] == "no notes"
    c = ref.single_ceiling(5)
    assert 0.5 < c <= 1


def test_judge_cli_json_with_ceiling_and_skipped_files(tmp_path, capsys):
    gen = tmp_path / "gen dir"
    gen.mkdir()
    for s in range(4):
        write_notes(gen / f"{s}.mid", [(i * 1.0, 1.0, 60) for i in range(32)])
    mf = mido.MidiFile()
    mf.tracks.append(mido.MidiTrack())
    mf.save(str(gen / "silent.mid"))
    ref = tmp_path / "ref"
    ref.mkdir()
    for f in notts(30):
        (ref / f.name).symlink_to(f)
    rc = main(["composer", "judge", str(gen), "--reference", str(ref), "--holdout", "8", "--json"])
    cap = capsys.readouterr()
    res = json.loads(cap.out.strip().splitlines()[-1])
    assert rc == 0
    assert res["generated"]["pieces"] == 4 and res["generated_skipped"] == 1
    assert res["skipped"] == [{"path": str(gen / "silent.mid"), "reason": "no notes", "set": "generated"}]
    assert "have no notes" in cap.err
    assert res["reference"]["pieces"] == 22 and res["reference"]["holdout"] == 8
    assert res["ceiling"]["mean_oa"] > 0.7 > res["generated"]["mean_oa"]
    assert res["ratio"] == pytest.approx(res["generated"]["mean_oa"] / res["ceiling"]["mean_oa"])
    assert len(res["per_piece"]) == 4 and res["per_piece"][0]["longest_repeated_note"] == 32
    # the silent file counted as an empty tune makes the set worse, never better
    assert res["generated_with_empty"]["pieces"] == 5
    assert res["generated_with_empty"]["mean_oa"] < res["generated"]["mean_oa"]
    rc = main(["composer", "judge", str(gen), "--reference", str(ref)])
    out = capsys.readouterr().out
    assert rc == 0 and "vs real tunes" in out and "phrase_repetition" in out
    # a reference without readable tunes: a message, not a traceback
    rc = main(["composer", "judge", str(gen), "--reference", str(gen / "silent.mid")])
    assert rc != 0 and "reference" in capsys.readouterr().err


# --------------------------------------------------------------------------- fair fight
def _ev(p, d="0.5"):
    return ((p,), f"P{p}", d)


def _fake_model(train_pieces, val_pieces):
    from musiclab.composer.stats import fit_trigram

    return SimpleNamespace(trigram=fit_trigram([p.events for p in train_pieces]), copy=None,
                           meta={"val_piece_names": [p.name for p in val_pieces], "sources": []})


def test_trigram_with_the_copy_predicts_a_repeated_strain():
    from musiclab.composer.evaluate import fit_base_copy, score_base
    from musiclab.composer.selfcopy import bucket

    rng = np.random.default_rng(0)

    def tune(name):
        strain = [_ev(int(p)) for p in rng.integers(55, 80, 24)]
        return Piece(name, name, strain + strain + [_ev(int(p)) for p in rng.integers(55, 80, 8)] * 2)

    train = [tune(f"t{i}.mid") for i in range(30)]
    val = [tune(f"v{i}.mid") for i in range(6)]
    test = [tune(f"x{i}.mid") for i in range(6)]
    model = _fake_model(train, val)
    alone = score_base(model, test, "trigram")
    cp = fit_base_copy(model, val, "trigram")
    mixed = score_base(model, test, "trigram", cp)
    copy = score_base(model, test, "unigram", fit_base_copy(model, val, "unigram"))
    assert cp.lam[bucket(20)] > 0.5  # long matches: trust the copy
    # the second strain (24 of 80 events) and the repeated tail are predictable only by copying
    assert mixed["top1"] > alone["top1"] + 0.25
    assert mixed["nll_per_event"] < alone["nll_per_event"] - 0.5
    assert copy["top1"] > alone["top1"] + 0.2
    assert alone["events"] == mixed["events"] == sum(len(p.events) for p in test)
    assert all(math.isfinite(r["nll_per_event"]) for r in (alone, mixed, copy))
    hits: dict = {}
    again = score_base(model, test, "trigram", cp, hits)  # one top-1 flag per event, adding up
    assert again == mixed and len(hits) == mixed["events"]
    assert sum(hits.values()) == round(mixed["top1"] * mixed["events"])


def test_eval_counts_in_sample_pieces_and_reports_the_unseen_part(tmp_path, capsys):
    from musiclab.composer.events import load_corpus, split_by_piece
    from musiclab.composer.model import save_composer
    from musiclab.composer.train import prepare_model

    files = notts(8)
    src = tmp_path / "train src"
    src.mkdir()
    for f in files[:6]:
        (src / f.name).symlink_to(f)
    c = load_corpus([src])
    tr, va = split_by_piece(c.pieces, 0.34)
    assert tr and va
    model = prepare_model("small", tr, va, [str(src)])
    path = save_composer(model, tmp_path / "m.pt")
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    (test_dir / "renamed copy.mid").write_bytes(tr[0].source and open(tr[0].source, "rb").read())  # same bytes
    (test_dir / va[0].name).symlink_to(va[0].source)
    for f in files[6:8]:
        (test_dir / f.name).symlink_to(f)
    rc = main(["composer", "eval", "--model", str(path), "--midi", str(test_dir), "--json", "--workers", "1",
               "--beam", "2", "--cross-fit"])
    cap = capsys.readouterr()
    res = json.loads(cap.out.strip().splitlines()[-1])
    assert rc == 0
    ins = res["in_sample"]
    assert (ins["pieces"], ins["trained"], ins["validation"], ins["unseen"]) == (2, 1, 1, 2)
    assert "2 of 4 pieces are in-sample" in cap.err
    ff = res["fair_fight"]
    assert set(ff["all"]) == {"lstm", "lstm_copy", "trigram", "trigram_copy", "copy"}
    assert ff["all"]["lstm_copy"] is None  # this model has no copy mixture
    assert ff["unseen"]["pieces"] == 2
    n_unseen = sum(len(p.events) for p in load_corpus(files[6:8]).pieces)
    assert ff["unseen"]["trigram"]["events"] == ff["unseen"]["lstm"]["events"] == n_unseen
    assert ff["all"]["trigram"]["events"] == res["events"]
    assert "validation pieces" in ff["copy_fit"]
    # cross-fitted: every mixture fitted on one half, scored on the other; the unmixed rows do not change
    cf = ff["cross_fit"]
    assert set(cf) == {"lstm", "lstm_copy", "trigram", "trigram_copy", "copy"} and cf["trigram"]["events"] == res["events"]
    assert cf["trigram"]["top1"] == pytest.approx(ff["all"]["trigram"]["top1"])
    assert cf["lstm"]["nll_per_event"] == pytest.approx(ff["all"]["lstm"]["nll_per_event"])
    # the main figures are still the LSTM's on every piece
    assert res["top1"] == pytest.approx(ff["all"]["lstm"]["top1"])


def test_judge_result_against_the_models_corpus_and_without_one(tmp_path):
    import shutil

    from musiclab.composer.judge import judge_result, read_midi

    src = sorted(data_file("midi", "nottingham").glob("*.mid"))[:12]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in src[1:]:
        shutil.copy(f, corpus / f.name)
    t = read_midi(src[0])
    notes = [(float(o), float(d), int(p)) for o, d, p in zip(t.onset, t.dur, t.pitch)]
    rep = judge_result({"sources": [str(corpus)]}, notes)
    assert rep["reason"] is None and 0.3 < rep["mean_oa"] <= 1 and rep["ceiling"] is not None
    assert rep["reference_name"].startswith("corpus (11 tunes)") and len(rep["weakest"]) == 3
    one_note = [(float(i), 1.0, 60) for i in range(64)]
    assert judge_result({"sources": [str(corpus)]}, one_note)["mean_oa"] < rep["mean_oa"]
    missing = judge_result({"sources": [str(tmp_path / "gone")]}, notes)
    assert missing["mean_oa"] is None and "not on this machine" in missing["reason"]


def test_ending_features_read_how_a_tune_closes():
    from musiclab.composer.judge import ending_features, tune_from_notes

    arpeggio = [0, 4, 7, 12, 7, 4, 0, 7, 4, 0, 2, 4, 7, 4]
    body = [(0.5 * i, 0.5, 60 + p) for i, p in enumerate(arpeggio)]  # 7 quarters of C major
    closed = ending_features(tune_from_notes(body + [(7.0, 1.0, 60)]))  # a held C on the bar line (8)
    assert closed == {"final_tonic": 1.0, "final_in_tonic_chord": 1.0, "final_length": 1.0, "final_held": 1.0,
                      "ends_on_bar": 1.0}
    open_ = ending_features(tune_from_notes(body + [(7.0, 0.5, 62)]))  # a short D, off the bar line
    assert open_["final_tonic"] == 0.0 and open_["final_in_tonic_chord"] == 0.0
    assert open_["final_held"] == 0.0 and open_["ends_on_bar"] == 0.0 and open_["final_length"] == 0.5
