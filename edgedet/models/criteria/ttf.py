"""The criterion of :class:`edgedet.models.pafnet.PAFNet`: TTF Gaussian targets, CT focal + GIoU, optional AGS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.losses.ct_focal import ct_focal_loss
from edgedet.losses.giou import giou_loss
from edgedet.losses.normalizer import global_normalizer
from edgedet.models.criteria.base import Criterion
from edgedet.structures.boxes import points_ltrb_to_xyxy
from edgedet.structures.targets import Targets

__all__ = ["TTFContext", "TTFCriterion", "ags_box_weights", "grid_centres"]


def grid_centres(h: int, w: int, stride: int, device: torch.device | None = None) -> Tensor:
    """Input-pixel centres of the cells of an ``h x w`` stride-``stride`` grid: Float[h, w, 2] (x, y) = (j+0.5)*s."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), -1)


def ags_box_weights(hm_logits: Tensor, box_weight: Tensor, owner: Tensor) -> Tensor:
    """Attention-guided box-loss weights (PAFNet's AGS).

    Within each object's region, the Gaussian weights are re-weighted by a softmax over the predicted channel-max
    heatmap **logits** ``a`` (detached), then rescaled so each object's total weight is unchanged:
    ``w'_i = W_k * g_i exp(a_i) / sum_{j in k} g_j exp(a_j)`` with ``W_k = sum_{j in k} w_j``.

    The reading taken: the paper's softmax over the predicted heatmap runs on the logits. Over probabilities in
    [0, 1] it could shift a weight by at most a factor e, so attention would barely change the weights; the
    PaddleDetection code takes its softmax over a channel axis of size 1, which makes every weight 1 (AGS off in
    effect: ``model.ags=false`` reproduces that code).

    Args:
        hm_logits: Float[B, C, H, W].
        box_weight: Float[B, H, W] from :class:`TTFTargetBuilder` (proportional to the Gaussian per object).
        owner: Long[B, H, W] object index per cell, -1 where unassigned.

    Returns:
        Float[B, H, W], zero where ``owner < 0``.
    """
    logits = hm_logits.detach().float().amax(1).reshape(-1)  # [B*H*W]: max over classes = the peak's class
    b = owner.shape[0]
    per_image = int(owner.max().clamp(min=0)) + 1
    owned = owner.reshape(-1) >= 0
    group = (torch.arange(b, device=owner.device)[:, None, None] * per_image + owner.clamp(min=0)).reshape(-1)
    w = box_weight.float().reshape(-1) * owned
    # softmax is shift-invariant: subtracting each object's largest logit keeps exp finite for any logit
    top = torch.full((b * per_image,), float("-inf"), device=w.device).scatter_reduce(
        0, group[owned], logits[owned], "amax")
    e = w * torch.where(owned, logits - top[group], 0.0).exp()
    total = torch.zeros(b * per_image, device=w.device).index_add_(0, group, w)
    norm = torch.zeros(b * per_image, device=w.device).index_add_(0, group, e)
    out = torch.where(norm[group] > 0, total[group] * e / norm[group].clamp(min=1e-12), 0.0)
    return out.reshape(box_weight.shape)


@dataclass
class TTFContext:
    """What a :class:`TTFCriterion` computed for a batch, handed to its extra terms: the targets of
    :class:`TTFTargetBuilder` (``heatmap``, ``box_target``, ``box_weight``, ``owner``) and the box-loss weights
    actually used (Float[B, H, W], after AGS)."""

    targets: dict[str, Tensor]
    box_weight: Tensor


class TTFCriterion(Criterion):
    """``loss_hm``: CT focal over the heatmap / number of peaks, times ``hm_weight``; ``loss_box``: GIoU of every
    cell inside an object's Gaussian, weighted by the target weights (re-weighted by AGS when ``ags``) / their
    sum, times ``box_weight``. Both normalisers are averaged over ranks. Per-box ``weights`` in the targets
    (CutMix) scale each box's peak term and its box weights (:class:`TTFTargetBuilder`).

    Args:
        target_builder: Gaussian heatmap and box targets at the head's stride.
        ags: attention-guided box-loss weights (:func:`ags_box_weights`); False uses the target weights as they
            are (``model.ags``, for the ablation).
        hm_weight, box_weight: loss weights (1 and 5).
        extra_terms: see :class:`~edgedet.models.criteria.base.Criterion`; their context is a :class:`TTFContext`.
    """

    def __init__(self, *, target_builder: TTFTargetBuilder, ags: bool = True, hm_weight: float = 1.0,
                 box_weight: float = 5.0, extra_terms: Sequence[nn.Module] = ()) -> None:
        super().__init__(extra_terms=extra_terms)
        self.target_builder, self.ags, self.hm_weight, self.box_weight = target_builder, ags, hm_weight, box_weight

    def compute(self, outputs: tuple[Tensor, Tensor], targets: Targets) -> tuple[dict[str, Tensor], TTFContext]:
        """Args:
            outputs: (heatmap logits Float[B, C, H, W], ltrb distances Float[B, 4, H, W] in input px).
            targets: one dict per image.
        """
        hm, ltrb = outputs
        hm, ltrb = hm.float(), ltrb.float()
        b, _, h, w = hm.shape
        if len(targets) != b:
            raise ValueError(f"got {len(targets)} target dicts for a batch of {b} images")
        t = self.target_builder(targets, (h, w), device=hm.device)
        num_peaks = global_normalizer(t["heatmap"].eq(1).sum())
        loss_hm = ct_focal_loss(hm, t["heatmap"], reduction="sum", pos_weight=t.get("peak_weight")) / num_peaks
        weight = ags_box_weights(hm, t["box_weight"], t["owner"]) if self.ags else t["box_weight"]
        mask = weight > 0  # [B, H, W]
        centres = grid_centres(h, w, self.target_builder.stride, hm.device).expand(b, h, w, 2)[mask]  # [P, 2]
        pred = points_ltrb_to_xyxy(centres, ltrb.permute(0, 2, 3, 1)[mask])
        box_norm = global_normalizer(weight.sum())
        loss_box = giou_loss(pred, t["box_target"][mask], weight[mask], reduction="sum") / box_norm
        out = {"loss_hm": self.hm_weight * loss_hm, "loss_box": self.box_weight * loss_box}
        return out, TTFContext(t, weight)
