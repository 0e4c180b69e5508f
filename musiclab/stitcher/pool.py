"""A pool of songs cut into chunks. No Qt.

Songs are decoded with :mod:`musiclab.audio.io` to mono float32 at one common rate
(:data:`SR`), whatever their format, rate or channel count. A chunk is a span
``[start, end)`` in samples of one song; chunks of a song are numbered in order, so
"B follows A in its song" is ``B.song == A.song and B.index == A.index + 1``.

Chunkings (``parse_chunking``):

* ``fixed:S``      - S seconds each (the seed's best: 5 s)
* ``beats:N``      - N beats each, from librosa's beat tracker
* ``bars:N``       - N bars of 4 beats each
* ``silence[:DB[:MS]]`` - pydub's silence splitting (``detect_nonsilent``, which is what
  ``split_on_silence`` uses; default -16 dB and 300 ms as in the seed study; the
  threshold is relative to the song's average level, ``song.dBFS - 16``)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..analysis.keys import best_key
from ..audio.io import is_audio_file, load_audio
from ..errors import AudioFileError, MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report

SR = 22050
HOP = 512
MIN_CHUNK_S = 0.5  # shorter pieces are merged into their neighbour or dropped


class StitcherError(MusiclabError):
    """A pool or chain cannot be built (with a message for the user)."""


@dataclass
class Song:
    name: str
    path: str
    y: np.ndarray  # mono float32 at sr
    sr: int = SR
    beats: Optional[np.ndarray] = None  # beat positions in samples
    tempo: Optional[float] = None
    key: Optional[int] = None  # 0..23: 0-11 major C..B, 12-23 minor
    #: the join engineering's analysis (:class:`.joins.SongAnalysis`), computed once
    analysis: Optional[object] = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float:
        return len(self.y) / self.sr


def _get_analysis(self):
    """The song's join analysis: in memory once computed; the first time it is asked for, the disk
    cache (:mod:`.cache`, keyed by the file's fingerprint) is tried; None where neither has it."""
    d = self.__dict__
    a = d.get("_analysis")
    if a is None and not d.get("_analysis_looked"):
        d["_analysis_looked"] = True
        try:
            from .cache import load_analysis

            a = load_analysis(self)
        except Exception:  # the cache is a speed-up, never a reason to fail
            a = None
        if a is not None:
            d["_analysis"] = a
    return a


def _set_analysis(self, a) -> None:
    """Setting a freshly computed analysis also writes it to the disk cache."""
    d = self.__dict__
    d["_analysis"] = a
    if a is None:
        return
    d["_analysis_looked"] = True
    if not getattr(a, "_from_cache", False) and hasattr(a, "chroma"):
        try:
            from .cache import save_analysis

            save_analysis(self, a)
        except Exception:
            pass


# the dataclass field stays (constructor argument, repr/compare off); the attribute goes through the cache
Song.analysis = property(_get_analysis, _set_analysis)


@dataclass
class Chunk:
    song: int
    index: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class Pool:
    songs: list[Song] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    chunking: str = "fixed:5"
    sr: int = SR
    messages: list[str] = field(default_factory=list)
    #: per-pool derived arrays (chunk tempi, song keys): filled by :mod:`.chain` on demand
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def successor(self, i: int) -> Optional[int]:
        """Index of the chunk that follows chunk ``i`` in its song, or None."""
        c = self.chunks[i]
        if i + 1 < len(self.chunks):
            n = self.chunks[i + 1]
            if n.song == c.song and n.index == c.index + 1:
                return i + 1
        return None

    def chunk_audio(self, i: int, trim: int = 0) -> np.ndarray:
        c = self.chunks[i]
        y = self.songs[c.song].y
        return y[c.start + trim: max(c.start + trim, c.end - trim)]

    def song_chunks(self, s: int) -> list[int]:
        return [i for i, c in enumerate(self.chunks) if c.song == s]

    def summary(self) -> str:
        return f"{len(self.songs)} songs, {len(self.chunks)} chunks ({self.chunking})"


# -- loading -------------------------------------------------------------------------------

def find_songs(paths: Sequence[str | Path]) -> list[Path]:
    """Expand folders (recursively) into audio files; keep files in the order given."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and is_audio_file(q)))
        else:
            out.append(p)
    seen, uniq = set(), []
    for p in out:
        if str(p) not in seen:
            seen.add(str(p))
            uniq.append(p)
    return uniq


#: the non-music recordings among librosa's examples (speech, whale, robin, dog): the
#: demo pool and the default model skip them
NON_MUSIC = ("198-209-0000", "3436-172162-0000", "5703-47212-0000", "glacier-bay-humpback",
             "456440__inspectorj__bird-whistling-robin", "pibble")


def demo_song_paths(root: Optional[Path] = None) -> list[Path]:
    """The music in ``shared/data/audio``: the 22 kHz librosa examples (one copy of
    duplicates, no speech/animals) and the Singularity tracks."""
    from ..paths import shared_data_dir

    root = Path(root) if root else shared_data_dir() / "audio"
    out = []
    for p in find_songs([root]):
        n = p.name
        if n.endswith(".hq.ogg") or any(n.startswith(x) for x in NON_MUSIC):
            continue
        if n.startswith("Karissa_Hobbs_-_Let's_Go_Fishin'"):
            continue  # a second copy of Karissa_Hobbs_-_Lets_Go_Fishin
        out.append(p)
    return out


def load_song(path: str | Path, sr: int = SR) -> Song:
    p = Path(path)
    y, _ = load_audio(p, sr=sr, mono=True)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y)
    return Song(name=p.stem, path=str(p), y=y, sr=sr)


def load_songs(paths: Sequence[str | Path], sr: int = SR, should_stop: ShouldStop = None,
               on_progress: OnProgress = None) -> tuple[list[Song], list[str]]:
    """Decode every file; a file that fails is skipped with a message, the rest go on."""
    files = find_songs(paths)
    songs, msgs = [], []
    for k, p in enumerate(files):
        check_stop(should_stop)
        report(on_progress, k, len(files), f"loading {p.name}")
        try:
            s = load_song(p, sr)
        except AudioFileError as exc:
            msgs.append(f"skipped: {exc}")
            continue
        except Exception as exc:  # a decoder crash must not lose the rest of the pool
            msgs.append(f"skipped: '{p.name}' could not be read ({type(exc).__name__}: {exc}).")
            continue
        if len(s.y) < sr * MIN_CHUNK_S:
            msgs.append(f"skipped: '{p.name}' is too short ({len(s.y) / sr:.2f} s).")
            continue
        if float(np.max(np.abs(s.y))) < 1e-4:
            msgs.append(f"skipped: '{p.name}' is silent.")
            continue
        songs.append(s)
    report(on_progress, len(files), len(files), "loaded")
    if not files:
        msgs.append("no audio files found.")
    return songs, msgs


# -- analysis: beats, key ------------------------------------------------------------------

def _cache_dir() -> Path:
    """``user_cache_dir()/stitcher`` (the training caches of :mod:`.train` live here too)."""
    from ..paths import user_cache_dir

    d = user_cache_dir() / "stitcher"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _song_hash(song: Song) -> str:
    """A hash of (about 100,000 of) the song's samples, their count and rate."""
    from .cache import audio_hash

    return audio_hash(song.y, song.sr)


def ensure_beats(song: Song, use_cache: bool = True) -> np.ndarray:
    """Beat positions (samples) from librosa's beat tracker, cached on disk (:mod:`.cache`)."""
    if song.beats is not None:
        return song.beats
    if use_cache:
        from .cache import load_beats

        hit = load_beats(song)
        if hit is not None:
            song.beats, song.tempo = hit
            return song.beats
    import librosa

    tempo, frames = librosa.beat.beat_track(y=song.y, sr=song.sr, hop_length=HOP)
    beats = librosa.frames_to_samples(frames, hop_length=HOP).astype(np.int64)
    song.beats = beats
    song.tempo = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
    if use_cache:
        from .cache import save_beats

        save_beats(song, beats, song.tempo)
    return beats


KEY_NAMES = [n + m for m in ("", "m") for n in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")]


def estimate_key(chroma_mean: np.ndarray) -> int:
    """Krumhansl-Schmuckler key from a 12-bin chroma profile (0-11 major, 12-23 minor;
    :func:`musiclab.analysis.keys.best_key`)."""
    tonic, mode, _ = best_key(chroma_mean)
    return tonic + 12 * (mode == "minor")


# -- chunking ------------------------------------------------------------------------------

def parse_chunking(spec: str) -> tuple[str, float, float]:
    """``fixed:5`` / ``beats:8`` / ``bars:2`` / ``silence`` / ``silence:-16:300``."""
    parts = str(spec).strip().lower().split(":")
    kind = parts[0]
    try:
        if kind == "fixed":
            v = float(parts[1]) if len(parts) > 1 else 5.0
            if v < MIN_CHUNK_S:
                raise StitcherError(f"Fixed chunks must be at least {MIN_CHUNK_S} s long.")
            return kind, v, 0.0
        if kind in ("beats", "bars"):
            v = int(parts[1]) if len(parts) > 1 else (8 if kind == "beats" else 2)
            if v < 1:
                raise StitcherError("The number of beats/bars per chunk must be at least 1.")
            return kind, float(v), 0.0
        if kind == "silence":
            db = float(parts[1]) if len(parts) > 1 else -16.0
            ms = float(parts[2]) if len(parts) > 2 else 300.0
            return kind, db, ms
    except (ValueError, IndexError) as exc:
        raise StitcherError(f"Cannot read the chunking '{spec}' ({exc}).") from exc
    raise StitcherError(f"Unknown chunking '{spec}': use fixed:SECONDS, beats:N, bars:N or silence[:DB[:MS]].")


def _spans_fixed(n: int, sr: int, seconds: float) -> list[tuple[int, int]]:
    step = int(round(seconds * sr))
    return [(a, a + step) for a in range(0, n - step + 1, step)]


MIN_PULSE_CLARITY = 0.1  # speech ~0.07, a drone with noise ~0.03; music 0.15-0.6 (shared/data/audio)


def pulse_clarity(song: Song, beats: np.ndarray) -> float:
    """How periodic the onsets are at the tracked beat period: the normalised autocorrelation
    of librosa's onset strength at that lag (±2 frames). The beat tracker finds "beats" in
    anything; this says whether there is a pulse."""
    import librosa

    d = np.diff(np.asarray(beats, np.float64)) / HOP
    if len(d) < 3:
        return 0.0
    env = librosa.onset.onset_strength(y=song.y, sr=song.sr, hop_length=HOP).astype(np.float64)
    env -= env.mean()
    lag = int(round(float(np.median(d))))
    if lag < 1 or lag + 3 >= len(env):
        return 0.0
    n = len(env)
    ac0 = float(env @ env) + 1e-12
    return max(float(env[: n - k] @ env[k:]) / ac0 for k in range(max(1, lag - 2), lag + 3))


def steady_beats(beats: np.ndarray, max_cv: float = 0.5, song: Optional[Song] = None) -> bool:
    """Whether a beat track is a pulse at all: enough beats, their spacing not all over the place,
    and (given the song) onsets that repeat at the beat period (:func:`pulse_clarity`)."""
    if len(beats) < 4:
        return False
    d = np.diff(np.asarray(beats, np.float64))
    med = float(np.median(d))
    if not (med > 0 and float(np.std(d)) / med <= max_cv):
        return False
    return song is None or pulse_clarity(song, beats) >= MIN_PULSE_CLARITY


def _spans_beats(song: Song, nbeats: int) -> list[tuple[int, int]]:
    beats = ensure_beats(song)
    if len(beats) < nbeats + 1 or not steady_beats(beats, song=song):
        return []  # build_pool falls back to fixed chunks
    b = beats[::nbeats]
    return [(int(b[i]), int(b[i + 1])) for i in range(len(b) - 1)]


def _spans_silence(song: Song, thresh_db: float, min_silence_ms: float, keep_ms: float = 100.0) -> list[tuple[int, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydub import AudioSegment
        from pydub.silence import detect_nonsilent

    pcm = (np.clip(song.y, -1, 1) * 32767).astype("<i2").tobytes()
    seg = AudioSegment(data=pcm, sample_width=2, frame_rate=song.sr, channels=1)
    # detect_nonsilent is what split_on_silence uses; it gives us the times in ms.
    # the threshold is relative to the song's average loudness (pydub's usual idiom
    # ``silence_thresh=sound.dBFS - 16``), so quiet and loud masters cut alike
    ranges = detect_nonsilent(seg, min_silence_len=int(min_silence_ms), silence_thresh=seg.dBFS + thresh_db,
                              seek_step=10)
    n = len(song.y)
    spans = []
    for a, b in ranges:  # pad like split_on_silence(keep_silence=100)
        s = max(0, int((a - keep_ms) * song.sr / 1000))
        e = min(n, int((b + keep_ms) * song.sr / 1000))
        if spans and s < spans[-1][1]:
            s = spans[-1][1]
        if e > s:
            spans.append((s, e))
    return spans


def chunk_song(song: Song, chunking: str) -> list[tuple[int, int]]:
    kind, a, b = parse_chunking(chunking)
    if kind == "fixed":
        spans = _spans_fixed(len(song.y), song.sr, a)
    elif kind == "beats":
        spans = _spans_beats(song, int(a))
    elif kind == "bars":
        spans = _spans_beats(song, int(a) * 4)
    else:
        spans = _spans_silence(song, a, b)
    min_len = int(MIN_CHUNK_S * song.sr)
    merged: list[tuple[int, int]] = []
    for s, e in spans:  # merge too-short pieces into the previous chunk when contiguous
        if e - s < min_len:
            if merged and merged[-1][1] == s:
                merged[-1] = (merged[-1][0], e)
            continue
        merged.append((s, e))
    return merged


FALLBACK_CHUNK_S = 4.0  # fixed chunks for a song without a detectable beat (8 beats at 120 bpm)


def chunk_song_fixed(song: Song, seconds: float) -> list[tuple[int, int]]:
    return _spans_fixed(len(song.y), song.sr, seconds)


def build_pool(songs: list[Song], chunking: str = "fixed:5", messages: Optional[list[str]] = None,
               should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Pool:
    """Cut every song; a song shorter than one chunk becomes one chunk (with a message)."""
    parse_chunking(chunking)
    pool = Pool(songs=list(songs), chunking=chunking, sr=songs[0].sr if songs else SR,
                messages=list(messages or []))
    for si, song in enumerate(pool.songs):
        check_stop(should_stop)
        report(on_progress, si, len(pool.songs), f"cutting {song.name}")
        try:
            spans = chunk_song(song, chunking)
        except MusiclabError:
            raise
        except Exception as exc:
            pool.messages.append(f"'{song.name}': could not be cut ({type(exc).__name__}: {exc}); used whole.")
            spans = []
        kind = chunking.split(":")[0].strip().lower()
        if not spans and kind in ("beats", "bars") and song.duration >= 2 * FALLBACK_CHUNK_S:
            spans = chunk_song_fixed(song, FALLBACK_CHUNK_S)
            pool.messages.append(f"'{song.name}': no steady beat found; cut into fixed chunks of "
                                 f"{FALLBACK_CHUNK_S:g} s instead.")
        if not spans:
            if chunking.startswith("silence"):
                pool.messages.append(f"'{song.name}': no sound found above the silence threshold; "
                                     "it is one chunk of its own.")
            else:
                pool.messages.append(f"'{song.name}' is shorter than one chunk ({song.duration:.1f} s): "
                                     "it is one chunk of its own.")
            spans = [(0, len(song.y))]
        for k, (s, e) in enumerate(spans):
            pool.chunks.append(Chunk(si, k, int(s), int(e)))
    report(on_progress, len(pool.songs), len(pool.songs), pool.summary())
    return pool


def load_pool(paths: Sequence[str | Path], chunking: str = "fixed:5", sr: int = SR,
              should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Pool:
    songs, msgs = load_songs(paths, sr, should_stop=should_stop, on_progress=on_progress)
    if not songs:
        raise StitcherError("No usable song in the pool. " + " ".join(msgs))
    return build_pool(songs, chunking, msgs, should_stop=should_stop, on_progress=on_progress)
