"""TTFNet training targets (Liu et al., AAAI 2020): Gaussian heatmaps, box targets and box-loss weights.

Per image, on the stride-``s`` grid of the head output:
- each box draws an elliptical Gaussian centred on the cell holding its centre, ``floor(c / s)``, truncated at
  radius ``floor(h_feat / 2 * alpha)`` (rows) and ``floor(w_feat / 2 * alpha)`` (columns), sigma = (2r + 1) / 6,
  so the peak is exactly 1; a class's heatmap is the maximum of its boxes' Gaussians;
- every cell inside a box's (beta) Gaussian regresses that box; boxes are drawn from the largest area to the
  smallest, so small boxes overwrite large ones where they overlap;
- box weight = gaussian * log(area) / sum(the box's gaussian), so each object contributes log(area) in total;
- optional per-box loss weights (CutMix's mixing ratio) scale a box's regression weights and its peak's
  heatmap-loss term (``peak_weight``); the Gaussians themselves stay as they are.

Everything is vectorised over boxes (tensors [N, H, W]); the only Python loop is over the images of a batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgedet.structures.targets import Targets

__all__ = ["TTFTargetBuilder", "gaussians_truncated"]


def gaussians_truncated(centres: Tensor, radii: Tensor, height: int, width: int) -> Tensor:
    """Truncated separable Gaussians on an ``height x width`` grid.

    Args:
        centres: Float[N, 2] integer-valued (x, y) cells.
        radii: Float[N, 2] integer-valued (rx, ry) radii; the Gaussian is zero beyond them.

    Returns:
        Float[N, height, width], exactly 1 at each centre.
    """
    sigma = (2 * radii + 1) / 6  # [N, 2]
    xs = torch.arange(width, device=centres.device, dtype=centres.dtype)
    ys = torch.arange(height, device=centres.device, dtype=centres.dtype)
    dx = xs[None, :] - centres[:, 0:1]  # [N, W]
    dy = ys[None, :] - centres[:, 1:2]  # [N, H]
    gx = torch.exp(-dx.square() / (2 * sigma[:, 0:1].square())) * (dx.abs() <= radii[:, 0:1])
    gy = torch.exp(-dy.square() / (2 * sigma[:, 1:2].square())) * (dy.abs() <= radii[:, 1:2])
    return gy[:, :, None] * gx[:, None, :]


class TTFTargetBuilder:
    """Builds TTFNet targets for a batch.

    Args:
        num_classes: C.
        stride: down ratio of the head output (4).
        alpha: heatmap Gaussian radius as a fraction of the half box size (0.54).
        beta: box-regression Gaussian radius fraction (0.54; the region and weights of the box loss).
        min_area: areas below this are clamped before the log, so tiny boxes keep a positive weight.
    """

    def __init__(
        self, num_classes: int, stride: int = 4, alpha: float = 0.54, beta: float = 0.54, min_area: float = 2.0
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes, self.stride, self.alpha, self.beta, self.min_area = num_classes, stride, alpha, beta, min_area

    def __call__(self, targets: Targets, feat_hw: tuple[int, int], device: torch.device | None = None) -> dict[str, Tensor]:
        """Targets for every image.

        Args:
            targets: per image ``boxes`` Float[N, 4] xyxy input px, ``labels`` Long[N] in [0, C); optionally
                ``scores`` Float[N] in [0, 1] (soft targets, e.g. a teacher's detections): each box's Gaussian peak
                and box weights are scaled by its score; optionally ``weights`` Float[N] (loss weights, e.g.
                CutMix's mixing ratio): each box's box weights and its peak's heatmap-loss term are scaled.
            feat_hw: (H, W) of the head output.
            device: where to build (default: that of the first image's boxes).

        Returns:
            dict with ``heatmap`` Float[B, C, H, W]; ``box_target`` Float[B, H, W, 4] (xyxy input px, 0 where
            unassigned); ``box_weight`` Float[B, H, W] (0 where unassigned); ``owner`` Long[B, H, W] (index of the
            regressed box in that image's list, -1 where unassigned); when any image has ``weights``,
            ``peak_weight`` Float[B, C, H, W] (its box's weight at each peak, 1 elsewhere).
        """
        if device is None:
            device = targets[0]["boxes"].device if targets else torch.device("cpu")
        labels = [t["labels"].to(device) for t in targets]
        self._check_labels(torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long))  # one sync per batch
        parts = [self._single(t["boxes"].to(device), lab, feat_hw, t.get("scores"), t.get("weights"))
                 for t, lab in zip(targets, labels)]
        out = {key: torch.stack([p[key] for p in parts]) for key in ("heatmap", "box_target", "box_weight", "owner")}
        if any("peak_weight" in p for p in parts):
            out["peak_weight"] = torch.stack([p.get("peak_weight", torch.ones_like(p["heatmap"])) for p in parts])
        return out

    def single(self, boxes: Tensor, labels: Tensor, feat_hw: tuple[int, int]) -> dict[str, Tensor]:
        """Targets of one image (shapes as in ``__call__`` without the batch dimension)."""
        self._check_labels(labels)
        return self._single(boxes, labels, feat_hw)

    def _check_labels(self, labels: Tensor) -> None:
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
            )

    def _single(self, boxes: Tensor, labels: Tensor, feat_hw: tuple[int, int],
                scores: Tensor | None = None, weights: Tensor | None = None) -> dict[str, Tensor]:
        h, w = feat_hw
        c, dev = self.num_classes, boxes.device
        boxes = boxes.float().reshape(-1, 4)
        n = boxes.shape[0]
        heat = torch.zeros(c, h * w, device=dev)
        if n == 0:
            return {
                "heatmap": heat.view(c, h, w), "box_target": torch.zeros(h, w, 4, device=dev),
                "box_weight": torch.zeros(h, w, device=dev), "owner": torch.full((h, w), -1, dtype=torch.long, device=dev),
            }
        area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=self.min_area)
        order = torch.argsort(area, descending=True, stable=True)  # large first: later (smaller) boxes overwrite
        boxes, labels, area = boxes[order], labels[order].long(), area[order]
        score = None if scores is None else scores.to(dev).float().reshape(-1)[order]
        loss_w = None if weights is None else weights.to(dev).float().reshape(-1)[order]

        s = self.stride
        feat = boxes / s
        feat[:, 0::2] = feat[:, 0::2].clamp(0, w - 1)
        feat[:, 1::2] = feat[:, 1::2].clamp(0, h - 1)
        half_wh = torch.stack((feat[:, 2] - feat[:, 0], feat[:, 3] - feat[:, 1]), 1) / 2  # [N, 2]
        centre = ((boxes[:, :2] + boxes[:, 2:]) / (2 * s)).floor()
        centre = torch.stack((centre[:, 0].clamp(0, w - 1), centre[:, 1].clamp(0, h - 1)), 1)

        g_alpha = gaussians_truncated(centre, (half_wh * self.alpha).floor(), h, w)  # [N, H, W]
        g_heat = g_alpha if score is None else g_alpha * score[:, None, None]
        heat.scatter_reduce_(0, labels[:, None].expand(n, h * w), g_heat.view(n, h * w), "amax")
        g_beta = g_alpha if self.beta == self.alpha else gaussians_truncated(centre, (half_wh * self.beta).floor(), h, w)

        rank = torch.arange(n, device=dev)[:, None, None]
        owner_sorted = torch.where(g_beta > 0, rank, -1).amax(0)  # [H, W]: the smallest box covering the cell
        assigned = owner_sorted >= 0
        k = owner_sorted.clamp(min=0)
        g_own = g_beta.gather(0, k[None]).squeeze(0)  # [H, W]
        weight = torch.where(assigned, g_own * area.log()[k] / g_beta.sum((1, 2))[k], 0.0)
        if score is not None:
            weight = weight * score[k]
        if loss_w is not None:
            weight = weight * loss_w[k]
        box_target = torch.where(assigned[..., None], boxes[k], 0.0)
        owner = torch.where(assigned, order[k], -1)
        out = {"heatmap": heat.view(c, h, w), "box_target": box_target, "box_weight": weight, "owner": owner}
        if loss_w is not None:  # each peak (the box's centre cell of its class) carries its box's weight
            peak = labels * (h * w) + centre[:, 1].long() * w + centre[:, 0].long()
            out["peak_weight"] = torch.ones(c * h * w, device=dev).scatter_reduce_(
                0, peak, loss_w, "amax", include_self=False).view(c, h, w)
        return out
