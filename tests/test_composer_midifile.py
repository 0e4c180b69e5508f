"""The composer's written MIDI: primer and continuation tracks, time signature, key, tempo,
program, and every note where the events say."""

import io
from fractions import Fraction

import mido
import numpy as np
import pytest

from musiclab.composer.events import onsets, parse_file
from musiclab.composer.generate import events_to_midi_bytes, events_to_notes, write_output
from musiclab.composer.midifile import (TPQ, estimate_key, estimate_time_signature, file_meta, key_tonic,
                                        write_midi_bytes)
from musiclab.errors import MusiclabError

from conftest import DATA

NOTTS = DATA / "midi" / "nottingham"

# a timed primer (melody + chords under it) and a timed continuation
PRIMER = [((67,), "G4", "1.0", "0.0"), ((43, 47, 50), "7.11.2", "3.0", "0.0"), ((71,), "B4", "1.0", "1.0"),
          ((74,), "D5", "1.0", "1.0"), ((48, 52, 55), "0.4.7", "3.0", "1.0"), ((72,), "C5", "2.0", "0.0"),
          ((76,), "E5", "1.0", "2.0")]
CONT = [((74,), "D5", "0.5", "1.0"), ((43, 47, 50), "7.11.2", "3.0", "0.0"), ((71,), "B4", "0.5", "0.5"),
        ((), "rest", "1.0", "0.5"), ((67,), "G4", "2.0", "1.0"), ((79,), "G5", "1/3", "2.0")]


def read(data: bytes) -> mido.MidiFile:
    return mido.MidiFile(file=io.BytesIO(data))


def track_notes(tr) -> list:
    """(onset tick, end tick, pitch, channel) of a track's notes (note-on paired with the next off)."""
    t, sounding, out = 0, {}, []
    for m in tr:
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            assert (m.note, m.channel) not in sounding, f"pitch {m.note} started again while sounding"
            sounding[(m.note, m.channel)] = t
        elif m.type in ("note_off", "note_on"):
            on = sounding.pop((m.note, m.channel))
            out.append((on, t, m.note, m.channel))
    assert not sounding
    return sorted(out)


def metas(mf, kind) -> list:
    return [m for tr in mf.tracks for m in tr if m.type == kind]


def test_primer_and_continuation_are_their_own_tracks():
    evs = PRIMER + CONT
    data = events_to_midi_bytes(evs, tempo=96, program=40, primer_events=len(PRIMER), name="folk",
                                time_signature=(3, 4), key="G")
    mf = read(data)
    assert mf.type == 1 and mf.ticks_per_beat == TPQ and len(mf.tracks) == 2
    names = [next(m.name for m in tr if m.type == "track_name") for tr in mf.tracks]
    assert names == ["primer", "folk"]
    # the global meta events: once, at tick 0 of the first track
    (ts,), (ks,), (tempo,) = metas(mf, "time_signature"), metas(mf, "key_signature"), metas(mf, "set_tempo")
    assert (ts.numerator, ts.denominator) == (3, 4) and ks.key == "G"
    assert mido.tempo2bpm(tempo.tempo) == pytest.approx(96, abs=0.01)
    assert all(m in mf.tracks[0] for m in (ts, ks, tempo))
    progs = [[(m.program, m.channel) for m in tr if m.type == "program_change"] for tr in mf.tracks]
    assert progs == [[(40, 0)], [(40, 1)]]
    # every note where the events say, on its own track
    times = onsets(evs)
    want_p = sorted((round(t * TPQ), round((t + float(Fraction(e[2]))) * TPQ), p, 0)
                    for t, e in zip(times[: len(PRIMER)], PRIMER) for p in e[0])
    want_c = sorted((round(t * TPQ), round((t + float(Fraction(e[2]))) * TPQ), p, 1)
                    for t, e in zip(times[len(PRIMER):], CONT) for p in e[0])
    assert track_notes(mf.tracks[0]) == want_p
    assert track_notes(mf.tracks[1]) == want_c
    # the continuation starts after the primer's last onset, where the events put it
    assert want_c[0][0] == round((times[len(PRIMER) - 1] + 1.0) * TPQ)


