"""Distillation losses: pure functions of student and teacher tensors (the teacher's side is never differentiated).

- :func:`heatmap_distill_loss`: teacher-confidence-weighted squared error between sigmoid heatmaps (SparseKD form).
- :func:`soft_quality_focal_loss`: QFL against soft targets in [0, 1] per cell and class (zero where p == target).
- :func:`channel_standardize` / :func:`pkd_loss`: PKD feature imitation, ``(1 - Pearson) / 2`` per channel.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from edgedet.losses.reduction import reduce_loss

__all__ = ["channel_standardize", "heatmap_distill_loss", "pkd_loss", "soft_quality_focal_loss"]


def heatmap_distill_loss(student_logits: Tensor, teacher_logits: Tensor, reduction: str = "mean") -> Tensor:
    """``sum m (sig(s) - sig(t))^2 / sum m`` with ``m = max_c sig(t)`` per cell (the teacher's confidence).

    Args:
        student_logits, teacher_logits: Float[B, C, H, W] heatmap logits (the teacher's is detached here).
        reduction: ``'mean'`` -> the normalised scalar above; ``'sum'`` -> the numerator; ``'none'`` ->
            Float[B, H, W] per-cell ``m * sum_c (sig(s) - sig(t))^2``.

    Returns:
        Zero when the student's heatmap equals the teacher's.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} heatmaps "
                         "differ in shape: same classes and input size are needed")
    t = teacher_logits.detach().float().sigmoid()
    m = t.amax(1)  # [B, H, W]
    per_cell = m * (student_logits.float().sigmoid() - t).square().sum(1)
    if reduction == "mean":
        return per_cell.sum() / m.sum().clamp(min=1e-6)
    return reduce_loss(per_cell, reduction)


def soft_quality_focal_loss(logits: Tensor, targets: Tensor, beta: float = 2.0, reduction: str = "sum") -> Tensor:
    """Quality focal loss against soft targets: ``|y - sig(x)|^beta * BCE(x, y)`` elementwise.

    Args:
        logits: Float[...] logits. targets: Float[...] soft targets ``y`` in [0, 1], same shape.
        beta: focusing exponent (2).

    Returns:
        Elementwise loss reduced by ``reduction``; zero wherever ``sig(x) == y``.
    """
    y = targets.detach().to(logits.dtype)
    scale = (logits.sigmoid() - y).abs().pow(beta)
    return reduce_loss(scale * F.binary_cross_entropy_with_logits(logits, y, reduction="none"), reduction)


def channel_standardize(feat: Tensor, eps: float = 1e-6) -> Tensor:
    """Each channel of each image to zero mean and unit variance over its spatial positions: Float[B, C, H, W]."""
    flat = feat.float().flatten(2)
    mean = flat.mean(2, keepdim=True)
    std = flat.std(2, unbiased=False, keepdim=True)
    return ((flat - mean) / (std + eps)).view_as(feat)


def pkd_loss(student_feat: Tensor, teacher_feat: Tensor, reduction: str = "mean") -> Tensor:
    """PKD (Cao et al., NeurIPS 2022): MSE / 2 of the channel-standardised maps, i.e. ``1 - Pearson`` per channel.

    Args:
        student_feat: Float[B, C, H, W] (already mapped to the teacher's channels, e.g. by a 1x1 adapter);
            resized bilinearly to the teacher's H, W when they differ.
        teacher_feat: Float[B, C, H', W'] (detached here).

    Returns:
        'mean': a scalar in [0, 2]; zero when the maps are equal up to a positive per-channel affine map.
    """
    if student_feat.shape[:2] != teacher_feat.shape[:2]:
        raise ValueError(f"student {tuple(student_feat.shape)} and teacher {tuple(teacher_feat.shape)} features need "
                         "the same batch and channels (map the student's through an adapter first)")
    if student_feat.shape[-2:] != teacher_feat.shape[-2:]:
        student_feat = F.interpolate(student_feat, size=teacher_feat.shape[-2:], mode="bilinear", align_corners=False)
    diff = channel_standardize(student_feat) - channel_standardize(teacher_feat.detach())
    return reduce_loss(diff.square() / 2, reduction)
