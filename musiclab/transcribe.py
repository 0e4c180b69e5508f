"""Audio -> notes -> composer events: transcription for the Composer's primer. No Qt.

The notes come from Spotify's *Basic Pitch* network (Bittner et al., "A lightweight
instrument-agnostic model for polyphonic note transcription and multipitch estimation",
ICASSP 2022): its ONNX export ``nmp.onnx`` from the ``basic-pitch`` 0.4.0 wheel ships as
``resources/pretrained/basic-pitch-nmp.onnx`` (230 KB, Apache-2.0, ``LICENSE-basic-pitch.txt``;
model card ``basic-pitch.md``) and runs through ``onnxruntime``, so neither the
``basic-pitch`` package nor TensorFlow is needed. The windowing, the un-batching and the
note decoding (``_decode_notes``, with the "melodia trick") are ports of
``basic_pitch.inference`` and ``basic_pitch.note_creation`` (Copyright 2022 Spotify AB,
Apache License 2.0) with the package's default thresholds.

Then the notes are placed on a beat grid: librosa's beat tracker gives the beats (and the
tempo), every onset and offset is mapped to beats (one beat = one quarter) and rounded to
``1/subdivision`` of a beat, and notes that start together with the same length become one
chord event. The result's :attr:`Transcription.events` are composer events
``(pitches, name, dur, dt)`` (see :mod:`musiclab.composer.events`) that can prime the
Composer. ``melody=True`` keeps one voice: the highest sounding note (the "skyline"), its
notes cut where the next one starts.

Every long step takes ``should_stop`` / ``on_progress`` (:mod:`musiclab.jobs`). Input that
holds no notes (silence, a drum loop, noise), or only one or two stray notes covering under a
tenth of it, gives an empty result with a message; speech and other unpitched sound give a
warning in :attr:`Transcription.message`, and so does a very quiet recording; a file that
cannot be read raises :class:`~musiclab.errors.AudioFileError`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import MusiclabError, ModelFileError
from .jobs import OnProgress, ShouldStop, check_stop, report, slow_call

# -- the network's constants (basic_pitch.constants) -----------------------------------------
SR = 22050  # the model's sample rate
FFT_HOP = 256
FPS = SR // FFT_HOP  # 86 frames a second
WINDOW_SECONDS = 2
N_FRAMES = FPS * WINDOW_SECONDS  # 172 output frames per window
N_SAMPLES = SR * WINDOW_SECONDS - FFT_HOP  # 43,844 input samples per window
N_OVERLAP_FRAMES = 30
OVERLAP = N_OVERLAP_FRAMES * FFT_HOP
HOP = N_SAMPLES - OVERLAP
MIDI_OFFSET = 21  # the first of the 88 note bins is A0
MAX_FREQ_IDX = 87
INPUT_NAME = "serving_default_input_2:0"
OUTPUT_NAMES = ("StatefulPartitionedCall:1", "StatefulPartitionedCall:2")  # note (frames), onset
MODEL_FILE = "basic-pitch-nmp.onnx"
MODEL_SHA256 = "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec"

#: basic-pitch's defaults (``basic_pitch.inference.predict``)
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_MS = 127.7
PLAYBACK_SR = 44100
#: shorter input is refused (the beat tracker and the network need some context)
MIN_SECONDS = 0.5
#: a recording whose peak is below this gets a "very quiet" note (a far or muted microphone)
QUIET_DBFS = -35.0
#: at most this many notes covering less than this share of the audio are no primer: stray
#: notes the network hears in a kick drum or in a microphone's noise floor
STRAY_NOTES = 2
STRAY_COVER = 0.10

PathOrAudio = Union[str, os.PathLike, np.ndarray]


@dataclass
class Note:
    start: float  # seconds
    end: float  # seconds
    pitch: int  # MIDI number
    amplitude: float  # mean frame activation, 0..1


@dataclass
class Transcription:
    """What :func:`transcribe` found: notes in seconds, the beat grid, composer events."""

    name: str  # display name ("tune.ogg (transcribed)")
    source: str  # the file (or "" for an array)
    seconds: float  # duration of the transcribed audio
    notes: list = field(default_factory=list)  # list[Note], as the network found them (after melody selection)
    tempo: float = 120.0  # quarters a minute (the composer plays the primer at this tempo)
    beats: list = field(default_factory=list)  # tracked beat times (s), aligned with the onsets
    beat_tempo: float = 120.0  # tracked beats a minute
    quarters_per_beat: float = 1.0  # 1, 1.5 (compound time tracked at the dotted quarter) or 2
    subdivision: int = 4
    events: list = field(default_factory=list)  # composer events (pitches, name, dur, dt)
    origin_beats: float = 0.0  # the events' quarter 0, in beats of the grid
    melody: bool = True
    message: str = ""  # empty = fine; otherwise what the user should know (no notes, speech, guessed tempo)
    audio: Optional[np.ndarray] = None  # mono float32 at PLAYBACK_SR (when asked for)

    @property
    def empty(self) -> bool:
        return not self.events

    def piece(self):
        """The events as a :class:`musiclab.composer.events.Piece` (the Composer's primer source)."""
        from .composer.events import Piece

        return Piece(self.name, self.source, list(self.events))

    def quantised_notes(self) -> list:
        """``(start s, end s, pitch)`` of the events' notes, placed back on the audio's beat grid."""
        from .composer.events import onsets

        out = []
        for t, ev in zip(onsets(self.events), self.events):
            d = float(Fraction(ev[2]))
            q = self.quarters_per_beat
            a = beats_to_seconds(t / q + self.origin_beats, self.beats, self.beat_tempo)
            b = beats_to_seconds((t + d) / q + self.origin_beats, self.beats, self.beat_tempo)
            out.extend((max(0.0, a), max(0.0, b), int(p)) for p in ev[0])
        return out

    def summary(self) -> dict:
        return {"name": self.name, "seconds": round(self.seconds, 2), "notes": len(self.notes),
                "events": len(self.events), "tempo": round(self.tempo, 1), "beats": len(self.beats),
                "quarters_per_beat": self.quarters_per_beat,
                "melody": self.melody, "message": self.message}


# --------------------------------------------------------------------------- the network
_session_lock = threading.Lock()
_session = None


def model_path() -> Path:
    from .paths import resources_dir

    return resources_dir() / "pretrained" / MODEL_FILE


def _load_session():
    """The ONNX Runtime session (once per process), after checking the file's SHA-256."""
    global _session
    with _session_lock:
        if _session is not None:
            return _session
        p = model_path()
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"The transcription model '{p.name}' is missing ({exc.strerror or exc}).") from exc
        if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
            raise ModelFileError(f"The transcription model '{p.name}' is damaged (its checksum does not match).")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MusiclabError("Transcription needs the 'onnxruntime' package (pip install onnxruntime).") from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            _session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise ModelFileError(f"The transcription model '{p.name}' could not be loaded ({exc}).") from exc
        return _session


