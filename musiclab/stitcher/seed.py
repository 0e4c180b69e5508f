"""The seed study's transition model ("Challenge 3"), as a preset named "seed".

Reimplemented from the study: raw samples of A's end and B's start, downsampled 35x
(22050 Hz -> 630 Hz, box filter), each edge 0.2 s (126 samples), a Conv1D with 1024
filters, MaxPooling1D(2, 2), an LSTM with 266 units returning sequences, a (linear)
Dense layer, Dropout 0.25, Flatten and Dense(1, sigmoid); RMSprop and binary
cross-entropy; positives are consecutive chunks, two random non-successors per positive
are negatives. Deviation: the convolution runs over each edge separately (so the LSTM
state after A's end can be computed once per chunk); it changes 4 samples at the junction.

Scoring cannot be factorised into two embeddings: the LSTM runs over A then B. The
state after A's edge and B's input projections are computed once per chunk; each pair
then costs 63 recurrent steps, batched over all candidates.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report
from .encoded import KIND, Encoded, Scorer

SEED_ARCH = "seed-cnn-lstm-v1"
DOWN = 35
EDGE = 126  # samples per edge after downsampling (0.2 s)
FILTERS, HIDDEN, DENSE = 1024, 266, 32


def _modules():
    import torch
    from torch import nn

    class SeedNet(nn.Module):
        def __init__(self, filters=FILTERS, hidden=HIDDEN, dense=DENSE, edge=EDGE):
            super().__init__()
            self.conv = nn.Conv1d(1, filters, 9, padding=4)
            self.pool = nn.MaxPool1d(2, 2)
            self.lstm = nn.LSTM(filters, hidden, batch_first=True)
            self.dense = nn.Linear(hidden, dense)
            self.drop = nn.Dropout(0.25)
            self.out = nn.Linear(dense * (edge // 2) * 2, 1)
            self.hidden, self.dense_n, self.edge = hidden, dense, edge

        def side(self, x):  # (B, edge) -> (B, edge//2, filters)
            return self.pool(torch.relu(self.conv(x[:, None]))).transpose(1, 2)

        def forward(self, a, b):  # logits
            seq = torch.cat([self.side(a), self.side(b)], dim=1)
            h, _ = self.lstm(seq)
            d = self.drop(self.dense(h))
            return self.out(d.flatten(1))[:, 0]

    return SeedNet


def _edges(pool, trim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    L = EDGE * DOWN
    n = len(pool.chunks)
    ends = np.zeros((n, L), np.float32)
    starts = np.zeros((n, L), np.float32)
    for i in range(n):
        a = pool.chunk_audio(i, trim)
        e, s = a[-L:], a[:L]
        ends[i, L - len(e):] = e
        starts[i, : len(s)] = s
    return ends.reshape(n, EDGE, DOWN).mean(2), starts.reshape(n, EDGE, DOWN).mean(2)


class _SeedEncoded(Encoded):
    def __init__(self, net, ends, starts, should_stop=None):
        import torch

        self.net, self.should_stop = net, should_stop
        self.n = len(ends)
        self.ends = np.zeros((self.n, 1), np.float32)
        self.starts = np.zeros((self.n, 1), np.float32)
        with torch.inference_mode():
            ea = net.side(torch.from_numpy(ends))
            h, (hn, cn) = net.lstm(ea)
            T = h.shape[1]
            w = net.out.weight[0].reshape(2 * T, net.dense_n)
            self.a_contrib = (net.dense(h) * w[:T]).sum((1, 2)) + net.out.bias[0]
            self.h0, self.c0 = hn[0], cn[0]
            xb = net.side(torch.from_numpy(starts))
            self.xproj = xb @ net.lstm.weight_ih_l0.T + net.lstm.bias_ih_l0 + net.lstm.bias_hh_l0
            self.w_hh = net.lstm.weight_hh_l0.T.contiguous()
            self.w_b = w[T:]

    def scores(self, rows):
        import torch

        rows = np.atleast_1d(np.asarray(rows))
        out = np.zeros((len(rows), self.n), np.float32)
        net, H = self.net, self.net.hidden
        with torch.inference_mode():
            for r, q in enumerate(rows):
                check_stop(self.should_stop)
                h = self.h0[q].expand(self.n, H).contiguous()
                c = self.c0[q].expand(self.n, H).contiguous()
                acc = torch.zeros(self.n)
                for t in range(self.xproj.shape[1]):
                    g = self.xproj[:, t] + h @ self.w_hh
                    i, f, gg, o = g.chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    acc += net.dense(h) @ self.w_b[t]
                out[r] = (acc + self.a_contrib[q]).numpy()
        return out

    def pair(self, a, b):
        return float(self.scores([a])[0, b])


class SeedScorer(Scorer):
    name = "seed"
    description = "the seed study's CNN-LSTM on raw edge samples (35x downsampled)"
    pairwise = True

    def __init__(self, net, meta=None):
        self.net = net.eval()
        self.meta = meta or {}

    @classmethod
    def load(cls, name_or_path: str = "seed") -> "SeedScorer":
        from ..models import load_model_file, load_state_checked, resolve_model

        path = resolve_model(KIND, name_or_path)
        obj = load_model_file(path, KIND, archs=[SEED_ARCH])
        net = _modules()()
        load_state_checked(net, obj["state_dict"], Path(path).name)
        return cls(net, obj["meta"])

    def to_file(self, path, **extra) -> Path:
        from ..models import make_meta, save_model

        obj = {"meta": make_meta(KIND, SEED_ARCH, **{**self.meta, **extra}),
               "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}
        return save_model(obj, path)

    def encode(self, pool, trim=0, should_stop=None, on_progress=None) -> Encoded:
        report(on_progress, 0, 1, "seed edges")
        e, s = _edges(pool, trim)
        return _SeedEncoded(self.net, e, s, should_stop)


def train_seed(pool, epochs: int = 3, batch: int = 64, lr: float = 1e-3, seed: int = 0,
               max_seconds: Optional[float] = 240.0, should_stop: ShouldStop = None,
               on_progress: OnProgress = None) -> tuple[SeedScorer, dict]:
    """Train on consecutive chunks of ``pool`` (2 random negatives per positive)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    e, s = _edges(pool)
    A, B, Y = [], [], []
    n = len(pool.chunks)
    for i in range(n):
        t = pool.successor(i)
        if t is None:
            continue
        A.append(i), B.append(t), Y.append(1.0)
        for _ in range(2):
            j = int(rng.integers(0, n))
            while j == t or j == i:
                j = int(rng.integers(0, n))
            A.append(i), B.append(j), Y.append(0.0)
    if not A:
        from .pool import StitcherError

        raise StitcherError("The pool has no consecutive chunks to train the seed model on.")
    A, B, Y = np.array(A), np.array(B), torch.tensor(Y)
    ea, sb = torch.from_numpy(e), torch.from_numpy(s)
    net = _modules()()
    opt = torch.optim.RMSprop(net.parameters(), lr=lr)
    t0 = time.monotonic()
    total = epochs * ((len(A) + batch - 1) // batch)
    step, hist = 0, {"loss": []}
    net.train()
    done = False
    for ep in range(epochs):
        perm = rng.permutation(len(A))
        for k in range(0, len(A), batch):
            check_stop(should_stop)
            idx = perm[k: k + batch]
            logit = net(ea[A[idx]], sb[B[idx]])
            loss = F.binary_cross_entropy_with_logits(logit, Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            hist["loss"].append(round(float(loss.detach()), 4))
            report(on_progress, step, total, f"seed epoch {ep + 1}: loss {float(loss.detach()):.3f}")
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                done = True
                break
        if done:
            break
    net.eval()
    hist["seconds"] = round(time.monotonic() - t0, 1)
    hist["steps"] = step
    meta = {"songs": [x.name for x in pool.songs], "chunking": pool.chunking, "steps": step,
            "date": time.strftime("%Y-%m-%d")}
    return SeedScorer(net, meta), hist
