"""Quality focal loss (GFL, Li et al. NeurIPS 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss

__all__ = ["QualityFocalLoss", "quality_focal_loss"]


def quality_focal_loss(
    logits: Tensor, labels: Tensor, scores: Tensor, beta: float = 2.0, reduction: str = "mean"
) -> Tensor:
    """``QFL = -|y - sigma|^beta ((1 - y) log(1 - sigma) + y log sigma)``, summed over classes.

    Args:
        logits: Float[N, C] raw scores.
        labels: Long[N] class of each sample; ``== C`` (or any value outside ``[0, C)``) is background.
        scores: Float[N] quality target ``y`` (e.g. IoU) of the labelled class; ignored for background.
        reduction: ``'none'`` -> Float[N] (per sample, summed over classes); ``'mean'`` over N; ``'sum'``.
    """
    c = logits.shape[1]
    sig = logits.sigmoid()
    # background everywhere: BCE against 0 scaled by sigma^beta
    loss = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none") * sig.pow(beta)
    pos = (labels >= 0) & (labels < c)
    if pos.any():
        rows = torch.nonzero(pos, as_tuple=False).squeeze(1)
        cols = labels[rows]
        y = scores[rows].to(logits.dtype)
        x = logits[rows, cols]
        pos_loss = F.binary_cross_entropy_with_logits(x, y, reduction="none") * (y - x.sigmoid()).abs().pow(beta)
        loss = loss.index_put((rows, cols), pos_loss)
    return reduce_loss(loss.sum(dim=1), reduction)


class QualityFocalLoss(nn.Module):
    def __init__(self, beta: float = 2.0, reduction: str = "sum", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta, self.reduction, self.loss_weight = beta, reduction, loss_weight

    def forward(self, logits: Tensor, labels: Tensor, scores: Tensor) -> Tensor:
        return self.loss_weight * quality_focal_loss(logits, labels, scores, self.beta, self.reduction)
