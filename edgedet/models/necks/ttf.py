"""TTFNet's upsampling neck (Liu et al., AAAI 2020) in PAFNet's normal and lite forms.

Starting from the stride-32 map, three upsample stages go to stride 16, 8, 4; after each, a shortcut from the
backbone map of the same stride is fused in (add for the normal neck, concat for the lite one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.models.layers import ConvNormAct, DepthwiseDeconv2x, LiteConv, conv3x3, scaled_channels

__all__ = ["LiteUpsample", "TTFNeck", "Upsample", "ttf_lite_neck", "ttf_neck"]


class Upsample(nn.Module):
    """(DCN or plain) 3x3 conv + BN + ReLU, then bilinear x2."""

    def __init__(self, cin: int, cout: int, dcn: bool = True) -> None:
        super().__init__()
        self.conv = conv3x3(cin, cout, 1, dcn)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn(self.conv(x)))
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class LiteUpsample(nn.Module):
    """Sum of a deconv branch (1x1 -> depthwise ConvTranspose 4x4 s2 -> 1x1) and LiteConv -> bilinear x2.

    The depthwise transposed convolution is :class:`DepthwiseDeconv2x` (same weights, computed as phase
    convolutions that every converter lowers to native depthwise convs).
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.deconv = nn.Sequential(
            ConvNormAct(cin, cout, 1, act=nn.ReLU6),
            DepthwiseDeconv2x(cout),
            nn.BatchNorm2d(cout),
            nn.ReLU6(),
            ConvNormAct(cout, cout, 1, act=nn.ReLU6),
        )
        self.conv = LiteConv(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        up = F.interpolate(self.conv(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.deconv(x) + up


def _plain_shortcut(cin: int, cout: int, num_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(num_layers):
        conv = nn.Conv2d(cin if i == 0 else cout, cout, 3, 1, 1)
        nn.init.normal_(conv.weight, 0.0, (2.0 / (9 * cout)) ** 0.5)
        nn.init.zeros_(conv.bias)
        layers.append(conv)
        if i < num_layers - 1:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _lite_shortcut(cin: int, cout: int, num_layers: int) -> nn.Sequential:
    return nn.Sequential(*[LiteConv(cin if i == 0 else cout, cout, with_act=i < num_layers - 1) for i in range(num_layers)])


class TTFNeck(nn.Module):
    """Stride-32 -> stride-4 upsampling neck.

    Args:
        in_channels: backbone channels at strides 4, 8, 16, 32.
        planes: output channels of the three upsample stages (stride 16, 8, 4).
        shortcut_layers: conv layers in the shortcut fused after each upsample stage (stride 16, 8, 4).
        lite: LiteUpsample / LiteConv shortcuts / concat fusion (PAFNet-lite) instead of
            Upsample / plain 3x3 conv shortcuts / add fusion (PAFNet).
        dcn: DCNv2 in the (normal) upsample convs; ignored when ``lite``.

    Attributes:
        out_channels: channels of the stride-4 output (``planes[-1]``, doubled by concat when ``lite``).
    """

    def __init__(
        self,
        in_channels: list[int],
        planes: tuple[int, int, int] = (256, 128, 64),
        shortcut_layers: tuple[int, int, int] = (1, 2, 3),
        *,
        lite: bool = False,
        dcn: bool = True,
    ) -> None:
        super().__init__()
        if len(in_channels) != 4 or len(planes) != 3 or len(shortcut_layers) != 3:
            raise ValueError("TTFNeck needs 4 input channel counts, 3 planes and 3 shortcut layer counts")
        self.lite = lite
        self.upsamples = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        cin = in_channels[-1]
        for i, (cout, n) in enumerate(zip(planes, shortcut_layers)):
            skip_c = in_channels[-i - 2]
            if lite:
                self.upsamples.append(LiteUpsample(cin, cout))
                self.shortcuts.append(_lite_shortcut(skip_c, cout, n))
                cin = 2 * cout
            else:
                self.upsamples.append(Upsample(cin, cout, dcn))
                self.shortcuts.append(_plain_shortcut(skip_c, cout, n))
                cin = cout
        self.out_channels = cin

    def forward(self, feats: list[Tensor]) -> Tensor:
        """``feats``: maps at strides 4, 8, 16, 32 -> [B, out_channels, H/4, W/4]."""
        x = feats[-1]
        for i, (up, short) in enumerate(zip(self.upsamples, self.shortcuts)):
            x = up(x)
            skip = short(feats[-i - 2])
            x = torch.cat([x, skip], 1) if self.lite else x + skip
        return x


def ttf_neck(in_channels: list[int], width: float = 1.0, dcn: bool = True) -> TTFNeck:
    """PAFNet's neck: planes [256, 128, 64] (times ``width``), shortcuts [1, 2, 3], add fusion."""
    planes = tuple(scaled_channels(p, width) for p in (256, 128, 64))
    return TTFNeck(in_channels, planes, (1, 2, 3), lite=False, dcn=dcn)


def ttf_lite_neck(in_channels: list[int], width: float = 1.0) -> TTFNeck:
    """PAFNet-lite's neck: planes [96, 48, 24] (times ``width``), LiteConv shortcuts [1, 2, 2], concat -> 48ch."""
    planes = tuple(scaled_channels(p, width) for p in (96, 48, 24))
    return TTFNeck(in_channels, planes, (1, 2, 2), lite=True, dcn=False)
