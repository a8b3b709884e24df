"""MobileNetV3 (Howard et al., ICCV 2019) as PAFNet-lite's backbone, built from torchvision's blocks (random init).

Taps, as in PaddleDetection's PAFNet-lite: the expand-conv outputs *before* each stride-2 depthwise conv that
leaves stride 4, 8 and 16 (large: 72ch@s4, 240ch@s8, 672ch@s16; small: 72ch@s4, 96ch@s8, 288ch@s16), plus the
extra 1x1 hard-swish conv on the last block (large 160->960, small 96->576) at stride 32.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn
from torchvision.models.mobilenetv3 import InvertedResidual, mobilenet_v3_large, mobilenet_v3_small

__all__ = ["MobileNetV3"]

_TORCHVISION_BUILDERS = {"large": mobilenet_v3_large, "small": mobilenet_v3_small}


def _stride2_dw(block: nn.Module) -> bool:
    if not isinstance(block, InvertedResidual):
        return False
    convs = [m for m in block.block.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    return bool(convs) and convs[0].stride == (2, 2)


class MobileNetV3(nn.Module):
    """MobileNetV3 feature extractor returning four maps at strides 4, 8, 16, 32.

    Args:
        arch: ``"large"`` or ``"small"``.
        width: channel multiplier (torchvision's ``width_mult``; channels rounded to multiples of 8).

    Attributes:
        out_channels: list of the four tap channel counts.
    """

    def __init__(self, arch: str = "large", *, width: float = 1.0) -> None:
        super().__init__()
        if arch not in _TORCHVISION_BUILDERS:
            raise ValueError(f"MobileNetV3 arch must be one of {sorted(_TORCHVISION_BUILDERS)}, got {arch!r}")
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        net = _TORCHVISION_BUILDERS[arch](
            weights=None, width_mult=width, norm_layer=partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1)
        )
        stages: list[nn.Module] = []
        current: list[nn.Module] = []
        stride = 2  # after the stem conv
        for layer in net.features:
            if _stride2_dw(layer) and stride in (4, 8, 16):
                # The stride-2 block has no residual, so splitting it after its expand conv is exact.
                current.append(layer.block[0])
                stages.append(nn.Sequential(*current))
                current = list(layer.block[1:])
                stride *= 2
                continue
            if _stride2_dw(layer):
                stride *= 2
            current.append(layer)
        stages.append(nn.Sequential(*current))  # ends with the 1x1 hard-swish "last conv" at stride 32
        self.stages = nn.ModuleList(stages)
        self.out_channels = [s[-1].out_channels for s in stages]
        self.strides = [4, 8, 16, 32]

    def forward(self, x: Tensor) -> list[Tensor]:
        """``x``: [B, 3, H, W] -> four maps ``[B, C_i, H / s_i, W / s_i]`` for ``s_i`` in (4, 8, 16, 32)."""
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

