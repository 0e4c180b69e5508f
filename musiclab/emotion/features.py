"""Audio features for emotion recognition. No Qt; numpy at import, librosa lazily.

Everything is computed from one STFT (n_fft 2048, hop 512 at 22050 Hz):

* ``logmel``: 128-band log-mel spectrogram in dB (ref 1.0, so loudness is kept), the
  input of the CNN / LSTM / CRNN models;
* ``ff``: 88 frame-level descriptors (20 MFCC, 20 delta-MFCC, 12 chroma, 6 tonnetz,
  7 spectral contrast, centroid, bandwidth, roll-off, flatness, zero-crossing rate,
  RMS, onset strength, 16 coarse mel-band energies).

A *window* (10 s, hop 5 s) is the unit of prediction. :func:`window_summary` turns the
frames of one window into a fixed vector (mean and standard deviation of every frame
descriptor plus tempo, onset rate, dynamic range, key/mode clarity and pulse clarity).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SR = 22050
N_FFT = 2048
HOP = 512
N_MELS = 128
WIN_S = 10.0
HOP_S = 5.0
N_FRAME_FEATS = 88
FRAME_FEATURE_NAMES = (
    [f"mfcc{i}" for i in range(20)] + [f"dmfcc{i}" for i in range(20)]
    + [f"chroma{i}" for i in range(12)] + [f"tonnetz{i}" for i in range(6)]
    + [f"contrast{i}" for i in range(7)]
    + ["centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms", "onset"]
    + [f"band{i}" for i in range(16)]
)
EXTRA_NAMES = ["tempo", "onset_rate", "dyn_range", "major_corr", "minor_corr", "mode_diff", "pulse_clarity"]
SUMMARY_NAMES = [f"{n}_mean" for n in FRAME_FEATURE_NAMES] + [f"{n}_std" for n in FRAME_FEATURE_NAMES] + EXTRA_NAMES
N_SUMMARY = len(SUMMARY_NAMES)
MIN_SAMPLES = SR // 2  # shorter audio is padded (repeated) to half a second

# Krumhansl-Kessler key profiles
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def frames_per_second(sr: int = SR) -> float:
    return sr / HOP


def win_frames(sr: int = SR) -> int:
    return int(round(WIN_S * sr / HOP))


def hop_frames(sr: int = SR) -> int:
    return int(round(HOP_S * sr / HOP))


@lru_cache(maxsize=4)
def _mel_basis(sr: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


def frame_features(y: np.ndarray, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """``(logmel (128, T), ff (88, T))`` float32 for mono audio at ``sr`` (22050 Hz)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # silence: "estimate tuning from empty frequency set"
        return _frame_features(y, sr)


