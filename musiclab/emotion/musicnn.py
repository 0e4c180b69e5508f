"""musicnn (Pons & Serra, 2019) in PyTorch: music-tagging CNNs pre-trained on the
Million Song Dataset and on MagnaTagATune, used here as frozen feature extractors for
emotion. No Qt.

Two *backbones* of the ``musicnn`` package (ISC licence, https://github.com/jordipons/musicnn)
share one architecture: ``msd`` (the ``MSD_musicnn`` checkpoint, 50 Last.fm tags: rock, jazz,
Mellow, chill, sad, happy, ...) and ``mtt`` (``MTT_musicnn``, 50 MagnaTagATune tags: slow,
fast, loud, quiet, soft, ambient, techno, metal, ...). The network: a "musically motivated"
front-end of timbral (7x38 and 7x67 mel-band) and temporal (128/64/32-frame) filters, each
max-pooled over frequency; a mid-end of three 1-d convolutions with residual connections; a
back-end of mean and max pooling over time, a 200-unit dense layer and 50 tag logits. Its
input is a log-compressed 96-band mel spectrogram of 16 kHz audio (FFT 512, hop 256), 187
frames (3 s) per patch.

The weights are converted once from the package's TensorFlow checkpoints by
``python -m musiclab.emotion.convert_musicnn`` (which reads a checkpoint itself, without
TensorFlow) and shipped as float32 tensors (3 MB each) in ``resources/pretrained/msd-musicnn.pt``
and ``mtt-musicnn.pt``; they are read with ``torch.load(weights_only=True)`` and checked
tensor by tensor.

torch is imported lazily.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelFileError

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH = 187  # frames of a training patch (about 3 s)
EMBED_DIM = 200 + 2 * 753  # penultimate dense layer + mean and max pool of the mid-end
PATCH_HOP = 312  # frames between patch starts (5 s: every 10 s window holds two patches)
TAGS = ['rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s', 'alternative rock',
        'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock', 'soul', 'indie rock', 'Mellow',
        'electronica', '80s', 'folk', '90s', 'chill', 'instrumental', 'punk', 'oldies', 'blues', 'hard rock',
        'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar', 'Hip-Hop', '70s', 'party', 'country',
        'easy listening', 'sexy', 'catchy', 'funk', 'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb',
        'indie pop', 'sad', 'House', 'happy']
MTT_TAGS = ['guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano',
            'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals',
            'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft',
            'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal',
            'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral']
# backbone -> (checkpoint folder in the musicnn wheel, tags)
BACKBONES = {"msd": ("MSD_musicnn", TAGS), "mtt": ("MTT_musicnn", MTT_TAGS)}
BN_EPS = 1e-3  # TensorFlow's batch-normalisation epsilon
FEATURE_DIM = len(TAGS) + EMBED_DIM


def weights_path(backbone: str = "msd") -> Path:
    from ..paths import resources_dir

    return resources_dir() / "pretrained" / f"{backbone}-musicnn.pt"


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


def mel_input(y16: np.ndarray) -> np.ndarray:
    """The network's input for 16 kHz mono audio: (frames, 96), log10(10000 mel + 1),
    exactly as the musicnn package computes it (librosa mel, power 2, centred frames)."""
    import librosa

    y16 = np.asarray(y16, dtype=np.float32)
    if len(y16) < N_FFT:
        y16 = np.pad(y16, (0, N_FFT - len(y16)))
    S = np.abs(librosa.stft(y16, n_fft=N_FFT, hop_length=HOP, center=True)) ** 2
    mel = (_mel_basis() @ S).T
    return np.log10(10000.0 * mel + 1.0)


def build():
    """A fresh (untrained) musicnn module; ``forward`` returns (logits, embedding)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Musicnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn_in = nn.BatchNorm2d(1, eps=BN_EPS)
            # timbral front-end: filters spanning 40 % and 70 % of the mel bands
            self.t74 = nn.Conv2d(1, 204, (7, 38))
            self.bn_t74 = nn.BatchNorm2d(204, eps=BN_EPS)
            self.t77 = nn.Conv2d(1, 204, (7, 67))
            self.bn_t77 = nn.BatchNorm2d(204, eps=BN_EPS)
            # temporal front-end: 1-band filters of 128, 64, 32 frames
            self.s1 = nn.Conv2d(1, 51, (128, 1))
            self.bn_s1 = nn.BatchNorm2d(51, eps=BN_EPS)
            self.s2 = nn.Conv2d(1, 51, (64, 1))
            self.bn_s2 = nn.BatchNorm2d(51, eps=BN_EPS)
            self.s3 = nn.Conv2d(1, 51, (32, 1))
            self.bn_s3 = nn.BatchNorm2d(51, eps=BN_EPS)
            # mid-end
            self.m1 = nn.Conv1d(561, 64, 7, padding=3)
            self.bn_m1 = nn.BatchNorm1d(64, eps=BN_EPS)
            self.m2 = nn.Conv1d(64, 64, 7, padding=3)
            self.bn_m2 = nn.BatchNorm1d(64, eps=BN_EPS)
            self.m3 = nn.Conv1d(64, 64, 7, padding=3)
            self.bn_m3 = nn.BatchNorm1d(64, eps=BN_EPS)
            # back-end
            self.bn_pool = nn.BatchNorm1d(1506, eps=BN_EPS)
            self.dense = nn.Linear(1506, 200)
            self.bn_dense = nn.BatchNorm1d(200, eps=BN_EPS)
            self.out = nn.Linear(200, len(TAGS))
            self._split = {}  # per front-end conv: its channels split by the sign of their norm's scale

        def load_state_dict(self, *args, **kwargs):
            self._split = {}
            return super().load_state_dict(*args, **kwargs)

        def train(self, mode=True):
            self._split = {}
            return super().train(mode)

        @staticmethod
        def _same_time(x, k):
            # TensorFlow's 'same' padding along time: (k-1)//2 before, the rest after
            total = k - 1
            return F.pad(x, (0, 0, total // 2, total - total // 2))

        def _block(self, x, conv, bn):
            # conv -> ReLU -> batch norm -> max over frequency, computed in an order that gives
            # the same numbers at a fraction of the cost: the norm (a per-channel affine map) is
            # applied after the pooling, so a channel with a negative scale takes the minimum
            # instead of the maximum; ReLU (monotone) is applied after the pooling too; and the
            # channels of each sign are convolved separately, so each is pooled only one way
            key = id(conv)
            if key not in self._split:
                with torch.no_grad():
                    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    shift = bn.bias - bn.running_mean * scale
                    pos = torch.nonzero(scale >= 0).flatten()
                    neg = torch.nonzero(scale < 0).flatten()
                    self._split[key] = (scale, shift, pos, neg, conv.weight[pos].clone(), conv.bias[pos].clone(),
                                        conv.weight[neg].clone(), conv.bias[neg].clone())
            scale, shift, pos, neg, wp, bp, wn, bn_ = self._split[key]
            pooled = x.new_empty(x.shape[0], len(scale), x.shape[2] - conv.kernel_size[0] + 1)
            if len(pos):
                pooled[:, pos] = F.conv2d(x, wp, bp).amax(dim=3)
            if len(neg):
                pooled[:, neg] = F.conv2d(x, wn, bn_).amin(dim=3)
            return F.relu(pooled) * scale[None, :, None] + shift[None, :, None]

        def forward(self, x):  # (B, T frames, 96 mels)
            x = self.bn_in(x.unsqueeze(1))  # (B, 1, T, 96)
            xp = F.pad(x, (0, 0, 3, 3))
            feats = [self._block(xp, self.t74, self.bn_t74), self._block(xp, self.t77, self.bn_t77)]
            for conv, bn, k in ((self.s1, self.bn_s1, 128), (self.s2, self.bn_s2, 64), (self.s3, self.bn_s3, 32)):
                feats.append(self._block(self._same_time(x, k), conv, bn))
            front = torch.cat(feats, dim=1)  # (B, 561, T)
            h1 = self.bn_m1(F.relu(self.m1(front)))
            h2 = self.bn_m2(F.relu(self.m2(h1))) + h1
            h3 = self.bn_m3(F.relu(self.m3(h2))) + h2
            mid = torch.cat([front, h1, h2, h3], dim=1)  # (B, 753, T)
            mx = mid.amax(dim=2)
            mean = mid.mean(dim=2)
            # TensorFlow flattened (753, [max, mean]): the two pools interleave per feature
            pooled = torch.stack([mx, mean], dim=2).reshape(mx.shape[0], -1)
            pen = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
            return self.out(pen), torch.cat([pen, mean, mx], dim=1)

    return Musicnn()


_NETS: dict = {}


def load_net(path: Path | None = None, backbone: str = "msd"):
    """A pre-trained network (the shipped one of ``backbone`` cached), in eval mode;
    ModelFileError if the file is missing, not a tensor file, not of that backbone, or of
    the wrong shapes."""
    if backbone not in BACKBONES:
        raise ModelFileError(f"Unknown musicnn backbone {backbone!r} (known: {', '.join(BACKBONES)}).")
    if path is None and backbone in _NETS:
        return _NETS[backbone]
    import torch

    p = Path(path) if path is not None else weights_path(backbone)
    if not p.is_file():
        raise ModelFileError(f"The pre-trained musicnn weights are missing ({p}).")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"'{p.name}' is not a readable musicnn weights file: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("meta", {}).get("arch") != f"{backbone}-musicnn" \
            or not isinstance(obj.get("state_dict"), dict):
        raise ModelFileError(f"'{p.name}' is not a {backbone.upper()} musicnn weights file.")
    net = build()
    from ..models import load_state_checked

    load_state_checked(net, {k: v.float() for k, v in obj["state_dict"].items()}, p.name)
    net.eval()
    if path is None:
        _NETS[backbone] = net
    return net


def patch_features(net, y16: np.ndarray | None, hop: int = PATCH_HOP, batch: int = 4,
                   mel: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start times (s) and features ``(n, FEATURE_DIM)`` of 3 s patches of 16 kHz audio
    every ``hop`` frames: the 50 tag probabilities, then the embedding. Audio shorter than a
    patch is repeated to fill one. ``mel`` = :func:`mel_input` of the audio, if already made
    (the backbones share it)."""
    import torch

    mel = mel_input(y16) if mel is None else mel
    T = mel.shape[0]
    if T < PATCH:
        mel = np.tile(mel, (int(np.ceil(PATCH / max(T, 1))), 1))[:PATCH]
        T = PATCH
    starts = list(range(0, T - PATCH + 1, hop))
    if T - PATCH - starts[-1] >= hop // 2:  # the tail of the audio is never left out
        starts.append(T - PATCH)
    out = []
    with torch.inference_mode():
        for b in range(0, len(starts), batch):
            x = torch.from_numpy(np.stack([mel[s:s + PATCH] for s in starts[b:b + batch]]).astype(np.float32))
            logits, emb = net(x)
            out.append(torch.cat([torch.sigmoid(logits), emb], dim=1).numpy())
    return np.array(starts, dtype=np.float64) * HOP / SR, np.concatenate(out).astype(np.float32)


def window_features(times: np.ndarray, feats: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Mean features of the patches lying inside [t0, t1] s (else those overlapping it, else
    the nearest one)."""
    dur = PATCH * HOP / SR
    inside = (times >= t0 - 0.05) & (times + dur <= t1 + 0.05)
    if not inside.any():
        inside = (times < t1) & (times + dur > t0)
    if not inside.any():
        inside = np.zeros(len(times), dtype=bool)
        inside[int(np.argmin(np.abs(times - t0)))] = True
    return feats[inside].mean(axis=0)
