"""Multi-scale RoIAlign from static-shape ops only (gather, floor, clamp, arithmetic), for export.

torchvision's ``MultiScaleRoIAlign`` (used for training: fast, with a backward) picks RoIs per level with
data-dependent shapes and calls the ``torchvision::roi_align`` custom op, which TFLite and Paddle cannot
convert. :class:`StaticMultiScaleRoIAlign` computes the same values (``aligned=False``, fixed
``sampling_ratio``) for a fixed number of RoIs per image:

* level: ``k = floor(4 + log2(sqrt(area) / 224) + 1e-6)`` clamped to the pyramid's levels (torchvision's
  ``LevelMapper``, op for op), so each RoI reads one map at that map's scale;
* every level's map is flattened to rows ``[B * H_l * W_l, C]`` and the levels are concatenated; each RoI
  looks up its level's row offset, ``H``, ``W`` and scale in small constant tables;
* bilinear sampling follows torchvision's CPU kernel: a sample with ``y < -1`` or ``y > H`` (same for x)
  contributes 0; otherwise ``y`` is clamped to ``[0, H - 1]`` (which is the kernel's ``y_low >= H - 1`` rule),
  and each (corner, sample position in the bin) pair is one ``index_select`` of ``[K * out * out]`` rows
  (16 for sampling_ratio 2), weighted and summed, so that no intermediate is larger than ``[K * out * out, C]``
  (one gather of every sample at once would be 16x that: ~700 MB for 3,375 RoIs at width 0.25).

Cost: ONNX Runtime spends most of the two-stage export graph's time here (multiply-adds and gathers over
``K * 49 * 16`` rows; 70% of 190 ms for 3,375 RoIs of 64 channels on one x86 thread), against torchvision's
fused C++ kernel in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["StaticMultiScaleRoIAlign", "fpn_roi_levels"]


def fpn_roi_levels(boxes: Tensor, k_min: int, k_max: int, canonical_scale: int = 224, canonical_level: int = 4,
                   eps: float = 1e-6) -> Tensor:
    """FPN level index (``0`` = level ``k_min``) of each box ``Float[K, 4]`` xyxy input px -> Long[K].

    The float maths is torchvision's ``LevelMapper``'s, so the levels are identical in PyTorch, except that the
    area is floored at 1e-12: a zero-area box lands on ``k_min`` either way, without a ``log2(0) = -inf`` in the
    graph (activation-range calibration cannot take infinities).
    """
    s = torch.sqrt(torch.clamp((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), min=1e-12))
    k = torch.floor(canonical_level + torch.log2(s / canonical_scale) + torch.tensor(eps, dtype=s.dtype))
    return (torch.clamp(k, min=k_min, max=k_max) - k_min).to(torch.int64)


def _infer_scale(feat_side: int, image_side: int) -> float:
    """torchvision's ``_infer_scale``: the nearest power of two of ``feat_side / image_side``."""
    return 2.0 ** round(math.log2(feat_side / image_side))


class StaticMultiScaleRoIAlign(nn.Module):
    """Args:
        output_size: pooled side (7).
        sampling_ratio: samples per bin side (> 0: torchvision's adaptive ``0`` has data-dependent counts).
        canonical_scale / canonical_level: the FPN level mapper's constants (224, 4).
    """

    def __init__(self, output_size: int = 7, sampling_ratio: int = 2, canonical_scale: int = 224,
                 canonical_level: int = 4) -> None:
        super().__init__()
        if sampling_ratio <= 0:
            raise ValueError(f"StaticMultiScaleRoIAlign needs a fixed sampling_ratio > 0, got {sampling_ratio}")
        self.output_size, self.sampling_ratio = output_size, sampling_ratio
        self.canonical_scale, self.canonical_level = canonical_scale, canonical_level

    def forward(self, feats: Sequence[Tensor], boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
        """Pool ``boxes`` Float[B, N, 4] (xyxy input px, N per image) from ``feats`` (per level Float[B, C, H_l, W_l],
        finest first) of an input of ``image_size`` (h, w) -> Float[B * N, C, out, out], image-major."""
        b, n = int(boxes.shape[0]), int(boxes.shape[1])  # python ints: static shapes when traced
        sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]
        scales = [_infer_scale(h, image_size[0]) for h, _ in sizes]
        k_min, k_max = round(-math.log2(scales[0])), round(-math.log2(scales[-1]))
        rois = boxes.reshape(b * n, 4)
        lvl = fpn_roi_levels(rois, k_min, k_max, self.canonical_scale, self.canonical_level)  # [K]
        dev, dt = rois.device, rois.dtype
        offsets, start = [], 0
        for h, w in sizes:
            offsets.append(start)
            start += b * h * w
        batch = torch.arange(b, device=dev).reshape(b, 1).expand(b, n).reshape(-1)  # [K]
        hw_i = torch.tensor([h * w for h, w in sizes], device=dev)[lvl]
        w_i = torch.tensor([w for _, w in sizes], device=dev)[lvl]
        row0 = torch.tensor(offsets, device=dev)[lvl] + batch * hw_i  # first row of the RoI's image and level
        scale = torch.tensor(scales, dtype=dt, device=dev)[lvl]
        h_f = torch.tensor([float(h) for h, _ in sizes], dtype=dt, device=dev)[lvl]
        w_f = torch.tensor([float(w) for _, w in sizes], dtype=dt, device=dev)[lvl]
        ys = self._axis(rois[:, 1] * scale, rois[:, 3] * scale, h_f)  # per corner (index, weight) [K, out, S]
        xs = self._axis(rois[:, 0] * scale, rois[:, 2] * scale, w_f)
        rows = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for f in feats])  # [sum B*H*W, C]
        k, c, out, s = b * n, rows.shape[1], self.output_size, self.sampling_ratio
        acc = rows.new_zeros(k, out, out, c)
        for iy in range(s):
            for ix in range(s):
                for y_idx, y_wt in ys:
                    for x_idx, x_wt in xs:
                        idx = row0[:, None, None] + y_idx[:, :, iy, None] * w_i[:, None, None] + x_idx[:, None, :, ix]
                        wt = y_wt[:, :, iy, None] * x_wt[:, None, :, ix]  # [K, out, out]
                        acc = acc + rows.index_select(0, idx.reshape(-1)).reshape(k, out, out, c) * wt[..., None]
        return (acc / float(s * s)).permute(0, 3, 1, 2)

    def _axis(self, start: Tensor, end: Tensor, size: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Sample positions along one axis of each RoI (feature px; ``size`` = H or W per RoI) -> the low and the
        high corner as (Long index [K, out, S], Float weight [K, out, S]), invalid samples weighted 0."""
        out, s = self.output_size, self.sampling_ratio
        length = torch.clamp(end - start, min=1.0)  # aligned=False: malformed RoIs are forced to 1 px
        bin_size = (length / out)[:, None, None]
        p = torch.arange(out, dtype=start.dtype, device=start.device)[None, :, None]
        i = torch.arange(s, dtype=start.dtype, device=start.device)[None, None, :] + 0.5
        pos = start[:, None, None] + p * bin_size + i * bin_size / s  # [K, out, S], the kernel's op order
        size = size[:, None, None]
        valid = ((pos >= -1.0) & (pos <= size)).to(start.dtype)
        pos = torch.minimum(torch.clamp(pos, min=0.0), size - 1.0)
        low = torch.floor(pos)
        high = torch.minimum(low + 1.0, size - 1.0)
        frac = pos - low
        return [(low.to(torch.int64), (1.0 - frac) * valid), (high.to(torch.int64), frac * valid)]
