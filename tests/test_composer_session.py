"""The Composer's Qt-free session: generate -> render -> export with the shipped model,
loudness normalisation with known answers, piano-roll notes, the CLI through the session."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from musiclab.audio.loudness import integrated_lufs, normalize_loudness, true_peak_dbfs
from musiclab.composer import session as S
from musiclab.composer.events import Corpus, Piece

from conftest import data_file

SR = 44100
PIECE = Piece("tiny.mid", "tiny.mid", [((60,), "C4", "1.0"), ((), "rest", "0.5"), ((64, 67), "4.7", "2.0"),
                                       ((72,), "C5", "1/3")])


# -- loudness -------------------------------------------------------------------------------
def sine(freq, seconds, amp, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_a_quiet_tone_is_brought_to_minus_14_lufs():
    y = sine(440, 3.0, 0.01)
    assert integrated_lufs(y, SR) < -40
    z = normalize_loudness(y, SR)
    assert z.dtype == np.float32 and z.shape == y.shape
    assert abs(integrated_lufs(z, SR) - (-14.0)) < 0.05
    assert true_peak_dbfs(z) <= -1.0
    # a pure gain: the waveform's shape is kept
    assert np.allclose(z / np.abs(z).max(), y / np.abs(y).max(), atol=1e-4)


def test_peaks_are_limited_and_the_loudness_still_reached():
    """A soft tone with loud clicks: a gain alone would put the clicks far above 0 dBFS."""
    y = sine(220, 6.0, 0.02)
    y[SR // 2:: SR // 2] = 0.9  # crest factor of ~33 dB
    assert true_peak_dbfs(y * 10 ** ((-14 - integrated_lufs(y, SR)) / 20)) > 5
    z = normalize_loudness(y, SR)
    assert true_peak_dbfs(z) <= -1.0
    assert abs(integrated_lufs(z, SR) - (-14.0)) < 0.2
    # far from the clicks the signal is the tone, only louder (the limiter stays local)
    seg = slice(int(0.7 * SR), int(0.8 * SR))
    ratio = z[seg] / np.where(np.abs(y[seg]) > 1e-3, y[seg], np.nan)
    assert np.nanstd(ratio) / np.nanmean(ratio) < 0.01


def test_true_peak_sees_the_peaks_between_samples():
    # a sine at a quarter of the sample rate, sampled at +-45 degrees: samples at 0.707 of the peak
    n = np.arange(4096)
    y = np.sin(np.pi / 2 * n + np.pi / 4).astype(np.float32)
    assert 20 * math.log10(np.abs(y).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbfs(y) == pytest.approx(0.0, abs=0.2)


def test_stereo_silence_and_short_clips():
    st = np.stack([sine(330, 2.0, 0.05), sine(330, 2.0, 0.02)])
    z = normalize_loudness(st, SR)
    assert z.shape == st.shape and abs(integrated_lufs(z, SR) + 14) < 0.05
    assert not np.any(normalize_loudness(np.zeros(SR, np.float32), SR))
    short = np.ones(1000, np.float32)  # no integrated loudness under 0.4 s: only kept under the ceiling
    assert integrated_lufs(short, SR) == -math.inf
    assert true_peak_dbfs(normalize_loudness(short, SR)) <= -1.0


# -- notes ----------------------------------------------------------------------------------
def test_roll_notes_and_the_preview_of_an_opened_piece():
    n = S.roll_notes(PIECE.events[:2], PIECE.events[2:], tempo=120)
    assert n.seconds_per_quarter == 0.5 and n.boundary_quarters == 1.5
    assert n.primer == [(0.0, 1.0, 60)]
    assert n.continuation == [(1.5, 2.0, 64), (1.5, 2.0, 67), (3.5, 1 / 3, 72)]
    p = S.piece_preview(PIECE, 3, tempo=90)
    assert len(p.primer) == 3 and len(p.continuation) == 1 and p.boundary_quarters == 3.5
    assert p.seconds_per_quarter == pytest.approx(60 / 90)
    whole = S.piece_preview(PIECE, None, tempo=120)
    assert len(whole.primer) == 4 and whole.continuation == [] and whole.primer_label == "tiny.mid"


def test_session_questions_without_a_model():
    s = S.ComposerSession()
    assert s.why_not_generate("", "scratch").startswith("No composer model")
    assert "Load a corpus" in s.why_not_generate("folk", "corpus")
    assert "Drop a MIDI file" in s.why_not_generate("folk", "dropped")
    assert s.why_not_generate("folk", "scratch") == ""
    good, bad = s.open_dropped([Path("a.mid"), Path("b.wav"), Path("c.MIDI")])
    assert good == [Path("a.mid"), Path("c.MIDI")] and len(bad) == 1 and "b.wav" in bad[0]
    s.set_corpus(S.DROPPED, Corpus([PIECE], [("x.mid", "no notes")]), ["a.mid"])
    assert s.dropped_corpus is s.corpus and s.why_not_generate("folk", "dropped") == ""
    assert s.primer_events("dropped", 0, 2) == PIECE.events[:2]
    assert s.primer_events("scratch", 0, 2) == []
    assert S.safe_model_name(" folk ") == "folk-mine" and S.safe_model_name("my/../x y") == "myxy"
    assert S.skipped_message([("/d/x.mid", "no notes")]) == "'x.mid': no notes (skipped)"
    msg = S.skipped_message([(f"/d/{i}.mid", "unreadable") for i in range(12)], limit=3)
    assert msg.startswith("12 files skipped:") and "'2.mid'" in msg and "9 more" in msg
    with pytest.raises(Exception, match="generate a piece first"):
        s.export("/tmp/never.mid")


# -- the whole path with the shipped model ----------------------------------------------------
@pytest.fixture(scope="module")
def folk():
    import torch

    torch.set_num_threads(1)
    try:
        return S.load_model("folk")
    except Exception as exc:  # pragma: no cover - the shipped model is part of the repository
        pytest.skip(f"shipped folk model not loadable: {exc}")


def test_generate_render_export(folk, tmp_path):
    import soundfile as sf

    c = S.read_corpus([data_file("midi", "nottingham", "ashover1.mid")])
    primer = c.pieces[0].events[:16]
    settings = S.GenerateSettings(length=60, seed=99, temperature=0.9)
    seen = []
    a = S.compose(folk, primer, settings, on_progress=lambda d, t, m: seen.append((d, t)))
    b = S.compose(folk, primer, settings)
    assert a.events == b.events and a.primer == primer  # same seed, same music
    assert 30 <= len(a.events) <= 180  # AABB: the strain end nearest 60 events
    assert a.audio is None and a.model_name == "folk" and seen[-1] == (60, 60)
    assert a.copied is None or 0 <= a.copied <= 1

    r = S.render(a.all_events, tempo=132, program=0)
    assert r.audio.dtype == np.float32 and len(r.audio) > SR
    from musiclab.composer.generate import events_length_quarters

    quarters = events_length_quarters(a.all_events)  # events with onsets overlap: where the piece ends
    assert len(r.audio) / SR >= quarters * 60 / 132 * 0.95  # the whole piece is rendered
    assert abs(r.loudness["lufs"] + 14) < 0.5 and r.loudness["true_peak_dbfs"] <= -1.0
    res = S.with_audio(a, r)
    assert res.tempo == 132 and res.stats()["lufs"] == r.loudness["lufs"] and a.audio is None

    session = S.ComposerSession()
    session.set_model("folk", folk)
    session.set_result(a)
    assert session.set_rendered(r) and session.audio is r.audio

    mid = session.export(tmp_path / "x.mid")
    import mido

    assert mido.MidiFile(str(mid)).length > 1
    wav = session.export(tmp_path / "x.wav")
    y, sr = sf.read(str(wav), dtype="float32")
    assert sr == SR and abs(integrated_lufs(y, sr) + 14) < 0.5 and true_peak_dbfs(y) <= -0.99
    mp3 = session.export(tmp_path / "x.mp3")
    from musiclab.audio.io import load_audio

    z, zsr = load_audio(mp3, sr=None, mono=True)
    assert abs(integrated_lufs(z, zsr) + 14) < 0.5 and true_peak_dbfs(z) <= -1.0  # encoder overshoot allowed for


def test_cli_generate_writes_normalised_audio(folk, tmp_path, capsys):
    import soundfile as sf

    from musiclab.cli import main

    wav = tmp_path / "g.wav"
    rc = main(["composer", "generate", "--model", "folk", "--length", "40", "--seed", "3", "--out", str(wav)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and out["seed"] == 3 and 20 <= out["events"] <= 160  # AABB: the strain end nearest 40
    assert abs(out["lufs"] + 14) < 0.5 and out["true_peak_dbfs"] <= -1.0
    y, sr = sf.read(str(wav), dtype="float32")
    assert abs(integrated_lufs(y, sr) - out["lufs"]) < 0.1
