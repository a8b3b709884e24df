"""Generalized IoU loss (Rezatofighi et al., CVPR 2019) for aligned pairs of xyxy boxes."""

from __future__ import annotations

from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss
from edgedet.structures.boxes import elementwise_box_giou_xyxy

__all__ = ["GIoULoss", "giou_loss"]


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
    loss = 1.0 - elementwise_box_giou_xyxy(pred, target, eps)
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
