"""PAFNet / TTFNet head: a heatmap branch (C class logits) and a box branch (ltrb distances), both at stride 4."""

from __future__ import annotations

import math

from torch import Tensor, nn

from edgedet.models.layers import LiteConv, conv3x3

__all__ = ["PAFNetHead"]


def _branch(cin: int, planes: int, num_convs: int, lite: bool, dcn: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(num_convs):
        c = cin if i == 0 else planes
        if lite:
            layers.append(LiteConv(c, planes))
        else:
            conv = conv3x3(c, planes, 1, dcn, bias=True)
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class PAFNetHead(nn.Module):
    """Heatmap and box branches.

    Args:
        in_channels: neck output channels.
        num_classes: C.
        hm_planes, box_planes: branch widths (PAFNet 128/64, PAFNet-lite 48/24).
        num_convs: convs per branch (2).
        lite: LiteConv branches instead of 3x3 convs + ReLU.
        dcn: DCNv2 3x3 convs in the normal branches.
        box_scale: the box output (after ReLU) is multiplied by this (16: distances in input pixels).
        prior_prob: initial heatmap probability; bias = -log((1 - p) / p) = -log(99) for 0.01.
        The box output's bias starts at 1, so initial boxes are 2 * box_scale px wide (32 px).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        hm_planes: int = 128,
        box_planes: int = 64,
        num_convs: int = 2,
        lite: bool = False,
        dcn: bool = True,
        box_scale: float = 16.0,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.hm_feat = _branch(in_channels, hm_planes, num_convs, lite, dcn)
        self.hm_out = nn.Conv2d(hm_planes, num_classes, 1)
        self.box_feat = _branch(in_channels, box_planes, num_convs, lite, dcn)
        self.box_out = nn.Conv2d(box_planes, 4, 1)
        nn.init.normal_(self.hm_out.weight, 0.0, 0.01)
        nn.init.constant_(self.hm_out.bias, -math.log((1 - prior_prob) / prior_prob))
        nn.init.normal_(self.box_out.weight, 0.0, 0.001)
        # Start with 2 * box_scale px boxes (bias 1), not ~0 px ones: a zero-size predicted box has no IoU
        # gradient, and the reference's near-zero start leaves the GIoU loss flat at 1 for many iterations.
        nn.init.ones_(self.box_out.bias)
        self.box_scale = box_scale

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x``: [B, Cin, h, w] -> heatmap logits [B, C, h, w], ltrb distances [B, 4, h, w] (>= 0, input px)."""
        hm = self.hm_out(self.hm_feat(x))
        ltrb = self.box_out(self.box_feat(x)).relu() * self.box_scale
        return hm, ltrb
