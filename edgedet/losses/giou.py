"""Generalized IoU loss (Rezatofighi et al., CVPR 2019) for aligned pairs of xyxy boxes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GIoULoss", "giou_loss", "reduce_loss"]


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``'none' | 'mean' | 'sum'`` to an elementwise loss. ``'mean'`` of an empty tensor is 0, not NaN."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / max(loss.numel(), 1)
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def giou_loss(
    pred: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean", eps: float = 1e-7
) -> Tensor:
    """``1 - GIoU(pred[i], target[i])``.

    Args:
        pred: Float[N, 4] xyxy boxes (any units, same as ``target``).
        target: Float[N, 4] xyxy boxes.
        weight: optional Float[N] per-pair weight, multiplied in before reduction.
        reduction: ``'none'`` -> Float[N]; ``'mean'`` (over N, not over the weights) or ``'sum'`` -> scalar.
        eps: added to the union and enclosing areas so degenerate boxes stay finite.

    Returns:
        The loss, in [0, 2] per pair (times ``weight``).
    """
    if pred.shape != target.shape or pred.shape[-1] != 4:
        raise ValueError(f"pred and target must both be [N, 4], got {tuple(pred.shape)} and {tuple(target.shape)}")
    px0, py0, px1, py1 = pred.unbind(-1)
    tx0, ty0, tx1, ty1 = target.unbind(-1)
    area_p = (px1 - px0).clamp(min=0) * (py1 - py0).clamp(min=0)
    area_t = (tx1 - tx0).clamp(min=0) * (ty1 - ty0).clamp(min=0)
    iw = (torch.minimum(px1, tx1) - torch.maximum(px0, tx0)).clamp(min=0)
    ih = (torch.minimum(py1, ty1) - torch.maximum(py0, ty0)).clamp(min=0)
    inter = iw * ih
    union = area_p + area_t - inter + eps
    iou = inter / union
    ew = torch.maximum(px1, tx1) - torch.minimum(px0, tx0)
    eh = torch.maximum(py1, ty1) - torch.minimum(py0, ty0)
    enclose = ew.clamp(min=0) * eh.clamp(min=0) + eps
    loss = 1.0 - (iou - (enclose - union) / enclose)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


class GIoULoss(nn.Module):
    """Module wrapper of :func:`giou_loss` with a ``loss_weight`` multiplier."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean", eps: float = 1e-7) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return self.loss_weight * giou_loss(pred, target, weight, self.reduction, self.eps)
