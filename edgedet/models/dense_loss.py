"""Targets and losses of :class:`edgedet.models.dense.DenseDetector` (any assigner x any loss recipe)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgedet.assigners.base import DenseAssigner
from edgedet.engine.dist import all_reduce_mean, global_normalizer
from edgedet.losses.balanced_l1 import balanced_l1_loss
from edgedet.losses.focal import sigmoid_focal_loss, soft_focal_loss
from edgedet.losses.giou import giou_loss
from edgedet.losses.iou_branch import centerness_target, iou_branch_loss
from edgedet.losses.qfl import quality_focal_loss
from edgedet.losses.smooth_l1 import smooth_l1_loss
from edgedet.losses.vfl import varifocal_loss
from edgedet.models.base import Targets
from edgedet.structures.boxes import elementwise_box_iou_xyxy
from edgedet.structures.coders import DeltaXYWHCoder

__all__ = ["CLS_LOSSES", "REG_LOSSES", "DenseLossConfig", "dense_loss", "reweight_keep_total"]

CLS_LOSSES = ("focal", "qfl", "vfl")
REG_LOSSES = ("l1", "smooth_l1", "balanced_l1", "giou")


@dataclass
class DenseLossConfig:
    """Loss recipe.

    Attributes:
        cls: ``focal`` (hard one-hot targets; NoisyAnchor soft targets switch it to the soft focal loss),
            ``qfl`` / ``vfl`` (soft target = IoU of the detached decoded prediction with its GT).
        focal_alpha / focal_gamma: focal-loss parameters (NoisyAnchor uses alpha 0.5).
        reg: ``l1`` / ``smooth_l1`` / ``balanced_l1`` on encoded deltas, or ``giou`` on decoded boxes.
        reg_weight: multiplier of the box loss. reg_beta: beta of smooth / balanced L1.
        reg_weighted_by_quality: weight each positive's box loss by its quality target (centerness for ATSS,
            predicted IoU for Dynamic ATSS) and normalise by the sum of those weights.
        normalizer: ``num_pos`` (positives in the batch, at least 1) or ``ema`` (NoisyAnchor: moving average of
            the positive count, init ``ema_init``, momentum ``ema_momentum``).
    """

    cls: str = "focal"
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    reg: str = "l1"
    reg_weight: float = 1.0
    reg_beta: float = 0.11
    reg_weighted_by_quality: bool = False
    normalizer: str = "num_pos"
    ema_init: float = 100.0
    ema_momentum: float = 0.9

    def __post_init__(self) -> None:
        if self.cls not in CLS_LOSSES or self.reg not in REG_LOSSES or self.normalizer not in ("num_pos", "ema"):
            raise ValueError(f"bad loss recipe: cls {self.cls!r} (one of {CLS_LOSSES}), reg {self.reg!r} "
                             f"(one of {REG_LOSSES}), normalizer {self.normalizer!r} ('num_pos' or 'ema')")


def reweight_keep_total(losses: Tensor, weights: Tensor) -> Tensor:
    """``losses * weights``, rescaled (by a detached factor) so the sum stays ``losses.sum()``."""
    if losses.numel() == 0:
        return losses
    scale = (losses.sum() / (losses * weights).sum().clamp(min=1e-12)).detach()
    return losses * weights * scale


@dataclass
class _Positives:
    b: Tensor  # Long[N] image index
    p: Tensor  # Long[N] prior index
    boxes: Tensor  # Float[N, 4] matched GT boxes
    labels: Tensor  # Long[N]
    soft: Tensor | None  # Float[N] NoisyAnchor soft targets
    weights: Tensor | None  # Float[N] NoisyAnchor re-weights


def _assign_batch(outputs, targets, priors, nlp, coder, assigner) -> tuple[_Positives, Tensor]:
    """Assign every image; returns the positives and Bool[B, P] rows that take part in the cls loss."""
    cls, reg = outputs[0].detach(), outputs[1].detach()
    pred_boxes = coder.decode(priors[None], reg)
    scores = cls.sigmoid()
    cols: dict[str, list[Tensor]] = {k: [] for k in ("b", "p", "boxes", "labels", "soft", "weights")}
    valid = []
    for i, t in enumerate(targets):
        res = assigner.assign_dense(priors, nlp, t["boxes"].to(priors), t["labels"].to(priors.device),
                                    pred_boxes[i], scores[i], t.get("boxes_ignore"))
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
    return _Positives(**cat), torch.stack(valid)


def _cls_loss(cls: Tensor, pos: _Positives, valid: Tensor, quality_target: Tensor, cfg: DenseLossConfig) -> Tensor:
    """Summed classification loss over valid rows (NoisyAnchor re-weights applied to the positive rows)."""
    b, n, c = cls.shape
    if cfg.cls == "qfl":
        labels = torch.full((b, n), c, dtype=torch.long, device=cls.device)
        labels[pos.b, pos.p] = pos.labels
        score = cls.new_zeros(b, n)
        score[pos.b, pos.p] = quality_target
        rows = quality_focal_loss(cls.reshape(-1, c), labels.reshape(-1), score.reshape(-1), reduction="none")
        rows = rows.reshape(b, n)
    else:
        t = torch.zeros_like(cls)
        if cfg.cls == "vfl":
            t[pos.b, pos.p, pos.labels] = quality_target
            el = varifocal_loss(cls, t, reduction="none")
        elif pos.soft is not None:
            t[pos.b, pos.p, pos.labels] = pos.soft
            el = soft_focal_loss(cls, t, cfg.focal_alpha, cfg.focal_gamma, reduction="none")
        else:
            t[pos.b, pos.p, pos.labels] = 1.0
            el = sigmoid_focal_loss(cls, t, cfg.focal_alpha, cfg.focal_gamma, reduction="none")
        rows = el.sum(-1)
    rows = rows * valid
    if pos.weights is None:
        return rows.sum()
    pos_rows = rows[pos.b, pos.p]
    return rows.sum() - pos_rows.sum() + reweight_keep_total(pos_rows, pos.weights).sum()


def _reg_loss_rows(reg: Tensor, pos: _Positives, priors: Tensor, coder: DeltaXYWHCoder, cfg: DenseLossConfig,
                   pred_boxes: Tensor) -> Tensor:
    """Float[N] box loss per positive."""
    if cfg.reg == "giou":
        return giou_loss(pred_boxes, pos.boxes, reduction="none")
    target = coder.encode(priors[pos.p], pos.boxes)
    pred = reg[pos.b, pos.p]
    if cfg.reg == "balanced_l1":
        return balanced_l1_loss(pred, target, beta=cfg.reg_beta, reduction="none").sum(-1)
    beta = 0.0 if cfg.reg == "l1" else cfg.reg_beta
    return smooth_l1_loss(pred, target, beta, reduction="none").sum(-1)


def dense_loss(outputs: tuple[Tensor, ...], targets: Targets, priors: Tensor, nlp: list[int],
               coder: DeltaXYWHCoder, assigner: DenseAssigner, cfg: DenseLossConfig, quality: str,
               num_pos_ema: Tensor) -> tuple[dict[str, Tensor], float]:
    """Assign, build targets and compute ``loss_cls``, ``loss_box`` (and ``loss_quality``).

    Returns the loss dict and the number of positives in the batch (averaged over ranks under DDP).
    """
    if len(targets) != outputs[0].shape[0]:
        raise ValueError(f"{len(targets)} targets for a batch of {outputs[0].shape[0]} images")
    cls, reg = outputs[0], outputs[1]
    pos, valid = _assign_batch(outputs, targets, priors, nlp, coder, assigner)
    num_pos = int(pos.p.numel())
    # batch-wide normalisers averaged over ranks, so DDP equals single-process training on the whole batch
    if cfg.normalizer == "ema":
        norm = num_pos_ema.detach().clamp(min=1.0)
    else:
        norm = global_normalizer(torch.tensor(float(num_pos), device=cls.device))
    pred_boxes = coder.decode(priors[pos.p], reg[pos.b, pos.p])  # with gradient (GIoU)
    iou_target = elementwise_box_iou_xyxy(pred_boxes.detach(), pos.boxes).clamp(min=0)
    out = {"loss_cls": _cls_loss(cls, pos, valid, iou_target, cfg) / norm}
    if quality == "centerness":
        q_target = centerness_target((priors[pos.p, :2] + priors[pos.p, 2:]) / 2, pos.boxes)
    else:
        q_target = iou_target
    rows = _reg_loss_rows(reg, pos, priors, coder, cfg, pred_boxes)
    if pos.weights is not None:
        rows = reweight_keep_total(rows, pos.weights)
    if num_pos == 0:
        out["loss_box"] = reg.sum() * 0.0
    elif cfg.reg_weighted_by_quality and quality != "none":
        out["loss_box"] = (rows * q_target).sum() / global_normalizer(q_target.sum())
    else:
        out["loss_box"] = rows.sum() / norm
    out["loss_box"] = out["loss_box"] * cfg.reg_weight
    if quality != "none":
        q = outputs[2][pos.b, pos.p, 0]
        out["loss_quality"] = iou_branch_loss(q, q_target, reduction="sum") / norm if num_pos else outputs[2].sum() * 0
    return out, all_reduce_mean(float(num_pos), cls.device)
