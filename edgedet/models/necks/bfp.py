"""Balanced feature pyramid (Libra R-CNN, Pang et al. CVPR 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BFP", "NonLocal2d", "adaptive_max_pool2d_static", "interpolate_nearest_static"]


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


def adaptive_max_pool2d_static(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``F.adaptive_max_pool2d(x, size)`` with static shapes, for export: a plain ``max_pool2d`` when the sizes
    divide, else one max per bin (the same bins, ``[floor(i * H / h), ceil((i + 1) * H / h))``)."""
    (h, w), (oh, ow) = (int(v) for v in x.shape[-2:]), size
    if h % oh == 0 and w % ow == 0:
        return F.max_pool2d(x, (h // oh, w // ow))
    x = torch.cat([x[:, :, i * h // oh: -(-(i + 1) * h // oh)].amax(2, keepdim=True) for i in range(oh)], 2)
    return torch.cat([x[..., j * w // ow: -(-(j + 1) * w // ow)].amax(3, keepdim=True) for j in range(ow)], 3)


def interpolate_nearest_static(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``F.interpolate(x, size, mode="nearest")`` for export: as is for integer upscaling factors, else as a gather
    of constant source rows / columns (``min(floor(i * float32(in / out)), in - 1)``, PyTorch's rule), which
    TFLite's resize does not reproduce for non-integer factors."""
    (h, w), (oh, ow) = (int(v) for v in x.shape[-2:]), size
    if oh % h == 0 and ow % w == 0:
        return F.interpolate(x, size=size, mode="nearest")

    def src(n_in: int, n_out: int) -> Tensor:
        idx = np.floor(np.arange(n_out, dtype=np.float32) * np.float32(n_in / n_out)).astype(np.int64)
        return torch.from_numpy(np.minimum(idx, n_in - 1)).to(x.device)

    return x.index_select(2, src(h, oh)).index_select(3, src(w, ow))


class BFP(nn.Module):
    """Rescale every level to ``refine_level`` (max-pool down, nearest up), average, refine with a non-local
    block, rescale back (nearest up, max-pool down) and add to each level as a residual. The rescaling uses
    static-shape equivalents of ``adaptive_max_pool2d`` / nearest ``interpolate`` so that every export converter
    reproduces it at any input size (a multiple of 32).

    Args:
        channels: channels of every pyramid level.
        num_levels: number of levels it receives.
        refine_level: index of the level the features are gathered at (1 for RetinaNet, 2 for Faster R-CNN).
    """

    def __init__(self, *, channels: int, num_levels: int, refine_level: int) -> None:
        super().__init__()
        if not 0 <= refine_level < num_levels:
            raise ValueError(f"refine_level must be in [0, {num_levels}), got {refine_level}")
        self.num_levels, self.refine_level = num_levels, refine_level
        self.refine = NonLocal2d(channels)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != self.num_levels:
            raise ValueError(f"BFP expects {self.num_levels} levels, got {len(feats)}")
        size = tuple(int(s) for s in feats[self.refine_level].shape[-2:])  # python ints: static when traced
        gathered = [
            adaptive_max_pool2d_static(f, size) if i < self.refine_level
            else interpolate_nearest_static(f, size)
            for i, f in enumerate(feats)
        ]
        bsf = self.refine(sum(gathered[1:], gathered[0]) / len(gathered))  # not a 5-D mean: x2paddle loses its shape
        outs = []
        for i, f in enumerate(feats):
            f_size = tuple(int(s) for s in f.shape[-2:])
            r = interpolate_nearest_static(bsf, f_size) if i < self.refine_level \
                else adaptive_max_pool2d_static(bsf, f_size)
            outs.append(f + r)
        return outs
