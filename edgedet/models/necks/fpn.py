"""Feature pyramid network (Lin et al., CVPR 2017) with RetinaNet-style extra levels."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FPN"]

EXTRA_SOURCES = ("input", "output", "pool")


class FPN(nn.Module):
    """Top-down pyramid over backbone levels ``start_level..``, plus ``num_outs - used levels`` extra levels.

    Extra levels: ``"input"`` = 3x3/2 conv on the last backbone map (RetinaNet P6), then 3x3/2 conv on
    ``relu`` of the previous extra (P7); ``"output"`` = the same but P6 from the last pyramid output (ATSS);
    ``"pool"`` = 1x1/2 max-pool of the previous output (Faster R-CNN P6).

    Args:
        in_channels: channels of every backbone output (C2..C5).
        out_channels: pyramid channels.
        start_level: first backbone output used (1 = C3 for RetinaNet, 0 = C2 for Faster R-CNN).
        num_outs: number of pyramid outputs.
        extra_from: one of ``EXTRA_SOURCES``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, start_level: int = 1, num_outs: int = 5,
                 extra_from: str = "input") -> None:
        super().__init__()
        if extra_from not in EXTRA_SOURCES:
            raise ValueError(f"extra_from must be one of {EXTRA_SOURCES}, got {extra_from!r}")
        used = list(in_channels)[start_level:]
        if not used or num_outs < len(used):
            raise ValueError(f"num_outs {num_outs} must be >= the {len(used)} backbone levels used")
        self.start_level, self.num_outs, self.extra_from = start_level, num_outs, extra_from
        self.out_channels = out_channels
        self.lateral = nn.ModuleList([nn.Conv2d(c, out_channels, 1) for c in used])
        self.smooth = nn.ModuleList([nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in used])
        self.extra = nn.ModuleList()
        if extra_from != "pool":
            for i in range(num_outs - len(used)):
                cin = used[-1] if (i == 0 and extra_from == "input") else out_channels
                self.extra.append(nn.Conv2d(cin, out_channels, 3, stride=2, padding=1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """Backbone maps (C2..C5) -> ``num_outs`` maps of ``out_channels``, finest first."""
        inputs = list(feats)[self.start_level:]
        lat = [conv(x) for conv, x in zip(self.lateral, inputs)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:], mode="nearest")
        outs = [conv(x) for conv, x in zip(self.smooth, lat)]
        if self.extra_from == "pool":
            while len(outs) < self.num_outs:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            return outs
        for i, conv in enumerate(self.extra):
            if i == 0:
                outs.append(conv(inputs[-1] if self.extra_from == "input" else outs[-1]))
            else:
                outs.append(conv(F.relu(outs[-1])))
        return outs
