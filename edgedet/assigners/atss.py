"""Adaptive training sample selection (ATSS, Zhang et al. CVPR 2020), memory-bounded.

Only per-GT candidate sets (``G x sum_l k_l``) are kept; centre distances are computed over chunks of GT rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgedet.assigners.base import (
    DEFAULT_CHUNK_ELEMS,
    Assigner,
    AssignResult,
    _rows_per_chunk,
    empty_result,
    max_iou_per_prior,
    smallest_k_indices,
)
from edgedet.structures.boxes import elementwise_box_iou_xyxy

__all__ = ["ATSSAssigner", "atss_candidates", "ignored_priors", "select_by_adaptive_threshold"]

INSIDE_EPS = 0.01  # a candidate's centre must be this far (px) inside every side of the GT


def _centers(b: Tensor) -> Tensor:
    return (b[..., :2] + b[..., 2:]) / 2


def atss_candidates(
    priors: Tensor,
    num_level_priors: Sequence[int],
    gt_boxes: Tensor,
    topk: int,
    excluded: Tensor | None = None,
    max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS,
) -> Tensor:
    """Per GT and per level the ``min(topk, P_l)`` priors whose centres are nearest the GT centre.

    Ties go to the lower prior index; excluded priors (ignore regions) are taken last. Returns Long[G, K]
    global prior indices, level by level, increasing index within a level.
    """
    if sum(num_level_priors) != priors.shape[0]:
        raise ValueError(f"num_level_priors sums to {sum(num_level_priors)}, priors has {priors.shape[0]} rows")
    gc = _centers(gt_boxes)  # [G, 2]
    out, start = [], 0
    for n in num_level_priors:
        k = min(topk, n)
        if k == 0:
            continue
        pc = _centers(priors[start:start + n])  # [n, 2]
        ex = None if excluded is None else excluded[start:start + n]
        rows = _rows_per_chunk(n, max_chunk_elems)
        parts = []
        for g0 in range(0, gc.shape[0], rows):
            c = gc[g0:g0 + rows]
            d = (c[:, None, 0] - pc[None, :, 0]).square_().add_((c[:, None, 1] - pc[None, :, 1]).square_())
            if ex is not None:
                d.masked_fill_(ex[None, :], float("inf"))
            parts.append(smallest_k_indices(d, k))  # squared distance: same order, no sqrt rounding ties
        out.append(torch.cat(parts, 0) + start)
        start += n
    if not out:
        return torch.zeros((gt_boxes.shape[0], 0), dtype=torch.long, device=priors.device)
    return torch.cat(out, dim=1)


def select_by_adaptive_threshold(
    priors: Tensor, gt_boxes: Tensor, cand: Tensor, ious: Sequence[Tensor], excluded: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """ATSS rule on candidate sets.

    Args:
        priors: Float[P, 4]. gt_boxes: Float[G, 4]. cand: Long[G, K] candidate prior indices.
        ious: one or more Float[G, K] IoU tensors; the score is their sum and the threshold the sum over them
            of ``mean + std`` (unbiased std; 0 with a single candidate).
        excluded: optional Bool[P] priors that may not become positive.

    Returns:
        (Bool[G, K] positive, Float[G, K] score, Float[G] threshold).
    """
    score = torch.stack(list(ious)).sum(0)
    thr = torch.zeros(gt_boxes.shape[0], dtype=priors.dtype, device=priors.device)
    for iou in ious:
        std = iou.std(dim=1) if iou.shape[1] > 1 else torch.zeros_like(thr)
        thr = thr + iou.mean(dim=1) + std
    pc = _centers(priors[cand])  # [G, K, 2]
    g = gt_boxes[:, None, :]
    inside = torch.stack((pc[..., 0] - g[..., 0], pc[..., 1] - g[..., 1], g[..., 2] - pc[..., 0],
                          g[..., 3] - pc[..., 1]), -1).amin(-1) > INSIDE_EPS
    pos = (score >= thr[:, None]) & inside
    if excluded is not None:
        pos &= ~excluded[cand]
    return pos, score, thr


def resolve_positives(num_priors: int, cand: Tensor, pos: Tensor, score: Tensor) -> Tensor:
    """A prior positive for several GTs goes to the highest score, then the lowest GT index.

    Returns Long[P]: 1-based GT index for positives, 0 elsewhere.
    """
    g_idx = torch.arange(cand.shape[0], device=cand.device)[:, None].expand_as(cand)[pos]
    p_idx, s = cand[pos], score[pos]
    best = score.new_full((num_priors,), float("-inf")).scatter_reduce(0, p_idx, s, "amax")
    win = s == best[p_idx]
    big = cand.shape[0]
    choice = torch.full((num_priors,), big, dtype=torch.long, device=cand.device)
    choice = choice.scatter_reduce(0, p_idx[win], g_idx[win], "amin")
    return torch.where(choice < big, choice + 1, torch.zeros_like(choice))


def ignored_priors(
    priors: Tensor, gt_boxes_ignore: Tensor | None, ignore_iof_thr: float, max_chunk_elems: int | None
) -> Tensor | None:
    """Bool[P] priors whose IoF with an ignore region exceeds the threshold, or None when not applicable."""
    if ignore_iof_thr <= 0 or gt_boxes_ignore is None or gt_boxes_ignore.numel() == 0:
        return None
    iof, _ = max_iou_per_prior(gt_boxes_ignore, priors, max_chunk_elems, iof=True)
    return iof > ignore_iof_thr


def finish(priors: Tensor, gt_boxes: Tensor, gt_labels: Tensor, gt_inds: Tensor, excluded: Tensor | None,
           anchor_iou_of: Tensor) -> AssignResult:
    """Build the result: ignored priors -1, labels, ``max_overlaps`` = anchor IoU with the matched GT."""
    p = priors.shape[0]
    pos = gt_inds > 0
    if excluded is not None:
        gt_inds = torch.where(excluded & ~pos, torch.full_like(gt_inds, -1), gt_inds)
    labels = torch.full((p,), -1, dtype=torch.long, device=priors.device)
    labels[pos] = gt_labels[gt_inds[pos] - 1]
    return AssignResult(gt_inds, anchor_iou_of, labels)


def _anchor_iou_of_matched(priors: Tensor, gt_boxes: Tensor, gt_inds: Tensor) -> Tensor:
    out = priors.new_zeros(priors.shape[0])
    pos = gt_inds > 0
    out[pos] = elementwise_box_iou_xyxy(priors[pos], gt_boxes[gt_inds[pos] - 1])
    return out


class ATSSAssigner(Assigner):
    """ATSS: per GT the ``topk`` nearest priors of each level are candidates; positives have IoU >=
    mean + std of the candidates' IoUs and their centre inside the GT. A prior positive for several GTs
    goes to the highest IoU (lowest GT index on a tie). ``max_overlaps`` is the IoU with the matched GT
    (0 for non-positives). Priors in ignore regions (IoF > ``ignore_iof_thr``, when > 0) are -1.
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
            priors: Float[P, 4] xyxy, levels concatenated. num_level_priors: priors per level (sums to P).
            gt_boxes: Float[G, 4] xyxy. gt_labels: Long[G]. pred_boxes, pred_scores: unused.
            gt_boxes_ignore: optional Float[I, 4].
        """
        p = priors.shape[0]
        if gt_boxes.shape[0] == 0 or p == 0:
            return empty_result(p, priors.device)
        excluded = ignored_priors(priors, gt_boxes_ignore, self.ignore_iof_thr, self.max_chunk_elems)
        cand = atss_candidates(priors, num_level_priors, gt_boxes, self.topk, excluded, self.max_chunk_elems)
        iou = elementwise_box_iou_xyxy(priors[cand], gt_boxes[:, None, :].expand(-1, cand.shape[1], -1))
        pos, score, _ = select_by_adaptive_threshold(priors, gt_boxes, cand, [iou], excluded)
        gt_inds = resolve_positives(p, cand, pos, score)
        return finish(priors, gt_boxes, gt_labels, gt_inds, excluded,
                      _anchor_iou_of_matched(priors, gt_boxes, gt_inds))
