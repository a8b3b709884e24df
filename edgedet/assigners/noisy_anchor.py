"""Learning from Noisy Anchors (Li et al., CVPR 2020): top-N candidates, cleanliness soft labels, re-weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgedet.assigners.atss import ignored_priors, resolve_positives
from edgedet.assigners.base import (
    DEFAULT_CHUNK_ELEMS,
    Assigner,
    AssignResult,
    _rows_per_chunk,
    empty_result,
    smallest_k_indices,
)
from edgedet.structures.boxes import elementwise_box_iou_xyxy, pairwise_box_iou_xyxy

__all__ = ["NoisyAnchorAssigner", "TopNAssigner", "cleanliness_reweights", "cleanliness_soft_labels"]

_EPS = 1e-6


def _safe_mean(x: Tensor) -> Tensor:
    return x.mean().clamp(min=_EPS)


def cleanliness_soft_labels(loc: Tensor, cls: Tensor, alpha: float = 0.75) -> Tensor:
    """``c = alpha loc / mean(loc) + (1 - alpha) cls / mean(cls)``, mapped linearly onto ``[mean(loc), 1]``.

    Args:
        loc: Float[N] IoU of each candidate's predicted box with its GT (detached).
        cls: Float[N] sigmoid score of each candidate for its GT class (detached).

    Returns:
        Float[N] soft labels; the cleanest candidate gets 1, the least clean ``mean(loc)``. When every
        candidate is equally clean they all get 1.
    """
    if loc.numel() == 0:
        return loc.new_zeros(0)
    c = alpha * loc / _safe_mean(loc) + (1 - alpha) * cls / _safe_mean(cls)
    m = loc.mean()
    span = c.max() - c.min()
    if span <= _EPS:
        return torch.ones_like(c)
    return m + (c - c.min()) * (1 - m) / span


def cleanliness_reweights(loc: Tensor, cls: Tensor, alpha: float = 0.75) -> Tensor:
    """``r = alpha f(loc) / mean f(loc) + (1 - alpha) f(cls) / mean f(cls)``, ``f(x) = 1 / (1 - x)``.

    Inputs are clamped to ``[0, 1 - 1e-4]`` so ``f`` stays finite. Returns Float[N] with mean 1.
    """
    if loc.numel() == 0:
        return loc.new_zeros(0)
    fl = 1.0 / (1.0 - loc.clamp(0, 1 - 1e-4))
    fc = 1.0 / (1.0 - cls.clamp(0, 1 - 1e-4))
    return alpha * fl / fl.mean() + (1 - alpha) * fc / fc.mean()


class TopNAssigner(Assigner):
    """For each GT the ``top_n`` priors of highest IoU are positive candidates (lowest prior index on ties);
    everything else is negative (no ignore band). A prior among the candidates of several GTs goes to the
    one it overlaps most (lowest GT index on a tie). Chunked over GTs: memory-bounded.
    """

    def __init__(self, top_n: int = 50, *, ignore_iof_thr: float = -1.0,
                 max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS) -> None:
        if top_n < 1:
            raise ValueError(f"top_n must be >= 1, got {top_n}")
        self.top_n = int(top_n)
        self.ignore_iof_thr = float(ignore_iof_thr)
        self.max_chunk_elems = max_chunk_elems

    def assign(self, priors: Tensor, num_level_priors: Sequence[int] | None, gt_boxes: Tensor, gt_labels: Tensor,
               *, pred_boxes: Tensor | None = None, pred_scores: Tensor | None = None,
               gt_boxes_ignore: Tensor | None = None) -> AssignResult:
        """Args:
            priors: Float[P, 4] xyxy. num_level_priors: unused. gt_boxes: Float[G, 4]. gt_labels: Long[G].
            pred_boxes, pred_scores: unused. gt_boxes_ignore: optional Float[I, 4].
        """
        p = priors.shape[0]
        if gt_boxes.shape[0] == 0 or p == 0:
            return empty_result(p, priors.device)
        excluded = ignored_priors(priors, gt_boxes_ignore, self.ignore_iof_thr, self.max_chunk_elems)
        k = min(self.top_n, p)
        rows = _rows_per_chunk(p, self.max_chunk_elems)
        cands, ious = [], []
        for g0 in range(0, gt_boxes.shape[0], rows):
            iou = pairwise_box_iou_xyxy(gt_boxes[g0:g0 + rows], priors)  # [g, P]
            if excluded is not None:
                iou.masked_fill_(excluded[None, :], -1.0)
            idx = smallest_k_indices(iou.neg_(), k)  # largest IoU first by value, ties -> lower index
            cands.append(idx)
            ious.append(-iou.gather(1, idx))
        cand, iou = torch.cat(cands), torch.cat(ious)
        pos = iou > 0  # a GT that overlaps nothing takes no prior
        gt_inds = resolve_positives(p, cand, pos, iou)
        if excluded is not None:
            gt_inds = torch.where(excluded & (gt_inds == 0), torch.full_like(gt_inds, -1), gt_inds)
        m = gt_inds > 0
        labels = torch.full((p,), -1, dtype=torch.long, device=priors.device)
        labels[m] = gt_labels[gt_inds[m] - 1]
        overlaps = priors.new_zeros(p)
        overlaps[m] = elementwise_box_iou_xyxy(priors[m], gt_boxes[gt_inds[m] - 1])
        return AssignResult(gt_inds, overlaps, labels)


class NoisyAnchorAssigner(TopNAssigner):
    """:class:`TopNAssigner` plus cleanliness: ``soft_targets`` (classification targets of the positives, in
    ``[mean(loc), 1]``) and ``weights`` (loss re-weights of the positives, mean 1). Means run over all
    positives of the image. ``loc`` = IoU of the decoded (detached) prediction with its GT, ``cls`` = the
    sigmoid score of the GT class.
    """

    def __init__(self, top_n: int = 50, alpha: float = 0.75, *, ignore_iof_thr: float = -1.0,
                 max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS) -> None:
        super().__init__(top_n, ignore_iof_thr=ignore_iof_thr, max_chunk_elems=max_chunk_elems)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)

    def assign(self, priors: Tensor, num_level_priors: Sequence[int] | None, gt_boxes: Tensor, gt_labels: Tensor,
               *, pred_boxes: Tensor | None = None, pred_scores: Tensor | None = None,
               gt_boxes_ignore: Tensor | None = None) -> AssignResult:
        """Args:
            priors: Float[P, 4] xyxy. num_level_priors: unused. gt_boxes: Float[G, 4]. gt_labels: Long[G].
            pred_boxes: Float[P, 4] decoded predictions (required). pred_scores: Float[P, C] sigmoid scores
            (required). Both are detached inside. gt_boxes_ignore: optional Float[I, 4].
        """
        if pred_boxes is None or pred_scores is None:
            raise ValueError("NoisyAnchorAssigner needs pred_boxes and pred_scores (decoded predictions, sigmoid scores)")
        res = super().assign(priors, num_level_priors, gt_boxes, gt_labels, gt_boxes_ignore=gt_boxes_ignore)
        p = priors.shape[0]
        res.soft_targets = priors.new_zeros(p)
        res.weights = priors.new_ones(p)
        m = res.gt_inds > 0
        if m.any():
            loc = elementwise_box_iou_xyxy(pred_boxes.detach()[m], gt_boxes[res.gt_inds[m] - 1])
            cls = pred_scores.detach()[m].gather(1, res.labels[m, None]).squeeze(1)
            res.soft_targets[m] = cleanliness_soft_labels(loc, cls, self.alpha)
            res.weights[m] = cleanliness_reweights(loc, cls, self.alpha)
        return res
