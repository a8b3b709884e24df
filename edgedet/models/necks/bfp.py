"""Balanced feature pyramid (Libra R-CNN, Pang et al. CVPR 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BFP", "NonLocal2d"]


class NonLocal2d(nn.Module):
    """Embedded-Gaussian non-local block: ``x + W_out softmax(theta(x)^T phi(x)) g(x)``; ``W_out`` starts at 0, so
    the block starts as the identity."""

    def __init__(self, channels: int, reduction: int = 1) -> None:
        super().__init__()
        inter = max(1, channels // reduction)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.g = nn.Conv2d(channels, inter, 1)
        self.out = nn.Conv2d(inter, channels, 1)
        for m in (self.theta, self.phi, self.g):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # [B, HW, C']
        phi = self.phi(x).flatten(2)  # [B, C', HW]
        g = self.g(x).flatten(2).transpose(1, 2)  # [B, HW, C']
        attn = torch.softmax(theta @ phi, dim=-1)  # [B, HW, HW]
        y = (attn @ g).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.out(y)


class BFP(nn.Module):
    """Rescale every level to ``refine_level`` (max-pool down, nearest up), average, refine with a non-local
    block, rescale back (nearest up, max-pool down) and add to each level as a residual.

    Args:
        channels: channels of every pyramid level.
        num_levels: number of levels it receives.
        refine_level: index of the level the features are gathered at (1 for RetinaNet, 2 for Faster R-CNN).
    """

    def __init__(self, channels: int, num_levels: int, refine_level: int) -> None:
        super().__init__()
        if not 0 <= refine_level < num_levels:
            raise ValueError(f"refine_level must be in [0, {num_levels}), got {refine_level}")
        self.num_levels, self.refine_level = num_levels, refine_level
        self.refine = NonLocal2d(channels)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != self.num_levels:
            raise ValueError(f"BFP expects {self.num_levels} levels, got {len(feats)}")
        size = feats[self.refine_level].shape[-2:]
        gathered = [
            F.adaptive_max_pool2d(f, size) if i < self.refine_level else F.interpolate(f, size=size, mode="nearest")
            for i, f in enumerate(feats)
        ]
        bsf = self.refine(torch.stack(gathered).mean(0))
        outs = []
        for i, f in enumerate(feats):
            r = F.interpolate(bsf, size=f.shape[-2:], mode="nearest") if i < self.refine_level \
                else F.adaptive_max_pool2d(bsf, f.shape[-2:])
            outs.append(f + r)
        return outs
