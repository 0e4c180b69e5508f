"""Transcription core (musiclab.transcribe): a rendered melody of known notes comes back,
the decoding and the beat grid on made-up input, bad input (silence, a drum loop, a short
clip, an empty file, speech), cancelling, and a damaged model file."""

import io
from fractions import Fraction

import numpy as np
import pytest

from conftest import data_file

SR = 22050
#: a known tune: (start quarter, length quarters, MIDI pitch) at 120 BPM, with a leap, a repeated
#: note, eighths and a held note
TUNE = [(0, 1, 67), (1, 0.5, 69), (1.5, 0.5, 71), (2, 1, 72), (3, 1, 76), (4, 0.5, 74), (4.5, 0.5, 72),
        (5, 1, 71), (6, 1, 71), (7, 1, 69), (8, 0.5, 67), (8.5, 0.5, 69), (9, 0.5, 71), (9.5, 0.5, 72),
        (10, 2, 74), (12, 1, 79), (13, 1, 76), (14, 2, 72)]
#: measured on TUNE rendered with the SoundFont: F1 1.0 raw and on the grid (piano and flute)
F1_MIN = 0.9


def midi_bytes(notes, program=0, chords=(), bpm=120.0, drums=()):
    import pretty_midi

    spq = 60.0 / bpm
    m = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    inst = pretty_midi.Instrument(program=program)
    for q, d, p in notes:
        inst.notes.append(pretty_midi.Note(90, p, 0.5 + q * spq, 0.5 + (q + d) * spq))
    m.instruments.append(inst)
    if chords:
        acc = pretty_midi.Instrument(program=0)
        for q, d, ps in chords:
            for p in ps:
                acc.notes.append(pretty_midi.Note(70, p, 0.5 + q * spq, 0.5 + (q + d) * spq))
        m.instruments.append(acc)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        for t, p in drums:
            kit.notes.append(pretty_midi.Note(110, p, t, t + 0.1))
        m.instruments.append(kit)
    buf = io.BytesIO()
    m.write(buf)
    return buf.getvalue()


def render(notes, **kw):
    from musiclab.audio.synth import render_midi

    return render_midi(midi_bytes(notes, **kw), sr=SR)


def ref_seconds(notes, bpm=120.0):
    spq = 60.0 / bpm
    return [(0.5 + q * spq, 0.5 + (q + d) * spq, p) for q, d, p in notes]


def note_f1(ref, est):
    import mir_eval

    if not est:
        return 0.0
    ri = np.array([[a, b] for a, b, _ in ref])
    ei = np.array([[a, max(b, a + 0.01)] for a, b, _ in est])
    hz = lambda ps: 440.0 * 2 ** ((np.array(ps, dtype=float) - 69) / 12)  # noqa: E731
    return mir_eval.transcription.precision_recall_f1_overlap(
        ri, hz([p for *_, p in ref]), ei, hz([p for *_, p in est]), onset_tolerance=0.05, offset_ratio=None)[2]


@pytest.mark.parametrize("program", [0, 73])  # piano, flute
def test_rendered_melody_comes_back(program):
    from musiclab.composer.events import event_dt, onsets
    from musiclab.transcribe import transcribe

    y = render(TUNE, program=program)
    progress = []
    tr = transcribe(y, sr=SR, melody=True, on_progress=lambda d, t, m: progress.append((d, t, m)))
    assert progress and tr.message == ""
    ref = ref_seconds(TUNE)
    assert note_f1(ref, [(n.start, n.end, n.pitch) for n in tr.notes]) >= F1_MIN
    assert note_f1(ref, tr.quantised_notes()) >= F1_MIN
    assert 110 <= tr.tempo <= 130 or 220 <= tr.tempo <= 260 or 55 <= tr.tempo <= 65
    # composer events: one note each (melody), onsets in order, on the 1/16 grid
    notes = [e for e in tr.events if e[0]]
    pitches = [e[0][0] for e in notes]
    if program == 0:  # every note of the piano comes back; the flute's repeated B4 is heard as one held note
        assert pitches == [p for *_, p in TUNE]
    else:
        assert [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]] == \
            [p for i, (*_, p) in enumerate(TUNE) if i == 0 or p != TUNE[i - 1][2]]
    assert all(len(e) == 4 and event_dt(e) is not None and event_dt(e) >= 0 for e in tr.events)
    assert all((Fraction(e[2]) * 4).denominator == 1 for e in tr.events)
    if abs(tr.tempo - 120) < 10 and program == 0:  # the beat is the quarter: the lengths come back as written
        starts = [t for t, e in zip(onsets(tr.events), tr.events) if e[0]]
        assert np.allclose(np.diff(starts), np.diff([q for q, _, _ in TUNE]))
    piece = tr.piece()
    assert piece.events == tr.events and "transcribed" in piece.name


