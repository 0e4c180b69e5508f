"""Bad input for the composer (issue 16, "Bad input"): overlapping notes of one pitch, pickup
bars, tempo and metre changes, 16 channels, a 30-minute file. Each is either read and written
back faithfully (every note at its onset) or named with a clear message, never a crash or a
silent wrong result. The files are generated here with mido."""

import io

import mido
import pytest

from musiclab.composer.events import load_corpus, parse_file
from musiclab.composer.generate import events_to_midi_bytes, events_to_notes
from musiclab.composer.midifile import file_meta
from musiclab.errors import MusiclabError

TPQ = 480


def on(t, p, ch=0, v=80):
    return t, mido.Message("note_on", note=p, velocity=v, channel=ch)


def off(t, p, ch=0):
    return t, mido.Message("note_off", note=p, velocity=0, channel=ch)


def meta(t, kind, **kw):
    return t, mido.MetaMessage(kind, **kw)


def save(path, tracks, tpq=TPQ):
    """Tracks of (absolute tick, message) -> a MIDI file (note-offs before note-ons at a tick)."""
    mf = mido.MidiFile(type=1 if len(tracks) > 1 else 0, ticks_per_beat=tpq)
    for msgs in tracks:
        tr = mido.MidiTrack()
        mf.tracks.append(tr)
        now = 0
        for tick, m in sorted(msgs, key=lambda x: (x[0], x[1].type == "note_on")):
            tr.append(m.copy(time=tick - now))
            now = tick
    mf.save(str(path))
    return path


def onsets_of(mf: mido.MidiFile, channels=None) -> list:
    """Sorted (onset in 1/12 quarters, pitch) of every tonal note-on."""
    out = []
    for tr in mf.tracks:
        t = 0
        for m in tr:
            t += m.time
            if m.type == "note_on" and m.velocity > 0 and m.channel != 9 and (channels is None or m.channel in channels):
                out.append((round(t * 12 / mf.ticks_per_beat), m.note))
    return sorted(out)


def event_onsets(events) -> list:
    return sorted((round(s * 12), p) for s, _, p in events_to_notes(events))


def round_trip(path, channels=None):
    """Read ``path`` as the composer does, write the events back; return (corpus, events,
    original onsets, written onsets)."""
    c = load_corpus([path])
    assert not c.skipped, c.skipped
    evs = c.pieces[0].events
    back = mido.MidiFile(file=io.BytesIO(events_to_midi_bytes(evs)))
    orig = onsets_of(mido.MidiFile(str(path)), channels)
    return c, evs, orig, onsets_of(back)


def no_overlaps(mf: mido.MidiFile) -> bool:
    for tr in mf.tracks:
        sounding = set()
        for m in tr:
            if m.type == "note_on" and m.velocity > 0:
                if (m.note, m.channel) in sounding:
                    return False
                sounding.add((m.note, m.channel))
            elif m.type in ("note_on", "note_off"):
                sounding.discard((m.note, m.channel))
    return True


def test_overlapping_notes_of_one_pitch(tmp_path):
    # C4 struck at 0 and again at 0.5 while still held; a C4 doubled at one onset (two channels)
    p = save(tmp_path / "overlap.mid", [[on(0, 60), on(240, 60), off(480, 60), off(960, 60),
                                         on(960, 62), off(1440, 62), on(1440, 64), on(1440, 64, 1),
                                         off(1920, 64), off(1920, 64, 1)]])
    c, evs, orig, back = round_trip(p)
    assert set(back) == set(orig)  # every onset comes back (the doubled one once)
    out = mido.MidiFile(file=io.BytesIO(events_to_midi_bytes(evs)))
    assert no_overlaps(out)  # the re-struck C ends where it starts again
    assert not c.warnings


def test_pickup_bar(tmp_path):
    # a one-quarter pickup (1/4 bar), then 4/4: the tune's notes keep their onsets from the start
    notes = [on(0, 67), off(480, 67)]
    for i in range(8):
        notes += [on(480 + i * 480, 60 + i), off(960 + i * 480, 60 + i)]
    p = save(tmp_path / "pickup.mid", [[meta(0, "time_signature", numerator=1, denominator=4),
                                        meta(480, "time_signature", numerator=4, denominator=4)] + notes])
    c, evs, orig, back = round_trip(p)
    assert back == orig and len(back) == 9
    assert evs[0][0] == (67,) and event_onsets(evs)[1] == (12, 60)
    assert file_meta(p)["time_signature"] == (1, 4)  # the first bar's, as the file says


