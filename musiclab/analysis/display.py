"""Image data for the views: scrolling live images and whole-file images. No Qt.

The GUI only copies these arrays into pyqtgraph ``ImageItem``s; everything numeric
(dB conversion, frequency-axis mapping, the scrolling history) happens here so it is
testable and benchmarkable without a display.

Images are float32, row-major ``(rows, columns)``: row 0 is the lowest frequency (or
mel band, or pitch class C), column 0 the oldest frame.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .streaming import AnalysisParams, DisplayMapper, FrameBatch, power_to_db

VIEW_KEYS = ("stft", "mel", "chroma", "wave")


def mel_band_frequencies(params: AnalysisParams) -> np.ndarray:
    """Centre frequency (Hz) of each mel band, as librosa's filter bank places them."""
    import librosa

    p = params.validated()
    return librosa.mel_frequencies(n_mels=p.n_mels + 2, fmin=p.fmin, fmax=p.fmax)[1:-1]


class ScrollingViews:
    """The newest ``columns`` frames of every view, as scrolling images.

    Each history is stored twice side by side (``(rows, 2 * columns)``), written at
    ``c`` and ``c + columns``, so the time-ordered image is always the single slice
    ``[:, c : c + columns]``: no ``np.roll`` per frame (the image-side version of
    Friture's ring buffer).
    """

    def __init__(self, params: AnalysisParams, seconds: float = 10.0, rows: int = 1024,
                 freq_scale: str = "linear", power_ref: float = 1.0):
        self.params = p = params.validated()
        self.columns = max(8, int(round(seconds * p.sr / p.hop)))
        self.seconds = self.columns * p.hop / p.sr
        self.mapper = DisplayMapper(p.sr, p.n_fft, rows, freq_scale, p.fmin if freq_scale == "linear" else max(p.fmin, 20.0), p.fmax)
        self.power_ref = float(power_ref)
        shapes = {"stft": self.mapper.rows, "mel": p.n_mels, "chroma": 12, "wave": 2}
        self._buf = {k: np.full((n, 2 * self.columns), -120.0 if k in ("stft", "mel") else 0.0, np.float32)
                     for k, n in shapes.items()}
        self._pos = 0  # next column to write (0 .. columns-1)
        self.frames = 0
        self.last_end_sample = 0

    def clear(self) -> None:
        for k, b in self._buf.items():
            b[:] = -120.0 if k in ("stft", "mel") else 0.0
        self._pos = 0
        self.frames = 0

    def _write(self, key: str, cols: np.ndarray) -> None:
        """``cols`` is ``(n, rows)`` time-major; only the newest ``columns`` are kept."""
        buf = self._buf[key]
        W = self.columns
        n_all = cols.shape[0]
        if n_all > W:
            cols = cols[-W:]
        n = cols.shape[0]
        pos = (self._pos + n_all - n) % W  # where the kept block starts
        first = min(n, W - pos)
        block = cols.T
        buf[:, pos:pos + first] = block[:, :first]
        buf[:, pos + W:pos + W + first] = block[:, :first]
        rest = n - first
        if rest:
            buf[:, :rest] = block[:, first:]
            buf[:, W:W + rest] = block[:, first:]

    def append(self, batch: Optional[FrameBatch]) -> int:
        """Add the new columns of a :class:`FrameBatch` (dB for stft/mel, dBFS scale)."""
        if batch is None or len(batch) == 0:
            return 0
        n = len(batch)
        rows = self.mapper.map(batch.power)
        self._write("stft", power_to_db(rows, ref=self.power_ref, out=rows))
        if batch.mel is not None:
            self._write("mel", power_to_db(batch.mel, ref=self.power_ref))
        if batch.chroma is not None:
            self._write("chroma", batch.chroma)
        if batch.wave is not None:
            self._write("wave", batch.wave)
        self._pos = (self._pos + n) % self.columns
        self.frames += n
        self.last_end_sample = batch.end_sample
        return n

    def image(self, key: str) -> np.ndarray:
        """Time-ordered ``(rows, columns)`` view (oldest column first). Not a copy."""
        return self._buf[key][:, self._pos:self._pos + self.columns]

    def value_at(self, key: str, column: int, row: int) -> float:
        img = self.image(key)
        column = int(np.clip(column, 0, img.shape[1] - 1))
        row = int(np.clip(row, 0, img.shape[0] - 1))
        return float(img[row, column])


def file_images(power: np.ndarray, mel: np.ndarray, chroma: np.ndarray, params: AnalysisParams,
                power_ref: float, rows: int = 1024, freq_scale: str = "linear") -> dict:
    """Whole-file images ``(rows, frames)`` in dB (stft, mel) and 0..1 (chroma)."""
    p = params
    mapper = DisplayMapper(p.sr, p.n_fft, rows, freq_scale,
                           p.fmin if freq_scale == "linear" else max(p.fmin, 20.0), p.fmax)
    out = {"mapper": mapper}
    if len(power):
        m = mapper.map(power)
        out["stft"] = np.ascontiguousarray(power_to_db(m, ref=power_ref, out=m).T)
        out["mel"] = np.ascontiguousarray(power_to_db(mel, ref=power_ref).T)
    else:
        out["stft"] = np.full((mapper.rows, 1), -120, np.float32)
        out["mel"] = np.full((p.n_mels, 1), -120, np.float32)
    out["chroma"] = np.ascontiguousarray(chroma.T) if len(chroma) else np.zeros((12, 1), np.float32)
    return out


def waveform_envelope(y: np.ndarray, points: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times in samples, min, max) of ``y`` reduced to about ``points`` columns."""
    n = len(y)
    if n == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    step = max(1, n // points)
    m = n // step
    seg = y[: m * step].reshape(m, step) if m else y[None, :]
    return np.arange(seg.shape[0]) * step, seg.min(axis=1), seg.max(axis=1)