def activations(y: np.ndarray, batch: int = 8, should_stop: ShouldStop = None,
                on_progress: OnProgress = None) -> tuple[np.ndarray, np.ndarray]:
    """Note and onset activations ``(n_frames, 88)`` of mono audio ``y`` at :data:`SR`
    (``basic_pitch.inference.run_inference``: 2 s windows overlapping by 30 frames)."""
    sess = _load_session()
    y = np.asarray(y, dtype=np.float32)
    n_orig = len(y)
    padded = np.concatenate([np.zeros(OVERLAP // 2, np.float32), y])
    starts = list(range(0, len(padded), HOP)) or [0]
    notes, ons = [], []
    for b in range(0, len(starts), batch):
        check_stop(should_stop)
        chunk = starts[b:b + batch]
        x = np.zeros((len(chunk), N_SAMPLES, 1), np.float32)
        for k, s in enumerate(chunk):
            w = padded[s:s + N_SAMPLES]
            x[k, :len(w), 0] = w
        nt, on = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        notes.append(nt)
        ons.append(on)
        report(on_progress, min(b + batch, len(starts)), len(starts), "transcribing")
    n_keep = int(np.floor(n_orig * (FPS / SR)))

    def unwrap(parts):
        out = np.concatenate(parts)
        h = N_OVERLAP_FRAMES // 2
        out = out[:, h:-h, :]
        return out.reshape(-1, out.shape[2])[:n_keep]

    return unwrap(notes), unwrap(ons)


def frame_times(n_frames: int) -> np.ndarray:
    """Seconds of each output frame (``note_creation.model_frames_to_time``)."""
    t = np.arange(n_frames) * FFT_HOP / SR
    window = np.floor(np.arange(n_frames) / N_FRAMES)
    offset = (FFT_HOP / SR) * (N_FRAMES - N_SAMPLES / FFT_HOP) + 0.0018
    return t - offset * window


def _inferred_onsets(onsets: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    diffs = []
    for n in range(1, n_diff + 1):
        app = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(app[n:, :] - app[:-n, :])
    fd = np.min(diffs, axis=0)
    fd[fd < 0] = 0
    fd[:n_diff, :] = 0
    m = np.max(fd)
    if m > 0:
        fd = np.max(onsets) * fd / m
    return np.maximum(onsets, fd)


def _decode_notes(frames: np.ndarray, onsets: np.ndarray, onset_thresh: float, frame_thresh: float,
                  min_note_len: int, melodia_trick: bool = True, energy_tol: int = 11,
                  should_stop: ShouldStop = None) -> list[tuple[int, int, int, float]]:
    """``note_creation.output_to_notes_polyphonic``: ``(start frame, end frame, pitch, amplitude)``."""
    from scipy.signal import argrelmax

    n_frames = frames.shape[0]
    if n_frames < 3:
        return []
    onsets = _inferred_onsets(onsets, frames)
    peak = np.zeros(onsets.shape)
    peaks = argrelmax(onsets, axis=0)
    peak[peaks] = onsets[peaks]
    t_idx, f_idx = np.where(peak >= onset_thresh)
    remaining = frames.astype(np.float64, copy=True)
    events = []
    for k, (start, f) in enumerate(zip(t_idx[::-1], f_idx[::-1])):
        if k % 256 == 0:
            check_stop(should_stop)
        if start >= n_frames - 1:
            continue
        i, low = start + 1, 0
        while i < n_frames - 1 and low < energy_tol:
            low = low + 1 if remaining[i, f] < frame_thresh else 0
            i += 1
        i -= low
        if i - start <= min_note_len:
            continue
        remaining[start:i, max(0, f - 1):min(MAX_FREQ_IDX, f + 1) + 1] = 0
        events.append((int(start), int(i), int(f) + MIDI_OFFSET, float(np.mean(frames[start:i, f]))))
    if melodia_trick:
        steps = 0
        while True:
            steps += 1
            if steps % 64 == 0:
                check_stop(should_stop)
            flat = int(np.argmax(remaining))
            mid, f = divmod(flat, remaining.shape[1])
            if remaining[mid, f] <= frame_thresh:
                break
            remaining[mid, f] = 0
            lo_f, hi_f = max(0, f - 1), min(MAX_FREQ_IDX, f + 1) + 1
            i, low = mid + 1, 0
            while i < n_frames - 1 and low < energy_tol:
                low = low + 1 if remaining[i, f] < frame_thresh else 0
                remaining[i, lo_f:hi_f] = 0
                i += 1
            end = i - 1 - low
            i, low = mid - 1, 0
            while i > 0 and low < energy_tol:
                low = low + 1 if remaining[i, f] < frame_thresh else 0
                remaining[i, lo_f:hi_f] = 0
                i -= 1
            start = i + 1 + low
            if end - start <= min_note_len:
                continue
            events.append((int(start), int(end), int(f) + MIDI_OFFSET, float(np.mean(frames[start:end, f]))))
    return events


def notes_from_audio(y: np.ndarray, onset_threshold: float = ONSET_THRESHOLD,
                     frame_threshold: float = FRAME_THRESHOLD, min_note_ms: float = MIN_NOTE_MS,
                     should_stop: ShouldStop = None, on_progress: OnProgress = None) -> list[Note]:
    """Basic Pitch's notes of mono audio at :data:`SR`, sorted by onset."""
    frames, onsets = activations(y, should_stop=should_stop, on_progress=on_progress)
    min_len = int(np.round(min_note_ms / 1000 * (SR / FFT_HOP)))
    raw = _decode_notes(frames, onsets, onset_threshold, frame_threshold, min_len, should_stop=should_stop)
    times = frame_times(frames.shape[0] + 1)
    notes = [Note(float(max(0.0, times[a])), float(times[min(b, len(times) - 1)]), p, amp) for a, b, p, amp in raw]
    notes.sort(key=lambda n: (n.start, -n.pitch))
    return notes


# --------------------------------------------------------------------------- one voice
def melody_line(notes: list, together: float = 0.05, leap: int = 9) -> list:
    """The top voice. A note is dropped when a higher note starts with it (within
    ``together`` s), or when a note more than ``leap`` semitones higher is sounding at its
    onset (an accompaniment under a held melody note; a melody that steps down while the
    previous note still rings is kept). What is left is cut where the next note starts."""
    if not notes:
        return []
    notes = sorted(notes, key=lambda n: (n.start, -n.pitch))
    notes = [n for n in notes if not _overtone(n, notes, together)]
    kept = []
    for n in notes:
        covered = False
        for m in notes:
            if m.start > n.start + together:
                break
            if m is n or m.pitch <= n.pitch:
                continue
            if abs(m.start - n.start) <= together or (m.pitch - n.pitch > leap and m.end - together > n.start):
                covered = True
                break
        if not covered:
            kept.append(n)
    out = []
    for i, n in enumerate(kept):
        end = n.end
        if i + 1 < len(kept):
            end = min(end, kept[i + 1].start)
        if end - n.start > 0.02:
            out.append(Note(n.start, end, n.pitch, n.amplitude))
    return out


OVERTONES = (12, 19, 24)  # octave, twelfth, double octave


def _overtone(n, notes: list, together: float = 0.05, ratio: float = 0.6) -> bool:
    """True when ``n`` looks like an overtone the network heard in a lower note: an octave,
    a twelfth or two octaves above a stronger note that starts with it (or sounds at its
    onset)."""
    for m in notes:
        if m.start > n.start + together:
            break
        if n.pitch - m.pitch in OVERTONES and m.end > n.start and m.amplitude * ratio > n.amplitude:
            return True
    return False


# --------------------------------------------------------------------------- beat grid
def _period(beats) -> float:
    b = np.asarray(beats, dtype=float)
    return float(np.median(np.diff(b))) if len(b) >= 2 else 0.5


def seconds_to_beats(t, beats, tempo: float) -> np.ndarray:
    """Beat position of times ``t``: linear between tracked beats, at ``tempo`` beyond them."""
    t = np.asarray(t, dtype=float)
    b = np.asarray(beats, dtype=float)
    per = 60.0 / tempo if len(b) < 2 else _period(b)
    if len(b) < 2:
        t0 = b[0] if len(b) else 0.0
        return (t - t0) / per
    out = np.interp(t, b, np.arange(len(b), dtype=float))
    out = np.where(t < b[0], (t - b[0]) / per, out)
    out = np.where(t > b[-1], len(b) - 1 + (t - b[-1]) / per, out)
    return out


def beats_to_seconds(q, beats, tempo: float) -> float:
    """The inverse of :func:`seconds_to_beats` for one position."""
    b = np.asarray(beats, dtype=float)
    per = 60.0 / tempo if len(b) < 2 else _period(b)
    if len(b) < 2:
        return float((b[0] if len(b) else 0.0) + q * per)
    if q < 0:
        return float(b[0] + q * per)
    if q > len(b) - 1:
        return float(b[-1] + (q - (len(b) - 1)) * per)
    return float(np.interp(q, np.arange(len(b), dtype=float), b))


def track_beats(y: np.ndarray, sr: int = SR, should_stop: ShouldStop = None) -> tuple[float, list]:
    """(tempo BPM, beat times) from librosa's beat tracker; tempo 0 and no beats when it finds none."""
    import librosa

    check_stop(should_stop)
    tempo, frames = librosa.beat.beat_track(y=y, sr=sr, hop_length=512, units="frames")
    beats = librosa.frames_to_time(frames, sr=sr, hop_length=512)
    tempo = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
    if len(beats) >= 2:
        tempo = 60.0 / _period(beats)
    return tempo, [float(b) for b in beats]


def _residual(pos: np.ndarray, steps: int) -> np.ndarray:
    """Signed distance (in steps of ``1/steps`` beat) of beat positions to the nearest grid point."""
    x = pos * steps
    return x - np.round(x)


def align_beats(beats: list, onsets, tempo: float, steps: int) -> list:
    """The tracked beats shifted so that the note onsets fall on the grid on average
    (librosa's beats lag the onsets by a few tens of milliseconds)."""
    if len(beats) < 2 or len(onsets) == 0:
        return list(beats)
    b = np.asarray(beats, dtype=float)
    for _ in range(2):
        r = _residual(seconds_to_beats(onsets, b, tempo), steps) / steps  # beats
        b = b + float(np.median(r)) * _period(b)
    return [float(x) for x in b]


def choose_meter(onsets, beats: list, tempo: float) -> float:
    """Quarters per tracked beat: 1.5 when the onsets divide the beat in three (a jig
    tracked at the dotted quarter), 2 for a beat slower than 70 BPM (a half note), 0.5 for
    one faster than 170 BPM (an eighth), else 1."""
    if len(onsets) >= 8 and len(beats) >= 2:
        r = {}
        for steps in (3, 4):
            b = align_beats(beats, onsets, tempo, steps)
            r[steps] = float(np.mean(np.abs(_residual(seconds_to_beats(onsets, b, tempo), steps))))
        if r[3] < 0.6 * r[4] and tempo < 110:
            return 1.5
    return 2.0 if tempo < 70 else 0.5 if tempo > 170 else 1.0


def notes_to_events(notes: list, beats: list, tempo: float, subdivision: int = 4, quarters_per_beat: float = 1.0,
                    rests: bool = True) -> tuple[list, float]:
    """Composer events of ``notes`` on the beat grid, and where quarter 0 lies (in beats).

    A tracked beat is ``quarters_per_beat`` quarters; onsets and offsets are rounded to
    ``1/subdivision`` quarter and a note keeps at least one step. Notes with the same onset
    and length form one chord event (the higher ones first, as a melody note comes before
    the chord under it in the corpus). With ``rests`` a rest event fills every gap of a
    step or more in which nothing sounds."""
    from .composer.events import ql_string
    from .composer.ingest import _normal_order, pitch_name

    if not notes:
        return [], 0.0
    sub = int(subdivision)
    step = Fraction(1, sub)
    on = seconds_to_beats([n.start for n in notes], beats, tempo)
    off = seconds_to_beats([n.end for n in notes], beats, tempo)
    origin = float(np.floor(on.min() + 1e-6))
    groups: dict = {}
    for n, a, b in zip(notes, (on - origin) * quarters_per_beat, (off - origin) * quarters_per_beat):
        qa = Fraction(int(round(a * sub)), sub)
        qb = max(Fraction(int(round(b * sub)), sub), qa + step)
        groups.setdefault((qa, qb - qa), set()).add(int(n.pitch))
    items = sorted(groups.items(), key=lambda kv: (kv[0][0], -max(kv[1]), kv[0][1]))
    events, prev, sounding_until = [], Fraction(0), Fraction(0)
    for (qa, dur), pitches in items:
        if rests and qa - sounding_until >= step:
            events.append(((), "rest", ql_string(qa - sounding_until), ql_string(sounding_until - prev)))
            prev = sounding_until
        ps = tuple(sorted(pitches))
        name = pitch_name(ps[0]) if len(ps) == 1 else _normal_order(frozenset(p % 12 for p in ps))
        events.append((ps, name, ql_string(dur), ql_string(qa - prev)))
        prev = qa
        sounding_until = max(sounding_until, qa + dur)
    return events, origin


# --------------------------------------------------------------------------- the whole step
def _load(source: PathOrAudio, sr: Optional[int], max_seconds: Optional[float] = None
          ) -> tuple[np.ndarray, int, str, str]:
    if isinstance(source, np.ndarray):
        if not sr:
            raise MusiclabError("Audio given as samples needs its sample rate.")
        y = np.asarray(source, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=0 if y.shape[0] <= 8 else 1)
        return y, int(sr), "recording", ""
    from .audio.io import load_audio

    p = Path(source)
    # a little more than asked for, so that transcribe() can tell a longer file from one of that length
    y, native = load_audio(p, sr=None, mono=True, duration=None if max_seconds is None else max_seconds + 0.5)
    return y, int(native), p.name, str(p)


def transcribe(source: PathOrAudio, sr: Optional[int] = None, melody: bool = True, subdivision: int = 4,
               max_seconds: Optional[float] = None, keep_audio: bool = False,
               onset_threshold: float = ONSET_THRESHOLD, frame_threshold: float = FRAME_THRESHOLD,
               min_note_ms: float = MIN_NOTE_MS, should_stop: ShouldStop = None,
               on_progress: OnProgress = None) -> Transcription:
    """Transcribe a file (or mono/stereo samples at ``sr``) to notes and composer events.

    ``melody``: keep one voice (the top one) instead of every note; ``subdivision``: grid
    steps per quarter note (4 = sixteenths); ``max_seconds``: transcribe only the opening;
    ``keep_audio``: also return the (cut) audio at :data:`PLAYBACK_SR` for playback before a
    continuation. A file that cannot be decoded raises :class:`~musiclab.errors.AudioFileError`,
    a clip under :data:`MIN_SECONDS` a :class:`~musiclab.errors.MusiclabError`; silence and
    audio without notes give an empty result whose ``message`` says why."""
    slow_call("transcribe")
    report(on_progress, 0, 0, "reading the audio")
    y, native, label, src = _load(source, sr, max_seconds)
    check_stop(should_stop)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    note = ""
    if max_seconds is not None and len(y) > max_seconds * native:
        y = y[: int(max_seconds * native)]
        note = f"Only the first {max_seconds:.0f} s were transcribed."
    seconds = len(y) / native if native else 0.0
    name = f"{label} (transcribed)"
    if seconds < MIN_SECONDS:
        raise MusiclabError(f"'{label}' is too short to transcribe ({seconds:.2f} s; at least {MIN_SECONDS} s "
                            "of music are needed).")
    from .audio.io import resample

    y22 = resample(y, native, SR)
    audio = resample(y, native, PLAYBACK_SR) if keep_audio else None
    out = Transcription(name=name, source=src, seconds=seconds, melody=bool(melody), subdivision=int(subdivision),
                        audio=audio)
    peak = float(np.max(np.abs(y22))) if y22.size else 0.0
    if peak < 1e-4:  # -80 dBFS
        out.message = f"'{label}' is silent: there are no notes to transcribe."
        return out
    peak_db = 20 * np.log10(peak)
    quiet = (f" The recording is very quiet (peak {peak_db:.0f} dBFS): raise the input level or move closer "
             "to the microphone." if peak_db < QUIET_DBFS else "")
    notes = notes_from_audio(y22, onset_threshold, frame_threshold, min_note_ms, should_stop=should_stop,
                             on_progress=on_progress)
    check_stop(should_stop)
    if melody:
        notes = melody_line(notes)
    out.notes = notes
    if not notes:
        out.message = (f"No notes found in '{label}': it holds no pitched sound the model can hear "
                       "(a drum loop, noise or speech?)." + quiet)
        return out
    covered = _covered_seconds(notes) / seconds
    if len(notes) <= STRAY_NOTES and covered < STRAY_COVER:  # a stray note or two in noise or drums
        out.message = (f"No clear notes in '{label}': only {len(notes)} short or weak note"
                       f"{'s' if len(notes) > 1 else ''} ({', '.join(_note_names(notes))}) in {seconds:.1f} s, "
                       f"covering {covered:.0%} of it: nothing to continue (a drum loop, noise or speech?)." + quiet)
        return out
    report(on_progress, 0, 0, "finding the beat")
    tempo, beats = track_beats(y22, SR, should_stop=should_stop)
    warnings = [note] if note else []
    if len(beats) < 2 or not 30 <= tempo <= 300:
        tempo, beats = 120.0, [notes[0].start]
        warnings.append("No steady beat found: the notes are placed on a 120 BPM grid from the first note.")
    starts = [n.start for n in notes]
    qpb = choose_meter(starts, beats, tempo)
    beats = align_beats(beats, starts, tempo, 3 if qpb == 1.5 else max(1, int(2 * qpb)))
    out.beats, out.beat_tempo, out.quarters_per_beat = beats, float(tempo), qpb
    out.tempo = float(tempo) * qpb
    out.events, out.origin_beats = notes_to_events(notes, beats, tempo, subdivision, qpb)
    warn = unpitched_warning(notes, seconds)
    if warn:
        warnings.insert(0, warn)
    if quiet:
        warnings.append(quiet.strip())
    out.message = " ".join(warnings)
    report(on_progress, 1, 1, f"{len(out.events)} events")
    return out


def unpitched_warning(notes: list, seconds: float) -> str:
    """A warning when the notes look like what the model finds in speech or noise: few,
    short and weak, or covering little of the audio."""
    if not notes or seconds <= 0:
        return ""
    dur = float(np.median([n.end - n.start for n in notes]))
    amp = float(np.median([n.amplitude for n in notes]))
    covered = _covered_seconds(notes) / seconds
    # measured (30 s each): speech 0.33-0.42 covered, median note 0.16 s, median strength 0.46-0.48;
    # a whale 0.28 / 0.18 s; a dog 0.09; a solo trumpet 0.71 / 0.21 s / 0.70; SoundFont folk tunes ~0.9
    if covered < 0.15 or (covered < 0.5 and (dur < 0.2 or amp < 0.5)):
        return (f"The {len(notes)} notes found are short or weak and cover {covered:.0%} of the audio: is this "
                "speech or unpitched sound? The primer may not sound like the original.")
    return ""


def _note_names(notes: list) -> list:
    from .composer.ingest import pitch_name

    return [pitch_name(int(n.pitch)).replace("-", "b") for n in notes]  # music21's E-2 is Eb2


def _covered_seconds(notes: list) -> float:
    spans = sorted((n.start, n.end) for n in notes)
    total, cur_a, cur_b = 0.0, None, None
    for a, b in spans:
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total
