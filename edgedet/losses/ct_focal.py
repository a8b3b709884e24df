"""CornerNet/CenterNet focal loss on Gaussian heatmaps (Law & Deng, ECCV 2018), as used by TTFNet and PAFNet."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CTFocalLoss", "ct_focal_loss"]


def ct_focal_loss(logits: Tensor, target: Tensor, gamma: float = 2.0, beta: float = 4.0, reduction: str = "mean",
                  pos_weight: Tensor | None = None) -> Tensor:
    """Penalty-reduced pixel-wise focal loss.

    Peaks (``target == 1``): ``-(1 - p)^gamma * log(p)``; elsewhere ``-(1 - t)^beta * p^gamma * log(1 - p)``.
    Computed from logits with log-sigmoid, so it stays finite for any logit.

    Args:
        logits: Float[...] heatmap logits (e.g. [B, C, H, W]).
        target: Float[...] same shape, Gaussian heatmap in [0, 1] with exact 1 at object centres.
        gamma: focusing exponent (2).
        beta: negative down-weighting exponent near centres (4).
        reduction: ``'mean'``: sum divided by the number of peaks (at least 1); ``'sum'``; ``'none'``: elementwise.
        pos_weight: optional Float[...] same shape; multiplies the peak terms (e.g. a CutMix box's mixing ratio).
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    target = target.to(logits.dtype)
    p = logits.sigmoid()
    pos = target.eq(1).to(logits.dtype)
    pos_w = pos if pos_weight is None else pos * pos_weight.to(logits.dtype)
    pos_loss = -F.logsigmoid(logits) * (1 - p).pow(gamma) * pos_w
    neg_loss = -F.logsigmoid(-logits) * p.pow(gamma) * (1 - target).pow(beta) * (1 - pos)
    loss = pos_loss + neg_loss
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / pos.sum().clamp(min=1)
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


class CTFocalLoss(nn.Module):
    """Module wrapper of :func:`ct_focal_loss` with a ``loss_weight`` multiplier."""

    def __init__(self, loss_weight: float = 1.0, gamma: float = 2.0, beta: float = 4.0, reduction: str = "mean"):
        super().__init__()
        self.loss_weight, self.gamma, self.beta, self.reduction = loss_weight, gamma, beta, reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * ct_focal_loss(logits, target, self.gamma, self.beta, self.reduction)
