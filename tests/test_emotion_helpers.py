"""Shared helpers for the emotion tests: generated signals and labelled folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musiclab.audio.io import save_audio

SR = 22050


def tone(kind: int, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Four clearly different kinds of sound, one per quadrant."""
    rng = np.random.default_rng(seed + 10 * kind)
    t = np.arange(int(seconds * SR)) / SR
    if kind == 0:  # loud, bright, fast clicks over a major chord
        y = 0.2 * sum(np.sin(2 * np.pi * f * t) for f in (523.25, 659.25, 783.99))
        y += 0.5 * (np.sin(2 * np.pi * 8 * t) > 0.95) * rng.standard_normal(len(t))
    elif kind == 1:  # loud noise, distorted
        y = np.tanh(3 * rng.standard_normal(len(t))) * 0.6
    elif kind == 2:  # quiet low minor chord
        y = 0.03 * sum(np.sin(2 * np.pi * f * t) for f in (110.0, 130.81, 164.81))
    else:  # soft mid sine with slow tremolo
        y = 0.1 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return y.astype(np.float32)


def make_labelled_folder(root: Path, per_class: int = 3, seconds: float = 4.0) -> Path:
    root = Path(root)
    for q in range(4):
        d = root / f"Q{q + 1}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            save_audio(d / f"clip {q}'{i}.wav", tone(q, seconds, seed=i), SR)
    return root


def random_model(path: Path, arch: str = "ensemble", seed: int = 0) -> Path:
    """A model file with random weights (plumbing tests, not accuracy)."""
    import torch

    from musiclab.emotion.features import N_SUMMARY
    from musiclab.emotion.model import build_net
    from musiclab.models import make_meta, save_model

    torch.manual_seed(seed)
    lin = {"mean": torch.zeros(N_SUMMARY), "scale": torch.ones(N_SUMMARY),
           "weight": 0.01 * torch.randn(4, N_SUMMARY), "bias": torch.zeros(4)}
    if arch == "linear":
        obj = {"meta": make_meta("emotion", "linear"), "state_dict": lin}
    elif arch == "ensemble":
        net = build_net("crnn")
        sd = {f"linear.{k}": v for k, v in lin.items()}
        sd.update({f"crnn.{k}": v for k, v in net.state_dict().items()})
        obj = {"meta": make_meta("emotion", "ensemble", members=[["linear", 0.5], ["crnn", 0.5]]),
               "state_dict": sd, "norms": {"crnn": {"mean": -40.0, "std": 20.0}}}
    else:
        net = build_net(arch)
        obj = {"meta": make_meta("emotion", arch), "state_dict": net.state_dict(),
               "norm": {"mean": -40.0, "std": 20.0}}
    return save_model(obj, path)
