"""Offline (whole-file) features: STFT, mel, chroma, beats, beat-synchronous chroma. No Qt.

Two entry points:

* :func:`compute_feature` — librosa's own offline functions with librosa's defaults
  (``center=True``), as the study material uses them; the ``analyze`` CLI prints and
  saves these.
* :func:`analyze_signal` / :func:`analyze_file` — the whole-file view of the Live tab:
  the same streaming code as the live view (so the two always agree), computed in
  chunks with ``should_stop`` / ``on_progress``, plus librosa's beat tracker and a
  beat-synchronised chromagram (median per beat, seed 004).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report
from .streaming import NOTE_NAMES, AnalysisParams, StreamingAnalyzer, concat_batches

FEATURES = ("stft", "mel", "chroma", "beat-chroma")


@dataclass
class Feature:
    """A feature matrix ``data`` of shape ``(bins, frames)`` (librosa's layout)."""

    name: str
    data: np.ndarray
    sr: int
    hop: int
    labels: list
    times: np.ndarray  # seconds, one per frame (beat start times for beat-chroma)
    unit: str = ""
    tempo: Optional[float] = None
    beat_times: Optional[np.ndarray] = None

    @property
    def frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def bins(self) -> int:
        return int(self.data.shape[0])

    def summary(self) -> dict:
        out = {"sr": int(self.sr), "frames": self.frames, "hop": int(self.hop), "bins": self.bins,
               "mean": [round(float(v), 6) for v in np.mean(self.data, axis=1)] if self.frames else [],
               "labels": list(self.labels)}
        return out


def beat_track(y: np.ndarray, sr: int, hop: int = 256) -> tuple[float, np.ndarray]:
    """librosa's beat tracker: (tempo in BPM, beat times in seconds).

    A hop of 256 samples (not the display hop) keeps the tempo grid fine enough: at
    22.05 kHz and hop 512 the nearest tempi librosa can return around 120 BPM are
    117.5 and 123.0.
    """
    import librosa

    if len(y) < 2 * hop:
        return 0.0, np.zeros(0)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=hop, units="time")
    return float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)


def compute_feature(y: np.ndarray, sr: int, feature: str, n_fft: int = 2048, hop: int = 512,
                    n_mels: int = 128, db: bool = True) -> Feature:
    """One feature with librosa's offline functions (``center=True``).

    ``stft``: magnitude in dB re the maximum (``amplitude_to_db(ref=np.max)``), labels
    are bin frequencies in Hz. ``mel``: ``power_to_db(ref=np.max)`` of the mel power
    spectrogram, labels are band centre frequencies in Hz. ``chroma``:
    ``chroma_stft`` (0..1, librosa's tuning estimate), labels C … B. ``beat-chroma``: the
    chroma's median over each beat interval (``librosa.util.sync``); frames are beats.
    With ``db=False`` stft/mel are linear (magnitude / power).
    """
    import librosa

    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {', '.join(FEATURES)}")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if feature == "stft":
        S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
        data = librosa.amplitude_to_db(S, ref=np.max) if db else S
        labels = [round(float(f), 3) for f in librosa.fft_frequencies(sr=sr, n_fft=n_fft)]
        unit = "dB" if db else "magnitude"
    elif feature == "mel":
        M = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
        data = librosa.power_to_db(M, ref=np.max) if db else M
        labels = [round(float(f), 3) for f in librosa.mel_frequencies(n_mels=n_mels + 2, fmax=sr / 2)[1:-1]]
        unit = "dB" if db else "power"
    else:
        data = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=n_fft, hop_length=hop)
        labels = list(NOTE_NAMES)
        unit = "chroma"
    times = librosa.frames_to_time(np.arange(data.shape[1]), sr=sr, hop_length=hop)
    feat = Feature(feature, np.asarray(data, dtype=np.float32), sr, hop, labels, times, unit)
    if feature == "beat-chroma":
        tempo, beat_times = beat_track(y, sr)
        frames = librosa.time_to_frames(beat_times, sr=sr, hop_length=hop)
        sync = librosa.util.sync(data, frames, aggregate=np.median)
        bounds = librosa.util.fix_frames(frames, x_min=0, x_max=data.shape[1])
        feat = Feature(feature, np.asarray(sync, dtype=np.float32), sr, hop, labels,
                       librosa.frames_to_time(bounds[:-1], sr=sr, hop_length=hop), "chroma",
                       tempo, beat_times)
    return feat


