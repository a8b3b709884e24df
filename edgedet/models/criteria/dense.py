"""The criterion of :class:`edgedet.models.dense.DenseDetector`: any assigner x any classification / box loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgedet.assigners.base import Assigner
from edgedet.losses.iou_branch import iou_branch_loss
from edgedet.losses.normalizer import EMANormalizer, NumPosNormalizer, global_normalizer
from edgedet.models.criteria.base import Criterion
from edgedet.models.criteria.dense_losses import (
    BoxLoss,
    CenternessTarget,
    DensePositives,
    FocalClassification,
    IoUTarget,
    QualityFocalClassification,
    VarifocalClassification,
)
from edgedet.structures.boxes import elementwise_box_iou_xyxy
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.targets import Targets

__all__ = ["DenseContext", "DenseCriterion", "reweight_keep_total"]

ClassificationLoss = FocalClassification | QualityFocalClassification | VarifocalClassification


def reweight_keep_total(losses: Tensor, weights: Tensor) -> Tensor:
    """``losses * weights``, rescaled (by a detached factor) so the sum stays ``losses.sum()``."""
    if losses.numel() == 0:
        return losses
    scale = (losses.sum() / (losses * weights).sum().clamp(min=1e-12)).detach()
    return losses * weights * scale


@dataclass
class DenseContext:
    """What a :class:`DenseCriterion` computed for a batch, handed to its extra terms.

    Attributes:
        priors: Float[P, 4] xyxy. num_level_priors: priors per level. positives: the assignment's positives.
        valid: Bool[B, P] priors that take part in the classification loss (not ignored).
        normalizer: the loss normaliser used (rank-averaged positive count, or its moving average).
    """

    priors: Tensor
    num_level_priors: list[int]
    positives: DensePositives
    valid: Tensor
    normalizer: Tensor


class DenseCriterion(Criterion):
    """Assign every image, then ``loss_cls``, ``loss_box`` and (with a quality target) ``loss_quality``.

    * ``loss_cls``: ``cls_loss`` over the non-ignored (valid) priors / normaliser. With NoisyAnchor re-weights
      (from the assigner) the positives weigh ``r`` and the other valid priors 1, and the whole is rescaled so the
      total over all valid priors is unchanged (``sum L / sum(w L)``; ``(P + N) / (r P + N)`` when every loss is
      equal), as the authors' code does: weight moves between positives and negatives.
    * ``loss_box``: ``box_loss.weight`` x (sum of ``box_loss`` over the positives / normaliser), or, with
      ``box_loss.quality_weighted``, the quality-target-weighted sum / the rank-averaged sum of the targets.
    * ``loss_quality``: BCE of the quality branch against the quality target / normaliser.

    Args:
        assigner: any :class:`~edgedet.assigners.base.Assigner`; it gets the detached decoded predictions and
            sigmoid scores as ``pred_boxes`` / ``pred_scores``.
        cls_loss: a classification loss of :mod:`~edgedet.models.criteria.dense_losses`.
        box_loss: a :class:`~edgedet.models.criteria.dense_losses.BoxLoss`.
        quality: target of the head's quality branch (:class:`CenternessTarget`, :class:`IoUTarget`), or None
            for a head without one.
        normalizer: :class:`NumPosNormalizer` (default) or :class:`EMANormalizer` (in training mode its moving
            average first takes in the batch's positive count, then divides the batch's losses, as the reference).
        extra_terms: see :class:`~edgedet.models.criteria.base.Criterion`; their context is a :class:`DenseContext`.
    """

    def __init__(self, *, assigner: Assigner, cls_loss: ClassificationLoss, box_loss: BoxLoss,
                 quality: CenternessTarget | IoUTarget | None = None,
                 normalizer: NumPosNormalizer | EMANormalizer | None = None,
                 extra_terms: Sequence[nn.Module] = ()) -> None:
        super().__init__(extra_terms=extra_terms)
        if box_loss.quality_weighted and quality is None:
            raise ValueError("box_loss.quality_weighted needs a quality target (quality=CenternessTarget() or IoUTarget())")
        self.assigner, self.cls_loss, self.box_loss, self.quality = assigner, cls_loss, box_loss, quality
        self.normalizer = normalizer if normalizer is not None else NumPosNormalizer()

    def assign(self, outputs: tuple[Tensor, ...], targets: Targets, priors: Tensor, num_level_priors: list[int],
               coder: DeltaXYWHCoder) -> tuple[DensePositives, Tensor]:
        """Assign every image; returns the positives and Bool[B, P] rows that take part in the cls loss."""
        cls, reg = outputs[0].detach(), outputs[1].detach()
        pred_boxes = coder.decode(priors[None], reg)
        scores = cls.sigmoid()
        cols: dict[str, list[Tensor]] = {k: [] for k in ("b", "p", "boxes", "labels", "soft", "weights")}
        valid = []
        for i, t in enumerate(targets):
            res = self.assigner.assign(priors, num_level_priors, t["boxes"].to(priors), t["labels"].to(priors.device),
                                       pred_boxes=pred_boxes[i], pred_scores=scores[i],
                                       gt_boxes_ignore=t.get("boxes_ignore"))
            valid.append(res.gt_inds >= 0)
            p = res.pos_inds
            cols["b"].append(torch.full_like(p, i))
            cols["p"].append(p)
            cols["boxes"].append(t["boxes"].to(priors)[res.gt_inds[p] - 1])
            cols["labels"].append(res.labels[p])
            if res.soft_targets is not None:
                cols["soft"].append(res.soft_targets[p])
                cols["weights"].append(res.weights[p])
        cat = {k: torch.cat(v) if v else None for k, v in cols.items()}
        return DensePositives(**cat), torch.stack(valid)

    def compute(self, outputs: tuple[Tensor, ...], targets: Targets, *, priors: Tensor, num_level_priors: list[int],
                coder: DeltaXYWHCoder) -> tuple[dict[str, Tensor], DenseContext]:
        """Args:
            outputs: (cls logits Float[B, P, C], deltas Float[B, P, 4][, quality logits Float[B, P, 1]]).
            targets: one dict per image. priors: Float[P, 4] xyxy. num_level_priors: per level, sums to P.
            coder: the detector's box coder of the deltas.
        """
        if len(targets) != outputs[0].shape[0]:
            raise ValueError(f"{len(targets)} targets for a batch of {outputs[0].shape[0]} images")
        cls, reg = outputs[0], outputs[1]
        pos, valid = self.assign(outputs, targets, priors, num_level_priors, coder)
        num_pos = int(pos.p.numel())
        if self.training:  # update before dividing: this batch's count is part of its own normaliser
            self.normalizer.update(num_pos, cls.device)
        norm = self.normalizer(num_pos, cls.device)
        pred_boxes = coder.decode(priors[pos.p], reg[pos.b, pos.p])  # with gradient (GIoU)
        iou_target = elementwise_box_iou_xyxy(pred_boxes.detach(), pos.boxes).clamp(min=0)
        out = {"loss_cls": self._cls_sum(cls, pos, valid, iou_target) / norm}
        q_target = self.quality(priors[pos.p], pos.boxes, iou_target) if self.quality is not None else None
        if self.box_loss.on == "boxes":
            rows = self.box_loss(pred_boxes, pos.boxes)
        else:
            rows = self.box_loss(reg[pos.b, pos.p], coder.encode(priors[pos.p], pos.boxes))
        if pos.weights is not None:
            rows = reweight_keep_total(rows, pos.weights)
        if num_pos == 0:
            out["loss_box"] = reg.sum() * 0.0
        elif self.box_loss.quality_weighted:
            out["loss_box"] = (rows * q_target).sum() / global_normalizer(q_target.sum())
        else:
            out["loss_box"] = rows.sum() / norm
        out["loss_box"] = out["loss_box"] * self.box_loss.weight
        if self.quality is not None:
            q = outputs[2][pos.b, pos.p, 0]
            out["loss_quality"] = iou_branch_loss(q, q_target, reduction="sum") / norm if num_pos else outputs[2].sum() * 0
        return out, DenseContext(priors, list(num_level_priors), pos, valid, norm)

    def _cls_sum(self, cls: Tensor, pos: DensePositives, valid: Tensor, iou_target: Tensor) -> Tensor:
        """Summed classification loss over valid rows; NoisyAnchor re-weights: ``r`` on the positives, 1 on the
        other valid rows, the total over all valid rows kept (see the class docstring)."""
        rows = self.cls_loss(cls, pos, iou_target)  # [B, P]
        if pos.weights is None:
            return (rows * valid).sum()
        weights = torch.ones_like(rows)
        weights[pos.b, pos.p] = pos.weights
        return reweight_keep_total(rows[valid], weights[valid]).sum()
