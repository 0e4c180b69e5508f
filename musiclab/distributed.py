"""Training on several processes, one machine or many, with PyTorch's own engine. No Qt.

``musiclab-cli composer train`` runs unchanged under ``torchrun``::

    torchrun --nproc-per-node 2 -m musiclab.cli composer train --midi DIR --out my.pt
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m musiclab.cli composer train --midi DIR --out my.pt

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; :func:`world` then joins the process
group (gloo on CPU, nccl when every rank has a GPU). Each rank trains on its share of every
global batch's rows (:func:`shard_rows`), :class:`torch.nn.parallel.DistributedDataParallel`
averages the gradients, and only rank 0 writes checkpoints and logs (:meth:`World.is_main`),
atomically, so a killed run resumes from the last checkpoint. Without ``torchrun`` everything
here is a no-op and training runs in one process, as in the app's Train page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self):
        import torch

        if self.backend == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def sum(self, x: float) -> float:
        """The sum of a number over all ranks (the number itself in one process)."""
        if not self.distributed:
            return float(x)
        import torch
        import torch.distributed as dist

        t = torch.tensor([float(x)], dtype=torch.float64,
                         device=self.device() if self.backend == "nccl" else "cpu")
        dist.all_reduce(t)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on any (a cancel or a time budget on one rank stops all)."""
        return self.sum(1.0 if flag else 0.0) > 0


_WORLD: Optional[World] = None


def world() -> World:
    """This process's place in a ``torchrun`` job (joins the process group on first call)."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        _WORLD = World()
        return _WORLD
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > local else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _WORLD = World(dist.get_rank(), dist.get_world_size(), local, backend)
    return _WORLD


def reset_world() -> None:
    """Leave the process group (tests, and the end of a run)."""
    global _WORLD
    if _WORLD is not None and _WORLD.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _WORLD = None


def shard_rows(x, w: World):
    """This rank's rows of a global batch (rows ``rank::size``); the whole batch in one process."""
    if not w.distributed or x is None:
        return x
    return x[w.rank::w.size]


def wrap(net, w: World):
    """``DistributedDataParallel(net)`` when distributed, else ``net`` itself."""
    if not w.distributed:
        return net
    from torch.nn.parallel import DistributedDataParallel as DDP

    if w.backend == "nccl":
        net.to(w.device())
        return DDP(net, device_ids=[w.local_rank])
    return DDP(net)


def unwrap(net):
    return getattr(net, "module", net)


def broadcast_state(net, w: World) -> None:
    """Make every rank start from rank 0's weights (DDP does this too; explicit for clarity)."""
    if not w.distributed:
        return
    import torch.distributed as dist

    for p in unwrap(net).state_dict().values():
        dist.broadcast(p, 0)


def main_only(fn, *args: Any, **kwargs: Any):
    """Run ``fn`` on rank 0 only (checkpoints, logs); other ranks wait for it."""
    w = world()
    out = fn(*args, **kwargs) if w.is_main else None
    w.barrier()
    return out
