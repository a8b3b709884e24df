"""StaticMultiScaleRoIAlign (export) against torchvision's MultiScaleRoIAlign (training), and BFP's static resizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.poolers import LevelMapper

from edgedet.models.heads.static_roi_align import StaticMultiScaleRoIAlign, fpn_roi_levels
from edgedet.models.necks.bfp import adaptive_max_pool2d_static, interpolate_nearest_static

NAMES = ["p2", "p3", "p4", "p5"]


def _boxes(n: int, side: int, gen: torch.Generator) -> torch.Tensor:
    """Float[n, 4] xyxy, sqrt(area) log-uniform in [0.5, 8 * side] px (tiny to huge: every FPN level), aspect
    ratios 1:2 to 2:1; a quarter clipped to the image (touching its borders), a quarter reaching over them."""
    centre = torch.rand(n, 2, generator=gen) * side
    aspect = 2.0 ** (2 * torch.rand(n, 1, generator=gen) - 1)
    size = 0.5 * (16 * side) ** torch.rand(n, 1, generator=gen) * torch.cat((aspect, 1 / aspect), 1)
    boxes = torch.cat((centre - size / 2, centre + size / 2), 1)
    kind = torch.arange(n) % 4
    boxes = torch.where((kind == 2)[:, None], boxes.clamp(0, side), boxes)
    return torch.where((kind == 3)[:, None], boxes.clamp(-side / 8, side * 9 / 8), boxes)


@pytest.mark.parametrize("side, batch", [(128, 2), (160, 1)])
def test_static_roi_align_equals_torchvision(side, batch):
    gen = torch.Generator().manual_seed(side)
    feats = [torch.randn(batch, 5, side // s, side // s, generator=gen) for s in (4, 8, 16, 32)]
    boxes = torch.stack([_boxes(300, side, gen) for _ in range(batch)])
    boxes[0, :6] = torch.tensor([[0.0, 0, 0, 0], [side, side, side, side], [0, 0, side, side],  # degenerate
                                 [side - 0.3, 10, side, 10.2], [-3, -3, -1.5, -2], [5, 5, 5.5, 400]])
    ref = MultiScaleRoIAlign(NAMES, 7, 2)(dict(zip(NAMES, feats)), list(boxes), [(side, side)] * batch)
    out = StaticMultiScaleRoIAlign(7, 2)(feats, boxes, (side, side))
    assert out.shape == ref.shape == (batch * 300, 5, 7, 7)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    assert ref.abs().sum((1, 2, 3)).min() == 0 and ref.abs().amax() > 1  # samples that contribute 0, and real ones
    levels = fpn_roi_levels(boxes.reshape(-1, 4), 2, 5)
    assert torch.bincount(levels, minlength=4).min() >= 10  # every level is pooled from


def test_roi_levels_equal_torchvision_level_mapper():
    sides = torch.tensor([0.0, 1.0, 111.999, 111.99999, 112.0, 223.9999, 224.0, 447.99997, 448.0, 5000.0])
    boxes = torch.stack([torch.zeros_like(sides), torch.zeros_like(sides), sides, sides], 1)
    # the 1e-6 (in log2 units) lifts sides within ~7e-7 of a power of two (111.99999, 223.9999) a level up
    assert fpn_roi_levels(boxes, 2, 5).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]
    assert torch.equal(fpn_roi_levels(boxes, 2, 5), LevelMapper(2, 5)([boxes]))


def test_static_roi_align_rejects_adaptive_sampling():
    with pytest.raises(ValueError, match="fixed sampling_ratio"):
        StaticMultiScaleRoIAlign(7, 0)


@pytest.mark.parametrize("size, out", [((10, 10), (3, 3)), ((26, 26), (7, 7)), ((5, 7), (3, 2)), ((8, 8), (2, 2))])
def test_adaptive_max_pool2d_static_equals_torch(size, out):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    assert torch.equal(adaptive_max_pool2d_static(x, out), F.adaptive_max_pool2d(x, out))


@pytest.mark.parametrize("size, out", [((3, 3), (10, 10)), ((5, 5), (10, 10)), ((2, 3), (13, 7)), ((1, 1), (5, 5))])
def test_interpolate_nearest_static_equals_torch(size, out):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    assert torch.equal(interpolate_nearest_static(x, out), F.interpolate(x, size=out, mode="nearest"))
