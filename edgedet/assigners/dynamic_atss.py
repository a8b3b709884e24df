"""Dynamic ATSS: ATSS candidates scored by predicted IoU + anchor IoU (Zhang et al. 2022)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from edgedet.assigners.atss import (
    _anchor_iou_of_matched,
    atss_candidates,
    finish,
    ignored_priors,
    resolve_positives,
    select_by_adaptive_threshold,
)
from edgedet.assigners.base import DEFAULT_CHUNK_ELEMS, Assigner, AssignResult, empty_result
from edgedet.structures.boxes import elementwise_box_iou_xyxy

__all__ = ["DynamicATSSAssigner"]


class DynamicATSSAssigner(Assigner):
    """Candidates as in ATSS (``topk`` nearest centres per level). For each candidate
    ``combined = r IoU(pred, gt) + (1 - r) IoU(anchor, gt)``; threshold ``r (mean_pred + std_pred) + (1 - r)
    (mean_anchor + std_anchor)`` (the sum of the stds, not the std of the sum). Positive: combined >= threshold
    and the anchor centre inside the GT. A prior positive for several GTs goes to the highest combined IoU
    (lowest GT index on a tie). ``max_overlaps`` is the anchor IoU with the matched GT. Predictions must be
    detached.

    Args:
        topk: ATSS candidates per level.
        pred_iou_ratio: ``r``, the predicted IoU's share of the combined IoU, for ablations. 0.5 (default) is the
            paper's ``IoU_pred + IoU_anchor`` halved, which selects the same positives; 0 is plain ATSS; 1 uses
            the predicted IoU alone.
    """

    def __init__(self, topk: int = 9, *, pred_iou_ratio: float = 0.5, ignore_iof_thr: float = -1.0,
                 max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS) -> None:
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        if not 0.0 <= pred_iou_ratio <= 1.0:
            raise ValueError(f"pred_iou_ratio must be in [0, 1], got {pred_iou_ratio}")
        self.topk = int(topk)
        self.pred_iou_ratio = float(pred_iou_ratio)
        self.ignore_iof_thr = float(ignore_iof_thr)
        self.max_chunk_elems = max_chunk_elems

    def assign(self, priors: Tensor, num_level_priors: Sequence[int], gt_boxes: Tensor, gt_labels: Tensor, *,
               pred_boxes: Tensor | None = None, pred_scores: Tensor | None = None,
               gt_boxes_ignore: Tensor | None = None) -> AssignResult:
        """Args:
            priors: Float[P, 4] xyxy. num_level_priors: per level, sums to P. gt_boxes: Float[G, 4] xyxy.
            gt_labels: Long[G]. pred_boxes: Float[P, 4] xyxy decoded predictions (required; detached inside).
            pred_scores: unused. gt_boxes_ignore: optional Float[I, 4].
        """
        p = priors.shape[0]
        if pred_boxes is None:
            raise ValueError("DynamicATSSAssigner needs pred_boxes (the decoded predictions)")
        if pred_boxes.shape != priors.shape:
            raise ValueError(f"pred_boxes {tuple(pred_boxes.shape)} must match priors {tuple(priors.shape)}")
        if gt_boxes.shape[0] == 0 or p == 0:
            return empty_result(p, priors.device)
        pred_boxes = pred_boxes.detach()
        excluded = ignored_priors(priors, gt_boxes_ignore, self.ignore_iof_thr, self.max_chunk_elems)
        cand = atss_candidates(priors, num_level_priors, gt_boxes, self.topk, excluded, self.max_chunk_elems)
        g = gt_boxes[:, None, :].expand(-1, cand.shape[1], -1)
        iou_anchor = elementwise_box_iou_xyxy(priors[cand], g)
        iou_pred = elementwise_box_iou_xyxy(pred_boxes[cand], g)
        r = self.pred_iou_ratio  # mean and std scale with a factor >= 0: weighting the IoUs weights both sums
        pos, score, _ = select_by_adaptive_threshold(priors, gt_boxes, cand, [r * iou_pred, (1 - r) * iou_anchor],
                                                     excluded)
        gt_inds = resolve_positives(p, cand, pos, score)
        return finish(priors, gt_boxes, gt_labels, gt_inds, excluded,
                      _anchor_iou_of_matched(priors, gt_boxes, gt_inds))
