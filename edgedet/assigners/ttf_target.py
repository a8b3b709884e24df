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

Everything is vectorised over the boxes of the whole batch (tensors [N, H * W]): a fixed number of tensor ops per
batch, so that building targets on a GPU costs a few dozen kernel launches, not a few per image.
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
        b, (h, w), c = len(targets), feat_hw, self.num_classes
        counts = [int(t["boxes"].reshape(-1, 4).shape[0]) for t in targets]  # shapes: no device sync
        n = sum(counts)
        labels = (torch.cat([t["labels"].reshape(-1) for t in targets]).to(device).long() if targets
                  else torch.zeros(0, dtype=torch.long, device=device))
        self._check_labels(labels)  # one sync per batch
        if n == 0:
            return {"heatmap": torch.zeros(b, c, h, w, device=device), "box_target": torch.zeros(b, h, w, 4, device=device),
                    "box_weight": torch.zeros(b, h, w, device=device),
                    "owner": torch.full((b, h, w), -1, dtype=torch.long, device=device)}
        boxes = torch.cat([t["boxes"].reshape(-1, 4) for t in targets]).to(device).float()
        img = torch.repeat_interleave(torch.arange(b, device=device), torch.tensor(counts, device=device))
        starts = torch.tensor([sum(counts[:i]) for i in range(b)], device=device)
        index = torch.arange(n, device=device) - starts[img]  # each box's index in its own image's list
        score = self._per_box(targets, "scores", counts, device)
        loss_w = self._per_box(targets, "weights", counts, device)
        return self._build(boxes, labels, img, index, score, loss_w, b, h, w)

    def single(self, boxes: Tensor, labels: Tensor, feat_hw: tuple[int, int]) -> dict[str, Tensor]:
        """Targets of one image (shapes as in ``__call__`` without the batch dimension)."""
        out = self([{"boxes": boxes, "labels": labels}], feat_hw, device=boxes.device)
        return {k: v[0] for k, v in out.items()}

    def _check_labels(self, labels: Tensor) -> None:
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
            )

    @staticmethod
    def _per_box(targets: Targets, key: str, counts: list[int], device: torch.device) -> Tensor | None:
        """The images' ``key`` values as one Float[N] (1 for an image without them), or None when none has them."""
        if not any(t.get(key) is not None for t in targets):
            return None
        return torch.cat([t[key].reshape(-1).float().to(device) if t.get(key) is not None
                          else torch.ones(k, device=device) for t, k in zip(targets, counts)])

    def _build(self, boxes: Tensor, labels: Tensor, img: Tensor, index: Tensor, score: Tensor | None,
               loss_w: Tensor | None, b: int, h: int, w: int) -> dict[str, Tensor]:
        """All images at once (a fixed number of tensor ops per batch, none per image or box): boxes Float[N, 4],
        labels / img (image of each box) / index (its index in that image's list) Long[N]."""
        c, dev, hw = self.num_classes, boxes.device, h * w
        area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=self.min_area)
        # per image, large boxes first (later, smaller boxes overwrite them); images in order
        order = torch.argsort(area, descending=True, stable=True)
        order = order[torch.argsort(img[order], stable=True)]
        boxes, labels, area, img, index = boxes[order], labels[order], area[order], img[order], index[order]
        score = None if score is None else score[order]
        loss_w = None if loss_w is None else loss_w[order]
        n, s = boxes.shape[0], self.stride
        feat = boxes / s
        feat[:, 0::2] = feat[:, 0::2].clamp(0, w - 1)
        feat[:, 1::2] = feat[:, 1::2].clamp(0, h - 1)
        half_wh = torch.stack((feat[:, 2] - feat[:, 0], feat[:, 3] - feat[:, 1]), 1) / 2  # [N, 2]
        centre = ((boxes[:, :2] + boxes[:, 2:]) / (2 * s)).floor()
        centre = torch.stack((centre[:, 0].clamp(0, w - 1), centre[:, 1].clamp(0, h - 1)), 1)
        g_alpha = gaussians_truncated(centre, (half_wh * self.alpha).floor(), h, w).view(n, hw)
        g_heat = g_alpha if score is None else g_alpha * score[:, None]
        channel = img * c + labels  # row of [B * C, H * W]
        heat = torch.zeros(b * c, hw, device=dev).scatter_reduce_(0, channel[:, None].expand(n, hw), g_heat, "amax")
        g_beta = (g_alpha if self.beta == self.alpha
                  else gaussians_truncated(centre, (half_wh * self.beta).floor(), h, w).view(n, hw))
        rank = torch.arange(n, device=dev)[:, None]
        # per image and cell, the last (smallest) of its boxes whose Gaussian covers the cell
        owner_sorted = torch.full((b, hw), -1, dtype=torch.long, device=dev).scatter_reduce_(
            0, img[:, None].expand(n, hw), torch.where(g_beta > 0, rank, -1), "amax")
        assigned = owner_sorted >= 0
        k = owner_sorted.clamp(min=0)  # [B, HW]
        g_own = g_beta[k, torch.arange(hw, device=dev)[None, :]]
        weight = torch.where(assigned, g_own * area.log()[k] / g_beta.sum(1)[k], 0.0)
        if score is not None:
            weight = weight * score[k]
        if loss_w is not None:
            weight = weight * loss_w[k]
        out = {"heatmap": heat.view(b, c, h, w), "box_target": torch.where(assigned[..., None], boxes[k], 0.0).view(b, h, w, 4),
               "box_weight": weight.view(b, h, w), "owner": torch.where(assigned, index[k], -1).view(b, h, w)}
        if loss_w is not None:  # each peak (the box's centre cell of its class) carries its box's weight
            peak = channel * hw + centre[:, 1].long() * w + centre[:, 0].long()
            out["peak_weight"] = torch.ones(b * c * hw, device=dev).scatter_reduce_(
                0, peak, loss_w, "amax", include_self=False).view(b, c, h, w)
        return out
