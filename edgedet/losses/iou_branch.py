"""Quality-branch losses: BCE of an IoU (or centerness) logit against its target, and the centerness target."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss

__all__ = ["IoUBranchLoss", "centerness_target", "iou_branch_loss"]


def iou_branch_loss(logits: Tensor, targets: Tensor, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Elementwise BCE-with-logits of Float[N] quality logits against Float[N] targets in [0, 1]."""
    loss = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


def centerness_target(points: Tensor, gt_boxes: Tensor) -> Tensor:
    """FCOS/ATSS centerness ``sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))`` of Float[N, 2] points in their
    Float[N, 4] xyxy GT boxes; 0 for points outside."""
    l = points[:, 0] - gt_boxes[:, 0]
    t = points[:, 1] - gt_boxes[:, 1]
    r = gt_boxes[:, 2] - points[:, 0]
    b = gt_boxes[:, 3] - points[:, 1]
    lr = torch.stack((l, r), -1).clamp(min=0)
    tb = torch.stack((t, b), -1).clamp(min=0)
    c = (lr.min(-1).values / lr.max(-1).values.clamp(min=1e-6)) * (tb.min(-1).values / tb.max(-1).values.clamp(min=1e-6))
    return c.sqrt()


class IoUBranchLoss(nn.Module):
    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction, self.loss_weight = reduction, loss_weight

    def forward(self, logits: Tensor, targets: Tensor, weight: Tensor | None = None) -> Tensor:
        return self.loss_weight * iou_branch_loss(logits, targets, self.reduction, weight)
