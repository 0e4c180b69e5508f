"""Streaming STFT / mel / chroma, column by column as audio arrives. No Qt.

:class:`StreamingAnalyzer` keeps the newest samples in a :class:`RingBuffer` and,
whenever enough samples for one or more new hops have arrived, computes all the new
STFT frames in one vectorised numpy call (a strided view of the ring, window, ``rfft``).
The mel and chroma columns are matrix products of the same power columns with
librosa's filter banks, so the three views cost one FFT.

Frames follow librosa's ``center=False`` convention: frame ``k`` covers samples
``[k * hop, k * hop + n_fft)``. With the same parameters, the columns equal

* ``np.abs(librosa.stft(y, n_fft, hop, window=w, center=False)) ** 2``
* ``librosa.feature.melspectrogram(y=y, sr=sr, n_fft, hop, window=w, center=False, n_mels, fmin, fmax)``
* ``librosa.feature.chroma_stft(y=y, sr=sr, n_fft, hop, window=w, center=False, tuning=0.0)``

to float32 round-off (``tests/test_live_streaming.py`` states and checks the tolerance).
Chroma uses a fixed tuning (0 by default): librosa estimates tuning per call, which a
stream cannot do before it has heard the music.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..audio.sources import AudioSource, RingBuffer

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
WINDOWS = ("hann", "hamming", "blackman")
VIEWS = ("stft", "mel", "chroma")
N_FFT_RANGE = (256, 16384)


def hz_to_note_name(hz: float, cents: bool = False) -> str:
    """``440.0 -> 'A4'`` (equal temperament, A4 = 440 Hz); '' for 0 or negative."""
    if not hz or hz <= 0 or not math.isfinite(hz):
        return ""
    midi = 69.0 + 12.0 * math.log2(hz / 440.0)
    n = int(round(midi))
    name = f"{NOTE_NAMES[n % 12]}{n // 12 - 1}"
    if cents:
        c = int(round(100 * (midi - n)))
        name += f" {c:+d}¢"
    return name


@dataclass
class AnalysisParams:
    """STFT and filter-bank parameters (defaults follow the study material)."""

    sr: int = 22050
    n_fft: int = 2048
    hop: int = 512
    window: str = "hann"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: Optional[float] = None
    n_chroma: int = 12
    tuning: float = 0.0

    def validated(self) -> "AnalysisParams":
        p = AnalysisParams(**asdict(self))
        p.sr = int(p.sr)
        p.n_fft = int(p.n_fft)
        p.hop = int(p.hop)
        if p.sr <= 0:
            raise ValueError("sample rate must be positive")
        if not N_FFT_RANGE[0] <= p.n_fft <= N_FFT_RANGE[1]:
            raise ValueError(f"n_fft must be between {N_FFT_RANGE[0]} and {N_FFT_RANGE[1]}")
        if not 1 <= p.hop <= p.n_fft:
            raise ValueError("hop must be between 1 and n_fft")
        if p.window not in WINDOWS:
            raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
        p.n_mels = int(p.n_mels)
        if not 1 <= p.n_mels <= 512:
            raise ValueError("n_mels must be between 1 and 512")
        nyq = p.sr / 2
        p.fmax = nyq if p.fmax is None or p.fmax <= 0 else min(float(p.fmax), nyq)
        p.fmin = max(0.0, float(p.fmin))
        if p.fmin >= p.fmax:
            raise ValueError("fmin must be below fmax")
        return p

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FrameBatch:
    """New columns, time-major: ``power`` is ``(n, n_fft//2+1)``, ``mel`` ``(n, n_mels)``,
    ``chroma`` ``(n, 12)``. ``start`` is the index of the first frame in the stream."""

    start: int
    power: np.ndarray
    mel: Optional[np.ndarray] = None
    chroma: Optional[np.ndarray] = None
    end_sample: int = 0  # absolute sample index just past the last frame
    wave: Optional[np.ndarray] = None  # (n, 2): min and max of each frame's newest hop samples

    def __len__(self) -> int:
        return int(self.power.shape[0])


def filter_banks(params: AnalysisParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window, mel filter bank, chroma filter bank) as float32, from librosa."""
    import librosa

    p = params
    window = librosa.filters.get_window(p.window, p.n_fft, fftbins=True).astype(np.float32)
    mel = librosa.filters.mel(sr=p.sr, n_fft=p.n_fft, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax)
    chroma = librosa.filters.chroma(sr=p.sr, n_fft=p.n_fft, tuning=p.tuning, n_chroma=p.n_chroma)
    return window, np.ascontiguousarray(mel, dtype=np.float32), np.ascontiguousarray(chroma, dtype=np.float32)


def normalize_chroma(chroma: np.ndarray) -> np.ndarray:
    """librosa.util.normalize(norm=inf) along the pitch-class axis of ``(n, 12)`` columns."""
    peak = np.max(np.abs(chroma), axis=1, keepdims=True)
    small = peak < np.finfo(np.float32).tiny
    peak[small] = 1.0  # librosa leaves silent columns as they are
    return chroma / peak


class StreamingAnalyzer:
    """Feed samples with :meth:`push`, collect new columns with :meth:`process`."""

    def __init__(self, params: AnalysisParams, views=VIEWS, capacity_s: float = 4.0):
        self.params = params.validated()
        self.views = tuple(v for v in VIEWS if v in views)
        p = self.params
        self.window, self.mel_fb, self.chroma_fb = filter_banks(p)
        # the mel bank is ~98 % zeros: a sparse product is ~10x faster than BLAS here
        # (and uses no BLAS threads, which stall on a busy machine)
        import scipy.sparse

        self.mel_sparse = scipy.sparse.csr_matrix(self.mel_fb)
        self.chroma_fb_t = np.ascontiguousarray(self.chroma_fb.T)
        cap = max(int(capacity_s * p.sr), 4 * p.n_fft)
        self.ring = RingBuffer(cap, 1)
        self.next_frame = 0
        self.dropped_frames = 0
        self.dsp_seconds = 0.0  # time spent in process()
        # power -> dBFS: a full-scale sine reads 0 dB
        self.power_ref = float((self.window.sum() / 2.0) ** 2)

    @property
    def samples_in(self) -> int:
        return self.ring.written

    def frame_time(self, k) -> np.ndarray:
        """Centre time (s) of frame ``k`` in stream time."""
        p = self.params
        return (np.asarray(k) * p.hop + p.n_fft / 2) / p.sr

    def bin_frequencies(self) -> np.ndarray:
        p = self.params
        return np.arange(p.n_bins) * p.sr / p.n_fft

    def reset(self) -> None:
        self.ring.clear()
        self.next_frame = 0

    def push(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1, dtype=np.float32)
        self.ring.write(x)

    def pending_frames(self) -> int:
        p = self.params
        w = self.ring.written
        if w < p.n_fft:
            return 0
        return (w - p.n_fft) // p.hop + 1 - self.next_frame

    def process(self, max_frames: int = 4096) -> Optional[FrameBatch]:
        """Compute every frame whose samples have arrived (at most ``max_frames``)."""
        t0 = time.perf_counter()
        p = self.params
        w = self.ring.written
        oldest = w - self.ring.capacity
        if self.next_frame * p.hop < oldest:  # consumer fell behind: skip what was overwritten
            skip = -(-(oldest - self.next_frame * p.hop) // p.hop)
            self.next_frame += skip
            self.dropped_frames += skip
        n_new = min(self.pending_frames(), max_frames)
        if n_new <= 0:
            return None
        start = self.next_frame * p.hop
        stop = (self.next_frame + n_new - 1) * p.hop + p.n_fft
        seg = self.ring.read(start, stop)[:, 0]
        frames = np.lib.stride_tricks.sliding_window_view(seg, p.n_fft)[::p.hop]
        spec = np.fft.rfft(frames * self.window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32, copy=False)
        tail = frames[:, p.n_fft - p.hop:]
        batch = FrameBatch(self.next_frame, power, end_sample=stop,
                           wave=np.stack([tail.min(axis=1), tail.max(axis=1)], axis=1))
        if "mel" in self.views:
            batch.mel = (self.mel_sparse @ power.T).T
        if "chroma" in self.views:
            batch.chroma = normalize_chroma(power @ self.chroma_fb_t)
        self.next_frame += n_new
        self.dsp_seconds += time.perf_counter() - t0
        return batch

    def process_all(self, samples: np.ndarray, block: int = 512) -> FrameBatch:
        """Convenience: push ``samples`` block by block and gather every column."""
        parts = []
        for i in range(0, len(samples), block):
            self.push(samples[i:i + block])
            b = self.process()
            if b is not None:
                parts.append(b)
        return concat_batches(parts)


def concat_batches(parts: list) -> FrameBatch:
    if not parts:
        return FrameBatch(0, np.zeros((0, 0), np.float32))
    cat = lambda name: (None if getattr(parts[0], name) is None
                        else np.concatenate([getattr(b, name) for b in parts]))
    return FrameBatch(parts[0].start, cat("power"), cat("mel"), cat("chroma"), parts[-1].end_sample, cat("wave"))


def power_to_db(power: np.ndarray, ref: float = 1.0, amin: float = 1e-10, top_db: Optional[float] = None,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """``10 log10(max(power, amin) / ref)`` in float32 (librosa's formula, numpy only)."""
    x = np.maximum(power, amin * ref, out=out)
    x /= ref
    np.log10(x, out=x)
    x *= 10.0
    if top_db is not None:
        np.maximum(x, x.max() - top_db, out=x)
    return x


@dataclass
class EngineStats:
    samples: int = 0
    frames: int = 0
    dropped_blocks: int = 0
    overflows: int = 0
    dsp_seconds: float = 0.0
    level_db: list = field(default_factory=list)


class LiveEngine:
    """Drain a source into an analyzer: what the GUI's timer calls ~50 times a second.

    :meth:`poll` reads everything the source has written since the last call, computes
    the new columns and returns them (or None). A source error raises
    :class:`~musiclab.errors.NoAudioDeviceError` from :meth:`poll`; the caller stops.
    """

    def __init__(self, source: AudioSource, params: AnalysisParams, views=VIEWS):
        p = params.validated()
        p.sr = source.sr
        self.source = source
        self.analyzer = StreamingAnalyzer(p, views)
        self.samples = 0

    @property
    def params(self) -> AnalysisParams:
        return self.analyzer.params

    def poll(self) -> Optional[FrameBatch]:
        src = self.source
        t0 = time.perf_counter()
        if src.discontinuity:
            self.analyzer.reset()
            src.discontinuity = False
        x = src.read()
        self.analyzer.dsp_seconds += time.perf_counter() - t0
        if x.size:
            self.analyzer.push(x)
            self.samples += x.size
        parts = []
        while True:
            b = self.analyzer.process()
            if b is None:
                break
            parts.append(b)
        return concat_batches(parts) if parts else None

    def stats(self) -> EngineStats:
        src = self.source
        return EngineStats(self.samples, self.analyzer.next_frame, src.dropped_blocks, src.overflows,
                           self.analyzer.dsp_seconds, [float(v) for v in src.level_db])


class DisplayMapper:
    """Maps STFT bins to a fixed number of image rows on a linear or log frequency axis.

    Each row takes the maximum of the bins that fall in it (``np.maximum.reduceat``),
    so narrow peaks survive the reduction; rows finer than the bin spacing repeat the
    nearest bin.
    """

    def __init__(self, sr: int, n_fft: int, rows: int = 1024, scale: str = "linear",
                 fmin: float = 0.0, fmax: Optional[float] = None):
        self.sr, self.n_fft = int(sr), int(n_fft)
        n_bins = self.n_fft // 2 + 1
        fmax = self.sr / 2 if not fmax else min(float(fmax), self.sr / 2)
        self.scale = scale
        if scale == "log":
            lo = max(float(fmin), 20.0, self.sr / self.n_fft)
            edges = np.geomspace(lo, fmax, rows + 1)
        else:
            edges = np.linspace(float(fmin), fmax, rows + 1)
        self.edges_hz = edges
        idx = np.floor(edges[:-1] * self.n_fft / self.sr + 0.5).astype(np.int64)
        self.index = np.clip(idx, 0, n_bins - 1)
        # reduceat: row i = max(bins[index[i]:index[i+1]]), or bins[index[i]] when the
        # next index is not larger; the last row stops at the fmax bin
        self.stop = int(min(n_bins, np.floor(fmax * self.n_fft / self.sr + 0.5) + 1))
        self.stop = max(self.stop, int(self.index[-1]) + 1)
        self.rows = int(rows)

    def map(self, columns: np.ndarray) -> np.ndarray:
        """``(n, n_bins) -> (n, rows)``."""
        return np.maximum.reduceat(columns[:, :self.stop], self.index, axis=1)

    def row_to_hz(self, row: float) -> float:
        r = min(max(row, 0.0), self.rows)
        i = int(min(r, self.rows - 1))
        frac = r - i
        a, b = self.edges_hz[i], self.edges_hz[i + 1]
        if self.scale == "log":
            return float(a * (b / a) ** frac)
        return float(a + (b - a) * frac)
