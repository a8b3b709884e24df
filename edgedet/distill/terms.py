"""Distillation terms: extra terms of a PAFNet student's :class:`~edgedet.models.criteria.ttf.TTFCriterion`.

Each term is called as ``term(outputs, targets, context)`` like any extra term and returns one ``loss_kd_*`` key.
What the frozen teacher computed for the batch reaches the terms through a shared :class:`TeacherBatch` (filled by
:class:`edgedet.distill.hook.Distiller` before the student's forward). Every weight ramps linearly from 0 over
``warmup_iters`` iterations (:func:`ramp`), so the randomly initialised student first learns from the ground truth.

| key | teacher | what |
|---|---|---|
| ``loss_kd_hm`` | PAFNet | :func:`heatmap_distill_loss` against the teacher's sigmoid heatmap |
| ``loss_kd_box`` | PAFNet | GIoU against the teacher's decoded boxes at its confident cells |
| ``loss_kd_feat`` | any | PKD on neck maps of matching stride, through 1x1 adapters (training only) |
| ``loss_kd_out`` | any | the teacher's detections rendered as soft TTF targets, blended with the ground truth |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.distill.taps import FeatureTaps
from edgedet.losses.distill import heatmap_distill_loss, pkd_loss, soft_quality_focal_loss
from edgedet.losses.giou import giou_loss
from edgedet.models.criteria.ttf import TTFContext, grid_centres
from edgedet.structures.boxes import points_ltrb_to_xyxy
from edgedet.structures.targets import Targets

__all__ = ["BoxKDTerm", "FeatureKDTerm", "HeatmapKDTerm", "OutputKDTerm", "TeacherBatch", "ramp"]


class TeacherBatch:
    """The teacher's results for the current batch, shared by the terms (a plain object: never saved, never copied).

    Attributes:
        outputs: the teacher's raw head outputs (PAFNet: heatmap logits, ltrb).
        features: stride -> teacher neck map.
        detections: per image dict(boxes, scores, labels) from the teacher's own post-processing, or None.
        iteration: the trainer's iteration, for :func:`ramp`.
    """

    def __init__(self) -> None:
        self.outputs: tuple[Tensor, ...] = ()
        self.features: dict[int, Tensor] = {}
        self.detections: list[dict[str, Tensor]] | None = None
        self.iteration = 0

    def __deepcopy__(self, memo: dict) -> TeacherBatch:
        return self  # the EMA copy of the student keeps pointing at the one batch (it never computes losses)


def ramp(weight: float, iteration: int, warmup_iters: int) -> float:
    """``weight * min(1, iteration / warmup_iters)``; ``weight`` when ``warmup_iters`` is 0."""
    return weight if warmup_iters <= 0 else weight * min(1.0, iteration / warmup_iters)


class _Term(nn.Module):
    def __init__(self, batch: TeacherBatch, weight: float, warmup_iters: int) -> None:
        super().__init__()
        self.batch, self.weight, self.warmup_iters = batch, weight, warmup_iters

    def current_weight(self) -> float:
        return ramp(self.weight, self.batch.iteration, self.warmup_iters)


class HeatmapKDTerm(_Term):
    """``loss_kd_hm``: :func:`heatmap_distill_loss` of the student's heatmap vs the PAFNet teacher's."""

    def forward(self, outputs: tuple[Tensor, ...], targets: Targets, context: TTFContext) -> dict[str, Tensor]:
        return {"loss_kd_hm": self.current_weight() * heatmap_distill_loss(outputs[0], self.batch.outputs[0])}


class BoxKDTerm(_Term):
    """``loss_kd_box``: GIoU of the student's boxes vs the PAFNet teacher's decoded boxes at every cell where the
    teacher's confidence ``m = max_c sigmoid`` exceeds ``min_score``, weighted by ``m``, over the sum of ``m``.

    Args:
        stride: the head stride (4). min_score: cells the teacher is less sure of carry no box target.
    """

    def __init__(self, batch: TeacherBatch, weight: float, warmup_iters: int, *, stride: int = 4,
                 min_score: float = 0.1) -> None:
        super().__init__(batch, weight, warmup_iters)
        self.stride, self.min_score = stride, min_score

    def forward(self, outputs: tuple[Tensor, ...], targets: Targets, context: TTFContext) -> dict[str, Tensor]:
        t_hm, t_ltrb = (o.detach().float() for o in self.batch.outputs[:2])
        ltrb = outputs[1].float()
        b, _, h, w = ltrb.shape
        m = t_hm.sigmoid().amax(1)  # [B, H, W]
        mask = m > self.min_score
        centres = grid_centres(h, w, self.stride, ltrb.device).expand(b, h, w, 2)[mask]  # [P, 2]
        pred = points_ltrb_to_xyxy(centres, ltrb.permute(0, 2, 3, 1)[mask])
        target = points_ltrb_to_xyxy(centres, t_ltrb.permute(0, 2, 3, 1)[mask])
        loss = giou_loss(pred, target, m[mask], reduction="sum") / m[mask].sum().clamp(min=1e-6)
        return {"loss_kd_box": self.current_weight() * loss}


class FeatureKDTerm(_Term):
    """``loss_kd_feat``: the sum over stride pairs of :func:`pkd_loss` (student map -> 1x1 adapter -> teacher
    channels, resized to the teacher map), times ``weight`` per level.

    Args:
        taps: the student's neck taps (filled by the student's forward).
        pairs: student stride -> teacher stride.
        student_channels, teacher_channels: stride -> channels.
    """

    def __init__(self, batch: TeacherBatch, weight: float, warmup_iters: int, *, taps: FeatureTaps,
                 pairs: dict[int, int], student_channels: dict[int, int], teacher_channels: dict[int, int]) -> None:
        super().__init__(batch, weight, warmup_iters)
        if not pairs:
            raise ValueError("feature distillation needs at least one student/teacher stride pair")
        self.taps, self.pairs = taps, dict(pairs)
        self.adapters = nn.ModuleDict({str(s): nn.Conv2d(student_channels[s], teacher_channels[t], 1)
                                       for s, t in self.pairs.items()})

    def forward(self, outputs: tuple[Tensor, ...], targets: Targets, context: TTFContext) -> dict[str, Tensor]:
        total = outputs[0].new_zeros((), dtype=torch.float32)
        with torch.autocast(outputs[0].device.type, enabled=False):  # fp32 adapters and loss, also under AMP (on
            for s, t in self.pairs.items():  # CUDA the adapter conv failed: "Input type Half and bias type float")
                student = self.adapters[str(s)](self.taps.maps[s].float())
                total = total + pkd_loss(student, self.batch.features[t].float())
        return {"loss_kd_feat": self.current_weight() * total}


class OutputKDTerm(_Term):
    """``loss_kd_out``, the teacher-agnostic output term: the teacher's detections are rendered by the student's
    own :class:`TTFTargetBuilder` as soft targets (Gaussian peaks scaled by the teacher's score, box targets
    weighted by it); the heatmap target is ``(1 - blend) * GT + blend * teacher``. Loss = soft QFL over the
    heatmap / (GT peaks + teacher detections) + ``box_weight`` x GIoU at the teacher's box cells / their weight.

    Args:
        builder: the student criterion's target builder (same classes, stride and Gaussian radii).
        blend: share of the teacher in the heatmap target (0.5). box_weight: as the criterion's (5).
    """

    def __init__(self, batch: TeacherBatch, weight: float, warmup_iters: int, *, builder: TTFTargetBuilder,
                 blend: float = 0.5, box_weight: float = 5.0) -> None:
        super().__init__(batch, weight, warmup_iters)
        self.builder, self.blend, self.box_weight = builder, blend, box_weight

    def forward(self, outputs: tuple[Tensor, ...], targets: Targets, context: TTFContext) -> dict[str, Tensor]:
        hm, ltrb = outputs[0].float(), outputs[1].float()
        b, _, h, w = hm.shape
        dets = self.batch.detections or []
        teacher = self.builder([{k: d[k].detach() for k in ("boxes", "labels", "scores")} for d in dets], (h, w),
                               device=hm.device)
        gt_heat = context.targets["heatmap"]
        target = (1 - self.blend) * gt_heat + self.blend * teacher["heatmap"]
        n = gt_heat.eq(1).sum() + sum(len(d["scores"]) for d in dets)
        loss_hm = soft_quality_focal_loss(hm, target, reduction="sum") / n.clamp(min=1)
        weight = teacher["box_weight"]
        mask = weight > 0
        centres = grid_centres(h, w, self.builder.stride, hm.device).expand(b, h, w, 2)[mask]
        pred = points_ltrb_to_xyxy(centres, ltrb.permute(0, 2, 3, 1)[mask])
        loss_box = giou_loss(pred, teacher["box_target"][mask], weight[mask], reduction="sum")
        loss_box = loss_box / weight.sum().clamp(min=1e-6)
        return {"loss_kd_out": self.current_weight() * (loss_hm + self.box_weight * loss_box)}
