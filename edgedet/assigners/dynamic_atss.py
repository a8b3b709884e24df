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
    ``combined = IoU(pred, gt) + IoU(anchor, gt)``; threshold ``(mean_pred + mean_anchor) + (std_pred +
    std_anchor)`` (the sum of the stds, not the std of the sum). Positive: combined >= threshold and the
    anchor centre inside the GT. A prior positive for several GTs goes to the highest combined IoU (lowest GT
    index on a tie). ``max_overlaps`` is the anchor IoU with the matched GT. Predictions must be detached.
    """

    def __init__(self, topk: int = 9, *, ignore_iof_thr: float = -1.0,
                 max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS) -> None:
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.topk = int(topk)
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
        pos, score, _ = select_by_adaptive_threshold(priors, gt_boxes, cand, [iou_pred, iou_anchor], excluded)
        gt_inds = resolve_positives(p, cand, pos, score)
        return finish(priors, gt_boxes, gt_labels, gt_inds, excluded,
                      _anchor_iou_of_matched(priors, gt_boxes, gt_inds))
