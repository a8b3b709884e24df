"""Region proposal network head and proposal generation (Faster R-CNN)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.ops import batched_nms, remove_small_boxes

from edgedet.structures.coders import DeltaXYWHCoder

__all__ = ["MIN_PROPOSAL_SIZE", "RPNHead", "generate_proposals", "select_level_topk", "sort_ascending"]

MIN_PROPOSAL_SIZE = 1e-3  # proposals narrower or lower than this (input px) are dropped before the RPN's NMS


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then 1x1 objectness (A per location, sigmoid) and 1x1 deltas (A*4), shared over levels."""

    def __init__(self, *, in_channels: int, feat_channels: int = 256, num_anchors: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, feat_channels, 3, padding=1)
        self.cls_out = nn.Conv2d(feat_channels, num_anchors, 1)
        self.reg_out = nn.Conv2d(feat_channels, num_anchors * 4, 1)
        for m in (self.conv, self.cls_out, self.reg_out):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per level objectness [B, A, H, W] and deltas [B, A*4, H, W]."""
        hidden = [torch.relu(self.conv(f)) for f in feats]
        return [self.cls_out(h) for h in hidden], [self.reg_out(h) for h in hidden]


def sort_ascending(idx: Tensor) -> Tensor:
    """Distinct Long[B, k] values sorted ascending along dim 1, by ranks from a [B, k, k] comparison: integer
    ops that every converter takes (TFLite has no integer sort, and an fp16 ONNX would round float keys). One
    side of each comparison is expanded: Paddle-Lite's compare kernels get two-sided broadcasting wrong."""
    b, k = int(idx.shape[0]), int(idx.shape[1])
    full = (b, k, k)
    rank = (idx[:, None, :].expand(full) < idx[:, :, None]).to(idx.dtype).sum(2)  # sorted position
    at = rank[:, :, None].expand(full) == torch.arange(k, device=idx.device)  # [B, k (element), k (position)]
    return (at.to(idx.dtype) * idx[:, :, None]).sum(1)


def select_level_topk(
    objectness: Tensor, deltas: Tensor, priors: Tensor, num_level_priors: Sequence[int], coder: DeltaXYWHCoder,
    image_size: tuple[int, int], nms_pre: int, *, anchor_order: bool = True,
) -> tuple[Tensor, Tensor, list[int]]:
    """The static-shape first half of proposal generation: per level the ``min(nms_pre, n_l)`` anchors with the
    highest objectness logits, decoded and clipped to the image.

    Args:
        objectness: Float[B, P] logits. deltas: Float[B, P, 4]. priors: Float[P, 4] xyxy.
        num_level_priors: P per level. image_size: (h, w) to clip to.
        anchor_order: within a level, keep the selected anchors in anchor order (the export graph: near-equal
            logits whose order differs by rounding between runtimes then permute no rows; only membership of
            the top-k can differ) instead of score order (cheaper: :func:`sort_ascending` is O(k^2)).

    Returns:
        (boxes Float[B, N, 4] xyxy, logits Float[B, N], selected per level ``[k_l]``), level by level,
        ``N = sum(k_l)``.
    """
    b = int(objectness.shape[0])
    boxes_l, logits_l, counts, start = [], [], [], 0
    for n in num_level_priors:
        s = objectness[:, start:start + n]
        k = min(nms_pre, n)
        idx = s.topk(k, dim=1).indices  # [B, k]
        idx = sort_ascending(idx) if anchor_order else idx
        flat = (idx + torch.arange(b, device=idx.device)[:, None] * n).reshape(-1)
        d = deltas[:, start:start + n].reshape(b * n, 4).index_select(0, flat)
        p = priors[start:start + n].index_select(0, idx.reshape(-1))
        boxes_l.append(coder.decode(p, d, max_shape=image_size).reshape(b, k, 4))
        logits_l.append(s.reshape(b * n).index_select(0, flat).reshape(b, k))
        counts.append(k)
        start += n
    return torch.cat(boxes_l, 1), torch.cat(logits_l, 1), counts


@torch.no_grad()
def generate_proposals(
    objectness: Tensor, deltas: Tensor, priors: Tensor, num_level_priors: Sequence[int], coder: DeltaXYWHCoder,
    image_size: tuple[int, int], *, nms_pre: int = 1000, nms_iou: float = 0.7, max_num: int = 1000,
    min_size: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Proposals of one image: top ``nms_pre`` per level by objectness (:func:`select_level_topk`), small boxes
    removed, NMS per level at ``nms_iou``, then the best ``max_num`` overall.

    Args:
        objectness: Float[P] logits. deltas: Float[P, 4]. priors: Float[P, 4] xyxy. image_size: (h, w).

    Returns:
        (Float[K, 4] xyxy boxes, Float[K] sigmoid scores), best first.
    """
    boxes, logits, counts = select_level_topk(objectness[None], deltas[None], priors, num_level_priors, coder,
                                              image_size, nms_pre, anchor_order=False)
    boxes, scores = boxes[0], logits[0].sigmoid()
    levels = torch.repeat_interleave(torch.arange(len(counts), device=boxes.device),
                                     torch.tensor(counts, device=boxes.device))
    keep = remove_small_boxes(boxes, max(min_size, MIN_PROPOSAL_SIZE))
    boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
    keep = batched_nms(boxes, scores, levels, nms_iou)
    keep = keep[scores[keep].argsort(descending=True)][:max_num]
    return boxes[keep], scores[keep]
