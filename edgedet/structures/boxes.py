"""Pure box functions: the one home of every IoU / GIoU. Boxes are ``Tensor[..., 4]``; the format is in every
function name.

Pairwise functions (``[N, 4] x [M, 4] -> [N, M]``) build the full matrix in place, keeping at most two
``N x M`` matrices alive; callers that must bound memory (the assigners) call them on chunks of rows.
Elementwise functions compare aligned pairs (``a[i]`` with ``b[i]``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "box_area_xyxy",
    "elementwise_box_giou_xyxy",
    "elementwise_box_iou_xyxy",
    "pairwise_box_iof_xyxy",
    "pairwise_box_iou_xyxy",
    "points_ltrb_to_xyxy",
    "points_xyxy_to_ltrb",
]


def points_ltrb_to_xyxy(points: Tensor, ltrb: Tensor) -> Tensor:
    """Distances ``[..., 4]`` (left, top, right, bottom) from points ``[..., 2]`` (x, y) -> xyxy boxes."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x - ltrb[..., 0], y - ltrb[..., 1], x + ltrb[..., 2], y + ltrb[..., 3]), dim=-1)


def points_xyxy_to_ltrb(points: Tensor, boxes: Tensor) -> Tensor:
    """Inverse of :func:`points_ltrb_to_xyxy`."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y), dim=-1)


def box_area_xyxy(boxes: Tensor) -> Tensor:
    """Float[N, 4] xyxy -> Float[N] areas; inverted sides count as 0."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def _pairwise_inter(a: Tensor, b: Tensor) -> Tensor:
    """Intersection areas ``[len(a), len(b)]`` computed in place to keep at most two matrices alive."""
    iw = torch.minimum(a[:, None, 2], b[None, :, 2]).sub_(torch.maximum(a[:, None, 0], b[None, :, 0])).clamp_(min=0)
    ih = torch.minimum(a[:, None, 3], b[None, :, 3]).sub_(torch.maximum(a[:, None, 1], b[None, :, 1])).clamp_(min=0)
    return iw.mul_(ih)


def pairwise_box_iou_xyxy(a: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU ``[len(a), len(b)]`` of Float[N, 4] and Float[M, 4] xyxy boxes; the union is clamped to ``eps``."""
    inter = _pairwise_inter(a, b)
    union = (box_area_xyxy(a)[:, None] + box_area_xyxy(b)[None, :]).sub_(inter).clamp_(min=eps)
    return inter.div_(union)


def pairwise_box_iof_xyxy(a: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
    """Intersection over the area of ``a`` (foreground), ``[len(a), len(b)]``."""
    return _pairwise_inter(a, b).div_(box_area_xyxy(a).clamp(min=eps)[:, None])


def _elementwise_inter_union(a: Tensor, b: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    ax0, ay0, ax1, ay1 = a.unbind(-1)
    bx0, by0, bx1, by1 = b.unbind(-1)
    area_a = (ax1 - ax0).clamp(min=0) * (ay1 - ay0).clamp(min=0)
    area_b = (bx1 - bx0).clamp(min=0) * (by1 - by0).clamp(min=0)
    iw = (torch.minimum(ax1, bx1) - torch.maximum(ax0, bx0)).clamp(min=0)
    ih = (torch.minimum(ay1, by1) - torch.maximum(ay0, by0)).clamp(min=0)
    inter = iw * ih
    return inter, area_a + area_b - inter + eps


def elementwise_box_iou_xyxy(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """IoU of aligned pairs: ``a[i]`` with ``b[i]``; ``[..., 4]`` -> ``[...]``; ``eps`` is added to the union."""
    inter, union = _elementwise_inter_union(a, b, eps)
    return inter / union


def elementwise_box_giou_xyxy(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """Generalized IoU (Rezatofighi et al., CVPR 2019) of aligned pairs; ``[..., 4]`` -> ``[...]`` in [-1, 1].

    ``eps`` is added to the union and to the enclosing area, so degenerate boxes stay finite.
    """
    inter, union = _elementwise_inter_union(a, b, eps)
    iou = inter / union
    ew = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    eh = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    enclose = ew.clamp(min=0) * eh.clamp(min=0) + eps
    return iou - (enclose - union) / enclose
