"""RoIAlign + two fully connected layers box head (Faster R-CNN second stage)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torchvision.ops import MultiScaleRoIAlign

__all__ = ["RoIBoxHead"]


class RoIBoxHead(nn.Module):
    """Multi-scale RoIAlign (7x7 from P2..P5, level by box size as in FPN), 2 x (fc + ReLU), then a softmax
    classifier over ``num_classes + 1`` (background last) and class-specific deltas ``[N, 4 * num_classes]``.

    The pooling is torchvision's ``MultiScaleRoIAlign`` (training and ``postprocess``); the export graph pools
    with :class:`~edgedet.models.heads.static_roi_align.StaticMultiScaleRoIAlign` (same values, static shapes)
    and calls :meth:`classify`.

    Args:
        num_levels: pyramid levels pooled from (P2..P5 = 4).
    """

    def __init__(self, *, num_classes: int, in_channels: int, fc_channels: int = 1024, roi_size: int = 7,
                 num_levels: int = 4, sampling_ratio: int = 2) -> None:
        super().__init__()
        self.num_classes, self.roi_size, self.sampling_ratio = num_classes, roi_size, sampling_ratio
        self.names = [f"p{i}" for i in range(num_levels)]
        self.pool = MultiScaleRoIAlign(self.names, roi_size, sampling_ratio)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * roi_size * roi_size, fc_channels), nn.ReLU(inplace=True),
            nn.Linear(fc_channels, fc_channels), nn.ReLU(inplace=True),
        )
        self.cls_out = nn.Linear(fc_channels, num_classes + 1)
        self.reg_out = nn.Linear(fc_channels, num_classes * 4)
        nn.init.normal_(self.cls_out.weight, std=0.01)
        nn.init.normal_(self.reg_out.weight, std=0.001)
        nn.init.zeros_(self.cls_out.bias)
        nn.init.zeros_(self.reg_out.bias)

    def forward(self, feats: Sequence[Tensor], rois: list[Tensor], image_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """``rois``: per image Float[K_i, 4] xyxy input px -> (cls logits [sum K, C+1], deltas [sum K, 4C])."""
        return self.classify(self.pool(dict(zip(self.names, feats)), rois, [image_size] * len(rois)))

    def classify(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        """Pooled RoI features Float[K, C, roi_size, roi_size] -> (cls logits [K, C+1], deltas [K, 4C])."""
        h = self.fc(pooled)
        return self.cls_out(h), self.reg_out(h)
