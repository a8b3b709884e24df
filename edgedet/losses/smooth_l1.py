"""Smooth L1 and L1 losses."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss

__all__ = ["L1Loss", "SmoothL1Loss", "l1_loss", "smooth_l1_loss"]


def smooth_l1_loss(pred: Tensor, target: Tensor, beta: float = 1.0, reduction: str = "mean",
                   weight: Tensor | None = None) -> Tensor:
    """Elementwise ``0.5 x^2 / beta`` for ``|x| < beta`` else ``|x| - 0.5 beta``; ``beta == 0`` is L1."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    diff = (pred - target).abs()
    loss = diff if beta == 0 else torch.where(diff < beta, 0.5 * diff.clamp(max=beta) ** 2 / beta, diff - 0.5 * beta)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


def l1_loss(pred: Tensor, target: Tensor, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Elementwise ``|pred - target|``."""
    return smooth_l1_loss(pred, target, 0.0, reduction, weight)


class SmoothL1Loss(nn.Module):
    def __init__(self, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta, self.reduction, self.loss_weight = beta, reduction, loss_weight

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return self.loss_weight * smooth_l1_loss(pred, target, self.beta, self.reduction, weight)


class L1Loss(SmoothL1Loss):
    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__(0.0, reduction, loss_weight)
