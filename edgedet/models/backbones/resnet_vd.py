"""ResNet-vd (He et al., "Bag of Tricks", CVPR 2019), depth 18 or 50, with optional DCNv2 in stages 3-5.

vd = a deep stem (three 3x3 convs instead of one 7x7), the stride on the 3x3 conv of the bottleneck, and
shortcuts that downsample with a 2x2 average pool before their 1x1 conv (no information thrown away).
"""

from __future__ import annotations

from torch import Tensor, nn

from edgedet.models.layers import ConvNormAct, conv3x3, scaled_channels

__all__ = ["ResNetVd"]


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    layers: list[nn.Module] = [nn.AvgPool2d(2, 2, ceil_mode=True)] if stride > 1 else []
    layers.append(ConvNormAct(cin, cout, 1, act=None))
    return nn.Sequential(*layers)


class BasicBlockVd(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, dcn: bool) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(cin, planes, 3, stride)
        self.conv2 = nn.Sequential(conv3x3(planes, planes, 1, dcn), nn.BatchNorm2d(planes))
        self.shortcut = _shortcut(cin, planes, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class BottleneckVd(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, dcn: bool) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(cin, planes, 1)
        self.conv2 = nn.Sequential(conv3x3(planes, planes, stride, dcn), nn.BatchNorm2d(planes), nn.ReLU(inplace=True))
        self.conv3 = ConvNormAct(planes, planes * 4, 1, act=None)
        self.shortcut = _shortcut(cin, planes * 4, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


_DEPTHS = {18: (BasicBlockVd, (2, 2, 2, 2)), 50: (BottleneckVd, (3, 4, 6, 3))}


class ResNetVd(nn.Module):
    """ResNet-vd returning C2..C5 (strides 4, 8, 16, 32).

    Args:
        depth: 18 or 50.
        width: channel multiplier (stem and stage widths, at least 8).
        dcn: use modulated deformable 3x3 convs in stages 3-5 (C3..C5).
        frozen_stages: -1 trains everything; 0 freezes the stem; k > 0 also freezes stages 1..k (C2..C{k+1}).
            Frozen parts keep their BatchNorm statistics fixed (eval mode) during training.
    """

    def __init__(self, depth: int = 50, *, width: float = 1.0, dcn: bool = False, frozen_stages: int = -1) -> None:
        super().__init__()
        if depth not in _DEPTHS:
            raise ValueError(f"ResNet-vd depth must be one of {sorted(_DEPTHS)}, got {depth}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in [-1, 4], got {frozen_stages}")
        block, counts = _DEPTHS[depth]
        c32, c64 = scaled_channels(32, width), scaled_channels(64, width)
        self.stem = nn.Sequential(
            ConvNormAct(3, c32, 3, 2), ConvNormAct(c32, c32, 3), ConvNormAct(c32, c64, 3),
            nn.MaxPool2d(3, 2, 1),
        )
        cin = c64
        self.stages = nn.ModuleList()
        self.out_channels = []
        for i, n in enumerate(counts):
            planes = scaled_channels(64 * 2**i, width)
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(cin, planes, stride, dcn and i > 0))
                cin = planes * block.expansion
            self.stages.append(nn.Sequential(*blocks))
            self.out_channels.append(cin)
        self.strides = [4, 8, 16, 32]
        self.frozen_stages = frozen_stages
        for module in self._frozen_modules():
            for p in module.parameters():
                p.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.stem, *self.stages[: self.frozen_stages]]

    def train(self, mode: bool = True) -> ResNetVd:
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        """``x``: [B, 3, H, W] -> [C2, C3, C4, C5] at strides 4, 8, 16, 32."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

