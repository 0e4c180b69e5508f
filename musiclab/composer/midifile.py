"""Writing the composer's events as a MIDI file a musician can open.

:func:`write_midi_bytes` writes a type-1 file (480 ticks per quarter):

* the primer (the first ``primer_events`` events) is its own track, named ``"primer"``, on
  channel 1 (MIDI channel index 0); the continuation is the next track, named after the model
  (default ``"continuation"``), on channel 2. Without a primer there is one track. Both tracks
  get the same General-MIDI program, so a renderer plays them with the same instrument.
* the first track also carries the global meta events at tick 0: tempo, time signature and
  key signature. Both come from the caller when known (the primer's file: :func:`file_meta`),
  else they are estimated from the primer's notes (all notes when the primer has fewer than 16): the key with the Krumhansl-Kessler profiles
  (:func:`estimate_key`), the metre by where the weight of the onsets falls
  (:func:`estimate_time_signature`; 4/4 when nothing else is clearly better).
* notes are placed by the events' onsets (:func:`.events.onsets`). Within a track two notes
  of the same pitch never overlap in the file: a note that would still sound when the same
  pitch starts again ends there (a MIDI note-off cannot say which of two sounding notes it
  ends), and a note doubled at the same onset is written once (the longer). Onsets are kept
  exactly (to the tick).
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

from ..analysis.keys import best_key
from ..errors import MusiclabError
from .events import onsets

TPQ = 480
PRIMER_NAME = "primer"
CONTINUATION_NAME = "continuation"

# --------------------------------------------------------------------------- key
#: key names as mido writes them, by tonic pitch class (the spelling with fewer accidentals)
MAJOR_KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_KEYS = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")
_ALL_KEYS = {
    "C": 0, "G": 7, "D": 2, "A": 9, "E": 4, "B": 11, "F#": 6, "C#": 1, "F": 5, "Bb": 10, "Eb": 3, "Ab": 8,
    "Db": 1, "Gb": 6, "Cb": 11,
}


def key_tonic(key: str) -> tuple[int, bool]:
    """A mido key name (``"G"``, ``"Bbm"``) -> (tonic pitch class, minor)."""
    minor = key.endswith("m")
    root = key[:-1] if minor else key
    if root not in _ALL_KEYS and not (minor and root in ("D#", "A#", "G#")):
        raise ValueError(f"unknown key {key!r}")
    pc = {"D#": 3, "A#": 10, "G#": 8}.get(root, _ALL_KEYS.get(root, 0))
    return pc, minor


#: tonic by tonic, major before minor: the order a tie between two keys is settled in
_KEY_ORDER = tuple((t, m) for t in range(12) for m in ("major", "minor"))


def estimate_key(notes: Sequence) -> Optional[str]:
    """The key of ``notes`` ((start, length, pitch) in quarters) by the Krumhansl-Schmuckler
    method (:func:`musiclab.analysis.keys.best_key`) over the pitch-class durations (a note
    counts at least 1/12 quarter). Returns a mido key name (``"G"``, ``"Em"``), or None
    without notes."""
    hist = [0.0] * 12
    for _, length, p in notes:
        hist[int(p) % 12] += max(float(length), 1 / 12)
    if not any(hist):
        return None
    tonic, mode, _ = best_key(hist, _KEY_ORDER)
    return MINOR_KEYS[tonic] if mode == "minor" else MAJOR_KEYS[tonic]


# --------------------------------------------------------------------------- metre
def _bar_weights(notes, bar_steps: int) -> list[float]:
    """The onset weight on every position of a bar of ``bar_steps`` (1/12-quarter steps), as
    shares of the total. A note's weight is its length (capped at a bar): long notes mark
    strong beats."""
    acc = [0.0] * bar_steps
    for start, length, _ in notes:
        s = int(round(float(start) * 12))
        acc[s % bar_steps] += min(max(float(length), 1 / 12), bar_steps / 12)
    total = sum(acc)
    return [a / total for a in acc] if total > 0 else acc


def estimate_time_signature(notes: Sequence) -> tuple[int, int]:
    """The metre of ``notes`` ((start, length, pitch) in quarters): 4/4, 3/4 or 6/8, judged by
    how strongly the weight of the onsets (note lengths) gathers on the beats of a bar, measured
    against an even spread over the bar's beats (1.0): 4/4 and 3/4 by their strongest position
    times the beats per bar, 6/8 by its two dotted-quarter beats (positions 0 and 1.5) times 2.
    4/4 unless a 3-quarter bar is clearly (10 %) more regular and accented (>= 1.25); it is 6/8
    when the two-beat reading is the stronger or the bar's middle (1.5 quarters after the
    strongest position) weighs more than its second and third quarters."""
    uniq = {(round(float(s) * 12), int(p)): (s, l, p) for s, l, p in notes}
    notes = list(uniq.values())
    if len(notes) < 8:
        return (4, 4)
    s4 = max(_bar_weights(notes, 48)) * 4
    w3 = _bar_weights(notes, 36)
    simple = max(w3) * 3
    compound = max(w3[i] + w3[(i + 18) % 36] for i in range(36)) * 2
    s3 = max(simple, compound)
    if s3 <= s4 * 1.1 or s3 < 1.25:  # (1.25: an accent, not the edge of an even stream)
        return (4, 4)
    ph = max(range(36), key=lambda i: (w3[i], -i))  # the downbeat of the simple reading
    mid, beats = w3[(ph + 18) % 36], w3[(ph + 12) % 36] + w3[(ph + 24) % 36]
    return (6, 8) if compound > simple or mid > beats else (3, 4)


# --------------------------------------------------------------------------- file metadata
def file_meta(path) -> dict:
    """The first time signature, key signature and tempo of a score file, where it says them:
    ``{"time_signature": (num, den) | None, "key": "G" | None, "tempo": bpm | None}``. MIDI is
    read with mido; other formats (MusicXML, ABC, kern) with music21. Never raises: a value
    that cannot be read is None."""
    out = {"time_signature": None, "key": None, "tempo": None}
    p = Path(path)
    try:
        if p.suffix.lower() in (".mid", ".midi", ".kar"):
            import mido

            mf = mido.MidiFile(str(p), clip=True)
            first: dict = {}
            for tr in mf.tracks:
                t = 0
                for m in tr:
                    t += m.time
                    if m.type in ("time_signature", "key_signature", "set_tempo"):
                        if m.type not in first or t < first[m.type][0]:
                            first[m.type] = (t, m)
            if "time_signature" in first:
                m = first["time_signature"][1]
                out["time_signature"] = (int(m.numerator), int(m.denominator))
            if "key_signature" in first:
                out["key"] = str(first["key_signature"][1].key)
            if "set_tempo" in first:
                out["tempo"] = round(float(mido.tempo2bpm(first["set_tempo"][1].tempo)), 3)
            return out
        from music21 import converter, key as m21key, meter, tempo as m21tempo

        s = converter.parse(str(p))
        ts = next(iter(s.recurse().getElementsByClass(meter.TimeSignature)), None)
        if ts is not None:
            out["time_signature"] = (int(ts.numerator), int(ts.denominator))
        ks = next(iter(s.recurse().getElementsByClass(m21key.KeySignature)), None)
        if ks is not None:
            k = ks if isinstance(ks, m21key.Key) else ks.asKey("major")
            out["key"] = _m21_key_name(k)
        mm = next(iter(s.recurse().getElementsByClass(m21tempo.MetronomeMark)), None)
        if mm is not None and mm.number:
            out["tempo"] = float(mm.getQuarterBPM() or mm.number)
    except Exception:
        pass
    return out


def _m21_key_name(k) -> Optional[str]:
    pc = int(k.tonic.pitchClass)
    return MINOR_KEYS[pc] if k.mode == "minor" else MAJOR_KEYS[pc]


# --------------------------------------------------------------------------- writing
def _notes_of(events, times) -> list:
    out = []
    for t, ev in zip(times, events):
        d = float(Fraction(ev[2]))
        for p in ev[0]:
            out.append((t, max(d, 1 / 12), int(p)))
    return out


def _check_key(key: Optional[str]) -> Optional[str]:
    if key is None:
        return None
    try:
        import mido

        key_tonic(key)
        mido.MetaMessage("key_signature", key=key)
    except Exception as exc:
        raise MusiclabError(f"Cannot write the key signature {key!r} (use names like 'G', 'F#m', 'Bb').") from exc
    return key


def _check_ts(ts) -> Optional[tuple[int, int]]:
    if ts is None:
        return None
    try:
        n, d = int(ts[0]), int(ts[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise MusiclabError(f"Cannot write the time signature {ts!r}: give (numerator, denominator).") from exc
    if not (1 <= n <= 64) or d not in (1, 2, 4, 8, 16, 32):
        raise MusiclabError(f"Cannot write the time signature {n}/{d}: numerator 1..64, denominator a power of 2.")
    return n, d


def _track_messages(notes, channel: int, velocity: int, legato: bool = False) -> list:
    """(tick, order, message kwargs) of one track's notes: same-pitch notes never overlap;
    ``legato``: a note that starts where the same pitch ends is joined to it (one held note)."""
    by_pitch: dict[int, list] = {}
    for start, length, p in notes:
        on = int(round(start * TPQ))
        off = max(int(round((start + length) * TPQ)), on + 1)
        by_pitch.setdefault(p, []).append((on, off))
    msgs = []
    for p, spans in by_pitch.items():
        spans.sort()
        merged: list = []
        for on, off in spans:
            if merged and merged[-1][0] == on:  # doubled at the same onset: keep the longer
                merged[-1] = (on, max(merged[-1][1], off))
            elif legato and merged and merged[-1][1] == on:  # held on into the next slice
                merged[-1] = (merged[-1][0], off)
            else:
                merged.append((on, off))
        for i, (on, off) in enumerate(merged):
            if i + 1 < len(merged):
                off = min(off, merged[i + 1][0])
            msgs.append((on, 1, dict(type="note_on", note=p, velocity=velocity, channel=channel)))
            msgs.append((off, 0, dict(type="note_off", note=p, velocity=0, channel=channel)))
    msgs.sort(key=lambda m: (m[0], m[1], m[2]["note"]))  # note-offs before note-ons at a tick
    return msgs


def write_midi_bytes(
    events: list,
    tempo: float = 120.0,
    program: int = 0,
    velocity: int = 90,
    primer_events: int = 0,
    name: Optional[str] = None,
    time_signature: Optional[tuple] = None,
    key: Optional[str] = None,
    legato: bool = False,
) -> bytes:
    """``events`` (the primer's ``primer_events`` first, then the continuation) as MIDI bytes:
    see the module doc. ``name``: the continuation track's name (the model's); ``time_signature``
    ``(num, den)`` and ``key`` (mido key name) when known, else estimated from all the notes."""
    import mido

    events = list(events)
    n_primer = min(max(int(primer_events or 0), 0), len(events))
    times = onsets(events)
    tempo = min(max(float(tempo), 20.0), 400.0)
    program = int(program) % 128
    velocity = min(max(int(velocity), 1), 127)
    # estimated on the primer when it has enough notes (real music), else on everything
    basis = _notes_of(events[:n_primer], times[:n_primer])
    if len(basis) < 16:
        basis = _notes_of(events, times)
    ts = _check_ts(time_signature) or estimate_time_signature(basis)
    key = _check_key(key) or estimate_key(basis)

    parts = []  # (track name, channel, notes)
    if n_primer:
        parts.append((PRIMER_NAME, 0, _notes_of(events[:n_primer], times[:n_primer])))
    if len(events) > n_primer or not parts:
        parts.append((name or CONTINUATION_NAME, 1 if n_primer else 0,
                      _notes_of(events[n_primer:], times[n_primer:])))
    end_tick = 0
    if events:
        end_tick = max(int(round((t + float(Fraction(e[2]))) * TPQ)) for t, e in zip(times, events))

    mf = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    for i, (tname, ch, notes) in enumerate(parts):
        tr = mido.MidiTrack()
        mf.tracks.append(tr)
        tr.append(mido.MetaMessage("track_name", name=str(tname)[:120], time=0))
        if i == 0:
            tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0))
            tr.append(mido.MetaMessage("time_signature", numerator=ts[0], denominator=ts[1], time=0))
            if key:
                tr.append(mido.MetaMessage("key_signature", key=key, time=0))
        tr.append(mido.Message("program_change", program=program, channel=ch, time=0))
        now = 0
        for tick, _, kw in _track_messages(notes, ch, velocity, legato):
            tr.append(mido.Message(kw["type"], note=kw["note"], velocity=kw["velocity"], channel=ch,
                                   time=tick - now))
            now = tick
        tr.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now) + TPQ))
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()
