"""Max-IoU assignment (RetinaNet, RPN, R-CNN), memory-bounded by chunking over GT boxes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgedet.assigners.base import (
    DEFAULT_CHUNK_ELEMS,
    Assigner,
    AssignResult,
    _max_first,
    _rows_per_chunk,
    empty_result,
    max_iou_per_prior,
)
from edgedet.structures.boxes import pairwise_box_iou_xyxy

__all__ = ["MaxIoUAssigner"]


class MaxIoUAssigner(Assigner):
    """Each prior takes the GT it overlaps most.

    * positive: max IoU >= ``pos_iou_thr`` -> that GT (lowest GT index on equal IoU);
    * negative: ``0 <= max IoU < neg_iou_thr`` (or ``lo <= max IoU < hi`` for a ``(lo, hi)`` pair);
    * ignored (-1): in between, or inside an ignore region (IoF with an ignore box > ``ignore_iof_thr``);
    * low-quality matches (``match_low_quality``): every prior whose IoU with a GT equals that GT's best IoU
      (> 0 and >= ``min_pos_iou``) becomes positive for it, so every GT gets at least one prior. A prior that
      is the best of several GTs goes to the one it overlaps most (lowest index on a tie). Unlike some
      references, a GT with best IoU 0 matches nothing (it would otherwise claim every prior).

    ``max_overlaps`` is each prior's best IoU over all GTs (0 for priors in ignore regions).

    Args:
        max_chunk_elems: bound on the GT x prior pairs held at once; ``None`` = one full matrix (the unbounded
            reference; the result is identical).
    """

    def __init__(
        self,
        pos_iou_thr: float,
        neg_iou_thr: float | tuple[float, float],
        min_pos_iou: float = 0.0,
        match_low_quality: bool = True,
        ignore_iof_thr: float = -1.0,
        *,
        max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS,
    ) -> None:
        self.pos_iou_thr = float(pos_iou_thr)
        lo, hi = neg_iou_thr if isinstance(neg_iou_thr, (tuple, list)) else (0.0, neg_iou_thr)
        if hi > self.pos_iou_thr:
            raise ValueError(f"neg_iou_thr {neg_iou_thr} must not exceed pos_iou_thr {pos_iou_thr}")
        self.neg_range = (float(lo), float(hi))
        self.min_pos_iou = float(min_pos_iou)
        self.match_low_quality = match_low_quality
        self.ignore_iof_thr = float(ignore_iof_thr)
        self.max_chunk_elems = max_chunk_elems

    def assign(
        self,
        priors: Tensor,
        num_level_priors: Sequence[int] | None,
        gt_boxes: Tensor,
        gt_labels: Tensor,
        *,
        pred_boxes: Tensor | None = None,
        pred_scores: Tensor | None = None,
        gt_boxes_ignore: Tensor | None = None,
    ) -> AssignResult:
        """Args:
            priors: Float[P, 4] xyxy input pixels.
            num_level_priors: unused (max-IoU assignment does not look at levels); None is fine.
            gt_boxes: Float[G, 4] xyxy input pixels.
            gt_labels: Long[G] class ids.
            pred_boxes, pred_scores: unused.
            gt_boxes_ignore: optional Float[I, 4] xyxy regions whose priors are ignored.
        """
        p, device = priors.shape[0], priors.device
        if gt_boxes.shape[0] == 0 or p == 0:
            return empty_result(p, device)
        ignored = torch.zeros(p, dtype=torch.bool, device=device)
        if self.ignore_iof_thr > 0 and gt_boxes_ignore is not None and gt_boxes_ignore.numel() > 0:
            iof, _ = max_iou_per_prior(gt_boxes_ignore, priors, self.max_chunk_elems, iof=True)
            ignored = iof > self.ignore_iof_thr
        best, arg, _, lq_arg = self._reduce(priors, gt_boxes, ignored)

        gt_inds = torch.full((p,), -1, dtype=torch.long, device=device)
        lo, hi = self.neg_range
        gt_inds[(best >= lo) & (best < hi)] = 0
        pos = best >= self.pos_iou_thr
        gt_inds[pos] = arg[pos] + 1
        if self.match_low_quality:
            lq = lq_arg >= 0
            gt_inds[lq] = lq_arg[lq] + 1
        labels = torch.full((p,), -1, dtype=torch.long, device=device)
        m = gt_inds > 0
        labels[m] = gt_labels[gt_inds[m] - 1]
        return AssignResult(gt_inds, best.clamp(min=0), labels)

    def _reduce(self, priors: Tensor, gts: Tensor, ignored: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One pass over GT chunks: per-prior best IoU / GT, and per-prior low-quality match (value, GT)."""
        p = priors.shape[0]
        best = priors.new_full((p,), -1.0)
        arg = torch.zeros(p, dtype=torch.long, device=priors.device)
        lq_val = priors.new_full((p,), -1.0)
        lq_arg = torch.full((p,), -1, dtype=torch.long, device=priors.device)
        rows = _rows_per_chunk(p, self.max_chunk_elems)
        for start in range(0, gts.shape[0], rows):
            iou = pairwise_box_iou_xyxy(gts[start:start + rows], priors)  # [g, P]
            iou.masked_fill_(ignored[None, :], -1.0)
            val, idx = _max_first(iou, dim=0)
            better = val > best
            best = torch.where(better, val, best)
            arg = torch.where(better, idx + start, arg)
            if self.match_low_quality:
                gt_max = iou.max(dim=1, keepdim=True).values  # [g, 1]
                ok = (gt_max > 0) & (gt_max >= self.min_pos_iou)
                cand = iou.masked_fill_(~((iou == gt_max) & ok), -1.0)  # reuses the IoU buffer
                val, idx = _max_first(cand, dim=0)
                better = val > lq_val
                lq_val = torch.where(better, val, lq_val)
                lq_arg = torch.where(better, idx + start, lq_arg)
        return best, arg, lq_val, lq_arg
