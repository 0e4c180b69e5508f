"""Emotion models: architectures, loading/saving, window-level prediction. No Qt.

Every model maps one 10 s *window* of a recording to probabilities of the four
quadrants of Russell's plane (Q1 happy/excited, Q2 angry/tense, Q3 sad/depressed,
Q4 calm/relaxed). Architectures (``meta["arch"]``):

* ``seed-cnn``  - the study material's CNN on 128x128 log-mel patches: Conv 32/64/128
  3x3 + max-pool, Dense 128, softmax (a 4x4 average pool before the dense layer keeps
  the file small); a window is scored as the mean of three patches;
* ``seed-lstm`` - the study material's 3 x LSTM 128 (dropout 0.3) over log-mel frames
  (4 frames averaged per step, about 93 ms);
* ``crnn``      - a small convolutional-recurrent net on the whole 10 s log-mel window;
* ``linear``    - multinomial logistic regression on 183 summary features
  (:mod:`musiclab.emotion.features`), stored as tensors;
* ``musicnn``   - multinomial logistic regression on the features of the pre-trained
  music-tagging network musicnn (:mod:`musiclab.emotion.musicnn`, its Million Song Dataset
  backbone: 50 tag probabilities and a 1,706-d embedding per 3 s patch, averaged over the
  window's patches), stored as tensors; it needs the window's audio, not only its spectrogram;
  optional binary arousal and valence heads on the same features (``arousal.*``,
  ``valence.*``) are multiplied into its quadrant probabilities (:func:`lr_window_probs`);
* ``musicnn-mtt`` - the same on the features of musicnn's MagnaTagATune backbone;
* ``ensemble``  - a weighted mean of the probabilities of several of the above; its
  state dict holds the members' tensors under ``"<member>."`` prefixes. A member name is
  an architecture, optionally with ``#k`` for a further member of the same architecture
  (``crnn``, ``crnn#1``, ``crnn#2``: CRNNs trained with different seeds); its norm is
  ``norms[<member>]``.

A model's ``meta["temperature"]`` (default 1) calibrates it: the mixed window probabilities
are raised to ``1 / temperature`` and renormalised (:func:`sharpen`).

torch is imported lazily.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelFileError

KIND = "emotion"
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
QUADRANT_NAMES = {"Q1": "happy / excited", "Q2": "angry / tense", "Q3": "sad / depressed", "Q4": "calm / relaxed"}
ARCHS = ("seed-cnn", "seed-lstm", "crnn", "linear", "musicnn", "musicnn-mtt", "ensemble")
# logistic-regression members on pre-trained musicnn features -> their backbone
MUSICNN_MEMBERS = {"musicnn": "msd", "musicnn-mtt": "mtt"}
LR_ARCHS = ("linear",) + tuple(MUSICNN_MEMBERS)
NEURAL = ("seed-cnn", "seed-lstm", "crnn")
# the two axes of Russell's plane as binary tasks: the quadrants on their positive side
AXES = {"arousal": (0, 1), "valence": (0, 3)}
PATCH = 128  # frames of a seed-cnn patch (about 3 s)
LSTM_POOL = 4


def va_from_probs(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valence and arousal in [-1, 1] from quadrant probabilities (..., 4)."""
    p = np.asarray(p)
    v = p[..., 0] + p[..., 3] - p[..., 1] - p[..., 2]
    a = p[..., 0] + p[..., 1] - p[..., 2] - p[..., 3]
    return v, a


def entropy_norm(p: np.ndarray) -> np.ndarray:
    """Entropy of quadrant probabilities divided by log 4: 0 certain, 1 no idea."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1) / np.log(4)


def lr_window_probs(Xz: np.ndarray, W: np.ndarray, b: np.ndarray, axes: Optional[dict] = None) -> np.ndarray:
    """Quadrant probabilities ``(n, 4)`` of a logistic-regression member for z-scored window
    features ``Xz``: the softmax of ``Xz W^T + b``; with ``axes`` ({axis: (w (dim,), b)}, binary
    regressions for arousal and valence, see :data:`AXES`), the product of those experts, each
    quadrant's probability times the axis heads' probabilities of its side, renormalised."""
    z = Xz @ W.T + b  # in log space throughout: no overflow, no product underflowing to zero
    for axis, (w, c) in (axes or {}).items():
        t = (Xz @ w + c)[:, None]
        side = np.isin(np.arange(4), AXES[axis])[None, :]
        z = z - np.logaddexp(0.0, np.where(side, -t, t))  # + log sigmoid(t) on the positive side, log sigmoid(-t) on the other
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def mix_probs(probs: list, weights) -> np.ndarray:
    """Members' probabilities (arrays of one shape) mixed: their mean weighted by ``weights``."""
    w = np.asarray(weights, dtype=np.float64)
    return sum(p * wi for p, wi in zip(probs, w)) / max(float(w.sum()), 1e-9)


