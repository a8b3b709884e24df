"""The criteria of :class:`edgedet.models.two_stage.TwoStageDetector`: the RPN's and the R-CNN head's.

Each stage assigns its candidates (anchors, then proposals plus the GT boxes) with an assigner and draws a fixed
budget of them with a sampler (Libra R-CNN: IoU-balanced negatives, instance-balanced positives). The R-CNN head
runs on the sampled RoIs between :meth:`RCNNCriterion.sample` and the R-CNN criterion's call, so the detector
calls the two steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.assigners.base import Assigner
from edgedet.assigners.samplers import RoISampler
from edgedet.losses.balanced_l1 import BalancedL1Loss
from edgedet.losses.normalizer import global_normalizer
from edgedet.losses.smooth_l1 import L1Loss
from edgedet.models.criteria.base import Criterion
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.targets import Targets

__all__ = ["RCNNCriterion", "RPNCriterion", "RoITargets"]


class RPNCriterion(Criterion):
    """``loss_rpn_cls`` (BCE of the sampled anchors' objectness) and ``loss_rpn_box`` (``box_loss`` of the
    sampled positives' deltas), both summed and divided by the rank-averaged number of samples.

    Args:
        assigner: anchors -> GT (max IoU 0.7 / 0.3). sampler: the anchors that count (256, half positive).
        box_loss: a ``reduction="sum"`` module of :mod:`edgedet.losses` on deltas (default L1).
        extra_terms: see :class:`~edgedet.models.criteria.base.Criterion`; their context is None.
    """

    def __init__(self, *, assigner: Assigner, sampler: RoISampler, box_loss: nn.Module | None = None,
                 extra_terms: Sequence[nn.Module] = ()) -> None:
        super().__init__(extra_terms=extra_terms)
        self.assigner, self.sampler = assigner, sampler
        self.box_loss = box_loss if box_loss is not None else L1Loss(reduction="sum")

    def compute(self, outputs: tuple[Tensor, ...], targets: Targets, *, priors: Tensor,
                num_level_priors: list[int], coder: DeltaXYWHCoder) -> tuple[dict[str, Tensor], None]:
        """Args:
            outputs: (objectness logits Float[B, P, 1], deltas Float[B, P, 4], ...). priors: Float[P, 4] xyxy
            anchors. num_level_priors: per level. coder: the RPN's box coder.
        """
        logits, labels, d_pred, d_tgt, counts = [], [], [], [], []
        for b, t in enumerate(targets):
            res = self.assigner.assign(priors, num_level_priors, t["boxes"].to(priors), t["labels"].to(priors.device))
            s = self.sampler.sample(res)
            idx = torch.cat((s.pos_inds, s.neg_inds))
            logits.append(outputs[0][b, idx, 0])
            labels.append(torch.cat((torch.ones_like(s.pos_inds), torch.zeros_like(s.neg_inds))).float())
            d_pred.append(outputs[1][b, s.pos_inds])
            d_tgt.append(coder.encode(priors[s.pos_inds], t["boxes"].to(priors)[s.pos_gt_inds]))
            counts.append(idx.numel())
        n = global_normalizer(torch.tensor(float(sum(counts)), device=priors.device))
        cls = F.binary_cross_entropy_with_logits(torch.cat(logits), torch.cat(labels), reduction="sum") / n
        box = self.box_loss(torch.cat(d_pred), torch.cat(d_tgt)) / n
        return {"loss_rpn_cls": cls, "loss_rpn_box": box}, None


@dataclass
class RoITargets:
    """The sampled RoIs of a batch and their targets.

    Attributes:
        rois: per image Float[K_i, 4] xyxy input px (positives first). labels: Long[sum K] class, ``num_classes``
        = background. deltas: Float[sum K, 4] R-CNN coder targets (0 for negatives). pos: Bool[sum K].
    """

    rois: list[Tensor]
    labels: Tensor
    deltas: Tensor
    pos: Tensor


class RCNNCriterion(Criterion):
    """``loss_cls`` (softmax cross-entropy over ``num_classes + 1``) and ``loss_box`` (``box_loss`` of the
    positives' class-specific deltas), both summed and divided by the rank-averaged number of sampled RoIs.

    Args:
        num_classes: C (background is class C).
        assigner: proposals (plus the GT boxes) -> GT (max IoU 0.5). sampler: the RoIs that count.
        box_loss: a ``reduction="sum"`` module of :mod:`edgedet.losses` on deltas (default: balanced L1, beta 1;
            ``SmoothL1Loss(beta=1.0, reduction="sum")`` for plain Faster R-CNN).
        extra_terms: see :class:`~edgedet.models.criteria.base.Criterion`; their context is the
            :class:`RoITargets`.
    """

    def __init__(self, *, num_classes: int, assigner: Assigner, sampler: RoISampler, box_loss: nn.Module | None = None,
                 extra_terms: Sequence[nn.Module] = ()) -> None:
        super().__init__(extra_terms=extra_terms)
        self.num_classes, self.assigner, self.sampler = num_classes, assigner, sampler
        self.box_loss = box_loss if box_loss is not None else BalancedL1Loss(alpha=0.5, gamma=1.5, beta=1.0,
                                                                             reduction="sum")

    def sample(self, proposals: list[Tensor], targets: Targets, coder: DeltaXYWHCoder) -> RoITargets:
        """Sampled RoIs per image (GT boxes added as proposals) and their targets.

        Args:
            proposals: per image Float[K_i, 4] xyxy input px. coder: the R-CNN box coder.
        """
        rois, labels, deltas, pos = [], [], [], []
        for props, t in zip(proposals, targets):
            gts = t["boxes"].to(props)
            cand = torch.cat((props, gts))
            res = self.assigner.assign(cand, None, gts, t["labels"].to(props.device))
            s = self.sampler.sample(res)
            idx = torch.cat((s.pos_inds, s.neg_inds))
            rois.append(cand[idx])
            lab = torch.full((idx.numel(),), self.num_classes, dtype=torch.long, device=props.device)
            lab[: s.pos_inds.numel()] = res.labels[s.pos_inds]
            labels.append(lab)
            d = torch.zeros(idx.numel(), 4, device=props.device)
            d[: s.pos_inds.numel()] = coder.encode(cand[s.pos_inds], gts[s.pos_gt_inds])
            deltas.append(d)
            pos.append(lab < self.num_classes)
        return RoITargets(rois, torch.cat(labels), torch.cat(deltas), torch.cat(pos))

    def compute(self, outputs: tuple[Tensor, Tensor], targets: Targets, *,
                roi_targets: RoITargets) -> tuple[dict[str, Tensor], RoITargets]:
        """Args:
            outputs: the R-CNN head on ``roi_targets.rois``: (cls logits Float[K, C+1], deltas Float[K, 4C]).
        """
        cls, reg = outputs
        labels, pos = roi_targets.labels, roi_targets.pos
        n = global_normalizer(torch.tensor(float(labels.numel()), device=cls.device))
        out = {"loss_cls": F.cross_entropy(cls, labels, reduction="sum") / n}
        pred = reg.reshape(-1, self.num_classes, 4)[pos, labels[pos]]
        out["loss_box"] = self.box_loss(pred, roi_targets.deltas[pos]) / n + reg.sum() * 0.0
        return out, roi_targets

