"""Samplers that pick a fixed budget of positive / negative priors (RPN, R-CNN) from an :class:`AssignResult`.

Composition: ``RoISampler(num, pos_fraction, pos=InstanceBalancedPosSampler(), neg=IoUBalancedNegSampler())``.
Every sampler takes an optional ``torch.Generator`` for reproducible draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgedet.assigners.base import AssignResult

__all__ = [
    "InstanceBalancedPosSampler",
    "IoUBalancedNegSampler",
    "RandomNegSampler",
    "RandomPosSampler",
    "RoISampler",
    "SamplingResult",
    "random_choice",
]


def random_choice(inds: Tensor, num: int, generator: torch.Generator | None = None) -> Tensor:
    """``num`` distinct elements of ``inds`` drawn uniformly (all of them when there are fewer)."""
    if num >= inds.numel():
        return inds
    perm = torch.randperm(inds.numel(), generator=generator, device="cpu")[:num].to(inds.device)
    return inds[perm]


class RandomPosSampler:
    """Positives drawn uniformly."""

    def sample(self, res: AssignResult, num: int, generator: torch.Generator | None = None) -> Tensor:
        return random_choice(res.pos_inds, num, generator)


class RandomNegSampler:
    """Negatives drawn uniformly."""

    def sample(self, res: AssignResult, num: int, generator: torch.Generator | None = None) -> Tensor:
        return random_choice(res.neg_inds, num, generator)


class InstanceBalancedPosSampler:
    """Libra R-CNN: about the same number of positives per GT (``round(num / num_gts) + 1`` each), then a
    uniform fill of any shortfall from the remaining positives, or a uniform trim of any excess."""

    def sample(self, res: AssignResult, num: int, generator: torch.Generator | None = None) -> Tensor:
        pos = res.pos_inds
        if pos.numel() <= num:
            return pos
        gts = torch.unique(res.gt_inds[pos])
        per_gt = round(num / gts.numel()) + 1
        chosen = torch.cat([random_choice(pos[res.gt_inds[pos] == g], per_gt, generator) for g in gts])
        if chosen.numel() < num:
            rest = pos[~torch.isin(pos, chosen)]
            chosen = torch.cat((chosen, random_choice(rest, num - chosen.numel(), generator)))
        elif chosen.numel() > num:
            chosen = random_choice(chosen, num, generator)
        return chosen


class IoUBalancedNegSampler:
    """Libra R-CNN: split the negatives' IoU range ``[floor_thr, max IoU]`` into ``num_bins`` equal bins and
    draw ``num / num_bins`` from each; any shortfall is filled uniformly from the negatives not yet drawn.

    Negatives with IoU below ``floor_thr`` are only drawn in that fill. (Some references default to
    ``floor_thr = -1``, which puts every negative into the lowest bins; 0 spreads them as the paper describes.)
    """

    def __init__(self, floor_thr: float = 0.0, num_bins: int = 3) -> None:
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        self.floor_thr = float(floor_thr)
        self.num_bins = int(num_bins)

    def sample(self, res: AssignResult, num: int, generator: torch.Generator | None = None) -> Tensor:
        neg = res.neg_inds
        if neg.numel() <= num:
            return neg
        iou = res.max_overlaps[neg]
        hi = float(iou.max())
        width = (hi - self.floor_thr) / self.num_bins
        per_bin = num // self.num_bins
        chosen = []
        if width > 0:
            for b in range(self.num_bins):
                lo = self.floor_thr + b * width
                upper = iou <= hi if b == self.num_bins - 1 else iou < lo + width
                chosen.append(random_choice(neg[(iou >= lo) & upper], per_bin, generator))
        chosen_t = torch.cat(chosen) if chosen else neg.new_zeros(0)
        if chosen_t.numel() < num:
            rest = neg[~torch.isin(neg, chosen_t)]
            chosen_t = torch.cat((chosen_t, random_choice(rest, num - chosen_t.numel(), generator)))
        return chosen_t


@dataclass
class SamplingResult:
    """Indices into the priors/proposals: ``pos_inds`` Long[Np], ``neg_inds`` Long[Nn], ``pos_gt_inds`` Long[Np]
    (0-based GT index of each positive)."""

    pos_inds: Tensor
    neg_inds: Tensor
    pos_gt_inds: Tensor


class RoISampler:
    """Draws at most ``num`` samples with at most ``num * pos_fraction`` positives, the rest negatives.

    Args:
        neg_pos_ub: if >= 0, at most ``neg_pos_ub * max(1, num_pos)`` negatives.
    """

    def __init__(self, num: int = 512, pos_fraction: float = 0.25, *, pos=None, neg=None,
                 neg_pos_ub: float = -1.0) -> None:
        if num < 1 or not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f"need num >= 1 and 0 <= pos_fraction <= 1, got {num}, {pos_fraction}")
        self.num = num
        self.pos_fraction = pos_fraction
        self.pos = pos if pos is not None else RandomPosSampler()
        self.neg = neg if neg is not None else RandomNegSampler()
        self.neg_pos_ub = neg_pos_ub

    def sample(self, res: AssignResult, generator: torch.Generator | None = None) -> SamplingResult:
        pos = self.pos.sample(res, int(self.num * self.pos_fraction), generator)
        num_neg = self.num - pos.numel()
        if self.neg_pos_ub >= 0:
            num_neg = min(num_neg, int(self.neg_pos_ub * max(1, pos.numel())))
        neg = self.neg.sample(res, num_neg, generator)
        return SamplingResult(pos, neg, res.gt_inds[pos] - 1)