def test_melody_over_chords_keeps_the_top_voice():
    from musiclab.transcribe import transcribe

    chords = [(0, 4, (48, 52, 55)), (4, 4, (43, 47, 50)), (8, 4, (48, 52, 55)), (12, 4, (41, 45, 48))]
    y = render(TUNE, chords=chords)
    mel = transcribe(y, sr=SR, melody=True)
    assert note_f1(ref_seconds(TUNE), [(n.start, n.end, n.pitch) for n in mel.notes]) >= 0.8
    assert all(len(e[0]) <= 1 for e in mel.events)
    poly = transcribe(y, sr=SR, melody=False)
    assert any(len(e[0]) >= 2 for e in poly.events)  # the chords are there, as chord events
    assert {48, 52, 55} <= {p for n in poly.notes for p in [n.pitch]}


def test_decode_and_grid_on_made_up_activations():
    from musiclab.transcribe import Note, _decode_notes, melody_line, notes_to_events

    frames = np.zeros((200, 88))
    onsets = np.zeros((200, 88))
    frames[20:60, 39] = 0.8  # C4 (60 - 21 = 39) for 40 frames
    onsets[20, 39] = 0.9
    frames[100:104, 43] = 0.8  # too short to be a note
    onsets[100, 43] = 0.9
    notes = _decode_notes(frames, onsets, 0.5, 0.3, min_note_len=11, melodia_trick=False)
    assert notes == [(20, 60, 60, pytest.approx(0.8))]
    # melody: the chord under a note goes, a lower note after a held one stays, an octave overtone goes
    ns = [Note(0.0, 1.0, 72, 0.8), Note(0.0, 1.0, 60, 0.7), Note(0.5, 1.0, 71, 0.8), Note(0.5, 0.9, 83, 0.3),
          Note(1.0, 1.5, 55, 0.6)]
    top = melody_line(ns)
    assert [(n.pitch, n.start, n.end) for n in top] == [(72, 0.0, 0.5), (71, 0.5, 1.0), (55, 1.0, 1.5)]
    # grid: beats every 0.5 s from 1.0; a chord, a rest, an anacrusis
    beats = [1.0 + 0.5 * k for k in range(8)]
    ns = [Note(0.76, 1.0, 67, 0.8), Note(1.01, 1.49, 72, 0.8), Note(1.0, 2.0, 48, 0.7), Note(0.99, 2.01, 52, 0.7),
          Note(2.52, 3.0, 74, 0.8)]
    events, origin = notes_to_events(ns, beats, 120.0, subdivision=4)
    assert origin == -1.0
    assert events == [((), "rest", "0.5", "0.0"), ((67,), "G4", "0.5", "0.5"), ((72,), "C5", "1.0", "0.5"),
                      ((48, 52), "0.4", "2.0", "0.0"), ((), "rest", "1.0", "2.0"),
                      ((74,), "D5", "1.0", "1.0")]


def test_silence_drums_and_short_clips():
    from musiclab.errors import MusiclabError
    from musiclab.transcribe import transcribe

    silent = transcribe(np.zeros(SR * 3, np.float32), sr=SR)
    assert silent.empty and "silent" in silent.message
    drums = [(0.5 + 0.25 * k, 42) for k in range(32)] + [(0.5 + 0.5 * k, 36 if k % 2 == 0 else 38) for k in range(16)]
    loop = transcribe(render([], drums=drums), sr=SR)
    assert loop.empty and "No notes" in loop.message
    with pytest.raises(MusiclabError, match="too short"):
        transcribe(np.zeros(SR // 4, np.float32), sr=SR)
    one = render(TUNE[:3])[int(0.4 * SR): int(1.4 * SR)]  # a 1-second clip: a result, maybe a guessed tempo, no crash
    tr = transcribe(one, sr=SR)
    assert tr.events and tr.notes
    assert [n.pitch for n in tr.notes][:2] == [67, 69]
    with pytest.raises(MusiclabError, match="sample rate"):
        transcribe(one)


def test_files_empty_and_speech(tmp_path):
    from musiclab.errors import AudioFileError
    from musiclab.transcribe import transcribe

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty"):
        transcribe(empty)
    speech = data_file("audio", "librosa", "5703-47212-0000.ogg")
    tr = transcribe(speech, max_seconds=12)
    assert "speech" in tr.message  # a warning, not a crash; the notes are still there to look at
    assert tr.name == "5703-47212-0000.ogg (transcribed)" and tr.source == str(speech)


def test_cancel_and_damaged_model(tmp_path, monkeypatch):
    import musiclab.transcribe as T
    from musiclab.errors import Cancelled, ModelFileError

    y = render(TUNE[:4])
    with pytest.raises(Cancelled):
        T.transcribe(y, sr=SR, should_stop=lambda: True)
    bad = tmp_path / "resources" / "pretrained"
    bad.mkdir(parents=True)
    (bad / T.MODEL_FILE).write_bytes(b"not a model")
    monkeypatch.setenv("MUSICLAB_RESOURCES", str(tmp_path / "resources"))
    monkeypatch.setattr(T, "_session", None)
    with pytest.raises(ModelFileError, match="damaged"):
        T.transcribe(y, sr=SR)
