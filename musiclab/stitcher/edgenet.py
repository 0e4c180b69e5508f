"""The learned default's network: a multi-scale metric between chunk edges (torch).

Imported only when a learned model is built or loaded (:func:`make_edge_net`), so the app
starts without torch; :mod:`.scorers` imports this module lazily.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .features import N_CHANNELS, N_MELS, PEAK_BINS

WINDOWS = ((0, 4), (0, 8), (0, 16))  # frames next to the seam (0 = nearest): 0.14, 0.23, 0.42 s


class EdgeNet(nn.Module):
    """A learned multi-scale metric between A's end and B's start.

    For each window of frames next to the seam (position 0 = the frame at the seam;
    the end context is reversed in time) the standardised log-mel (64 bands) and the
    centred chroma (12) are averaged and projected by a learned matrix ``I + D_w``
    (shared by both sides, so "sounds the same across the seam" is built in; the
    asymmetric ``E_w`` lets the end side predict how music moves on). The score is a
    learned, positively weighted sum of the cosines of the projected windows. Every
    term is a dot product, so each chunk edge is encoded once and a whole pool is
    scored with one matrix product. Few parameters (the data are ~16 songs): the
    richer convolutional encoders we tried memorised the training songs and ranked
    held-out songs worse than this (see the model card). ``peaks=P`` (v4, on in the
    shipped model) adds the peak term: the whitened log spectrum (bins up to 4 kHz
    minus their moving average over 31 bins, see :func:`.features._peaks`) with a
    learned per-bin gain, averaged over the nearest P//3 and P frames, centred and
    compared by cosine; ``peak_share`` fixes the peak terms' share of the weights
    (the free training under-weights them for unseen songs). ``rhythm=R`` adds an
    optional term (off in the shipped model: no gain measured): a learned linear
    map from A's onset envelope over R frames to B's; ``xpred=1`` a cross-window
    trend-extrapolation term (also off: no gain).
    """

    def __init__(self, frames: int = 16, width: int = 0, dim: int = 0, rhythm: int = 0, xpred: int = 0,
                 peaks: int = 0, peak_share: float = 0.0):
        super().__init__()
        self.frames, self.width, self.dim, self.rhythm_frames = frames, width, dim, min(rhythm, frames)
        self.xpred_on = int(bool(xpred))
        self.peaks = min(int(peaks), frames)
        self.peak_windows = ((0, max(1, self.peaks // 3)), (0, self.peaks)) if self.peaks else ()
        # fixed share of the peak terms in the score (0: learned freely with the others)
        self.peak_share = float(peak_share) if self.peaks else 0.0
        nb = N_MELS + 12
        nw = len(WINDOWS) + (1 if self.rhythm_frames else 0) + self.xpred_on + len(self.peak_windows)
        self.register_buffer("mean", torch.zeros(N_CHANNELS, 1))
        self.register_buffer("std", torch.ones(N_CHANNELS, 1))
        self.delta = nn.Parameter(torch.zeros(len(WINDOWS), nb, nb))
        self.pred = nn.Parameter(torch.zeros(len(WINDOWS), nb, nb))
        if self.xpred_on:
            # all windows of A's end -> B's nearest window (trend extrapolation)
            xp = torch.zeros(len(WINDOWS), nb, nb)
            xp[0] = torch.eye(nb)
            self.xpred = nn.Parameter(xp)
        if self.rhythm_frames:
            # onset envelope of A's end (reversed) -> expected onset envelope of B's start
            g = torch.Generator().manual_seed(0)
            r = self.rhythm_frames
            self.rhythm = nn.Parameter(torch.randn(r, r, generator=g) * 0.05)
        init = torch.ones(nw)
        init[0] = 0.0
        if self.peaks:
            # per-bin gain of the whitened spectrum (learned, starts flat)
            self.peak_gain = nn.Parameter(torch.zeros(PEAK_BINS))
            p0 = len(WINDOWS) + self.xpred_on
            init[p0: p0 + len(self.peak_windows)] = 1.5
        self.log_w = nn.Parameter(init)
        self.chroma_gain = nn.Parameter(torch.tensor(-1.0))
        self.logit_scale = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))

    def _windows(self, x):  # -> (B, nw, nb)
        z = (x[:, :N_MELS] - self.mean[:N_MELS]) / self.std[:N_MELS]
        c = x[:, N_MELS:N_MELS + 12]
        c = (c - c.mean(dim=1, keepdim=True)) * self.chroma_gain.exp()
        f = torch.cat([z, c], dim=1)
        T = f.shape[2]
        win = [(min(a, T - 1), max(min(a, T - 1) + 1, min(b, T))) for a, b in WINDOWS]
        return torch.stack([f[:, :, a:b].mean(dim=2) for a, b in win], dim=1)

    def _embed(self, x, end: bool):
        v = self._windows(x)
        eye = torch.eye(v.shape[2])
        m = eye + self.delta + (self.pred if end else 0.0)
        p = torch.einsum("bwi,wji->bwj", v, m)
        w = torch.softmax(self.log_w, 0)
        if self.peak_share > 0:
            p0, p1 = len(WINDOWS) + self.xpred_on, len(WINDOWS) + self.xpred_on + len(self.peak_windows)
            pk = w[p0:p1] / w[p0:p1].sum() * self.peak_share
            rest = torch.cat([w[:p0], w[p1:]])
            rest = rest / rest.sum() * (1.0 - self.peak_share)
            w = torch.cat([rest[:p0], pk, rest[p0:]])
        w = w.sqrt()
        p = nn.functional.normalize(p, dim=2) * w[None, : len(WINDOWS), None]
        out = p.flatten(1)
        if self.xpred_on:
            q = torch.einsum("bwi,wji->bj", v, self.xpred) if end else v[:, 0]
            out = torch.cat([out, nn.functional.normalize(q, dim=1) * w[len(WINDOWS)]], dim=1)
        if self.peaks:
            h = x[:, N_CHANNELS: N_CHANNELS + PEAK_BINS] * self.peak_gain.exp()[None, :, None]
            p0 = len(WINDOWS) + self.xpred_on
            for j, (a, b) in enumerate(self.peak_windows):
                v = h[:, :, a:b].mean(dim=2)
                v = v - v.mean(dim=1, keepdim=True)
                out = torch.cat([out, nn.functional.normalize(v, dim=1) * w[p0 + j]], dim=1)
        if self.rhythm_frames:
            o = x[:, N_MELS + 12, : self.rhythm_frames]
            o = (o - o.mean(dim=1, keepdim=True)) / (o.std(dim=1, keepdim=True) + 1e-3)
            if end:
                o = o @ self.rhythm.T
            out = torch.cat([out, nn.functional.normalize(o, dim=1) * w[-1]], dim=1)
        return out

    def embed_end(self, x):
        return self._embed(torch.flip(x, dims=[2]), True)

    def embed_start(self, x):
        return self._embed(x, False)


def make_edge_net(frames: int = 16, width: int = 0, dim: int = 0, rhythm: int = 0, xpred: int = 0, peaks: int = 0,
                  peak_share: float = 0.0) -> EdgeNet:
    return EdgeNet(frames, width, dim, rhythm, xpred, peaks, peak_share)
