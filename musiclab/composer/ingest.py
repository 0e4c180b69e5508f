"""Fast MIDI ingestion (symusic) and a sharded, memory-mapped event store.

**Fast extraction.** :func:`symusic_parse` gives, for a MIDI file, exactly what the reference
extraction (:func:`musiclab.composer.events.parse_file`, music21, ~0.5 s a file) gives, in a
few milliseconds: symusic (C++) reads and checks the file and sorts out unusable ones (no
notes, drums only); a small byte reader then takes the tracks' events the way music21's MIDI
reader does, and music21's MIDI import is replayed on them in plain Python: per track, notes
paired with the next note-off of their pitch and channel; notes that start within a 16th of
each other and end within a 16th become a chord; offsets and durations quantized to 16ths /
triplet 8ths with music21's look-ahead rule (``Stream.quantize``); measures from the track's
(or the conductor track's) time signatures; overlapping notes into voices; notes across a
barline split (``makeTies``), single voices flattened back; gaps filled with rests
(``makeRests``); then ``instrument.deduplicate`` / ``partitionByInstrument`` and the first
instrument's notes, chords and rests in offset order, as ``_events_from_stream`` reads them.
Chord names come from music21's own chord tables (``Chord.normalOrder``), pitch names and
instrument names from tables checked against music21 in the tests.

Measured on the shared data against music21 (``benchmarks/ingest.py``, and a comparison of
all 934 Nottingham files): every Nottingham file and every EMOPIA file tried gives the same
pitches, names and durations. The known residual differences: in a few multi-voice
piano/jazz files (3 of 61 jazz + piano-cover files tried), music21 keeps a measure's *cached*
length from before it split a note inside a voice, which shifts that part's later measures;
the fast path does not reproduce that cache effect. The same effect moves *onsets* (the
events' ``dt``, added for timed models) on some EMOPIA piano files: on
``Q4_ltxNPJda7zE_0.mid`` music21 stretches one 4/4 bar to 11.33 quarters and its onsets run
ahead from event 61 on (tested in ``test_emopia_piano_same_notes_and_durations_onsets_documented``).
Set ``MUSICLAB_MIDI_ENGINE=music21`` to train a timed model on music21's onsets.

music21 stays the reference and the fallback: for formats symusic cannot read (ABC, kern,
MusicXML), for MIDI files symusic cannot read, and for any file the fast path fails on
(e.g. an unusual time signature such as 7/128).

**Event store.** :func:`ingest` parses many files in worker processes and writes shards
(``shard-00000.npy``: uint16 sub-tokens of :mod:`musiclab.composer.encoding`, plus
``shard-00000.json``: the pieces' names, sources, offsets and the shard's skipped files) and an
``index.json`` with a format version. A run that is stopped or killed resumes where it left off
(shards already written for the same files are kept). Unusable files (corrupt, empty, drums
only, not MIDI, too big) are listed in the index with their reason and never stop the run.
:class:`EventStore` reads the shards memory-mapped.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import time
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report

# --------------------------------------------------------------------------- music21 details
_PC_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
# (class name, instrumentName) of music21 instruments made from a MIDI program
_INST_KINDS = (
    ("Piano", "Piano"), ("ElectricPiano", "Electric Piano"), ("Harpsichord", "Harpsichord"),
    ("Clavichord", "Clavichord"), ("Celesta", "Celesta"), ("Glockenspiel", "Glockenspiel"),
    ("Vibraphone", "Vibraphone"), ("Marimba", "Marimba"), ("Xylophone", "Xylophone"),
    ("TubularBells", "Tubular Bells"), ("Dulcimer", "Dulcimer"),
    ("ElectricOrgan", "Electric Organ"), ("PipeOrgan", "Pipe Organ"), ("ReedOrgan", "Reed Organ"),
    ("Accordion", "Accordion"), ("Harmonica", "Harmonica"), ("AcousticGuitar", "Acoustic Guitar"),
    ("ElectricGuitar", "Electric Guitar"), ("AcousticBass", "Acoustic Bass"),
    ("ElectricBass", "Electric Bass"), ("FretlessBass", "Fretless Bass"), ("Violin", "Violin"),
    ("Viola", "Viola"), ("Violoncello", "Violoncello"), ("Contrabass", "Contrabass"),
    ("StringInstrument", "StringInstrument"), ("Harp", "Harp"), ("Timpani", "Timpani"),
    ("Choir", "Choir"), ("Vocalist", "Voice"), ("Sampler", "Sampler"), ("Trumpet", "Trumpet"),
    ("Trombone", "Trombone"), ("Tuba", "Tuba"), ("Horn", "Horn"), ("BrassInstrument", "Brass"),
    ("SopranoSaxophone", "Soprano Saxophone"), ("AltoSaxophone", "Alto Saxophone"),
    ("TenorSaxophone", "Tenor Saxophone"), ("BaritoneSaxophone", "Baritone Saxophone"),
    ("Oboe", "Oboe"), ("EnglishHorn", "English Horn"), ("Bassoon", "Bassoon"),
    ("Clarinet", "Clarinet"), ("Piccolo", "Piccolo"), ("Flute", "Flute"), ("Recorder", "Recorder"),
    ("PanFlute", "Pan Flute"), ("Shakuhachi", "Shakuhachi"), ("Whistle", "Whistle"),
    ("Ocarina", "Ocarina"), ("Sitar", "Sitar"), ("Banjo", "Banjo"), ("Shamisen", "Shamisen"),
    ("Koto", "Koto"), ("Kalimba", "Kalimba"), ("Bagpipes", "Bagpipes"), ("Shehnai", "Shehnai"),
    ("Agogo", "Agogo"), ("SteelDrum", "Steel Drum"), ("Woodblock", "Woodblock"), ("Taiko", "Taiko"),
    ("TomTom", "Tom-Tom"),
)
# music21's instrument.instrumentFromMidiProgram(p) for p = 0..127, as indexes into _INST_KINDS
_PROGRAM_KIND = (0, 0, 1, 0, 1, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 11, 11, 12, 13, 14, 15, 14,
    16, 16, 17, 17, 17, 17, 17, 17, 18, 19, 19, 20, 19, 19, 19, 19, 21, 22, 23, 24, 25, 25, 26, 27,
    25, 25, 25, 25, 28, 29, 29, 30, 31, 32, 33, 31, 34, 35, 35, 35, 36, 37, 38, 39, 40, 41, 42, 43,
    44, 45, 46, 47, 47, 48, 49, 50, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    30, 30, 30, 30, 30, 30, 30, 30, 51, 52, 53, 54, 55, 56, 21, 57, 5, 58, 59, 60, 61, 62, 30, 30,
    30, 30, 30, 30, 30, 30, 30, 30)
_PROGRAM_INST = tuple(_INST_KINDS[k] for k in _PROGRAM_KIND)


def pitch_name(midi: int) -> str:
    """``str(music21 Pitch)`` of a MIDI number, as music21 spells it on MIDI import."""
    return f"{_PC_NAMES[midi % 12]}{midi // 12 - 1}"


class _PCs:
    """Stands in for a Chord where music21's chord tables only read ``orderedPitchClasses``."""

    def __init__(self, pcs):
        self.orderedPitchClasses = list(pcs)


