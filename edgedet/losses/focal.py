"""Sigmoid focal loss (RetinaNet) and its soft-target form (NoisyAnchor)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.losses.reduction import reduce_loss

__all__ = ["FocalLoss", "sigmoid_focal_loss", "soft_focal_loss"]


def sigmoid_focal_loss(
    logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none"
) -> Tensor:
    """``FL = -alpha_t (1 - p_t)^gamma log(p_t)`` elementwise (the torchvision definition).

    Args:
        logits: Float[N, C] raw scores.
        targets: Float[N, C] in {0, 1} (one-hot; all zeros for background). ``alpha < 0`` disables alpha_t.
        reduction: ``'none'`` -> Float[N, C]; ``'mean'`` over all elements; ``'sum'``.

    Stable for any finite logits: the log terms come from ``binary_cross_entropy_with_logits``.
    """
    targets = targets.to(logits.dtype)
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t).pow(gamma)
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return reduce_loss(loss, reduction)


def soft_focal_loss(
    logits: Tensor, targets: Tensor, alpha: float = 0.5, gamma: float = 2.0, reduction: str = "none"
) -> Tensor:
    """NoisyAnchor soft focal loss: ``-alpha s (1-p)^gamma log p - (1-alpha) (1-s) p^gamma log(1-p)``.

    Args:
        logits: Float[N, C]. targets: Float[N, C] soft labels ``s`` in [0, 1]. Equals
            :func:`sigmoid_focal_loss` when ``s`` is 0 or 1.
    """
    s = targets.to(logits.dtype)
    p = logits.sigmoid()
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    loss = -alpha * s * (1 - p).pow(gamma) * log_p - (1 - alpha) * (1 - s) * p.pow(gamma) * log_1mp
    return reduce_loss(loss, reduction)


class FocalLoss(nn.Module):
    """Module wrapper of :func:`sigmoid_focal_loss` with a ``loss_weight``."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "sum", loss_weight: float = 1.0):
        super().__init__()
        self.alpha, self.gamma, self.reduction, self.loss_weight = alpha, gamma, reduction, loss_weight

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.loss_weight * sigmoid_focal_loss(logits, targets, self.alpha, self.gamma, self.reduction)
