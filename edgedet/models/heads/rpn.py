"""Region proposal network head and proposal generation (Faster R-CNN)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.ops import batched_nms, remove_small_boxes

from edgedet.structures.coders import DeltaXYWHCoder

__all__ = ["RPNHead", "generate_proposals"]


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then 1x1 objectness (A per location, sigmoid) and 1x1 deltas (A*4), shared over levels."""

    def __init__(self, in_channels: int, feat_channels: int = 256, num_anchors: int = 3) -> None:
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


@torch.no_grad()
def generate_proposals(
    objectness: Tensor, deltas: Tensor, priors: Tensor, num_level_priors: Sequence[int], coder: DeltaXYWHCoder,
    image_size: tuple[int, int], *, nms_pre: int = 1000, nms_iou: float = 0.7, max_num: int = 1000,
    min_size: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Proposals of one image: top ``nms_pre`` per level by objectness, decoded and clipped, small boxes removed,
    NMS per level at ``nms_iou``, then the best ``max_num`` overall.

    Args:
        objectness: Float[P] logits. deltas: Float[P, 4]. priors: Float[P, 4] xyxy. image_size: (h, w).

    Returns:
        (Float[K, 4] xyxy boxes, Float[K] sigmoid scores), best first.
    """
    boxes_l, scores_l, level_l, start = [], [], [], 0
    for lvl, n in enumerate(num_level_priors):
        s = objectness[start:start + n]
        k = min(nms_pre, n)
        s, idx = s.topk(k)
        idx = idx + start
        boxes_l.append(coder.decode(priors[idx], deltas[idx], max_shape=image_size))
        scores_l.append(s.sigmoid())
        level_l.append(torch.full((k,), lvl, dtype=torch.long, device=s.device))
        start += n
    boxes, scores, levels = torch.cat(boxes_l), torch.cat(scores_l), torch.cat(level_l)
    keep = remove_small_boxes(boxes, max(min_size, 1e-3))
    boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
    keep = batched_nms(boxes, scores, levels, nms_iou)
    keep = keep[scores[keep].argsort(descending=True)][:max_num]
    return boxes[keep], scores[keep]
