"""Loss functions (plain functions with a module wrapper)."""

from edgedet.losses.ct_focal import CTFocalLoss, ct_focal_loss
from edgedet.losses.giou import GIoULoss, giou_loss

__all__ = ["CTFocalLoss", "GIoULoss", "ct_focal_loss", "giou_loss"]
