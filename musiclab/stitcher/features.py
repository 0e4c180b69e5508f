"""Frame features of chunk edges, computed in torch so that a whole pool is one batch.

Frames are taken without centring (``center=False``): frame ``i`` of a signal covers
samples ``[i*HOP, i*HOP + N_FFT)``. So the features of "the audio before sample t" use
only samples before t, and "the audio after t" only samples after t: nothing leaks
across a seam. Training cuts songs at random frame-aligned points ``t = k*HOP`` and the
pool's chunk edges are featurised from the chunk audio alone, with the same function.

Channels: N_MELS log-mel bands (dB / 20), 12 chroma bins (per-frame max-normalised),
and one onset-strength channel (half-wave rectified log-mel flux).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .pool import HOP, SR

N_FFT = 2048
N_MELS = 64
N_CHANNELS = N_MELS + 12 + 1
# "peak" channels: whitened high-resolution log spectrum (bins 1..PEAK_BINS of the 2048-point
# STFT, up to ~4 kHz, 10.8 Hz apart) minus its moving average over PEAK_SMOOTH bins, so
# only the partials (which notes sound, and how exactly they are tuned) remain
PEAK_FMAX = 4000.0
PEAK_BINS = int(PEAK_FMAX / SR * N_FFT)  # 371
PEAK_SMOOTH = 31

_FB: dict = {}


def _filters(sr: int = SR):
    import torch

    if sr not in _FB:
        import librosa

        mel = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS, fmin=30.0, fmax=sr / 2)
        chroma = librosa.filters.chroma(sr=sr, n_fft=N_FFT)
        _FB[sr] = (torch.from_numpy(mel.astype(np.float32)), torch.from_numpy(chroma.astype(np.float32)),
                   torch.hann_window(N_FFT))
    return _FB[sr]


def _peaks(power):
    """``(B, F, T)`` STFT power -> ``(B, PEAK_BINS, T)`` whitened log spectrum."""
    import torch

    lp = torch.log(power[:, 1:PEAK_BINS + 1] + 1e-6)
    # moving average over PEAK_SMOOTH bins (zero-padded ends) as a difference of cumulative sums
    h = PEAK_SMOOTH // 2
    c = torch.nn.functional.pad(lp, (0, 0, h + 1, h)).cumsum(dim=1)
    env = (c[:, PEAK_SMOOTH:] - c[:, :-PEAK_SMOOTH]) / PEAK_SMOOTH
    return lp - env


def frame_features(y, sr: int = SR, peaks: bool = False):
    """``y``: tensor/array ``(B, n)`` or ``(n,)`` -> tensor ``(B, N_CHANNELS, T)`` with
    ``T = 1 + (n - N_FFT) // HOP`` (0 if shorter). With ``peaks`` the PEAK_BINS
    whitened log-spectrum channels follow (``(B, N_CHANNELS + PEAK_BINS, T)``)."""
    import torch

    x = torch.as_tensor(np.asarray(y, dtype=np.float32) if not isinstance(y, torch.Tensor) else y)
    if x.ndim == 1:
        x = x[None]
    if x.shape[-1] < N_FFT:
        return torch.zeros(x.shape[0], N_CHANNELS + (PEAK_BINS if peaks else 0), 0)
    mel_fb, chroma_fb, win = _filters(sr)
    spec = torch.stft(x, N_FFT, HOP, window=win, center=False, return_complex=True)
    power = torch.view_as_real(spec).pow(2).sum(-1)  # (B, F, T)
    mel = torch.matmul(mel_fb, power)
    logmel = 10.0 * torch.log10(mel + 1e-10)
    logmel = (logmel.clamp(min=-100.0) + 20.0) / 20.0
    chroma = torch.matmul(chroma_fb, power)
    chroma = chroma / (chroma.amax(dim=1, keepdim=True) + 1e-8)
    flux = torch.relu(logmel[:, :, 1:] - logmel[:, :, :-1]).mean(dim=1, keepdim=True)
    flux = torch.cat([torch.zeros_like(flux[:, :, :1]), flux], dim=2) * 4.0
    parts = [logmel, chroma, flux] + ([_peaks(power)] if peaks else [])
    return torch.cat(parts, dim=1)


def context_samples(frames: int) -> int:
    """Samples needed for ``frames`` uncentred frames."""
    return (frames - 1) * HOP + N_FFT


def edge_segments(pool, frames: int, trim: int = 0, which: str = "end") -> np.ndarray:
    """``(N, context_samples(frames))`` audio of every chunk's end (or start), taken from
    the chunk alone (after trimming ``trim`` samples); zero-padded on the far side when
    the chunk is shorter than the context."""
    L = context_samples(frames)
    out = np.zeros((len(pool.chunks), L), dtype=np.float32)
    for i in range(len(pool.chunks)):
        a = pool.chunk_audio(i, trim)
        if which == "end":
            seg = a[-L:]
            out[i, L - len(seg):] = seg
        else:
            seg = a[:L]
            out[i, : len(seg)] = seg
    return out


def edge_features(pool, frames: int, trim: int = 0, batch: int = 512, peaks: bool = False):
    """Features of every chunk's end and start: two tensors ``(N, C, frames)``. Without ``peaks``
    (the boundary cosine's and the search's features: ~10 KB a chunk) they are read from / written
    to the disk cache song by song (:func:`.cache.cached_edge_features`)."""
    if not peaks:
        from .cache import cached_edge_features

        got = cached_edge_features(pool, frames, trim, batch, _edge_features)
        if got is not None:
            return got
    return _edge_features(pool, frames, trim, batch, peaks)


def _edge_features(pool, frames: int, trim: int = 0, batch: int = 512, peaks: bool = False):
    import torch

    ends, starts = [], []
    for which, dst in (("end", ends), ("start", starts)):
        seg = edge_segments(pool, frames, trim, which)
        for k in range(0, len(seg), batch):
            dst.append(frame_features(seg[k: k + batch], pool.sr, peaks=peaks))
    return torch.cat(ends), torch.cat(starts)


def song_frames(y: np.ndarray, sr: int = SR, block_frames: int = 4096, peaks: bool = False):
    """Frame features of a whole song (for training), computed in blocks to bound memory."""
    import torch

    n = len(y)
    T = 1 + (n - N_FFT) // HOP if n >= N_FFT else 0
    out = []
    for f0 in range(0, T, block_frames):
        f1 = min(T, f0 + block_frames)
        seg = y[f0 * HOP: (f1 - 1) * HOP + N_FFT]
        out.append(frame_features(seg, sr, peaks=peaks)[0])
    return torch.cat(out, dim=1) if out else torch.zeros(N_CHANNELS + (PEAK_BINS if peaks else 0), 0)


def mfcc_from_logmel(logmel, n_mfcc: int = 13):
    """DCT-II (orthonormal) over the mel axis: ``(B, N_MELS, T) -> (B, n_mfcc, T)``."""
    import torch

    n = logmel.shape[1]
    k = torch.arange(n_mfcc, dtype=torch.float32)[:, None]
    m = torch.arange(n, dtype=torch.float32)[None, :]
    dct = torch.cos(np.pi / n * (m + 0.5) * k) * np.sqrt(2.0 / n)
    dct[0] /= np.sqrt(2.0)
    return torch.einsum("km,bmt->bkt", dct, logmel)


def chunk_chroma(pool, idx: Optional[list[int]] = None) -> np.ndarray:
    """Mean chroma of chunks (for "stay in key"), from a cheap subsampled STFT."""
    idx = list(range(len(pool.chunks))) if idx is None else idx
    out = np.zeros((len(idx), 12), dtype=np.float32)
    for j, i in enumerate(idx):
        a = pool.chunk_audio(i)
        if len(a) < N_FFT:
            continue
        step = max(1, (len(a) - N_FFT) // (HOP * 16))
        f = frame_features(a[None], pool.sr)[0, N_MELS:N_MELS + 12, ::step]
        out[j] = f.mean(dim=1).numpy()
    return out
