"""The ``reduction`` argument every loss function takes."""

from __future__ import annotations

from torch import Tensor

__all__ = ["reduce_loss"]


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``'none' | 'mean' | 'sum'`` to an elementwise loss. ``'mean'`` of an empty tensor is 0, not NaN."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / max(loss.numel(), 1)
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