def save_feature(feat: Feature, path) -> Path:
    """``.npy``: the ``(bins, frames)`` matrix. ``.csv``: one row per frame,
    ``time_s`` then one column per bin label. Written atomically."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in (".npy", ".csv"):
        raise ValueError(f"Cannot save '{p.name}': use .npy or .csv")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.partial{ext}")
    try:
        if ext == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, feat.data)
        else:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["time_s"] + [str(lab) for lab in feat.labels])
                for t, row in zip(feat.times, feat.data.T):
                    w.writerow([f"{t:.4f}"] + [f"{v:.6g}" for v in row])
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


@dataclass
class WholeFileAnalysis:
    """Everything the whole-file view shows. Matrices are time-major ``(frames, bins)``."""

    name: str
    y: np.ndarray
    sr: int
    params: AnalysisParams
    power: np.ndarray
    mel: np.ndarray
    chroma: np.ndarray
    frame_times: np.ndarray
    tempo: float
    beat_times: np.ndarray
    beat_chroma: np.ndarray  # (beats+1, 12) time-major: median chroma per beat interval
    beat_bounds: np.ndarray  # seconds, len = beat_chroma rows + 1
    play_y: Optional[np.ndarray] = None  # the file at its native rate (for the transport)
    play_sr: int = 0

    @property
    def duration(self) -> float:
        return len(self.y) / self.sr if self.sr else 0.0

    def power_ref(self) -> float:
        import librosa

        w = librosa.filters.get_window(self.params.window, self.params.n_fft, fftbins=True)
        return float((w.sum() / 2.0) ** 2)


def analyze_signal(y: np.ndarray, sr: int, params: Optional[AnalysisParams] = None, name: str = "",
                   beats: bool = True, should_stop: ShouldStop = None,
                   on_progress: OnProgress = None, max_sr: Optional[int] = None) -> WholeFileAnalysis:
    """The whole-file view: streaming columns over the whole signal, beats, beat chroma.

    With ``max_sr``, signals at a higher rate are first resampled to ``max_sr`` (the
    original stays in ``play_y`` / ``play_sr``).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    y_native, native = y, int(sr)
    if max_sr and sr > max_sr:
        from ..audio.io import resample

        check_stop(should_stop)
        y, sr = resample(y, sr, max_sr), int(max_sr)
    p = AnalysisParams(**(params.to_dict() if params else {}))
    p.sr = int(sr)
    p = p.validated()
    # centre frames like librosa's offline view: pad n_fft/2 on both sides
    pad = p.n_fft // 2
    yp = np.pad(y, (pad, pad))
    an = StreamingAnalyzer(p, capacity_s=max(4.0, 8 * p.n_fft / p.sr))
    chunk = max(p.hop * 64, int(2 * p.sr) // p.hop * p.hop)
    parts = []
    total = len(yp)
    for i in range(0, total, chunk):
        check_stop(should_stop)
        an.push(yp[i:i + chunk])
        while True:
            b = an.process(max_frames=2048)
            if b is None:
                break
            parts.append(b)
        report(on_progress, min(i + chunk, total), total * (1.25 if beats else 1.0), "spectrogram")
    batch = concat_batches(parts)
    if len(batch) == 0:
        n_bins = p.n_bins
        batch.power = np.zeros((0, n_bins), np.float32)
        batch.mel = np.zeros((0, p.n_mels), np.float32)
        batch.chroma = np.zeros((0, 12), np.float32)
    frame_times = np.arange(len(batch)) * p.hop / p.sr
    tempo, beat_times = 0.0, np.zeros(0)
    beat_chroma = np.zeros((0, 12), np.float32)
    bounds_t = np.zeros(0)
    if beats and len(batch):
        check_stop(should_stop)
        report(on_progress, total, total * 1.25, "beats")
        tempo, beat_times = beat_track(y, p.sr)
        check_stop(should_stop)
        bf = np.round(beat_times * p.sr / p.hop).astype(int)
        bounds = np.unique(np.concatenate([[0], bf[(bf > 0) & (bf < len(batch))], [len(batch)]]))
        beat_chroma = np.stack([np.median(batch.chroma[a:b], axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
        bounds_t = bounds * p.hop / p.sr
    report(on_progress, 1, 1, "done")
    return WholeFileAnalysis(name, y, p.sr, p, batch.power, batch.mel, batch.chroma, frame_times,
                             tempo, beat_times, beat_chroma.astype(np.float32), bounds_t, y_native, native)


def analyze_file(path, params: Optional[AnalysisParams] = None, sr: Optional[int] = 22050,
                 beats: bool = True, should_stop: ShouldStop = None,
                 on_progress: OnProgress = None) -> WholeFileAnalysis:
    """Load ``path`` (mono, resampled to ``sr``; native rate if None) and analyse it."""
    from ..audio.io import load_audio, resample

    check_stop(should_stop)
    y_native, native = load_audio(path, sr=None, mono=True)
    if len(y_native) == 0:
        from ..errors import AudioFileError

        raise AudioFileError(f"'{Path(path).name}' contains no audio samples.")
    check_stop(should_stop)
    rate = int(sr or native)
    y = resample(y_native, native, rate) if rate != native else y_native
    out = analyze_signal(y, rate, params, Path(path).name, beats, should_stop, on_progress)
    out.play_y, out.play_sr = y_native, int(native)
    return out
