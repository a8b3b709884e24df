"""RetinaNet head (Lin et al., ICCV 2017): two towers of 3x3 conv + ReLU, shared across levels."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["RetinaHead", "prior_prob_bias"]


def gn_groups(channels: int, preferred: int = 32) -> int:
    """Up to ``preferred`` groups of at least 2 channels (a 1-channel group on a 1x1 map has no statistics)."""
    return math.gcd(channels, max(1, min(preferred, channels // 2)))


def prior_prob_bias(prior_prob: float = 0.01) -> float:
    """Classification bias so every score starts at ``prior_prob``: ``-log((1 - p) / p)``."""
    return -math.log((1 - prior_prob) / prior_prob)


class RetinaHead(nn.Module):
    """Args:
        num_classes: classes (sigmoid, no background channel).
        in_channels: pyramid channels. feat_channels: tower channels.
        num_anchors: anchors per location (A). stacked_convs: convs per tower.
        norm: ``""`` (the paper's head: conv + ReLU) or ``"gn"``: conv (no bias) + GroupNorm(32) + ReLU in both
            towers, as torchvision's RetinaNet v2. Without pretrained weights at reduced width, the paper's head
            with its std-0.01 initialisation shrinks the signal through the four unnormalised convs so far that
            the classifier does not move from its prior (benchmarks/fidelity/README.md).

    ``forward`` returns per level ``cls`` Float[B, A*C, H, W] and ``reg`` Float[B, A*4, H, W].
    """

    def __init__(self, *, num_classes: int, in_channels: int, feat_channels: int = 256, num_anchors: int = 9,
                 stacked_convs: int = 4, prior_prob: float = 0.01, norm: str = "") -> None:
        super().__init__()
        if norm not in ("", "gn"):
            raise ValueError(f"RetinaHead norm must be '' or 'gn', got {norm!r}")
        self.num_classes, self.num_anchors = num_classes, num_anchors

        def tower() -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(stacked_convs):
                layers.append(nn.Conv2d(in_channels if i == 0 else feat_channels, feat_channels, 3, padding=1,
                                        bias=not norm))
                if norm == "gn":
                    layers.append(nn.GroupNorm(gn_groups(feat_channels), feat_channels))
                layers.append(nn.ReLU(inplace=True))
            return nn.Sequential(*layers)

        self.cls_tower, self.reg_tower = tower(), tower()
        last = feat_channels if stacked_convs > 0 else in_channels
        self.cls_out = nn.Conv2d(last, num_anchors * num_classes, 3, padding=1)
        self.reg_out = nn.Conv2d(last, num_anchors * 4, 3, padding=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_out.bias, prior_prob_bias(prior_prob))

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        cls = [self.cls_out(self.cls_tower(f)) for f in feats]
        reg = [self.reg_out(self.reg_tower(f)) for f in feats]
        return cls, reg
