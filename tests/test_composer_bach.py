"""The Bach-chorale material (music21's offline corpus, every voice as sounding slices) and the
shipped ``bach`` Composer model."""

import json

import numpy as np
import pytest

from musiclab.cli import main
from musiclab.composer import ingest


def _chorale():
    """A 4-voice score in 4/4 with a one-beat pickup, a held alto note and a tie."""
    from music21 import meter, note, stream, tie

    sc = stream.Score()
    voices = {
        "Soprano": [(67, 1.0), (69, 1.0), (71, 1.0), (72, 2.0)],
        "Alto": [(62, 1.0), (64, 2.0), (64, 2.0)],  # the last two are tied: one note of 4 quarters
        "Tenor": [(59, 1.0), (60, 0.5), (62, 0.5), (67, 1.0), (64, 2.0)],
        "Bass": [(43, 1.0), (45, 1.0), (43, 1.0), (48, 2.0)],
    }
    for name, notes in voices.items():
        part = stream.Part()
        part.partName = name
        m0 = stream.Measure(number=0)
        m0.append(meter.TimeSignature("4/4"))
        m0.paddingLeft = 3.0
        m1 = stream.Measure(number=1)
        first = note.Note(notes[0][0], quarterLength=notes[0][1])
        m0.append(first)
        for k, (p, d) in enumerate(notes[1:]):
            n = note.Note(p, quarterLength=d)
            if name == "Alto":
                n.tie = tie.Tie("start" if k == 0 else "stop")
            m1.append(n)
        part.append([m0, m1])
        sc.insert(0, part)
    return sc


def test_sounding_slices_hold_every_voice_and_pad_the_pickup():
    res = ingest.sounding_slices(_chorale())
    assert res["parts"] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert res["time_signature"] == (4, 4) and res["lead"] == 3.0 and res["off_grid"] == 0
    ev = [(e[0], e[2]) for e in res["events"]]
    assert ev == [
        ((), "3.0"),  # the pickup padded to a whole bar
        ((43, 59, 62, 67), "1.0"),
        ((45, 60, 64, 69), "0.5"),  # the tenor moves on the half beat: a new slice
        ((45, 62, 64, 69), "0.5"),
        ((43, 64, 67, 71), "1.0"),  # the alto's tied E4 is one note across these slices
        ((48, 64, 72), "2.0"),  # tenor and alto in unison on E4
    ]
    # every slice starts where the previous one ends and the bars fall on multiples of 4
    assert sum(float(d) for _, d in ev) == 3.0 + 1 + 0.5 + 0.5 + 1 + 2


def test_a_score_without_voices_is_named_not_a_crash(tmp_path):
    from music21 import note, stream

    sc = stream.Score()
    p = stream.Part()
    p.partName = "Piano"
    p.append(note.Note(60, quarterLength=1.0))
    sc.insert(0, p)
    assert ingest.sounding_slices(sc, require_voices=True)["events"] == []
    path = tmp_path / "piano.musicxml"
    sc.write("musicxml", fp=str(path))
    r = ingest._m21_to_midi(str(path), str(tmp_path / "piano.mid"))
    assert r["skipped"].startswith("not a vocal score (parts: Piano")
    assert not (tmp_path / "piano.mid").exists()
    bad = tmp_path / "broken.mxl"
    bad.write_bytes(b"PK not a zip")
    assert ingest._m21_to_midi(str(bad), str(tmp_path / "b.mid"))["skipped"].startswith("unreadable")


def test_ingest_music21_bach_chorales_into_a_store(tmp_path):
    from musiclab.composer.stream import decode_events, from_store, open_store

    files = ingest.music21_corpus_files("bach")
    assert len(files) > 350 and len({f.stem for f in files}) == len(files)
    idx = ingest.ingest_music21_corpus("bach", tmp_path / "store", workers=1, limit=3)
    assert idx["pieces"] == 3 and idx["music21"]["written"] == 3 and idx["skipped"] == []
    man = json.loads((tmp_path / "store" / "midi" / "manifest.json").read_text())
    assert [r["parts"] for r in man["scores"]] == [["Soprano", "Alto", "Tenor", "Bass"]] * 3
    store = open_store(tmp_path / "store")
    assert [p["name"] for p in store.pieces] == [f.stem + ".mid" for f in files[:3]]
    # the store holds the slices as written: the MIDI round trip keeps every event (the reader
    # fills the last bar with a rest, the complement of the pickup)
    from music21 import converter

    for i, f in enumerate(files[:3]):
        want = [(tuple(e[0]), e[2]) for e in ingest.sounding_slices(converter.parse(str(f)))["events"]]
        got = [(tuple(e[0]), e[2]) for e in decode_events(store.tokens(i))]
        assert got[:len(want)] == want
        assert all(not p for p, _ in got[len(want):])
        four = sum(1 for p, _ in want if len(p) == 4) / len(want)
        assert four > 0.6, four  # mostly all four voices at once
    # resumable: a second run converts nothing
    idx2 = ingest.ingest_music21_corpus("bach", tmp_path / "store", workers=1, limit=3)
    assert idx2["music21"]["converted_now"] == 0 and idx2["pieces"] == 3
    assert len(from_store(store)) == 3


