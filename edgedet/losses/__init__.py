"""Loss functions (plain functions with a module wrapper), their reduction and the loss normalisers."""

from edgedet.losses.balanced_l1 import BalancedL1Loss, balanced_l1_loss
from edgedet.losses.ct_focal import CTFocalLoss, ct_focal_loss
from edgedet.losses.focal import FocalLoss, sigmoid_focal_loss, soft_focal_loss
from edgedet.losses.giou import GIoULoss, giou_loss
from edgedet.losses.iou_branch import IoUBranchLoss, centerness_target, iou_branch_loss
from edgedet.losses.normalizer import EMANormalizer, NumPosNormalizer, all_reduce_mean, global_normalizer
from edgedet.losses.qfl import QualityFocalLoss, quality_focal_loss
from edgedet.losses.reduction import reduce_loss
from edgedet.losses.smooth_l1 import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from edgedet.losses.vfl import VarifocalLoss, varifocal_loss

__all__ = [
    "BalancedL1Loss",
    "CTFocalLoss",
    "EMANormalizer",
    "FocalLoss",
    "GIoULoss",
    "IoUBranchLoss",
    "L1Loss",
    "NumPosNormalizer",
    "QualityFocalLoss",
    "SmoothL1Loss",
    "VarifocalLoss",
    "all_reduce_mean",
    "balanced_l1_loss",
    "centerness_target",
    "ct_focal_loss",
    "giou_loss",
    "global_normalizer",
    "iou_branch_loss",
    "l1_loss",
    "quality_focal_loss",
    "reduce_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "soft_focal_loss",
    "varifocal_loss",
]
