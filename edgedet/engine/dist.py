"""torch.distributed helpers: launched with torchrun (env RANK / WORLD_SIZE / LOCAL_RANK)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from edgedet.losses.normalizer import all_reduce_mean

__all__ = [
    "all_reduce_mean", "average_gradients", "barrier", "broadcast_buffers", "broadcast_parameters", "init_from_env",
    "is_main", "rank", "world_size",
]


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init_from_env(device: str) -> bool:
    """Initialise the default process group when launched by torchrun; returns True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def average_gradients(model: nn.Module) -> None:
    """All-reduce and average gradients in one flat buffer per dtype.

    Done explicitly rather than through DistributedDataParallel because some detectors (two-stage R-CNN) use
    parameters in ``loss()`` after ``forward()``, which DDP's reducer cannot see.
    """
    ws = world_size()
    if ws == 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for g in grads:
        by_dtype.setdefault(g.dtype, []).append(g)
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        flat /= ws
        offset = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n


def broadcast_buffers(model: nn.Module) -> None:
    """Make BatchNorm statistics (and other buffers) rank 0's, as DDP does at every forward."""
    if world_size() == 1:
        return
    for b in model.buffers():
        dist.broadcast(b, src=0)


def broadcast_parameters(model: nn.Module) -> None:
    if world_size() == 1:
        return
    for p in model.parameters():
        dist.broadcast(p.data, src=0)