def test_cli_ingest_needs_paths_or_a_corpus(tmp_path, capsys):
    assert main(["composer", "ingest", "--out", str(tmp_path / "s")]) == 1
    assert "--music21-corpus" in capsys.readouterr().err
    assert main(["composer", "ingest", str(tmp_path), "--music21-corpus", "bach", "--out", str(tmp_path / "s")]) == 1
    with pytest.raises(SystemExit):
        main(["composer", "ingest", "--music21-corpus", "mozart", "--out", str(tmp_path / "s")])
    with pytest.raises(ValueError):
        ingest.music21_corpus_files("mozart")


@pytest.fixture(scope="module")
def bach():
    from musiclab.composer.model import load_composer

    return load_composer("bach")


def test_bach_is_a_shipped_model(bach):
    from musiclab.models import list_models

    assert "bach" in list_models("composer")
    assert bach.meta.get("val_piece_names") and all(n.startswith("bwv") for n in bach.meta["val_piece_names"])
    assert bach.copy is not None  # the self-copy mixture, fitted on the validation chorales
    assert bach.meta["hparams"]["hidden"] == 256 and bach.meta["arch"] == "event-lstm-v2"


def test_bach_generates_four_voices_at_once(bach):
    from musiclab.composer.generate import events_to_notes, generate, longest_silence

    ev = generate(bach, [], 60, temperature=0.9, top_p=0.95, seed=0)
    assert len(ev) == 60
    sizes = np.array([len(e[0]) for e in ev])
    assert (sizes >= 3).mean() > 0.7, sizes  # chords of the voices, not one line
    notes = events_to_notes(ev)
    ps = np.array([n[2] for n in notes])
    assert 30 <= ps.min() and ps.max() <= 84  # within the choir's range
    # at a typical moment three or four notes sound together
    grid = np.arange(0.0, max(n[0] + n[1] for n in notes), 0.25)
    sounding = [sum(1 for s, d, _ in notes if s <= t < s + d) for t in grid]
    assert np.median(sounding) >= 3
    assert longest_silence(ev) <= 8.0


def test_bach_generates_by_its_own_defaults_held_voices_in_the_written_midi(bach, tmp_path):
    """The model file says how its events are written: one slice after another (bars keep their
    length), free form (chorales are not built of repeated strains), and a voice holding its
    pitch into the next slice is one held note, not struck again."""
    import io
    from fractions import Fraction

    import mido

    from musiclab.composer import session as S
    from musiclab.composer.events import onsets
    from musiclab.composer.generate import events_to_midi_bytes

    res = S.compose(bach, [], S.GenerateSettings(length=48, seed=3))
    assert res.settings.form == "free" and res.legato
    ev = res.all_events
    # sequential placement: every slice starts where the one before it ended
    t = onsets(ev)
    assert all(abs(t[i + 1] - (t[i] + float(Fraction(ev[i][2])))) < 1e-9 for i in range(len(ev) - 1))

    def note_ons(data):
        return sum(1 for m in mido.MidiFile(file=io.BytesIO(data)) if m.type == "note_on" and m.velocity > 0)

    struck = note_ons(events_to_midi_bytes(ev))
    held = note_ons(events_to_midi_bytes(ev, legato=True))
    pitches = sum(len(e[0]) for e in ev)
    continuing = sum(len(set(a[0]) & set(b[0])) for a, b in zip(ev, ev[1:]))
    assert struck == pitches and continuing > 0
    assert held == pitches - continuing  # exactly the held-on pitches joined
    # exported MIDI carries the same held notes
    assert note_ons(S.export(res, tmp_path / "chorale.mid").read_bytes()) == held
