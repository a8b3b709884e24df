"""Pure box functions. Boxes are ``Tensor[N, 4]``; the format is in every function name."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_area, box_iou, generalized_box_iou

__all__ = [
    "box_area", "box_iou", "generalized_box_iou", "box_xyxy_to_cxcywh", "box_cxcywh_to_xyxy",
    "points_ltrb_to_xyxy", "points_xyxy_to_ltrb", "elementwise_box_iou_xyxy",
]


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), dim=-1)


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def points_ltrb_to_xyxy(points: Tensor, ltrb: Tensor) -> Tensor:
    """Distances ``[..., 4]`` (left, top, right, bottom) from points ``[..., 2]`` (x, y) -> xyxy boxes."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x - ltrb[..., 0], y - ltrb[..., 1], x + ltrb[..., 2], y + ltrb[..., 3]), dim=-1)


def points_xyxy_to_ltrb(points: Tensor, boxes: Tensor) -> Tensor:
    """Inverse of :func:`points_ltrb_to_xyxy`."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y), dim=-1)


def elementwise_box_iou_xyxy(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """IoU of aligned pairs: ``a[i]`` with ``b[i]``; ``[..., 4]`` -> ``[...]``."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + eps)
