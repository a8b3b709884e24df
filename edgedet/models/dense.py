"""One-stage dense detectors on anchor priors: RetinaNet, ATSS, Dynamic ATSS, NoisyAnchor, Libra RetinaNet.

``DenseDetector(backbone=, neck=, head=, prior_generator=, coder=, criterion=DenseCriterion(...), ...)``: the
head gives per level maps; ``forward`` flattens them to ``cls`` [B, P, C], ``reg`` [B, P, 4] (deltas) and, with a
quality branch, ``quality`` [B, P, 1] (logits), with priors ordered as :mod:`edgedet.structures.priors` lays them
out. Assignment and losses live in the criterion (:mod:`edgedet.models.criteria.dense`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.ops import batched_nms

from edgedet.deploy.decode_spec import AnchorDeltasSpec, GridPriorsSpec, dense_scores
from edgedet.models.base import Detections, Detector
from edgedet.models.criteria.dense import DenseCriterion
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.priors import AnchorGenerator, feat_sizes_for_input
from edgedet.structures.targets import Targets

__all__ = ["DenseDetector", "DenseTestConfig", "flatten_levels"]


@dataclass
class DenseTestConfig:
    """Inference: keep the ``nms_pre`` best (prior, class) pairs over ``score_thr`` per level, class-wise NMS at
    ``nms_iou``, at most ``max_det`` detections per image."""

    nms_pre: int = 1000
    score_thr: float = 0.05
    nms_iou: float = 0.5
    max_det: int = 100


def flatten_levels(maps: list[Tensor], k: int) -> Tensor:
    """Per level Float[B, A*k, H, W] -> Float[B, sum(H*W*A), k] (index ``(y*W + x)*A + a`` within a level)."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, k) for m in maps], dim=1)


