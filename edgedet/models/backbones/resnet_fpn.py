"""torchvision's plain ResNet (the published RetinaNet / ATSS / Libra R-CNN backbone) as a C2..C5 trunk."""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

__all__ = ["TorchvisionResNet"]

_BUILDERS = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34, 50: torchvision.models.resnet50,
             101: torchvision.models.resnet101}


class TorchvisionResNet(nn.Module):
    """``torchvision.models.resnetXX(weights=None)`` without its classifier, returning C2..C5 (strides 4..32).

    Args:
        depth: 18, 34, 50 or 101.
        frozen_stages: -1 trains everything; 0 freezes the stem; k > 0 also freezes stages 1..k.
        norm_eval: keep every BatchNorm in eval mode while training (small detection batches; the references do).
    """

    def __init__(self, depth: int = 50, *, frozen_stages: int = 1, norm_eval: bool = True) -> None:
        super().__init__()
        if depth not in _BUILDERS:
            raise ValueError(f"ResNet depth must be one of {sorted(_BUILDERS)}, got {depth}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in [-1, 4], got {frozen_stages}")
        net = _BUILDERS[depth](weights=None)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        exp = 4 if depth >= 50 else 1
        self.out_channels = [64 * exp, 128 * exp, 256 * exp, 512 * exp]
        self.strides = [4, 8, 16, 32]
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        for m in self._frozen_modules():
            for p in m.parameters():
                p.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        return [] if self.frozen_stages < 0 else [self.stem, *self.stages[: self.frozen_stages]]

    def train(self, mode: bool = True) -> TorchvisionResNet:
        super().train(mode)
        for m in self._frozen_modules():
            m.eval()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        """[B, 3, H, W] -> [C2, C3, C4, C5]."""
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out
