"""Small building blocks shared by backbones, necks and heads: conv-BN-act, LiteConv, modulated deformable conv."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import deform_conv2d

__all__ = ["ConvNormAct", "LiteConv", "ModulatedDeformConv2d", "conv3x3", "scaled_channels"]


def scaled_channels(channels: int, width: float, minimum: int = 8) -> int:
    """``channels * width`` rounded, at least ``minimum``: the one rule for reduced-width models."""
    return max(minimum, round(channels * width))


class ConvNormAct(nn.Sequential):
    """``Conv2d(bias=False) -> BatchNorm2d -> act`` (``act=None`` leaves the activation out)."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)
        self.out_channels = cout


class LiteConv(nn.Sequential):
    """PAFNet-lite's cheap 5x5 block: dw5x5+BN+ReLU6 -> 1x1+BN(+ReLU6) -> 1x1+BN+ReLU6 -> dw5x5+BN(+ReLU6).

    ``with_act=False`` drops the two bracketed ReLU6 (used for the last layer of a shortcut, which is then fused
    with the upsampled path).
    """

    def __init__(self, cin: int, cout: int, with_act: bool = True) -> None:
        mid_act = nn.ReLU6 if with_act else None
        super().__init__(
            ConvNormAct(cin, cin, 5, groups=cin, act=nn.ReLU6),
            ConvNormAct(cin, cout, 1, act=mid_act),
            ConvNormAct(cout, cout, 1, act=nn.ReLU6),
            ConvNormAct(cout, cout, 5, groups=cout, act=mid_act),
        )
        self.out_channels = cout


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 (Zhu et al., CVPR 2019): a deformable conv whose offsets and modulation masks come from a plain conv.

    The offset/mask conv starts at zero, so at initialisation this is a plain conv with every mask at 0.5.

    Args:
        cin, cout: channels.
        kernel, stride, padding: as for ``nn.Conv2d`` (square).
        bias: learn a bias (``False`` when a BatchNorm follows).
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1, bias: bool = False):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.offset_mask = nn.Conv2d(cin, 3 * kernel * kernel, kernel, stride, padding)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)
        self.out_channels = cout

    def forward(self, x: Tensor) -> Tensor:
        dy_dx_m = self.offset_mask(x)  # [B, 3*k*k, H', W']
        n = dy_dx_m.shape[1] // 3
        offset, mask = dy_dx_m[:, : 2 * n], dy_dx_m[:, 2 * n :].sigmoid()
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, mask=mask)


def conv3x3(cin: int, cout: int, stride: int = 1, dcn: bool = False, bias: bool = False) -> nn.Module:
    """A 3x3 conv, deformable (DCNv2) when ``dcn``."""
    if dcn:
        return ModulatedDeformConv2d(cin, cout, 3, stride, 1, bias=bias)
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