def _move_legacy_normalizer_key(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Checkpoints written before the loss criteria were objects hold the EMA positive count as
    ``num_pos_ema`` on the detector; it now lives on the criterion's normaliser (NoisyAnchor) or nowhere."""
    old = state_dict.pop(prefix + "num_pos_ema", None)
    if old is not None and hasattr(getattr(module.criterion, "normalizer", None), "num_pos_ema"):
        state_dict.setdefault(prefix + "criterion.normalizer.num_pos_ema", old)


class DenseDetector(Detector):
    """Args:
        backbone: images -> list of maps (C2..C5). neck: that list -> pyramid maps (FPN, FPN + BFP).
        head: pyramid -> (cls, reg[, quality]) per level. prior_generator: the anchor generator matching the head.
        coder: box coder of ``reg``. criterion: assignment and losses (:class:`DenseCriterion`); its quality
            target must match the head's quality branch.
        num_classes: classes. imgsz: export input side (for :meth:`decode_spec`). test: inference settings.
    """

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: nn.Module, prior_generator: AnchorGenerator,
                 coder: DeltaXYWHCoder, criterion: DenseCriterion, num_classes: int, imgsz: int = 640,
                 test: DenseTestConfig | None = None) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.backbone, self.neck, self.head = backbone, neck, head
        self.prior_generator, self.coder, self.criterion = prior_generator, coder, criterion
        self.num_classes, self.imgsz = num_classes, imgsz
        self.test_cfg = test or DenseTestConfig()
        self.quality = getattr(head, "quality", "none")
        criterion_quality = criterion.quality.name if criterion.quality is not None else "none"
        if criterion_quality != self.quality:
            raise ValueError(f"the head's quality branch is {self.quality!r} but the criterion's quality target is "
                             f"{criterion_quality!r}")
        self._feat_sizes: dict[int, list[tuple[int, int]]] = {}
        self._register_load_state_dict_pre_hook(_move_legacy_normalizer_key, with_module=True)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """Float[B, 3, H, W] -> (cls logits [B, P, C], box deltas [B, P, 4][, quality logits [B, P, 1]])."""
        outs = self.head(self.neck(self.backbone(images)))
        sizes = [tuple(int(s) for s in m.shape[-2:]) for m in outs[0]]
        a = self.prior_generator.num_base_priors
        self._feat_sizes[sum(h * w * a for h, w in sizes)] = sizes
        flat = [flatten_levels(outs[0], self.num_classes), flatten_levels(outs[1], 4)]
        if len(outs) > 2:
            flat.append(flatten_levels(outs[2], 1))
        return tuple(flat)

    def feat_sizes(self, num_priors: int) -> list[tuple[int, int]]:
        """Feature sizes behind ``num_priors`` flattened priors: those seen by ``forward``, else a square input."""
        if num_priors in self._feat_sizes:
            return self._feat_sizes[num_priors]
        strides, a = self.prior_generator.strides, self.prior_generator.num_base_priors
        for side in range(strides[0], 8192 + 1, strides[0]):
            sizes = feat_sizes_for_input(side, side, strides)
            n = sum(h * w * a for h, w in sizes)
            if n == num_priors:
                return sizes
            if n > num_priors:
                break
        raise ValueError(f"cannot infer feature sizes for {num_priors} priors; run forward() on the input first")

    def priors(self, num_priors: int, device: torch.device) -> tuple[Tensor, list[int]]:
        """Float[P, 4] xyxy priors for outputs with ``num_priors`` rows, and the priors per level."""
        sizes = self.feat_sizes(num_priors)
        return torch.cat(self.prior_generator.grid_priors(sizes, device)), self.prior_generator.num_level_priors(sizes)

    def loss(self, outputs: tuple[Tensor, ...], targets: Targets) -> dict[str, Tensor]:
        """``loss_cls``, ``loss_box`` and (with a quality branch) ``loss_quality``; see :class:`DenseCriterion`."""
        priors, nlp = self.priors(outputs[0].shape[1], outputs[0].device)
        return self.criterion(outputs, targets, priors=priors, num_level_priors=nlp, coder=self.coder)

    @torch.no_grad()
    def postprocess(self, outputs: tuple[Tensor, ...], score_thr: float | None = None) -> Detections:
        """Per image dict(boxes [K, 4] xyxy input px, scores [K], labels [K]) passing ``score_thr``;
        None = this model's ``test_cfg.score_thr`` (callers that evaluate pass their threshold explicitly).
        Scores and the threshold's meaning per quality branch: :func:`edgedet.deploy.decode_spec.dense_scores`
        (Dynamic ATSS: the class probability must pass, the score is ``sqrt(cls * iou)``)."""
        thr = self.test_cfg.score_thr if score_thr is None else score_thr
        cls, reg = outputs[0], outputs[1]
        quality = outputs[2].sigmoid() if len(outputs) > 2 else None
        scores, passes = dense_scores(cls.sigmoid(), quality, self.quality, thr)
        priors, nlp = self.priors(cls.shape[1], cls.device)
        sizes = self.feat_sizes(cls.shape[1])
        max_shape = (sizes[0][0] * self.prior_generator.strides[0], sizes[0][1] * self.prior_generator.strides[0])
        return [self._single(scores[b], passes[b], reg[b], priors, nlp, max_shape) for b in range(cls.shape[0])]

    def _single(self, scores: Tensor, passes: Tensor, reg: Tensor, priors: Tensor, nlp: list[int],
                max_shape: tuple[int, int]) -> dict[str, Tensor]:
        c = self.num_classes
        idx_all, val_all, start = [], [], 0
        for n in nlp:
            flat = scores[start:start + n].reshape(-1)
            keep = torch.nonzero(passes[start:start + n].reshape(-1), as_tuple=False).squeeze(1)
            vals = flat[keep]
            if vals.numel() > self.test_cfg.nms_pre:
                vals, order = vals.topk(self.test_cfg.nms_pre)
                keep = keep[order]
            idx_all.append(keep + start * c)
            val_all.append(vals)
            start += n
        idx, vals = torch.cat(idx_all), torch.cat(val_all)
        prior_idx, labels = idx // c, idx % c
        boxes = self.coder.decode(priors[prior_idx], reg[prior_idx], max_shape=max_shape)
        keep = batched_nms(boxes, vals, labels, self.test_cfg.nms_iou)[: self.test_cfg.max_det]
        return {"boxes": boxes[keep], "scores": vals[keep], "labels": labels[keep]}

    def decode_spec(self) -> AnchorDeltasSpec:
        """The ``"anchor_deltas"`` decode (:mod:`edgedet.runtime.decode`) of (cls, reg[, quality]) at ``imgsz``."""
        sizes = feat_sizes_for_input(self.imgsz, self.imgsz, self.prior_generator.strides)
        outputs = ["cls_logits", "box_deltas"] + (["quality_logits"] if self.quality != "none" else [])
        return AnchorDeltasSpec(
            num_classes=self.num_classes,
            priors=GridPriorsSpec.from_dict(self.prior_generator.spec(sizes), "decode.priors"),
            outputs=outputs,
            quality=self.quality,
            means=[float(m) for m in self.coder.means],
            stds=[float(v) for v in self.coder.stds],
            wh_clamp=float(self.coder.wh_clamp),
            nms_pre=self.test_cfg.nms_pre,
            nms_iou=self.test_cfg.nms_iou,
            max_det=self.test_cfg.max_det,
            clip_to_input=True,
        )
