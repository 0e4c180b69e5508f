"""The stitcher's edge training under torch.distributed (gloo, 2 processes).

Two ranks that each embed half of every global batch, exchange embeddings and sum gradients
must end with the weights of one process on the same batch (to 1e-5).
"""

import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def songs():
    from musiclab.stitcher.pool import SR, Song

    rng = np.random.default_rng(0)
    out = []
    for k in range(4):
        t = np.arange(int(SR * 12)) / SR
        f0 = 110 * 2 ** (k / 3)
        y = 0.2 * np.sin(2 * np.pi * f0 * t) * (1 + np.sign(np.sin(2 * np.pi * (1.5 + k / 4) * t)))
        y += 0.02 * rng.standard_normal(len(t))
        out.append(Song(f"s{k}", f"s{k}.wav", y.astype(np.float32)))
    return out


def train(steps=3):
    from musiclab.stitcher.train import EDGE_RECIPE, train_edge

    torch.set_num_threads(1)
    scorer, hist = train_edge(songs(), steps=steps, seed=0, songs_per_batch=4, cuts_per_song=5, **EDGE_RECIPE)
    return {k: v.detach().clone() for k, v in scorer.net.state_dict().items()}, hist


def _rank_main(rank, port, out):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), MUSICLAB_CACHE=os.path.join(out, f"cache{rank}"))
    from musiclab.distributed import reset_world

    state, _ = train()
    if rank == 0:
        torch.save(state, os.path.join(out, "dist.pt"))
    reset_world()


def test_two_ranks_train_the_edge_net_like_one_process(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))
    single, hist = train()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(port, str(tmp_path)), nprocs=2, join=True)
    dist = torch.load(tmp_path / "dist.pt", weights_only=True)
    assert single.keys() == dist.keys()
    diff = max(float((single[k].float() - dist[k].float()).abs().max()) for k in single)
    assert diff < 1e-5, diff
    assert hist["steps_done"] == 3
