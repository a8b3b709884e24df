"""ATSS head (Zhang et al., CVPR 2020): GroupNorm towers, a quality branch (centerness or IoU), per-level scales."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from edgedet.models.heads.retina import gn_groups, prior_prob_bias

__all__ = ["QUALITY_BRANCHES", "ATSSHead", "Scale"]

QUALITY_BRANCHES = ("centerness", "iou", "none")


class Scale(nn.Module):
    """A learnable scalar multiplier (one per pyramid level)."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class ATSSHead(nn.Module):
    """Args:
        num_classes: classes. in_channels / feat_channels: pyramid / tower channels.
        num_anchors: anchors per location (1 for ATSS). stacked_convs: convs per tower (conv-GN-ReLU).
        num_levels: pyramid levels (one :class:`Scale` each). quality: one of ``QUALITY_BRANCHES``; the branch
            sits on the regression tower and predicts one logit per anchor.

    ``forward`` returns per level ``cls`` [B, A*C, H, W], ``reg`` [B, A*4, H, W] and, unless ``quality ==
    "none"``, ``quality`` [B, A, H, W].
    """

    def __init__(self, *, num_classes: int, in_channels: int, feat_channels: int = 256, num_anchors: int = 1,
                 stacked_convs: int = 4, num_levels: int = 5, quality: str = "centerness",
                 prior_prob: float = 0.01) -> None:
        super().__init__()
        if quality not in QUALITY_BRANCHES:
            raise ValueError(f"quality must be one of {QUALITY_BRANCHES}, got {quality!r}")
        self.num_classes, self.num_anchors, self.quality = num_classes, num_anchors, quality

        def tower() -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(stacked_convs):
                layers += [nn.Conv2d(in_channels if i == 0 else feat_channels, feat_channels, 3, padding=1, bias=False),
                           nn.GroupNorm(gn_groups(feat_channels), feat_channels), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers)

        self.cls_tower, self.reg_tower = tower(), tower()
        last = feat_channels if stacked_convs > 0 else in_channels
        self.cls_out = nn.Conv2d(last, num_anchors * num_classes, 3, padding=1)
        self.reg_out = nn.Conv2d(last, num_anchors * 4, 3, padding=1)
        self.quality_out = nn.Conv2d(last, num_anchors, 3, padding=1) if quality != "none" else None
        self.scales = nn.ModuleList([Scale(1.0) for _ in range(num_levels)])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_out.bias, prior_prob_bias(prior_prob))

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], ...]:
        if len(feats) != len(self.scales):
            raise ValueError(f"ATSSHead built for {len(self.scales)} levels, got {len(feats)}")
        cls, reg, qual = [], [], []
        for f, scale in zip(feats, self.scales):
            c, r = self.cls_tower(f), self.reg_tower(f)
            cls.append(self.cls_out(c))
            reg.append(scale(self.reg_out(r)))
            if self.quality_out is not None:
                qual.append(self.quality_out(r))
        return (cls, reg, qual) if self.quality_out is not None else (cls, reg)