def test_tempo_and_metre_changes(tmp_path):
    notes = [m for i in range(10) for m in (on(i * 480, 60 + i), off(i * 480 + 480, 60 + i))]
    p = save(tmp_path / "changes.mid", [[meta(0, "set_tempo", tempo=500000),
                                         meta(0, "time_signature", numerator=4, denominator=4),
                                         meta(1920, "set_tempo", tempo=800000),
                                         meta(1920, "time_signature", numerator=3, denominator=4)] + notes])
    c, evs, orig, back = round_trip(p)
    assert back == orig  # the notes, in quarters
    # the tempo change is not kept by the events: said, not silent
    ((path, msg),) = c.warnings
    assert path.endswith("changes.mid") and "2 tempos" in msg
    # a metre change alone changes nothing the events keep: no warning
    q = save(tmp_path / "metre.mid", [[meta(0, "time_signature", numerator=4, denominator=4),
                                       meta(1920, "time_signature", numerator=3, denominator=4)] + notes])
    c2, _, orig2, back2 = round_trip(q)
    assert back2 == orig2 and not c2.warnings


def test_sixteen_channels(tmp_path):
    # one track per channel, a different program each, channel 10 drums
    tracks = []
    for ch in range(16):
        msgs = [(0, mido.Message("program_change", program=(ch * 8) % 128, channel=ch))]
        for i in range(4):
            msgs += [on(i * 480, 40 + ch * 3, ch), off(i * 480 + 480, 40 + ch * 3, ch)]
        tracks.append(msgs)
    p = save(tmp_path / "sixteen.mid", tracks)
    c, evs, orig, back = round_trip(p, channels={0})
    assert back == orig  # the first instrument, faithfully (the seed's extraction)...
    ((path, msg),) = c.warnings  # ...and a clear word that the other 14 tonal instruments are not read
    assert "4 of its 60 notes" in msg and "first instrument of 15" in msg


def test_thirty_minute_file(tmp_path):
    # 30 minutes at 120 BPM: 3600 quarters of eighth notes
    n = 30 * 60 * 2 * 2
    notes = [m for i in range(n) for m in (on(i * 240, 60 + (i * 7) % 24), off(i * 240 + 240, 60 + (i * 7) % 24))]
    p = save(tmp_path / "long.mid", [[meta(0, "set_tempo", tempo=500000)] + notes])
    c, evs, orig, back = round_trip(p)
    assert len(evs) == n and back == orig
    assert event_onsets(evs)[-1][0] == (n - 1) * 6  # the last note at 3599.5 quarters


def test_music21_reads_the_same_bad_files(tmp_path):
    """The reference extraction (music21) gives the same onsets on the small ones."""
    pickup = [on(0, 67), off(480, 67)] + [m for i in range(4) for m in (on(480 + i * 480, 60 + i),
                                                                       off(960 + i * 480, 60 + i))]
    p = save(tmp_path / "pickup.mid", [[meta(0, "time_signature", numerator=1, denominator=4),
                                        meta(480, "time_signature", numerator=4, denominator=4)] + pickup])
    res = parse_file(p)
    evs = [tuple(e) for e in res["pieces"][0][1]]
    assert event_onsets(evs) == onsets_of(mido.MidiFile(str(p)))


def test_unwritable_requests_are_clear_messages():
    from musiclab.composer.midifile import write_midi_bytes

    evs = [((60,), "C4", "1.0", "0.0")]
    for bad in [dict(time_signature=(0, 4)), dict(time_signature="4/4"), dict(key="Q")]:
        with pytest.raises(MusiclabError):
            write_midi_bytes(evs, **bad)
    # out-of-range numbers are clamped, not a crash
    mf = mido.MidiFile(file=io.BytesIO(write_midi_bytes(evs, tempo=1e6, program=300, velocity=0)))
    assert mf.tracks[0][1].type == "set_tempo"
