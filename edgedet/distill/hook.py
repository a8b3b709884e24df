"""The distillation hook of the trainer: teacher on each batch, KD terms on the student's criterion."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from edgedet.config.schema import DistillConfig
from edgedet.distill.taps import FeatureTaps, neck_strides
from edgedet.distill.teacher import auto_terms, load_teacher, teacher_family
from edgedet.distill.terms import BoxKDTerm, FeatureKDTerm, HeatmapKDTerm, OutputKDTerm, TeacherBatch
from edgedet.engine.hooks import TrainerHook
from edgedet.models.criteria.ttf import TTFCriterion
from edgedet.models.pafnet import PAFNet
from edgedet.structures.targets import Targets

if TYPE_CHECKING:
    from edgedet.engine.trainer import Trainer

log = logging.getLogger("edgedet")

__all__ = ["Distiller", "selected_terms", "stride_pairs"]


def selected_terms(cfg: DistillConfig, family: str) -> tuple[str, ...]:
    """The terms to build: ``cfg.kd`` (or :func:`auto_terms` of the family) minus those weighted 0.

    Raises:
        ValueError: a same-family-only term (hm, box) asked of an anchor-based teacher.
    """
    terms = auto_terms(family) if cfg.kd == "auto" else tuple(t.strip() for t in cfg.kd.split(","))
    if family != "pafnet" and {"hm", "box"} & set(terms):
        raise ValueError(f"distill.kd={cfg.kd}: heatmap and box KD need a PAFNet teacher; an anchor-based teacher "
                         "teaches through 'out' and 'feat'")
    weights = {"hm": cfg.hm_weight, "box": cfg.box_weight, "feat": cfg.feat_weight, "out": cfg.out_weight}
    return tuple(t for t in terms if weights[t] > 0)


def stride_pairs(student: list[int], teacher: list[int]) -> dict[int, int]:
    """Student stride -> teacher stride for feature KD: equal strides (PAFNet s4/s8/s16; RetinaNet P3 <-> s8,
    P4 <-> s16; Faster R-CNN P2 <-> s4 ...)."""
    return {s: s for s in student if s in teacher}


class Distiller(TrainerHook):
    """Runs the frozen teacher (eval mode, no_grad, autocast on CUDA) on the trainer's batch and adds the
    selected KD terms to the student's :class:`TTFCriterion` (their adapters are training-only state).

    Args:
        cfg: the run's ``distill`` section (``teacher`` must be set).
    """

    def __init__(self, cfg: DistillConfig) -> None:
        if not cfg.teacher:
            raise ValueError("distill.teacher is empty: give --teacher CKPT_OR_RUN_DIR")
        self.cfg = cfg
        self.batch = TeacherBatch()
        self.teacher: torch.nn.Module | None = None
        self.teacher_path: Path | None = None
        self.teacher_taps: FeatureTaps | None = None
        self.terms: tuple[str, ...] = ()
        self._first_term = 0
        self._ms_sum, self._steps = 0.0, 0
        self._use_amp = False

    # -------------------------------------------------------------------------------------------- set-up
    def attach(self, trainer: Trainer) -> None:
        student, cfg = trainer.model, trainer.cfg
        if not isinstance(student, PAFNet) or not isinstance(student.criterion, TTFCriterion):
            raise ValueError(f"the distillation student must be a PAFNet / PAFNet-lite model, got {cfg.model.name}")
        self.teacher, self.teacher_path = load_teacher(
            self.cfg.teacher, class_names=list(trainer.train_index.class_names), imgsz=cfg.model.imgsz,
            device=trainer.device)
        family = teacher_family(self.teacher)
        self.terms = selected_terms(self.cfg, family)
        self._use_amp = trainer.use_amp
        criterion = student.criterion
        self._first_term = len(criterion.extra_terms)
        d = self.cfg
        for name in self.terms:
            if name == "hm":
                criterion.extra_terms.append(HeatmapKDTerm(self.batch, d.hm_weight, d.warmup_iters))
            elif name == "box":
                criterion.extra_terms.append(BoxKDTerm(self.batch, d.box_weight, d.warmup_iters,
                                                       stride=student.stride, min_score=d.box_min_score))
            elif name == "out":
                criterion.extra_terms.append(OutputKDTerm(self.batch, d.out_weight, d.warmup_iters,
                                                          builder=criterion.target_builder, blend=d.out_blend,
                                                          box_weight=criterion.box_weight))
            else:
                criterion.extra_terms.append(self._feature_term(student, cfg.model.imgsz))
        log.info("distilling from %s (%s, %s family): %s", self.teacher_path, type(self.teacher).__name__, family,
                 ", ".join(f"loss_kd_{t}" for t in self.terms) or "no terms (all weights 0)")

    def _feature_term(self, student: PAFNet, imgsz: int) -> FeatureKDTerm:
        student_taps = FeatureTaps(student)
        self.teacher_taps = FeatureTaps(self.teacher, always=True)
        pairs = stride_pairs(neck_strides(student), neck_strides(self.teacher))
        if not pairs:
            raise ValueError(f"feature KD: the teacher's neck strides {neck_strides(self.teacher)} share none with "
                             f"the student's {neck_strides(student)}; drop 'feat' from distill.kd")
        return FeatureKDTerm(self.batch, self.cfg.feat_weight, self.cfg.warmup_iters, taps=student_taps, pairs=pairs,
                             student_channels=student_taps.channels(imgsz),
                             teacher_channels=self.teacher_taps.channels(imgsz))

    def train_only_prefixes(self) -> tuple[str, ...]:
        n = self._first_term
        return tuple(f"criterion.extra_terms.{i}." for i in range(n, n + len(self.terms)))

    # -------------------------------------------------------------------------------------------- per step
    @torch.no_grad()
    def before_step(self, images: Tensor, targets: Targets, iteration: int) -> None:
        t0 = time.perf_counter()
        with torch.autocast(images.device.type, enabled=self._use_amp):
            outputs = self.teacher(images)
            dets = self.teacher.postprocess(outputs, score_thr=self.cfg.out_score_thr) if "out" in self.terms else None
        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)
        self._ms_sum += 1000 * (time.perf_counter() - t0)
        self._steps += 1
        self.batch.outputs = tuple(o.float() for o in outputs)
        self.batch.features = dict(self.teacher_taps.maps) if self.teacher_taps is not None else {}
        self.batch.detections = dets
        self.batch.iteration = iteration

    def epoch_stats(self) -> dict[str, float]:
        ms = self._ms_sum / max(self._steps, 1)
        self._ms_sum, self._steps = 0.0, 0
        log.info("teacher forward: %.1f ms per iteration (extra cost of distillation, besides the KD terms)", ms)
        return {"teacher_ms": round(ms, 2)}

    # ------------------------------------------------------------------------------------------------ end
    def finish(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        """The teacher's AP on the student's val set -> ``teacher.json`` and a section of ``report.md``."""
        from edgedet.engine.trainer import evaluate_model

        teacher_metrics = evaluate_model(self.teacher, trainer.val_index, trainer.cfg.model.imgsz, trainer.device,
                                         trainer.data_cfg, progress=trainer.progress)
        record = {"teacher": str(self.teacher_path), "teacher_model": type(self.teacher).__name__,
                  "terms": [f"loss_kd_{t}" for t in self.terms], "teacher_AP": teacher_metrics.get("AP"),
                  "teacher_AP50": teacher_metrics.get("AP50"), "student_AP": metrics.get("AP"),
                  "student_best_AP": trainer.best_ap}
        (trainer.run_dir / "teacher.json").write_text(json.dumps(record, indent=2) + "\n")
        gain = "" if metrics.get("AP") is None else f" (student {metrics['AP']:.4f})"
        with open(trainer.run_dir / "report.md", "a") as f:
            f.write(f"\n## Distillation\n\n- teacher: `{self.teacher_path}` ({type(self.teacher).__name__})\n"
                    f"- teacher AP on the same val set: {teacher_metrics.get('AP', float('nan')):.4f}{gain}\n"
                    f"- terms: {', '.join(record['terms']) or 'none'} (columns of metrics.csv, curves in losses.png);"
                    " teacher cost per iteration: column `teacher_ms`\n")
        log.info("teacher AP %.4f on the same val set", teacher_metrics.get("AP", float("nan")))