def _frame_features(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        y = y.mean(axis=0)
    y = np.nan_to_num(y)
    if len(y) < MIN_SAMPLES:
        y = np.tile(y, int(np.ceil(MIN_SAMPLES / max(1, len(y))))) if len(y) else np.zeros(MIN_SAMPLES, np.float32)
        y = y[:MIN_SAMPLES]
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    P = S ** 2
    mel = _mel_basis(sr) @ P  # = librosa.feature.melspectrogram(S=P, sr=sr, n_mels=128), via BLAS
    logmel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)
    logmel = np.maximum(logmel, -100.0)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=20)
    width = 9 if mfcc.shape[1] >= 9 else (mfcc.shape[1] // 2) * 2 - 1
    dmfcc = librosa.feature.delta(mfcc, width=max(3, width)) if mfcc.shape[1] >= 3 else np.zeros_like(mfcc)
    chroma = librosa.feature.chroma_stft(S=P, sr=sr)
    tonnetz = librosa.feature.tonnetz(chroma=chroma, sr=sr)
    contrast = librosa.feature.spectral_contrast(S=S, sr=sr)
    centroid = librosa.feature.spectral_centroid(S=S, sr=sr) / 1000.0
    bandwidth = librosa.feature.spectral_bandwidth(S=S, sr=sr) / 1000.0
    rolloff = librosa.feature.spectral_rolloff(S=S, sr=sr) / 1000.0
    flatness = librosa.feature.spectral_flatness(S=S)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)
    rms = librosa.feature.rms(S=S, frame_length=N_FFT)
    rms_db = 20 * np.log10(np.maximum(rms, 1e-5))
    onset = librosa.onset.onset_strength(S=logmel, sr=sr)[None, :]
    bands = logmel.reshape(16, N_MELS // 16, -1).mean(axis=1)
    T = logmel.shape[1]
    parts = [mfcc, dmfcc, chroma, tonnetz, contrast, centroid, bandwidth, rolloff, flatness, zcr, rms_db, onset, bands]
    ff = np.concatenate([p[:, :T] for p in parts], axis=0).astype(np.float32)
    return logmel, np.nan_to_num(ff)


def n_frames(n_samples: int) -> int:
    """Frames :func:`frame_features` makes of ``n_samples`` samples (centred STFT frames;
    shorter audio is first padded to :data:`MIN_SAMPLES`)."""
    return 1 + max(int(n_samples), MIN_SAMPLES) // HOP


def window_summary(ff: np.ndarray, start: int = 0, stop: int | None = None, sr: int = SR) -> np.ndarray:
    """Fixed-length description (:data:`N_SUMMARY` values) of frames ``start:stop``."""
    import librosa

    seg = ff[:, start:stop]
    if seg.shape[1] < 2:
        seg = np.repeat(ff[:, max(0, start - 1):max(start + 1, 2)], 2, axis=1)
    mean = seg.mean(axis=1)
    std = seg.std(axis=1)
    idx = {n: i for i, n in enumerate(FRAME_FEATURE_NAMES)}
    oenv = seg[idx["onset"]].astype(np.float64)
    dur = seg.shape[1] * HOP / sr
    try:
        tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=oenv, sr=sr, hop_length=HOP))[0])
    except Exception:
        tempo = 0.0
    try:
        n_on = len(librosa.onset.onset_detect(onset_envelope=oenv, sr=sr, hop_length=HOP))
    except Exception:
        n_on = 0
    rms_db = seg[idx["rms"]]
    dyn = float(np.percentile(rms_db, 95) - np.percentile(rms_db, 10))
    chroma_mean = mean[idx["chroma0"]:idx["chroma0"] + 12]
    cm = chroma_mean - chroma_mean.mean()
    def corr(profile):
        vals = []
        for k in range(12):
            p = np.roll(profile, k)
            p = p - p.mean()
            den = np.linalg.norm(cm) * np.linalg.norm(p)
            vals.append(float(cm @ p / den) if den > 0 else 0.0)
        return max(vals)
    maj, mnr = corr(_MAJOR), corr(_MINOR)
    o = oenv - oenv.mean()
    ac = np.correlate(o, o, mode="full")[len(o) - 1:]
    lo, hi = int(0.25 * sr / HOP), int(2.0 * sr / HOP)
    pulse = float(ac[lo:hi].max() / ac[0]) if ac[0] > 0 and len(ac) > lo + 1 else 0.0
    extra = np.array([tempo / 100.0, n_on / max(dur, 1e-3), dyn / 10.0, maj, mnr, maj - mnr, pulse], np.float32)
    return np.nan_to_num(np.concatenate([mean, std, extra]).astype(np.float32))


def window_starts(n_frames: int, sr: int = SR) -> list[int]:
    """Start frames of the 10 s / 5 s-hop windows that cover ``n_frames`` frames.

    A clip shorter than one window gets one window (the whole clip); the last window is
    aligned to the end so that the tail of a track is never left out.
    """
    w, h = win_frames(sr), hop_frames(sr)
    if n_frames <= w:
        return [0]
    starts = list(range(0, n_frames - w + 1, h))
    if starts[-1] + w < n_frames - h // 2:
        starts.append(n_frames - w)
    return starts


def clip_windows(ff: np.ndarray, sr: int = SR) -> tuple[list[int], np.ndarray]:
    """Window starts and their summaries ``(n_windows, N_SUMMARY)`` for a clip's frames."""
    starts = window_starts(ff.shape[1], sr)
    w = win_frames(sr)
    return starts, np.stack([window_summary(ff, s, s + w, sr) for s in starts])