def test_symusic_reads_the_same_file():
    symusic = pytest.importorskip("symusic")
    evs = PRIMER + CONT
    data = events_to_midi_bytes(evs, primer_events=len(PRIMER), time_signature=(6, 8), key="Em")
    sc = symusic.Score.from_midi(data)
    assert [t.name for t in sc.tracks] == ["primer", "continuation"]
    assert [(t.numerator, t.denominator) for t in sc.time_signatures] == [(6, 8)]
    (k,) = sc.key_signatures
    assert (k.key, k.tonality) == (1, 1)  # one sharp, minor
    got = sorted((n.time, n.pitch) for t in sc.tracks for n in t.notes)
    want = sorted((round(s * TPQ), p) for s, _, p in events_to_notes(evs))
    assert got == want


def test_no_primer_is_one_track_and_sequential_events_keep_their_placement(tmp_path):
    seq = [((60,), "C4", "1.0"), ((), "rest", "0.5"), ((62, 65), "2.5", "2.0"), ((64,), "E4", "1/3")]
    mf = read(events_to_midi_bytes(seq))
    assert len(mf.tracks) == 1
    assert next(m.name for m in mf.tracks[0] if m.type == "track_name") == "continuation"
    assert [(on / TPQ, p) for on, _, p, _ in track_notes(mf.tracks[0])] == [
        (0.0, 60), (1.5, 62), (1.5, 65), (3.5, 64)]
    out = write_output(PRIMER + CONT, tmp_path / "o.mid", primer_events=len(PRIMER), name="jazz")
    assert [t.name for t in mido.MidiFile(str(out)).tracks] == ["primer", "jazz"]


def test_same_pitch_overlaps_are_written_so_every_onset_sounds():
    # melody and chord double a pitch at one onset, then the pitch starts again while still held
    evs = [((60,), "C4", "2.0", "0.0"), ((48, 60, 64), "0.4", "4.0", "0.0"), ((60,), "C4", "1.0", "1.0"),
           ((67,), "G4", "1.0", "1.0")]
    mf = read(events_to_midi_bytes(evs))
    notes = track_notes(mf.tracks[0])  # raises if a pitch starts while it sounds
    c4 = [(on / TPQ, off / TPQ) for on, off, p, _ in notes if p == 60]
    assert c4 == [(0.0, 1.0), (1.0, 2.0)]  # the held C ends where it starts again; doubled once
    assert sorted({(on / TPQ, p) for on, _, p, _ in notes}) == sorted({(s, p) for s, _, p in events_to_notes(evs)})


def test_key_and_metre_estimates():
    scale = [(i, 1.0, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])]
    assert estimate_key(scale) == "C"
    a_minor = [(i, 1.0, p) for i, p in enumerate([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57, 69, 57])]
    assert estimate_key(a_minor) == "Am"
    assert estimate_key([]) is None
    assert key_tonic("Bbm") == (10, True) and key_tonic("F#") == (6, False)
    waltz = []  # strong long note on each downbeat, two short ones after
    for bar in range(8):
        waltz += [(bar * 3.0, 2.0, 48), (bar * 3.0 + 1, 1.0, 64), (bar * 3.0 + 2, 1.0, 67)]
    assert estimate_time_signature(waltz) == (3, 4)
    jig = []
    for bar in range(8):
        jig += [(bar * 3 + t, d, 72) for t, d in ((0, 1.0), (1.0, 0.5), (1.5, 1.0), (2.5, 0.5))]
        jig += [(bar * 3.0, 1.5, 48), (bar * 3 + 1.5, 1.5, 43)]  # chords on the two dotted-quarter beats
    assert estimate_time_signature(jig) == (6, 8)
    assert estimate_time_signature([(i * 1.0, 1.0, 60) for i in range(16)]) == (4, 4)
    assert estimate_time_signature([]) == (4, 4)  # nothing to go on


