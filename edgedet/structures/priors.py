"""Multi-level prior generators: anchor boxes (RetinaNet, ATSS, R-CNN).

Layout of the priors of one level (the same as a head output ``[B, A*K, H, W]`` permuted to ``[B, H, W, A*K]``
and reshaped to ``[B, H*W*A, K]``): index ``(y * W + x) * A + a``. Levels are concatenated from the finest
stride up. Anchor ``a`` of location ``(x, y)`` is ``base_anchors[a] + (cx, cy, cx, cy)`` with
``cx = (x + center_offset) * stride``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["AnchorGenerator", "atss_anchors", "feat_sizes_for_input", "retinanet_anchors"]


def feat_sizes_for_input(height: int, width: int, strides: Sequence[int]) -> list[tuple[int, int]]:
    """Feature-map sizes of a backbone whose every stride-2 layer maps ``n -> ceil(n / 2)``.

    That holds for ResNet (7x7/2 pad 3, 3x3/2 pad 1 max-pool, 3x3/2 pad 1 convs) and the FPN's 3x3/2 extra convs.
    """
    sizes = []
    for s in strides:
        if s & (s - 1):
            raise ValueError(f"strides must be powers of two, got {s}")
        h, w = height, width
        for _ in range(int(math.log2(s))):
            h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes


class AnchorGenerator:
    """Anchors of ``len(ratios) * scales_per_octave`` shapes at every location of every level.

    Args:
        strides: one stride per level, finest first (RetinaNet: 8, 16, 32, 64, 128).
        octave_base_scale: anchor side = ``octave_base_scale * stride * 2**(i / scales_per_octave)``.
        scales_per_octave: number of scales per octave (RetinaNet 3, ATSS 1).
        ratios: height / width ratios; anchors keep the area of the square anchor.
        center_offset: anchor centre within its cell, in strides (0.5 = cell centre).
    """

    def __init__(
        self,
        strides: Sequence[int] = (8, 16, 32, 64, 128),
        *,
        octave_base_scale: float = 4.0,
        scales_per_octave: int = 3,
        ratios: Sequence[float] = (0.5, 1.0, 2.0),
        center_offset: float = 0.5,
    ) -> None:
        if not strides or scales_per_octave < 1 or not ratios:
            raise ValueError("need at least one stride, one scale and one ratio")
        self.strides = tuple(int(s) for s in strides)
        self.octave_base_scale = float(octave_base_scale)
        self.scales_per_octave = int(scales_per_octave)
        self.ratios = tuple(float(r) for r in ratios)
        self.center_offset = float(center_offset)

    @property
    def num_base_priors(self) -> int:
        """Anchors per location (``A``)."""
        return len(self.ratios) * self.scales_per_octave

    def base_anchors(self, level: int) -> Tensor:
        """Float[A, 4] xyxy anchors centred on (0, 0); order: ratio-major, then scale."""
        scales = torch.tensor([2.0 ** (i / self.scales_per_octave) for i in range(self.scales_per_octave)])
        size = self.octave_base_scale * self.strides[level]
        h_ratios = torch.tensor(self.ratios).sqrt()
        w_ratios = 1.0 / h_ratios
        ws = (size * w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (size * h_ratios[:, None] * scales[None, :]).reshape(-1)
        return torch.stack((-ws / 2, -hs / 2, ws / 2, hs / 2), dim=-1)

    def level_centers(self, level: int, feat_size: tuple[int, int], device: Any = None) -> Tensor:
        """Float[H*W, 2] cell centres (x, y) in input pixels, row-major."""
        h, w = feat_size
        s = self.strides[level]
        ys = (torch.arange(h, dtype=torch.float32, device=device) + self.center_offset) * s
        xs = (torch.arange(w, dtype=torch.float32, device=device) + self.center_offset) * s
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack((xx.reshape(-1), yy.reshape(-1)), dim=-1)

    def grid_priors(self, feat_sizes: Sequence[tuple[int, int]], device: Any = None) -> list[Tensor]:
        """Per level Float[H*W*A, 4] xyxy anchors in input pixels (layout in the module docstring)."""
        if len(feat_sizes) != len(self.strides):
            raise ValueError(f"got {len(feat_sizes)} feature sizes for {len(self.strides)} strides")
        out = []
        for lvl, size in enumerate(feat_sizes):
            c = self.level_centers(lvl, size, device)  # [H*W, 2]
            shifts = torch.cat((c, c), dim=-1)  # [H*W, 4]
            out.append((shifts[:, None, :] + self.base_anchors(lvl).to(device)[None]).reshape(-1, 4))
        return out

    def num_level_priors(self, feat_sizes: Sequence[tuple[int, int]]) -> list[int]:
        return [h * w * self.num_base_priors for h, w in feat_sizes]

    def spec(self, feat_sizes: Sequence[tuple[int, int]]) -> dict[str, Any]:
        """JSON-able description from which a numpy runtime rebuilds exactly :meth:`grid_priors`."""
        return {
            "type": "grid_anchors",
            "strides": list(self.strides),
            "feat_sizes": [list(s) for s in feat_sizes],
            "center_offset": self.center_offset,
            "base_anchors": [self.base_anchors(i).tolist() for i in range(len(self.strides))],
            "layout": "level, y, x, anchor; prior = base_anchor + ((x+off)*s, (y+off)*s, (x+off)*s, (y+off)*s)",
        }


def retinanet_anchors(strides: Sequence[int] = (8, 16, 32, 64, 128)) -> AnchorGenerator:
    """RetinaNet: 3 scales x 3 ratios, octave base 4 (sides 32-812 px over P3-P7)."""
    return AnchorGenerator(strides, octave_base_scale=4.0, scales_per_octave=3, ratios=(0.5, 1.0, 2.0))


def atss_anchors(strides: Sequence[int] = (8, 16, 32, 64, 128)) -> AnchorGenerator:
    """ATSS: one square anchor per location, side 8 x stride."""
    return AnchorGenerator(strides, octave_base_scale=8.0, scales_per_octave=1, ratios=(1.0,))

