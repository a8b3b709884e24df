"""The assignment result and the `assign` protocol shared by every assigner, and memory-bounded reductions.

Memory bound: nothing here materialises a ``num_gts x num_priors`` matrix when ``max_chunk_elems`` is smaller;
work is done over chunks of GT rows of at most ``max_chunk_elems`` pairs, and only per-prior / per-GT reductions
are kept. Results do not depend on the chunk size: every IoU is the same elementwise arithmetic, and every
reduction has a fixed tie rule.

Tie rules (all assigners): among equal values the **lower index wins** (lower GT index for a prior's best GT,
lower prior index for a GT's k nearest / top-N priors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from edgedet.structures.boxes import pairwise_box_iof_xyxy, pairwise_box_iou_xyxy

__all__ = [
    "DEFAULT_CHUNK_ELEMS",
    "AssignResult",
    "Assigner",
    "empty_result",
    "max_iou_per_prior",
    "smallest_k_indices",
]

DEFAULT_CHUNK_ELEMS = 1 << 22  # 4M pairs per chunk: ~16 MB per float matrix, ~64 MB peak


@dataclass
class AssignResult:
    """Which GT each prior learns from.

    Attributes:
        gt_inds: Long[P]; 0 = negative, -1 = ignored, k > 0 = matched to GT k - 1.
        max_overlaps: Float[P]; the IoU that decided the match (see each assigner), 0 where none.
        labels: Long[P]; class of the matched GT, -1 where not positive.
        soft_targets: optional Float[P] classification target for positives (NoisyAnchor), else None.
        weights: optional Float[P] per-prior loss re-weights for positives (NoisyAnchor), else None.
    """

    gt_inds: Tensor
    max_overlaps: Tensor
    labels: Tensor
    soft_targets: Tensor | None = None
    weights: Tensor | None = None

    @property
    def num_priors(self) -> int:
        return int(self.gt_inds.numel())

    @property
    def neg_mask(self) -> Tensor:
        return self.gt_inds == 0

    @property
    def pos_inds(self) -> Tensor:
        return torch.nonzero(self.gt_inds > 0, as_tuple=False).squeeze(1)

    @property
    def neg_inds(self) -> Tensor:
        return torch.nonzero(self.gt_inds == 0, as_tuple=False).squeeze(1)


def empty_result(num_priors: int, device: torch.device | None = None) -> AssignResult:
    """All priors negative (an image with no GT)."""
    return AssignResult(
        gt_inds=torch.zeros(num_priors, dtype=torch.long, device=device),
        max_overlaps=torch.zeros(num_priors, device=device),
        labels=torch.full((num_priors,), -1, dtype=torch.long, device=device),
    )


def _rows_per_chunk(num_cols: int, max_chunk_elems: int | None) -> int:
    if max_chunk_elems is None:
        return 1 << 62
    return max(1, max_chunk_elems // max(num_cols, 1))


def max_iou_per_prior(
    gts: Tensor, priors: Tensor, max_chunk_elems: int | None = DEFAULT_CHUNK_ELEMS, iof: bool = False
) -> tuple[Tensor, Tensor]:
    """Per prior: best IoU (or IoF of the prior) over ``gts`` and the lowest GT index reaching it.

    Returns:
        (Float[P], Long[P]); with no GTs the values are 0 and the indices -1.
    """
    p = priors.shape[0]
    best = priors.new_zeros(p)
    arg = torch.full((p,), -1, dtype=torch.long, device=priors.device)
    rows = _rows_per_chunk(p, max_chunk_elems)
    for start in range(0, gts.shape[0], rows):
        chunk = gts[start:start + rows]
        m = pairwise_box_iof_xyxy(priors, chunk).T if iof else pairwise_box_iou_xyxy(chunk, priors)  # [g, P]
        val, idx = _max_first(m, dim=0)
        better = (val > best) | (arg < 0)  # strict: an earlier chunk (lower GT index) keeps ties
        best = torch.where(better, val, best)
        arg = torch.where(better, idx + start, arg)
    return best, arg


def _max_first(m: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Max along ``dim`` and the first index reaching it (``torch.argmax`` returns the first maximal index)."""
    idx = torch.argmax(m, dim=dim)
    return m.gather(dim, idx.unsqueeze(dim)).squeeze(dim), idx


def smallest_k_indices(values: Tensor, k: int) -> Tensor:
    """Per row the indices of the ``k`` smallest values, ties broken by the lower index, in increasing index order.

    Args:
        values: Float[R, N] with ``k <= N``.

    Returns:
        Long[R, k].
    """
    r = values.shape[0]
    if k == 0 or r == 0:
        return values.new_zeros((r, k), dtype=torch.long)
    kth = torch.topk(values, k, dim=1, largest=False, sorted=True).values[:, -1:]  # [R, 1] exact k-th value
    below = values < kth
    tied = values == kth
    need = k - below.sum(1, keepdim=True)  # how many of the tied values to take, lowest index first
    take = below | (tied & (torch.cumsum(tied, dim=1) <= need))
    return torch.nonzero(take, as_tuple=False)[:, 1].reshape(r, k)


class Assigner:
    """The protocol every assigner keeps, so that any criterion can use any of them.

    Each assigner uses what its method defines and ignores the rest: :class:`MaxIoUAssigner` ignores
    ``num_level_priors``; only the dynamic (predicted-IoU) and NoisyAnchor assigners read ``pred_boxes`` /
    ``pred_scores``.
    """

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
            priors: Float[P, 4] xyxy input px, levels concatenated. num_level_priors: priors per level (sums to P).
            gt_boxes: Float[G, 4] xyxy input px. gt_labels: Long[G].
            pred_boxes: Float[P, 4] xyxy decoded predictions (detached inside).
            pred_scores: Float[P, C] sigmoid class scores (detached inside).
            gt_boxes_ignore: optional Float[I, 4] xyxy regions whose priors are ignored.
        """
        raise NotImplementedError