def sharpen(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``(..., 4)`` raised to ``1 / temperature`` and renormalised: above 1 they
    grow less sure, below 1 surer; 1 leaves them as they are. Computed in log space."""
    p = np.asarray(p, dtype=np.float64)
    if temperature == 1.0:
        return p
    z = np.log(np.maximum(p, 1e-300)) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    q = np.exp(z)
    return q / q.sum(axis=-1, keepdims=True)


def member_arch(member: str) -> str:
    """Architecture of an ensemble member name: ``crnn``, or ``crnn#1``, ``crnn#2``... for
    further members of the same architecture (trained with other seeds)."""
    return member.split("#", 1)[0]


def build_net(arch: str):
    """A fresh torch module for a neural architecture."""
    import torch
    from torch import nn

    if arch == "seed-cnn":
        class SeedCNN(nn.Module):
            def __init__(self):
                super().__init__()
                def block(i, o):
                    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
                self.features = nn.Sequential(block(1, 32), block(32, 64), block(64, 128), nn.AdaptiveAvgPool2d(4))
                self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 16, 128), nn.ReLU(), nn.Dropout(0.3),
                                          nn.Linear(128, 4))

            def forward(self, x):  # (B, 128 mels, 128 frames)
                return self.head(self.features(x.unsqueeze(1)))
        return SeedCNN()
    if arch == "seed-lstm":
        class SeedLSTM(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(128, 128, num_layers=3, batch_first=True, dropout=0.3)
                self.drop = nn.Dropout(0.3)
                self.out = nn.Linear(128, 4)

            def forward(self, x):  # (B, 128 mels, T frames)
                B, M, T = x.shape
                T4 = max(1, T // LSTM_POOL)
                x = x[:, :, : T4 * LSTM_POOL].reshape(B, M, T4, -1).mean(-1) if T >= LSTM_POOL else x
                h, _ = self.lstm(x.transpose(1, 2))
                return self.out(self.drop(h[:, -1]))
        return SeedLSTM()
    if arch == "crnn":
        class CRNN(nn.Module):
            def __init__(self):
                super().__init__()
                def block(i, o, pool):
                    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                         nn.MaxPool2d(pool))
                self.pre = nn.AvgPool2d(2)
                self.conv = nn.Sequential(block(1, 16, 2), block(16, 32, 2), block(32, 64, 2), block(64, 64, (2, 1)),
                                          nn.Dropout(0.1))
                self.gru = nn.GRU(64 * 4, 64, batch_first=True, bidirectional=True)
                self.drop = nn.Dropout(0.3)
                self.out = nn.Linear(256, 4)

            def forward(self, x):  # (B, 128 mels, T frames)
                z = self.conv(self.pre(x.unsqueeze(1)))  # (B, 64, 4, T')
                B, C, F, T = z.shape
                h, _ = self.gru(z.reshape(B, C * F, T).transpose(1, 2))
                pooled = torch.cat([h.mean(1), h.amax(1)], dim=1)
                return self.out(self.drop(pooled))
        return CRNN()
    raise ModelFileError(f"Unknown neural architecture {arch!r}.")


def fit_window(logmel: np.ndarray, frames: int) -> np.ndarray:
    """Pad (by repeating the audio's frames) or cut a log-mel to exactly ``frames``."""
    T = logmel.shape[1]
    if T >= frames:
        return logmel[:, :frames]
    reps = int(np.ceil(frames / max(T, 1)))
    return np.tile(logmel, (1, reps))[:, :frames]


class EmotionModel:
    """A loaded model of any architecture; see :meth:`predict_windows`."""

    def __init__(self, obj: dict, name: str = "model"):
        import torch

        self.obj = obj
        self.meta = obj["meta"]
        self.arch = self.meta["arch"]
        self.name = name
        sd = obj.get("state_dict", {})
        if self.arch == "ensemble":
            members = self.meta.get("members")
            if not isinstance(members, list) or not members:
                raise ModelFileError(f"'{name}': ensemble without members.")
            self.members = []
            seen = set()
            for m in members:
                try:
                    mname, weight = str(m[0]), float(m[1])
                except (TypeError, ValueError, IndexError) as exc:
                    raise ModelFileError(f"'{name}': malformed ensemble member {m!r}.") from exc
                if mname in seen:
                    raise ModelFileError(f"'{name}': ensemble member {mname!r} listed twice.")
                seen.add(mname)
                arch = member_arch(mname)
                prefix = f"{mname}."
                sub = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
                norm = obj.get("norms", {}).get(mname, {})
                self.members.append((_Member(arch, sub, norm, name), weight))
        else:
            self.members = [(_Member(self.arch, sd, obj.get("norm", {}), name), 1.0)]
        # calibration (meta "temperature", chosen in training by cross-validated log loss): the mixed window
        # probabilities are raised to 1/T; files without it are used as they are
        try:
            self.temperature = float(self.meta.get("temperature", 1.0))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"'{name}': temperature {self.meta.get('temperature')!r} is not a number.") from exc
        if not (0.05 <= self.temperature <= 20.0):
            raise ModelFileError(f"'{name}': temperature {self.temperature} is outside 0.05 to 20.")
        self.torch = torch

    @property
    def needs_frame_features(self) -> bool:
        """Whether a member reads the log-mel or the frame descriptors (a model of musicnn
        members only does not, and prediction then skips computing them)."""
        return any(m.arch not in MUSICNN_MEMBERS for m, _ in self.members)

    @property
    def needs_audio(self) -> bool:
        return any(m.arch in MUSICNN_MEMBERS for m, _ in self.members)

    def predict_windows(self, logmel: np.ndarray, ff: np.ndarray, starts: list[int], win: int,
                        audio: Optional[np.ndarray] = None) -> np.ndarray:
        """Probabilities ``(len(starts), 4)`` for windows of ``win`` frames at ``starts``;
        ``audio`` (mono, :data:`~musiclab.emotion.features.SR`) is needed by a musicnn member;
        ``logmel`` and ``ff`` may be None when :attr:`needs_frame_features` is False."""
        shared: dict = {}  # what members of one call can share (musicnn's input)
        n_mnn = sum(m.arch in MUSICNN_MEMBERS for m, _ in self.members)
        workers = min(n_mnn, os.cpu_count() or 1)
        if audio is not None and workers > 1:
            # the musicnn networks are the costly part and independent of each other: their input is made
            # once, then the members run side by side (torch and numpy release the GIL while they compute)
            from concurrent.futures import ThreadPoolExecutor

            shared["musicnn_mel"] = musicnn_mel(audio)
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emotion-member") as ex:
                probs = list(ex.map(lambda mw: mw[0].predict(logmel, ff, starts, win, audio, shared), self.members))
        else:
            probs = [m.predict(logmel, ff, starts, win, audio, shared) for m, _ in self.members]
        return sharpen(mix_probs(probs, [w for _, w in self.members]), self.temperature)


class _Member:
    def __init__(self, arch: str, sd: dict, norm: dict, name: str):
        from ..models import load_state_checked

        self.arch = arch
        if arch in LR_ARCHS:
            try:
                self.mean = sd["mean"].float().numpy()
                self.scale = sd["scale"].float().numpy()
                self.W = sd["weight"].float().numpy()
                self.b = sd["bias"].float().numpy()
            except (KeyError, AttributeError) as exc:
                raise ModelFileError(f"'{name}': linear model without mean/scale/weight/bias.") from exc
            if arch == "linear":
                from .features import N_SUMMARY as dim
            else:
                from .musicnn import FEATURE_DIM as dim, load_net
                self.net = load_net(backbone=MUSICNN_MEMBERS[arch])
            if self.W.shape != (4, dim) or self.mean.shape != (dim,) or self.scale.shape != (dim,) \
                    or self.b.shape != (4,):
                raise ModelFileError(f"'{name}': {arch} model has shape {tuple(self.W.shape)}, expected (4, {dim}).")
            self.axes = {}  # optional binary arousal / valence heads on the same features
            for axis in AXES:
                if f"{axis}.weight" in sd or f"{axis}.bias" in sd:
                    try:
                        w = sd[f"{axis}.weight"].float().numpy()
                        c = sd[f"{axis}.bias"].float().numpy()
                    except (KeyError, AttributeError) as exc:
                        raise ModelFileError(f"'{name}': {arch} {axis} head without weight/bias.") from exc
                    if w.shape != (dim,) or c.shape != ():
                        raise ModelFileError(f"'{name}': {arch} {axis} head has shape {tuple(w.shape)}, "
                                             f"expected ({dim},).")
                    self.axes[axis] = (w, float(c))
        elif arch in NEURAL:
            self.net = build_net(arch)
            load_state_checked(self.net, {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, name)
            self.net.eval()
            self.mu = float(norm.get("mean", -40.0))
            self.sigma = float(norm.get("std", 20.0))
        else:
            raise ModelFileError(f"'{name}': unknown member architecture {arch!r}.")

    def predict(self, logmel, ff, starts, win, audio=None, shared: Optional[dict] = None) -> np.ndarray:
        if self.arch in LR_ARCHS:
            if self.arch == "linear":
                from .features import window_summary

                X = np.stack([window_summary(ff, s, s + win) for s in starts])
            else:
                if audio is None:
                    raise ValueError("a musicnn member needs the audio of the windows")
                X = musicnn_windows(self.net, audio, starts, win, shared=shared)
            return lr_window_probs((X - self.mean) / self.scale, self.W, self.b, self.axes)
        import torch

        crops = []
        index = []
        for i, s in enumerate(starts):
            w = fit_window(logmel[:, s:s + win].astype(np.float32), win)
            if self.arch == "seed-cnn":
                for off in np.linspace(0, win - PATCH, 3).astype(int):
                    crops.append(w[:, off:off + PATCH])
                    index.append(i)
            else:
                crops.append(w)
                index.append(i)
        x = (torch.from_numpy(np.stack(crops)) - self.mu) / self.sigma
        with torch.inference_mode():
            p = torch.softmax(self.net(x), dim=1).numpy()
        out = np.zeros((len(starts), 4))
        cnt = np.zeros(len(starts))
        np.add.at(out, index, p)
        np.add.at(cnt, index, 1)
        return out / cnt[:, None]


def musicnn_mel(audio: np.ndarray) -> np.ndarray:
    """musicnn's input (:func:`musiclab.emotion.musicnn.mel_input`) of mono audio at the
    analysis rate :data:`~musiclab.emotion.features.SR` (resampled to 16 kHz)."""
    import librosa

    from . import musicnn
    from .features import SR

    y16 = librosa.resample(np.asarray(audio, dtype=np.float32), orig_sr=SR, target_sr=musicnn.SR)
    return musicnn.mel_input(y16)


def musicnn_windows(net, audio: np.ndarray, starts: list[int], win: int, cached=None,
                    shared: Optional[dict] = None) -> np.ndarray:
    """musicnn features ``(len(starts), FEATURE_DIM)`` of the windows (frames of the 22.05 kHz
    analysis) of mono audio at :data:`~musiclab.emotion.features.SR`; ``cached`` = (times,
    patch features) already computed for this audio; ``shared``, a dict kept across the
    members scoring the same audio, holds its 16 kHz mel input once made."""
    from . import musicnn
    from .features import frames_per_second

    if cached is None:
        mel = None if shared is None else shared.get("musicnn_mel")
        if mel is None:
            mel = musicnn_mel(audio)
            if shared is not None:
                shared["musicnn_mel"] = mel
        cached = musicnn.patch_features(net, None, mel=mel)
    times, feats = cached
    fps = frames_per_second()
    return np.stack([musicnn.window_features(times, feats, s / fps, (s + win) / fps) for s in starts])


def load(name_or_path: str = "default") -> EmotionModel:
    """Load a shipped/user model by name, or a model file by path."""
    from ..models import load_model_file, resolve_model

    path = resolve_model(KIND, name_or_path)
    obj = load_model_file(path, KIND, archs=ARCHS)
    return EmotionModel(obj, Path(path).name)


def available() -> dict[str, Path]:
    from ..models import list_models

    return list_models(KIND)