@lru_cache(maxsize=None)
def _normal_order(pcs: frozenset) -> str:
    """music21's ``Chord.normalOrder`` (Forte tables) of a pitch-class set, joined with '.'
    (the same table look-up and transposition search, without building a Chord)."""
    from music21.chord import tables

    ordered = sorted(pcs)
    try:
        cta = tables.seekChordTablesAddress(_PCs(ordered))
        form = tables.addressToTransposedNormalForm(cta)
        for t in ordered:
            cand = [(pc + t) % 12 for pc in form]
            if set(cand) == pcs:
                return ".".join(str(n) for n in cand)
        raise ValueError("no normal order")
    except Exception:  # noqa: BLE001 - the reference's fallback
        return ".".join(str(pc) for pc in ordered)


@lru_cache(maxsize=None)
def _instrument_from_name(decoded: str, meta_type: int) -> tuple:
    """music21's ``midiEventToInstrument`` for a track/instrument name: (class, instrumentName,
    partName)."""
    cls, iname = "Instrument", None
    if decoded:
        from music21 import instrument

        try:
            i = instrument.fromString(decoded)
            cls, iname = type(i).__name__, i.instrumentName
        except Exception:  # noqa: BLE001 - music21 gives a generic Instrument
            pass
    pname = None
    low = decoded.lower()
    if decoded and not (low in ("instrument", "inst") or low.replace("instrument ", "").isdigit()
                        or low.replace("inst ", "").isdigit()):
        if meta_type == 0x03:
            pname = decoded
        else:
            iname = decoded
    return cls, iname, pname


def _ql(units: int, U: int):
    """A whole number of units as music21 holds a quarterLength (float if binary, else Fraction)."""
    f = Fraction(units, U)
    d = f.denominator
    if d & (d - 1) == 0:
        return f.numerator / d
    return f


@lru_cache(maxsize=8192)
def dur_string(units: int, U: int = 96) -> str:
    """``str(quarterLength)`` of a duration in units of 1/U quarter, as music21 prints it."""
    return str(_ql(units, U))


