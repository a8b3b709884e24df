"""Loss normalisers: batch-wide counts averaged over ranks, and the NoisyAnchor moving average of the count.

Under ``torch.distributed`` every rank divides its loss sum by ``sum_over_ranks(count) / world_size``, so the
averaged gradients equal single-process training on the combined batch, whatever the split of objects between
ranks. Without an initialised process group these are plain single-process values.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["EMANormalizer", "NumPosNormalizer", "all_reduce_mean", "global_normalizer"]


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_reduce_mean(value: float, device: torch.device) -> float:
    """Mean of a Python number over ranks (the number itself in a single process)."""
    ws = _world_size()
    if ws == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item() / ws)


def global_normalizer(count: Tensor) -> Tensor:
    """Per-rank share of a batch-wide loss normaliser (e.g. the number of positives), at least 1.

    Dividing each rank's loss sum by ``sum_over_ranks(count) / world_size`` makes the averaged gradients equal to
    single-process training on the combined batch, whatever the split of objects between ranks.
    """
    count = count.detach().float()
    ws = _world_size()
    if ws > 1:
        count = count.clone()
        dist.all_reduce(count)
        count = count / ws
    return count.clamp(min=1.0)


class NumPosNormalizer:
    """The number of positives in the batch (rank-averaged, at least 1)."""

    def __call__(self, num_pos: int, device: torch.device) -> Tensor:
        return global_normalizer(torch.tensor(float(num_pos), device=device))

    def update(self, num_pos: int, device: torch.device) -> None:
        """Nothing to track."""


class EMANormalizer(torch.nn.Module):
    """NoisyAnchor: exponential moving average of the (rank-averaged) positive count.

    The average lives in the buffer ``num_pos_ema`` (saved in checkpoints); :meth:`update` moves it towards
    each training batch's count with ``momentum``.

    Args:
        init: starting value (100). momentum: weight of the old value (0.9).
    """

    def __init__(self, init: float = 100.0, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = float(momentum)
        self.register_buffer("num_pos_ema", torch.tensor(float(init)), persistent=True)

    def __call__(self, num_pos: int, device: torch.device) -> Tensor:  # type: ignore[override]
        return self.num_pos_ema.detach().clamp(min=1.0)

    def update(self, num_pos: int, device: torch.device) -> None:
        n = all_reduce_mean(float(num_pos), device)
        self.num_pos_ema.mul_(self.momentum).add_((1 - self.momentum) * n)