@pytest.mark.parametrize("name", ["ashover11.mid", "ashover10.mid", "ashover1.mid"])  # 6/8, 4/4, 3/4
def test_estimated_metre_and_key_of_real_tunes(name):
    # the estimate on 100 Nottingham tunes: 94 % the stated metre, 81 % the stated key
    f = NOTTS / name
    if not f.is_file():
        pytest.skip("Nottingham data missing")
    meta = file_meta(f)
    evs = [tuple(e) for e in parse_file(f)["pieces"][0][1]]
    mf = read(events_to_midi_bytes(evs, primer_events=len(evs)))
    (ts,), (ks,) = metas(mf, "time_signature"), metas(mf, "key_signature")
    assert (ts.numerator, ts.denominator) == meta["time_signature"]
    assert ks.key == meta["key"]
    # and given explicitly, the file's own values are written
    mf = read(events_to_midi_bytes(evs, time_signature=meta["time_signature"], key=meta["key"]))
    assert metas(mf, "key_signature")[0].key == meta["key"]


def test_bad_meta_is_a_clear_message():
    with pytest.raises(MusiclabError, match="time signature"):
        write_midi_bytes(PRIMER, time_signature=(3, 5))
    with pytest.raises(MusiclabError, match="key signature"):
        write_midi_bytes(PRIMER, key="H#")
    assert len(read(write_midi_bytes([])).tracks) == 1  # nothing to write is still a valid file


def test_synth_renders_both_tracks():
    from musiclab.audio.synth import render_midi

    primer = [((69,), "A4", "1.0", "0.0"), ((57,), "A3", "1.0", "1.0")]
    cont = [((), "rest", "2.0", "1.0"), ((72,), "C5", "1.0", "2.0")]  # silent 2..4, then a note at 4
    sr = 22050
    y = render_midi(events_to_midi_bytes(primer + cont, tempo=120, primer_events=2), sr=sr)
    half = sr // 2  # a quarter at 120 BPM
    rms = lambda a, b: float(np.sqrt(np.mean(y[int(a * half):int(b * half)] ** 2)))  # noqa: E731
    assert rms(0, 1) > 0.005  # the primer sounds
    assert rms(4, 5) > 0.005  # the continuation's note sounds
    assert rms(3.6, 3.95) < rms(4, 5) / 3  # and nothing in the gap before it


def test_session_export_writes_the_primer_track(tmp_path):
    from musiclab.composer import session as S

    res = S.Result(events=list(CONT), primer=list(PRIMER), seed=1, model_name="folk", tempo=100, program=0)
    out = S.export(res, tmp_path / "take.mid")
    mf = mido.MidiFile(str(out))
    assert [next(m.name for m in tr if m.type == "track_name") for tr in mf.tracks] == ["primer", "folk"]
    assert sum(len(track_notes(tr)) for tr in mf.tracks) == len(events_to_notes(PRIMER + CONT))


def test_file_meta(tmp_path):
    p = tmp_path / "m.mid"
    p.write_bytes(events_to_midi_bytes(PRIMER, tempo=140, time_signature=(2, 4), key="Bb"))
    assert file_meta(p) == {"time_signature": (2, 4), "key": "Bb", "tempo": pytest.approx(140, abs=0.01)}
    (tmp_path / "junk.mid").write_bytes(b"not midi")
    assert file_meta(tmp_path / "junk.mid") == {"time_signature": None, "key": None, "tempo": None}


def test_generated_midi_keeps_the_primers_own_metre_and_key(tmp_path, capsys):
    """A primer file that says 5/4 in E-flat (no estimate would give 5/4) primes a generation:
    the written file says 5/4 and E-flat too, and the primer is its own track."""
    pytest.importorskip("torch")
    from musiclab.cli import main

    primer = tmp_path / "primer.mid"
    primer.write_bytes(events_to_midi_bytes(PRIMER, tempo=100, time_signature=(5, 4), key="Eb"))
    out = tmp_path / "take.mid"
    assert main(["composer", "generate", "--model", "folk", "--primer", str(primer), "--length", "40",
                 "--seed", "2", "--out", str(out)]) == 0
    meta = file_meta(out)
    assert meta["time_signature"] == (5, 4) and meta["key"] == "Eb"
    mf = mido.MidiFile(str(out))
    assert next(m.name for m in mf.tracks[0] if m.type == "track_name") == "primer"