def _best_match(target: float, U: int, zero_allowed: bool = True, gap=0.0) -> int:
    """music21's ``Stream.quantize`` ``bestMatch`` for divisors (4, 3); returns units."""
    best = None
    for div, tick in ((4, 0.25), (3, 1 / 3)):
        mult = math.floor(target / tick)
        match_low = tick * mult
        if match_low <= target <= match_low + tick / 2.0:
            match, k = match_low, mult
            error = signed = round(target - match_low, 7)
        else:
            match, k = tick * (mult + 1), mult + 1
            error = round(match - target, 7)
            signed = round(target - match, 7)
        if not zero_allowed and match == 0.0:
            match, k = tick, 1
            signed = round(target - match, 7)
            error = abs(signed)
        if gap % tick == 0:
            remaining = 0.0
        else:
            remaining = max(gap - match, 0.0)
        cand = (remaining, error, tick, match, signed, div, k * (U // div))
        if best is None or cand < best:
            best = cand
    return best[6]


@lru_cache(maxsize=65536)
def _q_offset(tick: int, tpq: int, U: int) -> int:
    """Quantized offset (units) of an element at ``tick``. (music21 holds ``opFrac(tick /
    tpq)``; as a float that is ``tick / tpq`` again, both correctly rounded.)"""
    return _best_match(tick / tpq, U)


@lru_cache(maxsize=65536)
def _q_duration(ticks: int, tpq: int, U: int, gap: Optional[int]) -> int:
    """Quantized duration (units) of a note ``ticks`` long; ``gap``: units to the next
    element that starts later (None: no such element)."""
    ql = ticks / tpq
    if gap is None:
        return _best_match(ql, U, False)
    return _best_match(ql, U, False, _ql(gap, U))


# --------------------------------------------------------------------------- MIDI bytes
class MidiTrackData:
    """What music21 takes from one MIDI track: notes (note-on order) and meta objects."""

    __slots__ = ("notes", "meta", "has_notes")

    def __init__(self):
        self.notes: list = []  # (on tick, off tick, pitch, channel 1..16)
        self.meta: list = []  # (tick, kind, value), event order; kind in ts/ks/tempo/inst
        self.has_notes = False


def _varlen(data: bytes, i: int) -> tuple[int, int]:
    v = 0
    n = len(data)
    while i < n:
        b = data[i]
        i += 1
        v = (v << 7) | (b & 0x7F)
        if b < 0x80:
            break
    return v, i


def read_midi_bytes(data: bytes, clip: bool = False) -> tuple[int, list]:
    """Read a Standard MIDI File the way music21's reader does (running status, lenient on
    bad events). Returns (ticks per quarter, [MidiTrackData per track])."""
    if data[:4] != b"MThd":
        raise ValueError("not a MIDI file (no MThd header)")
    hlen = int.from_bytes(data[4:8], "big")
    if hlen != 6:
        raise ValueError("badly formatted MIDI header")
    fmt = int.from_bytes(data[8:10], "big")
    if fmt not in (0, 1):
        raise ValueError(f"cannot handle MIDI format {fmt}")
    ntracks = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if division & 0x8000:
        raise ValueError("SMPTE time division is not supported")
    tpq = division & 0x7FFF
    if tpq <= 0:
        raise ValueError("zero ticks per quarter")
    pos = 14
    tracks = []
    for _ in range(ntracks):
        if data[pos:pos + 4] != b"MTrk":
            raise ValueError("badly formed MIDI: missing MTrk")
        length = int.from_bytes(data[pos + 4:pos + 8], "big")
        chunk = data[pos + 8:pos + 8 + length]
        pos += 8 + length
        tracks.append(_read_track(chunk, clip))
    return tpq, tracks


def _read_track(d: bytes, clip: bool) -> MidiTrackData:
    tr = MidiTrackData()
    ev = []  # (tick, kind, a, b, channel): kind 1 on, 0 off
    meta = tr.meta
    t = 0
    i = 0
    n = len(d)
    last_status = None
    last_program = -1
    while i < n:
        b = d[i]
        if b < 0x80:
            dt, j = b, i + 1
        else:
            dt, j = _varlen(d, i)
        if n - j < 2:
            break
        b0 = d[j]
        if b0 < 0x80:
            status = last_status if last_status is not None else 0x90
            k = j  # data starts here
        else:
            status = b0
            k = j + 1
            if b0 != 0xFF:
                last_status = b0
        hi = status & 0xF0
        if 0x80 <= hi <= 0xE0:
            ch = (status & 0x0F) + 1
            b1 = d[k] if k < n else 0
            if hi in (0xC0, 0xD0):
                if b1 > 127:
                    if not clip:
                        i = j  # music21 drops the event and re-reads from here as a delta time
                        continue
                    b1 = 127
                i = k + 1
                t += dt
                if hi == 0xC0:
                    last_program = b1
                    if ch == 10:
                        meta.append((t, "inst", ("UnpitchedPercussion", "Percussion", None)))
                    else:
                        meta.append((t, "inst", (*_PROGRAM_INST[b1], None)))
                continue
            b2 = d[k + 1] if k + 1 < n else 0
            i = k + 2
            t += dt
            if clip:
                b1, b2 = min(b1, 127), min(b2, 127)
            if hi == 0x90:
                if b2 != 0:
                    ev.append((t, 1, b1, b2, ch))
                    tr.has_notes = True
                else:
                    ev.append((t, 0, b1, 0, ch))
            elif hi == 0x80:
                ev.append((t, 0, b1, b2, ch))
            continue
        if status in (0xF0, 0xF7):
            ln, k2 = _varlen(d, k)
            i = k2 + ln
            t += dt
            continue
        if status == 0xFF:
            mtype = d[k]
            ln, k2 = _varlen(d, k + 1)
            payload = d[k2:k2 + ln]
            i = k2 + ln
            t += dt
            if mtype == 0x58 and len(payload) >= 2:
                meta.append((t, "ts", (payload[0], 2 ** payload[1])))
            elif mtype == 0x59:
                meta.append((t, "ks", None))
            elif mtype == 0x51:
                meta.append((t, "tempo", None))
            elif mtype in (0x03, 0x04):
                try:
                    decoded = payload.decode("utf-8").split("\x00")[0].strip()
                except UnicodeDecodeError:
                    decoded = None
                if decoded is None:
                    inst = ("Instrument", None, None)
                else:
                    inst = _instrument_from_name(decoded, mtype)
                meta.append((t, "inst", inst))
            continue
        # unknown status byte: music21 skips the delta time and reads on
        i = j
        if i >= n:
            break
        # avoid an endless loop on a byte music21 would also reject
        i = j + 1
    # getNotesFromEvents: pair each note-on with the next note-off of its pitch and channel
    awaiting = {}
    notes = []
    for tick, kind, pitch, vel, ch in reversed(ev):
        if kind == 0:
            awaiting[(pitch, ch)] = tick
        else:
            off = awaiting.get((pitch, ch))
            if off is not None:
                notes.append((tick, off, pitch, ch))
    notes.reverse()
    tr.notes = notes
    return tr


def _dedupe_instruments(insts: list) -> list:
    """music21's ``instrument.deduplicate`` on one track's (tick, (cls, iname, pname)).

    Its ``OffsetTree`` loop sees all of a part's instruments as one group (whatever their
    offsets): with at most one part name and one instrument name among them, the names are
    shared; one class -> only the first instrument stays, mixed -> generic ones go."""
    group = sorted(((t, k, list(inst)) for k, (t, inst) in enumerate(insts)), key=lambda x: x[:2])
    if len(group) > 1:
        pnames = {g[2][2] for g in group if g[2][2] is not None}
        inames = {g[2][1] for g in group if g[2][1] is not None}
        if len(pnames) <= 1 and len(inames) <= 1:
            pn = next(iter(pnames), None)
            iname = next(iter(inames), None)
            classes = {g[2][0] for g in group}
            if len(classes) == 1:
                group = group[:1]
            else:
                group = [g for g in group if g[2][0] != "Instrument"]
            for g in group:
                g[2][1], g[2][2] = iname, pn
    return [(t, tuple(inst)) for t, _, inst in group]


# --------------------------------------------------------------------------- one track
class _El:
    """A note/chord/rest while a track is rebuilt (offsets in units, measure-relative later)."""

    __slots__ = ("on", "dur", "pitches", "grace", "rest", "seq")

    def __init__(self, on, dur, pitches, grace=False, rest=False, seq=0):
        self.on = on
        self.dur = dur
        self.pitches = pitches  # tuple of MIDI numbers; None for an unpitched (drum) note/chord
        self.grace = grace
        self.rest = rest
        self.seq = seq


class _Seq:
    def __init__(self):
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _track_elements(notes, tpq: int, U: int, meta_ticks: list[int]):
    """Chord grouping + quantization of one track (midiTrackToStream up to ``quantize``).
    ``notes``: (on, off, pitch, channel) in note-on order. Returns (elements sorted as music21
    sorts them, quantized offsets of the track's own meta objects, voices_required)."""
    tol = tpq / 4  # chunkTolerance = ticksPerQuarter / max(quarterLengthDivisors)
    n = len(notes)
    gathered = [False] * n
    groups = []
    voices_required = False
    for i in range(n):
        if gathered[i]:
            continue
        on, off, p, ch = notes[i]
        sub = [notes[i]]
        for j in range(i + 1, n):
            on2, off2 = notes[j][0], notes[j][1]
            if abs(on2 - on) >= tol:
                break
            if abs(off2 - off) > tol:
                voices_required = True
                continue
            sub.append(notes[j])
            gathered[j] = True
        # music21 takes a chord's duration from its last note (midiEventsToChord)
        ticks = sub[-1][1] - sub[-1][0]
        grace = ticks == 0
        if any(x[3] == 10 for x in sub):
            pitches = None  # Unpitched / PercussionChord
        else:
            pitches = tuple(x[2] for x in sub)
        groups.append((on, ticks, pitches, grace))
    # Stream.sort(): offset, classSortOrder (meta first), grace first, insertion order
    items = [(t, 0, 0, k, None) for k, t in enumerate(meta_ticks)]
    items += [(g[0], 1, 0 if g[3] else 1, k, g) for k, g in enumerate(groups)]
    items.sort(key=lambda x: x[:4])
    q = [_q_offset(it[0], tpq, U) for it in items]
    m = len(items)
    # quantized offset of the nearest later element that starts later (q is non-decreasing)
    next_q: list = [None] * m
    nxt = None
    for i in range(m - 1, -1, -1):
        if i + 1 < m and q[i + 1] > q[i]:
            nxt = q[i + 1]
        next_q[i] = nxt if (nxt is not None and nxt > q[i]) else None
    els = []
    meta_q = [0] * len(meta_ticks)
    seq = 0
    for i, it in enumerate(items):
        if it[4] is None:
            meta_q[it[3]] = q[i]
            continue
        _, ticks, pitches, grace = it[4]
        o = q[i]
        if grace:
            d = 0
        else:
            d = _q_duration(ticks, tpq, U, None if next_q[i] is None else next_q[i] - o)
        seq += 1
        els.append(_El(o, d, pitches, grace, False, seq))
    els.sort(key=lambda e: (e.on, not e.grace, e.seq))
    return els, meta_q, voices_required


def _bars(ts_list, o_max: int, U: int) -> list:
    """Measure (start, length) in units covering ``o_max`` (makeMeasures)."""
    out = []
    o = 0
    k = 0
    cur = (4, 4)
    while True:
        while k < len(ts_list) and ts_list[k][0] <= o:
            cur = ts_list[k][1]
            k += 1
        bar = Fraction(cur[0] * 4 * U, cur[1])
        if bar <= 0 or bar.denominator != 1:
            raise ValueError(f"time signature {cur[0]}/{cur[1]} not supported")
        bar = int(bar)
        out.append((o, bar))
        o += bar
        if o >= o_max:
            break
    return out


def _overlaps(notes) -> bool:
    hi = None
    for e in notes:
        if hi is not None and e.on < hi:
            return True
        end = e.on + e.dur
        hi = end if hi is None else max(hi, end)
    return False


def _fill_rests(container, bar: int, meta, seq) -> None:
    """makeRests(fillGaps=True, timeRangeFromBarDuration=True) on one measure or voice."""
    elems = sorted([(e.on, e.dur) for e in container] + [(x, 0) for x in meta])
    hi = 0
    rests = []
    for on, dur in elems:
        if on > hi:
            rests.append((hi, on - hi))
        hi = max(hi, on + dur)
    if bar - hi > 0:
        rests.append((hi, bar - hi))
    for on, dur in rests:
        container.append(_El(on, dur, (), False, True, seq()))


def _track_to_flat(els, meta_offsets, ts_list, voices_required, U):
    """Measures, voices, ties and rests of one track -> its flattened elements in order:
    list of (abs offset, not grace, measure, container, seq, el)."""
    o_max = max([e.on + e.dur for e in els] + list(meta_offsets) + [0])
    bars = _bars(ts_list, o_max, U)
    nb = len(bars)
    mlevel: list = [[] for _ in range(nb)]
    mvoices: list = [None] * nb
    mmeta: list = [[] for _ in range(nb)]
    seq = _Seq()
    starts = [b[0] for b in bars]
    for e in els:
        i = bisect.bisect_right(starts, e.on) - 1
        if i < 0 or e.on >= starts[i] + bars[i][1]:
            continue
        e.on -= starts[i]
        e.seq = seq()
        mlevel[i].append(e)
    for x in meta_offsets:
        i = bisect.bisect_right(starts, x) - 1
        if 0 <= i < nb and x - starts[i] > 0:
            mmeta[i].append(x - starts[i])
    if voices_required:  # Measure.makeVoices(fillGaps=False)
        for i in range(nb):
            notes = mlevel[i]
            if not _overlaps(notes):
                continue
            voices: list = []
            vhi: list = []
            for e in notes:
                for vi in range(len(voices)):
                    if vhi[vi] <= e.on:
                        voices[vi].append(e)
                        vhi[vi] = max(vhi[vi], e.on + e.dur)
                        break
                else:
                    voices.append([e])
                    vhi.append(e.on + e.dur)
            for v in voices:
                for e in v:
                    e.seq = seq()
            mvoices[i] = voices
            mlevel[i] = []
    # makeTies: split what crosses a barline, the rest goes to the next measure
    i = 0
    while i < len(bars):
        bar = bars[i][1]
        has_v = mvoices[i] is not None
        if i + 1 < len(bars):
            next_has_v = mvoices[i + 1] is not None
        else:
            next_has_v = False
        containers = mvoices[i] if has_v else [mlevel[i]]
        for cont in containers:
            for e in sorted(cont, key=lambda x: (x.on, not x.grace, x.seq)):
                end = e.on + e.dur
                if end - bar <= 0 or e.on >= bar:
                    continue
                remain = end - bar
                e.dur = bar - e.on
                r = _El(0, remain, e.pitches, False, False, 0)
                if i + 1 >= len(bars):
                    bars.append((bars[i][0] + bar, bar))
                    mlevel.append([])
                    mvoices.append(None)
                    mmeta.append([])
                j = i + 1
                if next_has_v:
                    # music21 looks the voice up by an id the next measure's voices lack
                    dst = mlevel[j] if has_v else mvoices[j][0]
                elif has_v:  # moveNotesToVoices(next measure); later calls add empty voices
                    if mvoices[j] is None:
                        for x in mlevel[j]:
                            x.seq = seq()
                        mvoices[j] = [mlevel[j]]
                        mlevel[j] = []
                    dst = mvoices[j][0]
                else:
                    dst = mlevel[j]
                r.seq = seq()
                dst.append(r)
        i += 1
    # flattenUnnecessaryVoices: drop empty voices, a single voice goes back to the measure
    for i in range(len(bars)):
        if mvoices[i] is None:
            continue
        vs = [v for v in mvoices[i] if v]
        if len(vs) == 1:
            for e in sorted(vs[0], key=lambda x: (x.on, not x.grace, x.seq)):
                e.seq = seq()
                mlevel[i].append(e)
            vs = []
        mvoices[i] = vs or None
    # makeRests, measure offsets (by each measure's highest time), flatten
    out = []
    o = 0
    for i, (start, bar) in enumerate(bars):
        if mvoices[i] is not None:
            for v in mvoices[i]:
                _fill_rests(v, bar, (), seq)
        else:
            _fill_rests(mlevel[i], bar, mmeta[i], seq)
        hi = 0
        conts = (mvoices[i] or []) + [mlevel[i]]
        for rank, cont in enumerate(conts):
            for e in cont:
                hi = max(hi, e.on + e.dur)
                out.append((o + e.on, not e.grace, i, rank, e.seq, e))
        o += hi if hi > 0 else bar
    out.sort(key=lambda x: x[:5])
    return out


# --------------------------------------------------------------------------- one file
def events_from_midi(tpq: int, tracks: list, name: str) -> dict:
    """music21's MIDI import + the reference extraction, replayed on :func:`read_midi_bytes`'s
    output. Returns ``{"pieces": [[name, events]], "skipped": reason|None}``."""
    tonal = sum(1 for tr in tracks for x in tr.notes if x[3] != 10)
    if not any(tr.notes for tr in tracks):
        return {"pieces": [], "skipped": "no notes"}
    if tonal == 0:
        return {"pieces": [], "skipped": "drums only (channel 10)"}
    U = 96 * tpq // math.gcd(96, tpq)
    conductor: list = []  # (tick, kind, value) of tracks without notes, so far
    parts = []  # (flat elements, instruments [(offset units, name)], highest time)
    for tr in tracks:
        if not tr.has_notes:
            conductor.extend(m for m in tr.meta if m[0] is not None)
            continue
        own = [m for m in tr.meta if m[1] != "inst"]
        insts = _dedupe_instruments([(m[0], m[2]) for m in tr.meta if m[1] == "inst"])
        meta_ticks = [m[0] for m in own] + [t for t, _ in insts]
        els, meta_q, vreq = _track_elements(tr.notes, tpq, U, meta_ticks)
        own_q = meta_q[:len(own)]
        inst_q = meta_q[len(own):]
        cond_meta = [m for m in conductor if m[1] in ("ts", "ks", "tempo")]
        # the conductor part was quantized too (midiTrackToStream quantizes before it checks
        # for notes); its meta objects are copied into every later part after quantization
        cq = [_q_offset(m[0], tpq, U) for m in cond_meta]
        cond_ts = [(cq[k], m[2]) for k, m in enumerate(cond_meta) if m[1] == "ts"]
        if cond_ts:
            ts_list = sorted(cond_ts, key=lambda x: x[0])
            if ts_list[0][0] != 0:
                ts_list.insert(0, (0, (4, 4)))
        else:
            ts_list = sorted([(own_q[k], m[2]) for k, m in enumerate(own) if m[1] == "ts"],
                             key=lambda x: x[0])
        meta_offsets = meta_q + cq
        flat = _track_to_flat(els, meta_offsets, ts_list, vreq, U)
        highest = max([x[0] + x[5].dur for x in flat] + [0])
        parts.append((flat, sorted(zip(inst_q, [i[1][1] for i in insts]), key=lambda x: x[0]), highest))
    # instrument.partitionByInstrument: the first instrument name found, then its spans
    first = None
    for _, insts, _ in parts:
        if insts:
            first = insts[0][1] or ""
            break
    if first is None:
        events = _merge([p[0] for p in parts[:1]], U)
    else:
        chosen = []
        for flat, insts, highest in parts:
            spans = []
            for k, (off, iname) in enumerate(insts):
                end = insts[k + 1][0] if k + 1 < len(insts) else highest
                if (iname or "") == first and end > off:
                    spans.append((off, end))
            if len(spans) == 1:
                a, b = spans[0]
                chosen.append([x for x in flat if a <= x[0] < b])
            else:
                chosen.append([x for x in flat if any(a <= x[0] < b for a, b in spans)])
        events = _merge(chosen, U)
    if not any(e[0] for e in events):
        events = _merge([p[0] for p in parts], U)
    if not any(e[0] for e in events):
        return {"pieces": [], "skipped": "no notes"}
    return {"pieces": [[name, events]], "skipped": None}


def _merge(flats, U: int) -> list:
    """Parts joined into one stream (offset, grace first, part order, order within the part)
    -> events as JSON lists, unpitched notes left out."""
    allx = []
    for rank, f in enumerate(flats):
        for k, x in enumerate(f):
            allx.append((x[0], x[1], rank, k, x[5]))
    allx.sort(key=lambda x: x[:4])
    out = []
    prev = 0  # onset of the previous event (units): each event carries its dt (events.py)
    for x in allx:
        e = x[4]
        if e.rest:
            out.append([[], "rest", dur_string(e.dur, U)])
        elif e.pitches is None:
            continue
        elif len(e.pitches) == 1:
            p = e.pitches[0]
            out.append([[p], pitch_name(p), dur_string(e.dur, U)])
        else:
            ps = sorted(set(e.pitches))
            out.append([ps, _normal_order(frozenset(q % 12 for q in ps)), dur_string(e.dur, U)])
        out[-1].append(dur_string(x[0] - prev, U))
        prev = x[0]
    return out


def symusic_parse(path: str | os.PathLike, max_bytes: Optional[int] = None) -> dict:
    """Parse one MIDI file fast: ``{"pieces": [[name, events]], "skipped": reason|None}``, the
    reference's result (events as JSON lists). symusic checks the file and classifies unusable
    ones; the events are rebuilt from the file's own bytes as music21 reads them. Raises
    :class:`SymusicFailed` when symusic cannot read a file (the caller falls back to music21)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        return {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
    if max_bytes is not None and size > max_bytes:
        return {"pieces": [], "skipped": f"too big ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB)"}
    if size == 0:
        return {"pieces": [], "skipped": "empty file"}
    data = p.read_bytes()
    if data[:4] != b"MThd":
        return {"pieces": [], "skipped": "not a MIDI file"}
    import symusic

    try:
        score = symusic.Score.from_midi(data)
    except Exception:  # noqa: BLE001 - try again with out-of-range values clipped
        try:
            score = symusic.Score.from_midi(data, sanitize_data=True)
        except Exception as exc:  # noqa: BLE001 - any symusic error
            raise SymusicFailed(_short(exc)) from exc
    tonal = sum(len(t.notes) for t in score.tracks if not t.is_drum)
    drums = sum(len(t.notes) for t in score.tracks if t.is_drum)
    if tonal == 0 and drums == 0:
        return {"pieces": [], "skipped": "no notes"}
    if tonal == 0:
        return {"pieces": [], "skipped": "drums only (channel 10)"}
    tpq, tracks = read_midi_bytes(data)
    if any(x[2] > 127 for tr in tracks for x in tr.notes):
        tpq, tracks = read_midi_bytes(data, clip=True)  # the reference re-reads these clipped
    return events_from_midi(tpq, tracks, p.name)


class SymusicFailed(Exception):
    """symusic could not read the file."""


def _short(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return (s[0][:120] if s else type(exc).__name__) or type(exc).__name__


def parse_any(path: str | os.PathLike, max_bytes: Optional[int] = None, engine: str = "symusic") -> dict:
    """One score file -> ``{"pieces": [[name, events]], "skipped": reason|None}``: MIDI through
    :func:`symusic_parse`, anything else (and MIDI that symusic or the fast path cannot
    handle) through the music21 reference :func:`~musiclab.composer.events.parse_file`."""
    from .events import MIDI_EXTS, parse_file

    p = Path(path)
    if p.suffix.lower() in MIDI_EXTS and engine == "symusic":
        try:
            return symusic_parse(p, max_bytes)
        except SymusicFailed:
            pass
        except Exception:  # noqa: BLE001 - an unforeseen file: the reference decides
            pass
    if max_bytes is not None:
        try:
            size = p.stat().st_size
        except OSError as exc:
            return {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
        if size > max_bytes:
            return {"pieces": [], "skipped": f"too big ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB)"}
    try:
        return parse_file(p)
    except Exception as exc:  # noqa: BLE001 - never stop a run for one file
        return {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}


# --------------------------------------------------------------------------- event store
STORE_FORMAT = "musiclab-event-store"
STORE_VERSION = 1
INDEX_NAME = "index.json"
DEFAULT_MAX_BYTES = 50_000_000


class StoreFormatError(RuntimeError):
    """A shard folder this version cannot read (another format or an older version)."""


def _file_sig(path: Path) -> list:
    try:
        st = path.stat()
        return [str(path), int(st.st_size), int(st.st_mtime_ns)]
    except OSError:
        return [str(path), -1, -1]


def _check_index(index: dict, where: Path) -> None:
    if index.get("format") != STORE_FORMAT:
        raise StoreFormatError(f"{where} is not a musiclab event store (no '{STORE_FORMAT}' index)")
    v = index.get("version")
    if v != STORE_VERSION:
        older = isinstance(v, int) and v < STORE_VERSION
        raise StoreFormatError(
            f"{where} holds an event store of format version {v}, "
            f"{'written by an older' if older else 'from another'} musiclab; this version reads "
            f"version {STORE_VERSION}. Ingest the MIDI again into a new folder "
            f"(or delete this one).")


def _read_index(out: Path) -> Optional[dict]:
    f = out / INDEX_NAME
    if not f.is_file():
        return None
    try:
        index = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise StoreFormatError(f"{f} is unreadable ({exc})") from exc
    _check_index(index, out)
    return index


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def encode_events(evs: list, _durs: dict = {}) -> np.ndarray:  # noqa: B006 - a memo on purpose
    """``encoding.encode_piece`` of JSON events (same ids), with the duration look-ups memoized."""
    from .encoding import BOS, D0, P0, REST, dur_index

    out = [BOS]
    for ev in evs:
        pitches, dur = ev[0], ev[2]
        k = _durs.get(dur, -1)
        if k == -1:
            k = _durs[dur] = dur_index(dur)
        if k is None:
            continue
        if not pitches:
            out.append(REST)
        else:
            if any(p < 0 or p > 127 for p in pitches):
                continue
            out.extend(P0 + p for p in sorted(set(pitches)))
        out.append(D0 + k)
    return np.asarray(out, dtype=np.uint16)


def _ingest_shard(out_dir: str, k: int, files: list, max_bytes: Optional[int], engine: str) -> dict:
    """Worker: parse one shard's files, write ``shard-k.npy`` + ``shard-k.json`` (last)."""

    out = Path(out_dir)
    tokens = []
    pieces = []
    skipped = []
    n_tok = 0
    t0 = time.perf_counter()
    for path in files:
        try:
            res = parse_any(path, max_bytes=max_bytes, engine=engine)
        except Exception as exc:  # noqa: BLE001 - never stop a run for one file
            res = {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
        if res.get("skipped"):
            skipped.append([str(path), res["skipped"]])
            continue
        for name, evs in res["pieces"]:
            arr = encode_events(evs)
            pieces.append({"name": name, "source": str(path), "start": n_tok, "length": int(arr.size),
                           "events": len(evs)})
            tokens.append(arr)
            n_tok += int(arr.size)
    data = np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.uint16)
    name = _shard_name(k)
    tmp = out / f"{name}.{os.getpid()}.tmp.npy"
    np.save(tmp, data)
    os.replace(tmp, out / f"{name}.npy")
    meta = {"version": STORE_VERSION, "shard": k, "files": [_file_sig(Path(f)) for f in files],
            "pieces": pieces, "skipped": skipped, "tokens": n_tok,
            "seconds": round(time.perf_counter() - t0, 3)}
    _atomic_write_text(out / f"{name}.json", json.dumps(meta))
    return meta


def _shard_done(out: Path, k: int, files: list) -> Optional[dict]:
    """The shard's metadata if it was written for exactly these files (resume), else None."""
    mf = out / f"{_shard_name(k)}.json"
    if not mf.is_file() or not (out / f"{_shard_name(k)}.npy").is_file():
        return None
    try:
        meta = json.loads(mf.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != STORE_VERSION:
        return None
    if meta.get("files") != [_file_sig(Path(f)) for f in files]:
        return None
    return meta


def ingest(
    paths: Iterable,
    out_dir: str | os.PathLike,
    workers: int = 2,
    shard_size: int = 256,
    max_bytes: Optional[int] = DEFAULT_MAX_BYTES,
    engine: str = "symusic",
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
) -> dict:
    """Parse every score file under ``paths`` into a sharded event store in ``out_dir``.

    Files are cut (sorted) into shards of ``shard_size``; each shard is parsed in a worker
    process and written as ``shard-NNNNN.npy`` (uint16 sub-tokens of
    :mod:`~musiclab.composer.encoding`) + ``shard-NNNNN.json`` (pieces, skipped files). Shards
    already written for the same files are kept (resume). Unusable files are reported with
    their reason and never stop the run. Returns the index (also written as ``index.json``)."""
    from .events import find_score_files

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _read_index(out)  # an older store: clear message before anything is overwritten
    files = [str(f) for f in find_score_files(paths)]
    shard_size = max(1, int(shard_size))
    chunks = [files[i:i + shard_size] for i in range(0, len(files), shard_size)]
    metas: dict[int, dict] = {}
    for k, chunk in enumerate(chunks):
        m = _shard_done(out, k, chunk)
        if m is not None:
            metas[k] = m
    resumed = len(metas)
    done_files = sum(len(chunks[k]) for k in metas)
    report(on_progress, done_files, len(files), f"{resumed} shard(s) already written")
    todo = [k for k in range(len(chunks)) if k not in metas]
    t0 = time.perf_counter()
    if todo and workers > 1 and len(todo) > 1:
        done_files = _run_pool(out, chunks, todo, metas, workers, max_bytes, engine, should_stop,
                               on_progress, done_files, len(files))
    else:
        for k in todo:
            check_stop(should_stop)
            metas[k] = _ingest_shard(str(out), k, chunks[k], max_bytes, engine)
            done_files += len(chunks[k])
            report(on_progress, done_files, len(files), f"shard {k + 1}/{len(chunks)}")
    index = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "vocab": _vocab(),
        "engine": engine,
        "files": len(files),
        "shard_size": shard_size,
        "shards": [{"name": _shard_name(k), "pieces": len(metas[k]["pieces"]),
                    "tokens": metas[k]["tokens"], "files": len(chunks[k])} for k in range(len(chunks))],
        "pieces": sum(len(m["pieces"]) for m in metas.values()),
        "tokens": sum(m["tokens"] for m in metas.values()),
        "skipped": [s for k in range(len(chunks)) for s in metas[k]["skipped"]],
        "resumed_shards": resumed,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    _atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=1))
    report(on_progress, len(files), len(files), "done")
    return index


def _vocab() -> int:
    from .encoding import VOCAB

    return int(VOCAB)


def _run_pool(out, chunks, todo, metas, workers, max_bytes, engine, should_stop, on_progress,
              done_files, total) -> int:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    tries: dict[int, int] = {}
    pending = list(todo)
    while pending:
        ex = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=mp.get_context("spawn"))
        futs = {ex.submit(_ingest_shard, str(out), k, chunks[k], max_bytes, engine): k for k in pending}
        pending = []
        broken = False
        try:
            live = set(futs)
            while live:
                check_stop(should_stop)
                finished, live = wait(live, timeout=0.2, return_when=FIRST_COMPLETED)
                for fu in finished:
                    k = futs[fu]
                    try:
                        metas[k] = fu.result()
                        done_files += len(chunks[k])
                        report(on_progress, done_files, total, f"shard {k + 1}/{len(chunks)}")
                    except BrokenProcessPool:
                        broken = True
                        pending.append(k)
                    except Exception as exc:  # noqa: BLE001 - the shard's files are reported
                        metas[k] = _failed_shard(chunks[k], f"worker error ({_short(exc)})")
                        done_files += len(chunks[k])
                if broken:
                    pending.extend(futs[f] for f in live)
                    break
        except BaseException:
            for fu in futs:
                fu.cancel()
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown(wait=not broken, cancel_futures=True)
        again = []
        for k in pending:
            tries[k] = tries.get(k, 0) + 1
            if tries[k] >= 2:  # a file in it kills the worker: report, go on
                metas[k] = _failed_shard(chunks[k], "worker process died while parsing")
                done_files += len(chunks[k])
            else:
                again.append(k)
        pending = again
    return done_files


