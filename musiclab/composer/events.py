"""MIDI / score files -> events, exactly as the seed study extracts them.

An *event* is a note (pitch + quarterLength), a chord (its pitches + quarterLength) or a
rest (+ quarterLength), taken with music21 from ``instrument.partitionByInstrument(score)``
-> the first part's notes, chords and rests in order (``.recurse()``); if that fails or
gives nothing, the flattened score's notes and rests.

Each event is kept as ``(pitches, seed_pitch, dur, dt)``:

* ``pitches``: sorted tuple of distinct MIDI numbers (empty for a rest),
* ``seed_pitch``: the seed's pitch part, ``"C4"`` / ``"0.4.7"`` (normalOrder) / ``"rest"``,
* ``dur``: ``str(quarterLength)`` as music21 prints it (``"0.5"``, ``"1/3"``),
* ``dt``: its onset relative to the previous event's onset (the first event's: relative to
  the piece's start), in quarters, printed the same way. The events are in onset order
  (music21's offsets in the part, ``getOffsetInHierarchy``), so a bar's melody note and the
  chord under it share an onset (the chord's ``dt`` is ``"0.0"``).

Events without ``dt`` (3-tuples: the seed's representation, what models of the
``sequential`` representation generate) are placed one after another: each starts where
everything before it has ended (:func:`onsets`).

The seed token is ``f"{seed_pitch} {dur}"``. :func:`load_corpus` reads MIDI files with the
fast symusic path of :mod:`musiclab.composer.ingest` (the same events, about a millisecond a
file); music21 (:func:`parse_file`) stays the reference and reads everything else (ABC, kern,
MusicXML) and any MIDI file the fast path cannot. ``MUSICLAB_MIDI_ENGINE=music21`` forces the
reference for MIDI too. Events are cached per file (JSON keyed by path, size and mtime).

A MIDI file that holds more than its events keep (other instruments' notes, tempo changes) is
read, and named in ``Corpus.warnings`` with what is not kept (:func:`contents_warning`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional

from ..audio.io import expand_paths
from ..jobs import OnProgress, ShouldStop, check_stop, report

EXTRACT_VERSION = 5  # 3, 4: events carry their onset (dt); 5: what a MIDI file holds beyond them (warnings)
#: "symusic" (fast path for MIDI, music21 for the rest) or "music21" (the reference only)
MIDI_ENGINE = os.environ.get("MUSICLAB_MIDI_ENGINE", "symusic")
MIDI_EXTS = {".mid", ".midi", ".kar"}
SCORE_EXTS = MIDI_EXTS | {".mxl", ".musicxml", ".xml", ".abc", ".krn"}

Event = tuple  # (tuple[int, ...], str, str[, str])


def seed_token(ev: Event) -> str:
    return f"{ev[1]} {ev[2]}"


def dur_value(dur: str) -> float:
    return float(Fraction(dur))


def ql_string(q) -> str:
    """A quarter length as music21 prints it: ``"1.0"``, ``"0.75"``, ``"1/3"``, ``"4/3"``."""
    q = Fraction(q).limit_denominator(1 << 20)
    d = q.denominator
    return str(float(q)) if d & (d - 1) == 0 else f"{q.numerator}/{q.denominator}"


def event_dt(ev) -> Optional[Fraction]:
    """The event's onset relative to the previous event (quarters), or None (no onset)."""
    if len(ev) > 3 and ev[3] is not None:
        try:
            return Fraction(ev[3])
        except (ValueError, ZeroDivisionError, TypeError):
            return None
    return None


def has_onsets(events) -> bool:
    """True when the events carry onsets (``dt``)."""
    return any(event_dt(e) is not None for e in events)


