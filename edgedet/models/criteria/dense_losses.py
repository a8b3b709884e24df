"""The parts a :class:`~edgedet.models.criteria.dense.DenseCriterion` is composed of.

* classification losses: ``cls_loss(cls, positives, iou_target) -> Float[B, P]`` per-prior loss, summed over
  classes (:class:`FocalClassification`, :class:`QualityFocalClassification`, :class:`VarifocalClassification`);
* box losses: ``box_loss(pred, target) -> Float[N]`` per positive, with ``weight``, ``on`` (``"deltas"``: encoded
  by the detector's coder, or ``"boxes"``: decoded xyxy) and ``quality_weighted`` (:class:`L1BoxLoss`,
  :class:`SmoothL1BoxLoss`, :class:`BalancedL1BoxLoss`, :class:`GIoUBoxLoss`);
* quality targets of a quality branch: ``quality(priors, gt_boxes, iou_target) -> Float[N]``
  (:class:`CenternessTarget`, :class:`IoUTarget`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgedet.losses.balanced_l1 import balanced_l1_loss
from edgedet.losses.focal import sigmoid_focal_loss, soft_focal_loss
from edgedet.losses.giou import giou_loss
from edgedet.losses.iou_branch import centerness_target
from edgedet.losses.qfl import quality_focal_loss
from edgedet.losses.smooth_l1 import smooth_l1_loss
from edgedet.losses.vfl import varifocal_loss

__all__ = [
    "BalancedL1BoxLoss",
    "BoxLoss",
    "CenternessTarget",
    "DensePositives",
    "FocalClassification",
    "GIoUBoxLoss",
    "IoUTarget",
    "L1BoxLoss",
    "QualityFocalClassification",
    "SmoothL1BoxLoss",
    "VarifocalClassification",
]


@dataclass
class DensePositives:
    """The positive priors of a batch, one row each.

    Attributes:
        b: Long[N] image index. p: Long[N] prior index. boxes: Float[N, 4] matched GT boxes, xyxy input px.
        labels: Long[N] classes. soft: Float[N] classification targets from the assigner (NoisyAnchor), else None.
        weights: Float[N] loss re-weights from the assigner (NoisyAnchor), else None.
    """

    b: Tensor
    p: Tensor
    boxes: Tensor
    labels: Tensor
    soft: Tensor | None
    weights: Tensor | None


# --- classification -------------------------------------------------------------------------------------------


class FocalClassification:
    """Sigmoid focal loss against one-hot targets (RetinaNet, ATSS); where the assigner gives soft targets
    (NoisyAnchor) the soft focal loss against them, so any assigner can be swapped in."""

    def __init__(self, *, alpha: float = 0.25, gamma: float = 2.0) -> None:
        self.alpha, self.gamma = float(alpha), float(gamma)

    def __call__(self, cls: Tensor, pos: DensePositives, iou_target: Tensor) -> Tensor:
        """cls: Float[B, P, C] logits -> Float[B, P] (in fp32, also under AMP)."""
        cls = cls.float()
        t = torch.zeros_like(cls)
        if pos.soft is not None:
            t[pos.b, pos.p, pos.labels] = pos.soft.float()
            el = soft_focal_loss(cls, t, self.alpha, self.gamma, reduction="none")
        else:
            t[pos.b, pos.p, pos.labels] = 1.0
            el = sigmoid_focal_loss(cls, t, self.alpha, self.gamma, reduction="none")
        return el.sum(-1)


class QualityFocalClassification:
    """Quality focal loss (GFL): the positive's target is the IoU of its detached decoded prediction with its GT."""

    def __init__(self, *, beta: float = 2.0) -> None:
        self.beta = float(beta)

    def __call__(self, cls: Tensor, pos: DensePositives, iou_target: Tensor) -> Tensor:
        cls = cls.float()  # fp32 loss and targets, also under AMP (fp16 logits)
        b, n, c = cls.shape
        labels = torch.full((b, n), c, dtype=torch.long, device=cls.device)
        labels[pos.b, pos.p] = pos.labels
        score = cls.new_zeros(b, n)
        score[pos.b, pos.p] = iou_target.float()
        rows = quality_focal_loss(cls.reshape(-1, c), labels.reshape(-1), score.reshape(-1), self.beta,
                                  reduction="none")
        return rows.reshape(b, n)