def _failed_shard(files: list, reason: str) -> dict:
    return {"version": STORE_VERSION, "files": [], "pieces": [], "tokens": 0,
            "skipped": [[str(f), reason] for f in files]}


class EventStore:
    """Read-only view of an ingested store: pieces' sub-tokens memory-mapped from the shards."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        index = _read_index(self.path)
        if index is None:
            raise StoreFormatError(f"{self.path} has no {INDEX_NAME}: not an event store (or ingestion "
                                   "did not finish; run it again to resume)")
        self.index = index
        self._arrays: list = []
        self.pieces: list[dict] = []  # name, source, start, length, events, shard
        for si, sh in enumerate(index["shards"]):
            meta_f = self.path / f"{sh['name']}.json"
            meta = json.loads(meta_f.read_text()) if meta_f.is_file() else {"pieces": []}
            npy = self.path / f"{sh['name']}.npy"
            arr = np.load(npy, mmap_mode="r") if npy.is_file() and npy.stat().st_size > 128 else np.zeros(0, np.uint16)
            self._arrays.append(arr)
            for p in meta["pieces"]:
                self.pieces.append(dict(p, shard=si))

    @property
    def skipped(self) -> list:
        return [tuple(s) for s in self.index.get("skipped", [])]

    def __len__(self) -> int:
        return len(self.pieces)

    def tokens(self, i: int) -> np.ndarray:
        """Sub-tokens of piece ``i`` (BOS first), a read-only memory-mapped view."""
        p = self.pieces[i]
        return self._arrays[p["shard"]][p["start"]:p["start"] + p["length"]]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens(i)

    def __iter__(self):
        for i in range(len(self.pieces)):
            yield self.tokens(i)

    @property
    def n_tokens(self) -> int:
        return int(self.index.get("tokens", 0))


# --------------------------------------------------------------------------- music21's corpus, every voice
#: corpora of music21's own (offline) corpus that ``composer ingest --music21-corpus`` reads
M21_CORPORA = {"bach": "Bach chorales (music21's corpus: the .mxl/.xml/.krn scores of getComposer('bach'))"}
VOICE_PARTS = ("soprano", "alto", "tenor", "bass")
M21_MIDI_DIR = "midi"  # the store's subfolder with one MIDI file per score (what the store is made of)
M21_TEMPO = 90.0
M21_VERSION = 2  # of the conversion (a manifest entry of another version is converted again)


def music21_corpus_files(name: str) -> list[Path]:
    """Score files of a music21 corpus in :data:`M21_CORPORA` (sorted; a score that exists as
    .mxl and as .krn is taken once, as .mxl). Raises ValueError for an unknown name."""
    if name not in M21_CORPORA:
        raise ValueError(f"unknown music21 corpus {name!r} (known: {', '.join(sorted(M21_CORPORA))})")
    from music21 import corpus as m21corpus

    files = [Path(p) for p in m21corpus.getComposer(name) if str(p).lower().endswith((".mxl", ".xml", ".krn"))]
    rank = {".mxl": 0, ".xml": 1, ".krn": 2}
    best: dict[str, Path] = {}
    for f in sorted(files):
        cur = best.get(f.stem)
        if cur is None or rank[f.suffix.lower()] < rank[cur.suffix.lower()]:
            best[f.stem] = f
    return sorted(best.values(), key=lambda p: p.name)


def _voice_parts(score, require: bool = False) -> tuple[list, list[str]]:
    """The score's vocal parts (Soprano, Alto, Tenor, Bass by part name), or every part when
    fewer than two are named so (none with ``require``); with their names."""
    parts = list(getattr(score, "parts", []) or [])
    named = []
    for p in parts:
        nm = str(p.partName or p.id or "").strip().lower()
        if nm.startswith(VOICE_PARTS) or nm in ("s", "a", "t", "b"):
            named.append(p)
    use = named if len(named) >= 2 else ([] if require else parts)
    return use, [str(p.partName or p.id) for p in use]


def sounding_slices(score, require_voices: bool = False) -> dict:
    """Every voice of a score (a chorale's four parts) as *sounding slices*: a new event wherever
    a note starts or ends in any voice, holding all the pitches that sound until the next such
    point (a rest where none does), one after another (the sequential representation: every
    event starts where the previous one ends). A pickup bar is padded with a rest to a whole
    bar, so bar lines fall on multiples of the bar length (the metre inputs count from the
    piece's start). Tied notes are merged first; grace notes (no duration) are left out.

    Returns ``{"events": [(pitches, name, dur)], "parts": [names], "time_signature": (n, d) or
    None, "lead": quarters of padding, "off_grid": slices whose length is not on the 1/12
    grid}``. A held note is cut where another voice moves (the slices do not say it is held).
    ``require_voices``: no events unless at least two parts are named as voices (a chorale)."""
    from music21 import meter

    parts, names = _voice_parts(score, require_voices)
    notes = []  # (on, off, midi) in quarters (Fractions)
    for part in parts:
        try:
            p = part.stripTies()
        except Exception:  # noqa: BLE001 - keep the ties (a note is then re-struck at them)
            p = part
        for n in p.flatten().notes:
            ql = Fraction(n.quarterLength).limit_denominator(1 << 12)
            if ql <= 0:
                continue
            on = Fraction(n.offset).limit_denominator(1 << 12)
            for pt in n.pitches:
                notes.append((on, on + ql, int(pt.midi)))
    ts = None
    lead = Fraction(0)
    try:
        tss = list(score.recurse().getElementsByClass(meter.TimeSignature))
        if tss:
            ts = (int(tss[0].numerator), int(tss[0].denominator))
        m0 = parts[0].getElementsByClass("Measure")[0] if parts else None
        if m0 is not None and tss:
            bar = Fraction(tss[0].barDuration.quarterLength).limit_denominator(1 << 12)
            have = Fraction(m0.duration.quarterLength).limit_denominator(1 << 12)
            if 0 < have < bar:
                lead = bar - have
    except Exception:  # noqa: BLE001 - no bar information: no padding
        lead = Fraction(0)
    events = []
    off_grid = 0
    if notes:
        t0 = min(n[0] for n in notes)
        cuts = sorted({n[0] for n in notes} | {n[1] for n in notes})
        starts = sorted(notes)
        if lead > 0 or t0 > 0:
            pad = lead + (t0 if t0 > 0 else 0)
            events.append(((), "rest", pad))
        k = 0
        active: list = []
        for a, b in zip(cuts, cuts[1:]):
            while k < len(starts) and starts[k][0] <= a:
                active.append(starts[k])
                k += 1
            active = [n for n in active if n[1] > a]
            ps = tuple(sorted({n[2] for n in active}))
            events.append((ps, "rest" if not ps else pitch_name(ps[0]) if len(ps) == 1
                           else _normal_order(frozenset(x % 12 for x in ps)), b - a))
    out = []
    for ps, nm, d in events:
        if (d * 12).denominator != 1:
            off_grid += 1
        # neighbouring rests are one rest
        if not ps and out and not out[-1][0]:
            d = Fraction(out[-1][2]) + d
            out.pop()
        from .events import ql_string

        out.append((ps, nm, ql_string(d)))
    return {"events": out, "parts": names, "time_signature": ts, "lead": float(lead), "off_grid": off_grid}


def _m21_to_midi(src: str, dst: str, require_voices: bool = True) -> dict:
    """Worker: one music21 score -> a MIDI file of its sounding slices (one track: every slice
    a chord of what sounds). Returns ``{"source", "midi", "events", "parts", "seconds"}`` or
    ``{"source", "skipped": reason}``."""
    t0 = time.perf_counter()
    try:
        from music21 import converter

        from .midifile import write_midi_bytes

        score = converter.parse(src)
        res = sounding_slices(score, require_voices)
        evs = res["events"]
        if require_voices and not res["parts"]:
            names = ", ".join(str(p.partName or p.id) for p in getattr(score, "parts", []))
            return {"source": src, "skipped": f"not a vocal score (parts: {names or 'none'})"}
        if not any(e[0] for e in evs):
            return {"source": src, "skipped": "no notes"}
        ts = res["time_signature"]
        if ts is not None and (ts[0] < 1 or ts[1] not in (1, 2, 4, 8, 16, 32)):
            ts = None
        data = write_midi_bytes(evs, tempo=M21_TEMPO, program=0, time_signature=ts, name=Path(src).stem)
        d = Path(dst)
        tmp = d.with_name(d.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, d)
        return {"source": src, "midi": dst, "events": len(evs), "parts": res["parts"], "lead": res["lead"],
                "off_grid": res["off_grid"], "time_signature": ts,
                "seconds": round(time.perf_counter() - t0, 3)}
    except Exception as exc:  # noqa: BLE001 - one score never stops the run
        return {"source": src, "skipped": f"unreadable ({_short(exc)})"}


def music21_corpus_to_midi(name: str, out_dir: str | os.PathLike, workers: int = 2,
                           limit: Optional[int] = None, should_stop: ShouldStop = None,
                           on_progress: OnProgress = None) -> dict:
    """Write every score of the music21 corpus ``name`` as a MIDI file of its sounding slices
    (:func:`sounding_slices`: all voices at once) into ``out_dir`` (one ``STEM.mid`` per score),
    with a ``manifest.json`` (source, parts used, events; skipped scores and their reason).
    Files already written from an unchanged source are kept (resume). ``limit``: only the
    first N scores (tests). Returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = music21_corpus_files(name)
    if limit is not None:
        files = files[:max(0, int(limit))]
    man_f = out / "manifest.json"
    old = {}
    if man_f.is_file():
        try:
            old = {r["source"]: r for r in json.loads(man_f.read_text()).get("scores", [])}
        except (OSError, ValueError, KeyError, TypeError):
            old = {}
    results: dict[str, dict] = {}
    todo = []
    for f in files:
        dst = out / (f.stem + ".mid")
        r = old.get(str(f))
        if (r and r.get("sig") == _file_sig(f)[1:] and r.get("version") == M21_VERSION
                and (r.get("skipped") or dst.is_file())):
            results[str(f)] = r
        else:
            todo.append((str(f), str(dst)))
    report(on_progress, len(results), len(files), f"{len(results)} score(s) already written")
    t0 = time.perf_counter()
    c0 = _cpu_seconds()

    def done(r):
        r["sig"] = _file_sig(Path(r["source"]))[1:]
        r["version"] = M21_VERSION
        if r.get("skipped"):
            stale = out / (Path(r["source"]).stem + ".mid")
            if stale.is_file():  # written by an earlier conversion: not part of the corpus now
                stale.unlink()
        results[r["source"]] = r
        report(on_progress, len(results), len(files), Path(r["source"]).name)

    if todo and workers > 1 and len(todo) > 4:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(_m21_to_midi, s, d) for s, d in todo]
            try:
                for (s, _), fu in zip(todo, futs):
                    while True:
                        check_stop(should_stop)
                        try:
                            r = fu.result(timeout=0.2)
                            break
                        except Exception as exc:  # noqa: BLE001 - timeout: wait on; else report the score
                            if type(exc).__name__ == "TimeoutError":
                                continue
                            r = {"source": s, "skipped": f"worker error ({_short(exc)})"}
                            break
                    done(r)
            except BaseException:
                for fu in futs:
                    fu.cancel()
                raise
    else:
        for s, d in todo:
            check_stop(should_stop)
            done(_m21_to_midi(s, d))
    seconds = time.perf_counter() - t0
    scores = [results[str(f)] for f in files]
    manifest = {
        "corpus": name, "description": M21_CORPORA[name], "scores": scores, "files": len(files),
        "written": sum(1 for r in scores if not r.get("skipped")),
        "skipped": [[r["source"], r["skipped"]] for r in scores if r.get("skipped")],
        "converted_now": len(todo), "seconds": round(seconds, 3),
        "files_per_s": round(len(todo) / seconds, 2) if todo and seconds > 0 else None,
        "cpu_seconds": round(_cpu_seconds() - c0, 3),
        "off_grid_slices": sum(int(r.get("off_grid") or 0) for r in scores),
    }
    _atomic_write_text(man_f, json.dumps(manifest, indent=1))
    return manifest


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    import resource

    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def ingest_music21_corpus(name: str, out_dir: str | os.PathLike, workers: int = 2,
                          shard_size: int = 256, limit: Optional[int] = None,
                          should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """``composer ingest --music21-corpus NAME --out STORE``: the corpus's scores as MIDI of
    their sounding slices in ``STORE/midi`` (:func:`music21_corpus_to_midi`, music21), then
    those MIDI files into the event store ``STORE`` (:func:`ingest`, the fast path). The
    store's pieces are named ``STEM.mid`` with ``STORE/midi/STEM.mid`` as their source, so the
    split rule (:func:`.events.is_validation`) and ``composer eval --midi STORE/midi/...``
    see the same pieces. Returns the store's index with ``"music21"``: the manifest summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _read_index(out)  # an older store: clear message before anything is written
    man = music21_corpus_to_midi(name, out / M21_MIDI_DIR, workers=workers, limit=limit,
                                 should_stop=should_stop, on_progress=on_progress)
    index = ingest([out / M21_MIDI_DIR], out, workers=workers, shard_size=shard_size,
                   should_stop=should_stop, on_progress=on_progress)
    index["music21"] = {k: man[k] for k in ("corpus", "files", "written", "skipped", "converted_now", "seconds",
                                             "files_per_s", "cpu_seconds", "off_grid_slices")}
    index["skipped"] = list(index["skipped"]) + [[s, f"music21 corpus: {r}"] for s, r in man["skipped"]]
    _atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=1))
    return index