def onsets(events, start: float = 0.0, cursor: Optional[float] = None) -> list[float]:
    """The onset (quarters) of every event. An event with ``dt`` starts ``dt`` after the previous
    event's onset (the first one ``dt`` after ``start``); an event without it starts where
    everything before it has ended (``cursor``: where that is before the first event; default
    ``start``), as the seed writes its events one after another."""
    out = []
    prev = float(start)
    end = float(start if cursor is None else cursor)
    for ev in events:
        dt = event_dt(ev)
        t = prev + float(dt) if dt is not None else end
        d = float(Fraction(ev[2]))
        out.append(t)
        prev = t
        end = max(end, t + d)
    return out


def strip_onsets(events) -> list:
    """The events as the seed's 3-tuples (no ``dt``)."""
    return [tuple(e[:3]) for e in events]


def with_dt(events, times) -> list:
    """Events (any form) with ``dt`` set from absolute onsets ``times`` (quarters)."""
    out, prev = [], Fraction(0)
    for e, t in zip(events, times):
        t = Fraction(t).limit_denominator(1 << 20)
        out.append((tuple(e[0]), e[1], e[2], ql_string(t - prev)))
        prev = t
    return out


@dataclass
class Piece:
    name: str  # display name ("file.mid" or "file.abc#3")
    source: str  # path of the file it came from
    events: list  # list[Event]


@dataclass
class Corpus:
    pieces: list = field(default_factory=list)  # list[Piece]
    skipped: list = field(default_factory=list)  # list[(path, reason)]
    #: list[(path, message)]: files read, but not all of them (other instruments, tempo changes)
    warnings: list = field(default_factory=list)

    @property
    def n_events(self) -> int:
        return sum(len(p.events) for p in self.pieces)

    def distinct_tokens(self) -> int:
        return len({seed_token(e) for p in self.pieces for e in p.events})

    def summary(self) -> dict:
        return {
            "pieces": len(self.pieces),
            "events": self.n_events,
            "distinct_tokens": self.distinct_tokens(),
            "skipped": len(self.skipped),
        }


# --------------------------------------------------------------------------- parsing
def _events_from_stream(s) -> list:
    """Events in onset order (a stable sort of the seed's order by offset), with ``dt``."""
    from music21 import chord, instrument, note

    def collect(elements, site=None) -> list:
        out = []
        for el in elements:
            n0 = len(out)
            if isinstance(el, note.Rest):
                out.append(((), "rest", str(el.quarterLength)))
            elif isinstance(el, chord.Chord):
                if isinstance(el, getattr(chord, "PercussionChord", ())) or not el.pitches:
                    continue
                pitches = tuple(sorted({int(p.midi) for p in el.pitches}))
                try:
                    no = ".".join(str(n) for n in el.normalOrder)
                except Exception:
                    no = ".".join(str(p % 12) for p in pitches)
                out.append((pitches, no, str(el.quarterLength)))
            elif isinstance(el, note.Note):
                out.append(((int(el.pitch.midi),), str(el.pitch), str(el.quarterLength)))
            if len(out) > n0:
                try:
                    off = el.getOffsetInHierarchy(site) if site is not None else el.offset
                except Exception:
                    off = el.offset
                out[-1] = out[-1] + (Fraction(off).limit_denominator(1 << 20),)
        return out

    events = []
    try:
        parts = instrument.partitionByInstrument(s)
        if parts is not None and len(parts.parts) > 0:
            part = parts.parts[0]
            events = collect(part.recurse(), part)
    except Exception:
        events = []
    if not any(e[0] for e in events):
        try:
            events = collect(s.flatten().notesAndRests)
        except Exception:
            events = []
    order = sorted(range(len(events)), key=lambda i: (events[i][3], i))  # stable: the seed's order at ties
    evs = [events[i] for i in order]
    return with_dt(evs, [e[3] for e in evs])