class VarifocalClassification:
    """Varifocal loss (VarifocalNet) against IoU-aware targets (IoU of the detached decoded prediction)."""

    def __init__(self, *, alpha: float = 0.75, gamma: float = 2.0) -> None:
        self.alpha, self.gamma = float(alpha), float(gamma)

    def __call__(self, cls: Tensor, pos: DensePositives, iou_target: Tensor) -> Tensor:
        cls = cls.float()  # fp32 loss and targets, also under AMP (fp16 logits)
        t = torch.zeros_like(cls)
        t[pos.b, pos.p, pos.labels] = iou_target.float()
        return varifocal_loss(cls, t, self.alpha, self.gamma, reduction="none").sum(-1)


# --- box regression -------------------------------------------------------------------------------------------


class BoxLoss:
    """A box loss of the positives.

    Args:
        weight: multiplier of the normalised loss.
        quality_weighted: weight each positive by its quality target (centerness for ATSS, predicted IoU for
            Dynamic ATSS) and normalise by the sum of those weights; needs a quality target in the criterion.

    Class attribute ``on``: ``"deltas"`` (prediction and target encoded by the detector's coder) or ``"boxes"``
    (decoded xyxy prediction against the GT box).
    """

    on = "deltas"

    def __init__(self, *, weight: float = 1.0, quality_weighted: bool = False) -> None:
        self.weight, self.quality_weighted = float(weight), bool(quality_weighted)

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        """Float[N, 4] each -> Float[N]."""
        raise NotImplementedError


class L1BoxLoss(BoxLoss):
    """L1 on encoded deltas, summed over the 4 coordinates (RetinaNet)."""

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return smooth_l1_loss(pred, target, 0.0, reduction="none").sum(-1)


class SmoothL1BoxLoss(BoxLoss):
    """Smooth L1 (``beta``) on encoded deltas, summed over the 4 coordinates."""

    def __init__(self, *, beta: float = 0.11, weight: float = 1.0, quality_weighted: bool = False) -> None:
        super().__init__(weight=weight, quality_weighted=quality_weighted)
        self.beta = float(beta)

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return smooth_l1_loss(pred, target, self.beta, reduction="none").sum(-1)


class BalancedL1BoxLoss(BoxLoss):
    """Balanced L1 (Libra R-CNN) on encoded deltas, summed over the 4 coordinates."""

    def __init__(self, *, alpha: float = 0.5, gamma: float = 1.5, beta: float = 0.11, weight: float = 1.0,
                 quality_weighted: bool = False) -> None:
        super().__init__(weight=weight, quality_weighted=quality_weighted)
        self.alpha, self.gamma, self.beta = float(alpha), float(gamma), float(beta)

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return balanced_l1_loss(pred, target, self.alpha, self.gamma, self.beta, reduction="none").sum(-1)


class GIoUBoxLoss(BoxLoss):
    """``1 - GIoU`` of the decoded predicted box with its GT box."""

    on = "boxes"

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return giou_loss(pred, target, reduction="none")


# --- quality branch targets -----------------------------------------------------------------------------------


class CenternessTarget:
    """FCOS/ATSS centerness of the positive prior's centre in its GT box (the head's ``quality="centerness"``)."""

    name = "centerness"

    def __call__(self, priors: Tensor, gt_boxes: Tensor, iou_target: Tensor) -> Tensor:
        """priors, gt_boxes: Float[N, 4] xyxy; iou_target: Float[N] -> Float[N]."""
        return centerness_target((priors[:, :2] + priors[:, 2:]) / 2, gt_boxes)


class IoUTarget:
    """IoU of the detached decoded prediction with its GT box (Dynamic ATSS; the head's ``quality="iou"``)."""

    name = "iou"

    def __call__(self, priors: Tensor, gt_boxes: Tensor, iou_target: Tensor) -> Tensor:
        return iou_target
