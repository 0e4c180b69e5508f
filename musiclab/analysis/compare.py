"""A/B: two pieces of audio side by side (an original and what was made of it). No Qt.

An :class:`AbItem` is one side: mono samples, their rate, a name and what it is ("primer",
"continuation", "source song", "stitched song"). :func:`spectrograms` computes both sides'
mel spectrograms with one dB reference (the louder side's maximum), so a quieter side looks
quieter; :func:`switch_position` is where playback goes on when the listener switches sides.
:func:`composer_pair` and :func:`stitcher_pair` pick the two sides of a Composer result and
of a stitched song.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report

#: the spectrograms' analysis rate, FFT size, hop and bands, and the dB range shown
SPEC_SR = 22050
SPEC_N_FFT = 2048
SPEC_HOP = 512
SPEC_MELS = 96
FLOOR_DB = -80.0


@dataclass
class AbItem:
    name: str
    y: np.ndarray  # mono float32
    sr: int
    role: str = ""  # "primer", "continuation", "source song", "stitched song", ...

    @property
    def duration(self) -> float:
        return len(self.y) / self.sr if self.sr else 0.0

    @property
    def title(self) -> str:
        return f"{self.role}: {self.name}" if self.role else self.name


def mono(y: np.ndarray) -> np.ndarray:
    a = np.asarray(y, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=0 if a.shape[0] <= 8 else 1)
    return np.ascontiguousarray(np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0), dtype=np.float32)


def item(name: str, y: np.ndarray, sr: int, role: str = "") -> AbItem:
    """An :class:`AbItem` of mono (or multichannel) samples; empty audio is refused."""
    a = mono(y)
    if a.size == 0 or not sr:
        raise MusiclabError(f"'{name}' has no audio to compare.")
    return AbItem(name, a, int(sr), role)


@dataclass
class Spectrogram:
    image: np.ndarray  # (bands, frames) float32 row-major, dB re the pair's maximum, FLOOR_DB .. 0
    seconds_per_frame: float
    band_hz: np.ndarray  # centre frequency of each mel band
    duration: float

    @property
    def frames(self) -> int:
        return int(self.image.shape[1])


def spectrograms(items: list, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> list:
    """Mel spectrograms (:func:`~musiclab.analysis.features.compute_feature`, librosa) of every
    item at :data:`SPEC_SR`, in dB against the loudest band-frame of all of them."""
    import librosa

    from ..audio.io import resample
    from .features import compute_feature

    powers = []
    for k, it in enumerate(items):
        check_stop(should_stop)
        report(on_progress, k, len(items), f"spectrogram of {it.name}")
        y = resample(it.y, it.sr, SPEC_SR)
        if len(y) < SPEC_N_FFT:
            y = np.pad(y, (0, SPEC_N_FFT - len(y)))
        f = compute_feature(y, SPEC_SR, "mel", n_fft=SPEC_N_FFT, hop=SPEC_HOP, n_mels=SPEC_MELS, db=False)
        powers.append(f.data)
    ref = max((float(p.max()) for p in powers if p.size), default=0.0)
    ref = ref if ref > 0 else 1.0
    bands = librosa.mel_frequencies(n_mels=SPEC_MELS + 2, fmax=SPEC_SR / 2)[1:-1]
    out = []
    for it, p in zip(items, powers):
        # clipped: float32 powers at the floor can round to a hair below it (-80.00001)
        db = np.clip(10.0 * np.log10(np.maximum(p, ref * 10 ** (FLOOR_DB / 10)) / ref), FLOOR_DB, 0.0)
        out.append(Spectrogram(np.ascontiguousarray(db, dtype=np.float32), SPEC_HOP / SPEC_SR, bands,
                               it.duration))
    report(on_progress, len(items), len(items), "spectrograms")
    return out


def switch_position(seconds: float, to_duration: float, margin: float = 0.05) -> float:
    """Where the other side goes on from ``seconds``: the same time, inside its length
    (a shorter side continues from ``margin`` before its end)."""
    if to_duration <= 0:
        return 0.0
    return float(min(max(0.0, seconds), max(0.0, to_duration - margin)))


# --------------------------------------------------------------------------- the two sides
def continuation_start(result) -> float:
    """Seconds into a Composer result's render where the continuation starts (0: no primer)."""
    from ..composer.generate import continuation_notes

    if not result.primer:
        return 0.0
    t0 = continuation_notes(result.primer, result.events)[2]
    return float(t0) * 60.0 / float(result.tempo or 120.0)


def composer_pair(result, sr: int, transcription=None) -> tuple[AbItem, AbItem]:
    """A = the primer, B = the continuation of a rendered Composer result.

    A is the original recording up to where the continuation starts when the primer is that
    recording's transcription (``transcription.audio`` kept), else the rendered primer (the
    render's opening up to the continuation). B is the render from there on."""
    from ..transcribe import PLAYBACK_SR, beats_to_seconds

    if result.audio is None or len(result.audio) == 0:
        raise MusiclabError("The tune has no audio yet: wait for it to be rendered.")
    if not result.primer:
        raise MusiclabError("This tune was made from scratch: there is no primer to compare it with.")
    t0_s = continuation_start(result)
    cut = int(round(t0_s * sr))
    name = f"{result.model_name} seed {result.seed}"
    b = item(name, result.audio[cut:], sr, "continuation")
    tr = transcription
    if (tr is not None and getattr(tr, "audio", None) is not None and tr.events
            and list(result.primer) == list(tr.events[: len(result.primer)])):
        from ..composer.generate import continuation_notes

        t0_q = continuation_notes(result.primer, result.events)[2]
        cut_rec = beats_to_seconds(t0_q / tr.quarters_per_beat + tr.origin_beats, tr.beats, tr.beat_tempo)
        rec = tr.audio[: max(1, int(round(cut_rec * PLAYBACK_SR)))]
        a = item(tr.name.replace(" (transcribed)", ""), rec, PLAYBACK_SR, "original recording")
    else:
        a = item(name, result.audio[:max(1, cut)], sr, "primer (rendered)")
    return a, b


def stitcher_pair(built, song: Optional[int] = None) -> tuple[AbItem, AbItem]:
    """A = a source song of a stitched song (``song``, an index into its pool, when the song
    uses it; else the song it uses most), B = the stitched song."""
    pool, chain, r = built.pool, built.chain, built.rendered
    if pool is None or not chain.items:
        raise MusiclabError("Nothing is stitched yet.")
    used = [pool.chunks[i].song for i in chain.items]
    if song is None or song not in used:
        counts = np.bincount(used, minlength=len(pool.songs))
        song = int(np.argmax(counts))
    s = pool.songs[song]
    a = item(s.name, s.y, s.sr, "source song")
    b = item(f"{len(chain.items)} chunks from {len(set(used))} song(s)", r.y, r.sr, "stitched song")
    return a, b
