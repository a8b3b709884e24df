"""Varifocal loss (VarifocalNet, Zhang et al. CVPR 2021)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss

__all__ = ["VarifocalLoss", "varifocal_loss"]


def varifocal_loss(
    logits: Tensor, targets: Tensor, alpha: float = 0.75, gamma: float = 2.0, reduction: str = "mean"
) -> Tensor:
    """``VFL(p, q) = BCE(p, q) * w``, ``w = q`` where ``q > 0`` else ``alpha |p - q|^gamma`` (= alpha p^gamma).

    Args:
        logits: Float[N, C] raw scores. targets: Float[N, C] IoU-aware targets ``q`` (IoU at the GT class of a
            positive, 0 elsewhere).
        reduction: ``'none'`` -> Float[N, C] elementwise; ``'mean'``; ``'sum'``. Finite for logits of any size.
    """
    q = targets.to(logits.dtype)
    p = logits.sigmoid()
    w = (q > 0).to(logits.dtype) * q + (q <= 0).to(logits.dtype) * alpha * (p - q).abs().pow(gamma)
    loss = F.binary_cross_entropy_with_logits(logits, q, reduction="none") * w
    return reduce_loss(loss, reduction)


class VarifocalLoss(nn.Module):
    def __init__(self, alpha: float = 0.75, gamma: float = 2.0, reduction: str = "sum", loss_weight: float = 1.0):
        super().__init__()
        self.alpha, self.gamma, self.reduction, self.loss_weight = alpha, gamma, reduction, loss_weight

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.loss_weight * varifocal_loss(logits, targets, self.alpha, self.gamma, self.reduction)
