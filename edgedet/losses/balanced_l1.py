"""Balanced L1 loss (Libra R-CNN, Pang et al. CVPR 2019)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss

__all__ = ["BalancedL1Loss", "balanced_l1_loss"]


def balanced_l1_loss(
    pred: Tensor, target: Tensor, alpha: float = 0.5, gamma: float = 1.5, beta: float = 1.0,
    reduction: str = "mean", weight: Tensor | None = None,
) -> Tensor:
    """Elementwise; ``x = pred - target``, ``b = e^(gamma / alpha) - 1``:
    ``|x| < beta``: ``alpha / b (b|x| + 1) ln(b|x| / beta + 1) - alpha |x|``; else ``gamma |x| + gamma / b - alpha beta``.

    Args:
        pred, target: Float[..., 4] (or any equal shapes). weight: optional, broadcast to the loss.
        reduction: ``'none'`` (elementwise) | ``'mean'`` | ``'sum'``.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    diff = (pred - target).abs()
    b = math.exp(gamma / alpha) - 1
    small = diff.clamp(max=beta)  # keeps the unused branch finite (and its gradient 0) for huge |x|
    inner = alpha / b * (b * small + 1) * torch.log(b * small / beta + 1) - alpha * small
    outer = gamma * diff + gamma / b - alpha * beta
    loss = torch.where(diff < beta, inner, outer)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


class BalancedL1Loss(nn.Module):
    def __init__(self, alpha: float = 0.5, gamma: float = 1.5, beta: float = 1.0, reduction: str = "mean",
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha, self.gamma, self.beta = alpha, gamma, beta
        self.reduction, self.loss_weight = reduction, loss_weight

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return self.loss_weight * balanced_l1_loss(pred, target, self.alpha, self.gamma, self.beta,
                                                   self.reduction, weight)