def _midi_check(path: Path) -> Optional[str]:
    """A reason to skip a MIDI file (no notes / drums only), or None."""
    import mido

    mf = mido.MidiFile(str(path), clip=True)
    tonal = drums = 0
    for track in mf.tracks:
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                if msg.channel == 9:
                    drums += 1
                else:
                    tonal += 1
    if tonal == 0 and drums == 0:
        return "no notes"
    if tonal == 0:
        return "drums only (channel 10)"
    return None


def _parse_midi_clipped(path: Path):
    """music21 rejects some files (data bytes > 127): re-save them through mido(clip=True)."""
    import mido
    from music21 import converter

    mf = mido.MidiFile(str(path), clip=True)
    fd, tmp = tempfile.mkstemp(suffix=".mid")
    os.close(fd)
    try:
        mf.save(tmp)
        return converter.parse(tmp)
    finally:
        os.unlink(tmp)


def parse_file(path: str | os.PathLike) -> dict:
    """Parse one file: ``{"pieces": [[name, events], ...], "skipped": reason|None}``."""
    p = Path(path)
    if p.suffix.lower() in MIDI_EXTS:
        try:
            reason = _midi_check(p)
        except Exception as exc:
            return {"pieces": [], "skipped": f"unreadable MIDI ({_short(exc)})"}
        if reason:
            return {"pieces": [], "skipped": reason}
    from music21 import converter, stream

    try:
        s = converter.parse(str(p))
    except Exception as exc:
        if p.suffix.lower() not in MIDI_EXTS:
            return {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
        try:
            s = _parse_midi_clipped(p)
        except Exception as exc2:
            return {"pieces": [], "skipped": f"unreadable ({_short(exc2)})"}
    scores = list(s.scores) if isinstance(s, stream.Opus) else [s]
    pieces = []
    for i, sc in enumerate(scores):
        ev = _events_from_stream(sc)
        if any(e[0] for e in ev):
            name = p.name if len(scores) == 1 else f"{p.name}#{i + 1}"
            pieces.append([name, [[list(e[0]), e[1], e[2], e[3]] for e in ev]])
    if not pieces:
        return {"pieces": [], "skipped": "no notes"}
    return {"pieces": pieces, "skipped": None}


def midi_contents(path) -> Optional[dict]:
    """What a MIDI file holds that the events may not keep: ``{"notes": tonal notes (channel 10
    excluded; distinct onset (1/12 quarter) and pitch, so a unison doubling counts once),
    "tracks": tonal tracks/channels with notes, "tempos": distinct tempos}``, or None (not MIDI
    or unreadable). symusic (mido when it is missing)."""
    p = Path(path)
    if p.suffix.lower() not in MIDI_EXTS:
        return None
    try:
        import symusic

        sc = symusic.Score(str(p))
        tonal = [t for t in sc.tracks if not t.is_drum and t.note_num() > 0]
        tempos = {round(float(t.qpm), 3) for t in sc.tempos}
        tpq = max(int(sc.ticks_per_quarter), 1)
        notes = {(round(n.time * 12 / tpq), int(n.pitch)) for t in tonal for n in t.notes}
        return {"notes": len(notes), "tracks": len(tonal), "tempos": len(tempos)}
    except ImportError:
        pass
    except Exception:
        return None
    try:
        import mido

        mf = mido.MidiFile(str(p), clip=True)
        notes, chans, tempos = set(), set(), set()
        tpq = max(int(mf.ticks_per_beat), 1)
        for i, tr in enumerate(mf.tracks):
            t = 0
            for m in tr:
                t += m.time
                if m.type == "note_on" and m.velocity > 0 and m.channel != 9:
                    notes.add((round(t * 12 / tpq), m.note))
                    chans.add((i, m.channel))
                elif m.type == "set_tempo":
                    tempos.add(m.tempo)
        return {"notes": len(notes), "tracks": len(chans), "tempos": len(tempos)}
    except Exception:
        return None


def contents_warning(contents: Optional[dict], pieces: list) -> Optional[str]:
    """A message when a MIDI file holds more than its events keep: notes of other instruments
    (the events are the first instrument's, as the seed extracts them) or tempo changes (the
    events count quarters; a written file has one tempo). None when the events keep it all."""
    if not contents or not pieces:
        return None
    msgs = []
    got = 0
    for _, evs in pieces:
        evs = [tuple(e) for e in evs]
        got += len({(round(t * 12), int(p)) for t, e in zip(onsets(evs), evs) for p in e[0]})
    if contents["notes"] and got < 0.9 * contents["notes"]:
        msgs.append(f"only {got} of its {contents['notes']} notes are read: the composer reads the first "
                    f"instrument of {contents['tracks']}")
    if contents["tempos"] > 1:
        msgs.append(f"{contents['tempos']} tempos: the events keep the notes in quarters, not the tempo changes")
    return "; ".join(msgs) or None


def parse_fast(path: str | os.PathLike) -> dict:
    """Like :func:`parse_file` (same result), MIDI through the fast symusic path."""
    if MIDI_ENGINE == "music21":
        return parse_file(path)
    from .ingest import parse_any

    return parse_any(path, engine="symusic")


def _short(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return (s[0][:120] if s else type(exc).__name__) or type(exc).__name__


# --------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    env = os.environ.get("MUSICLAB_CACHE")
    if env:
        d = Path(env) / "composer"
    else:
        from ..paths import resources_dir, user_cache_dir

        repo_cache = resources_dir().parent / "cache"
        d = (repo_cache if repo_cache.is_dir() else user_cache_dir()) / "composer"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _cache_file(path: Path) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{EXTRACT_VERSION}"
    return cache_dir() / (hashlib.sha1(key.encode()).hexdigest() + ".json")


def _parse_cached(path: str) -> dict:
    p = Path(path)
    try:
        cf = _cache_file(p)
    except OSError as exc:
        return {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
    if cf.is_file():
        try:
            return json.loads(cf.read_text())
        except Exception:
            pass
    res = parse_fast(p)
    warn = contents_warning(midi_contents(p), res.get("pieces") or [])
    if warn:
        res["warning"] = warn
    tmp = cf.with_name(cf.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(res))
        os.replace(tmp, cf)
    except OSError:
        pass
    return res


def _to_piece(source: str, name: str, evs: list) -> Piece:
    return Piece(name, source, [(tuple(e[0]), e[1], e[2], e[3]) if len(e) > 3 and e[3] is not None
                                else (tuple(e[0]), e[1], e[2]) for e in evs])


M21_PREFIX = "music21-corpus/"


def corpus_path(p) -> Path:
    """A path as a model file or command names it: ``music21-corpus/NAME`` is that folder of
    music21's own corpus (wherever music21 is installed, e.g. ``music21-corpus/oneills1850``);
    anything else is the path itself."""
    s = str(p).replace("\\", "/")
    if s.startswith(M21_PREFIX):
        import music21

        return Path(music21.__file__).resolve().parent / "corpus" / s[len(M21_PREFIX):]
    return Path(p)


def find_score_files(paths: Iterable) -> list[Path]:
    """Files as given; folders expanded (recursively, sorted) to the score files inside
    (``music21-corpus/NAME``: :func:`corpus_path`)."""
    return expand_paths([corpus_path(p) for p in paths], SCORE_EXTS)


def load_corpus(
    paths: Iterable,
    workers: int = 1,
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
) -> Corpus:
    """Events of every piece in files/folders ``paths`` (cached); unusable files are
    listed in ``corpus.skipped`` with a reason."""
    files = find_score_files(paths)
    corpus = Corpus()
    results: dict[int, dict] = {}
    todo = []
    for i, f in enumerate(files):
        check_stop(should_stop)
        if not f.is_file():
            results[i] = {"pieces": [], "skipped": "file not found"}
            continue
        try:
            cf = _cache_file(f)
            if cf.is_file():
                results[i] = json.loads(cf.read_text())
                continue
        except Exception:
            pass
        todo.append(i)
    report(on_progress, len(results), len(files), "reading cache")
    if todo and workers > 1 and len(todo) > 8:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = {i: ex.submit(_parse_cached, str(files[i])) for i in todo}
            try:
                for n, (i, fu) in enumerate(futs.items()):
                    while True:
                        check_stop(should_stop)
                        try:
                            results[i] = fu.result(timeout=0.2)
                            break
                        except TimeoutError:
                            continue
                        except Exception as exc:
                            if type(exc).__name__ == "TimeoutError":
                                continue
                            if type(exc).__name__ == "BrokenProcessPool":
                                results[i] = _parse_cached(str(files[i]))  # pool died: do it here
                            else:
                                results[i] = {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
                            break
                    report(on_progress, len(results), len(files), files[i].name)
            except BaseException:
                for fu in futs.values():
                    fu.cancel()
                raise
    else:
        for i in todo:
            check_stop(should_stop)
            try:
                results[i] = _parse_cached(str(files[i]))
            except Exception as exc:
                results[i] = {"pieces": [], "skipped": f"unreadable ({_short(exc)})"}
            report(on_progress, len(results), len(files), files[i].name)
    for i, f in enumerate(files):
        r = results.get(i) or {"pieces": [], "skipped": "not parsed"}
        if r.get("skipped"):
            corpus.skipped.append((str(f), r["skipped"]))
        if r.get("warning"):
            corpus.warnings.append((str(f), r["warning"]))
        for name, evs in r.get("pieces", []):
            corpus.pieces.append(_to_piece(str(f), name, evs))
    report(on_progress, len(files), len(files), "done")
    return corpus


# --------------------------------------------------------------------------- built-in corpora
_SHARED = (("Nottingham folk", "nottingham"), ("Jazz", "jazz"), ("Piano covers", "piano-covers"),
           ("EMOPIA pop piano", "emopia"))
_M21 = (("Bach chorales (music21)", "bach"), ("O'Neill's 1850 (music21)", "oneills1850"),
        ("Ryan's Mammoth (music21)", "ryansMammoth"))


def builtin_corpus_names() -> list[str]:
    """Names of the built-in corpora (cheap: does not import music21)."""
    from ..paths import shared_data_dir

    midi = shared_data_dir() / "midi"
    names = [n for n, sub in _SHARED if (midi / sub).is_dir()]
    return names + [n for n, _ in _M21]


def builtin_corpus_paths(name: str) -> list[Path]:
    """Files/folders of a built-in corpus (music21's corpus is searched on demand)."""
    from ..paths import shared_data_dir

    for n, sub in _SHARED:
        if n == name:
            return [shared_data_dir() / "midi" / sub]
    for n, key in _M21:
        if n == name:
            from music21 import corpus as m21corpus

            if key == "bach":
                return [Path(p) for p in m21corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".krn"))]
            return [Path(p) for p in m21corpus.getPaths() if key in str(p)]
    return []


def builtin_corpora() -> dict[str, list[Path]]:
    """Name -> list of files/folders for every built-in corpus."""
    return {n: builtin_corpus_paths(n) for n in builtin_corpus_names()}


def is_validation(source: str, name: str, val_fraction: float = 0.1, seed: int = 0) -> bool:
    """Whether a piece falls in the validation share (hash of its file and piece name, so the
    split is stable and the same for the MIDI files and for an event store made of them)."""
    h = int(hashlib.md5(f"{seed}:{Path(source).name}:{name}".encode()).hexdigest()[:8], 16)
    return (h % 10000) / 10000 < val_fraction


def split_by_piece(pieces: list, val_fraction: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """Deterministic split by piece (:func:`is_validation`)."""
    train, val = [], []
    for p in pieces:
        (val if is_validation(p.source, p.name, val_fraction, seed) else train).append(p)
    return train, val
