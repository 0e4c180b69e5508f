"""Composer training under torch.distributed (gloo, 2 processes) and exact resume.

Two ranks that each train on half the rows of every global batch must end with the weights
of one process training on the whole batch (to 1e-5); a run stopped after a finished epoch
and resumed must end with the weights of an uninterrupted run.
"""

import socket

import pytest

torch = pytest.importorskip("torch")

from musiclab.composer.events import Piece  # noqa: E402


def pieces(n=6, length=120, seed=0):
    import random

    rng = random.Random(seed)
    names = ["C4", "D4", "E4", "F4", "G4", "A4"]
    out = []
    for k in range(n):
        evs = []
        for _ in range(length):
            i = rng.randrange(len(names))
            evs.append(((60 + [0, 2, 4, 5, 7, 9][i],), names[i], rng.choice(["0.5", "1.0", "0.25"])))
        out.append(Piece(f"p{k}.mid", f"p{k}.mid", evs))
    return out


def run_training(out, epochs=1, max_steps=None, resume=False, should_stop=None, dropout=True):
    from musiclab.composer.train import prepare_model, train_model

    torch.manual_seed(0)
    ps = pieces()
    model = prepare_model("small", ps[:5], ps[5:], ["synthetic"])
    if not dropout:  # ranks draw their own dropout masks: equal in law, not bit for bit
        for m in model.net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
            elif isinstance(m, torch.nn.LSTM):
                m.dropout = 0.0
    return train_model(model, ps[:5], ps[5:], out, epochs=epochs, seq_len=16, batch=4, augment=True, seed=0,
                       max_steps=max_steps, resume=resume, should_stop=should_stop, patience=99)


def resume_weights(out):
    from musiclab.composer.train import resume_path

    return torch.load(resume_path(out), map_location="cpu", weights_only=True)["net"]


def _rank_main(rank, port, out):
    import os

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    from musiclab.distributed import reset_world, world

    assert world().size == 2 and world().backend == "gloo"
    run_training(out, max_steps=4, dropout=False)
    reset_world()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_equal_one_process_with_the_same_global_batch(tmp_path):
    import torch.multiprocessing as mp

    torch.set_num_threads(1)
    single = tmp_path / "single.pt"
    run_training(single, max_steps=4, dropout=False)
    dist = tmp_path / "dist.pt"
    mp.spawn(_rank_main, args=(free_port(), str(dist)), nprocs=2, join=True)
    a, b = resume_weights(single), resume_weights(dist)
    assert a.keys() == b.keys()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert diff < 1e-5, diff
    moved = max(float((a[k].float() - run_start_weights()[k].float()).abs().max()) for k in a)
    assert moved > 1e-3  # the weights really trained (the comparison is not of two untouched nets)
    assert not list(tmp_path.glob("*.partial"))  # only rank 0 wrote, atomically


def run_start_weights():
    from musiclab.composer.train import prepare_model

    torch.manual_seed(0)
    ps = pieces()
    return prepare_model("small", ps[:5], ps[5:], ["synthetic"]).net.state_dict()


def test_a_stopped_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    from musiclab.errors import Cancelled

    torch.set_num_threads(1)
    whole = tmp_path / "whole.pt"
    res = run_training(whole, epochs=3)
    assert res["epochs"] == 3
    steps = {"n": 0}
    per_epoch = None

    def stop_in_epoch_two():
        steps["n"] += 1
        return per_epoch is not None and steps["n"] > per_epoch + 2

    # count the steps of one epoch, then stop a new run two steps into its second epoch
    counter = tmp_path / "count.pt"
    run_training(counter, epochs=1, should_stop=lambda: steps.__setitem__("n", steps["n"] + 1) or False)
    per_epoch, steps["n"] = steps["n"], 0
    cut = tmp_path / "cut.pt"
    with pytest.raises(Cancelled):
        run_training(cut, epochs=3, should_stop=stop_in_epoch_two)
    assert torch.load(str(cut) + ".resume", weights_only=True)["epoch"] == 1
    res2 = run_training(cut, epochs=3, resume=True)
    assert [h["epoch"] for h in res2["history"]] == [1, 2, 3]
    a, b = resume_weights(whole), resume_weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_foreign_resume_file_gets_a_clear_message(tmp_path):
    from musiclab.composer.train import resume_path
    from musiclab.errors import MusiclabError

    out = tmp_path / "m.pt"
    torch.save({"something": 1}, resume_path(out))
    with pytest.raises(MusiclabError, match="not a musiclab training state"):
        run_training(out, resume=True)
