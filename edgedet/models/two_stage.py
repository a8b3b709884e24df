"""Two-stage detector (Faster R-CNN with FPN), with the Libra R-CNN parts chosen by its preset.

``forward(images)`` returns ``(rpn_objectness [B, P, 1], rpn_deltas [B, P, 4], p2, p3, p4, p5)``: the RPN's raw
outputs and the pyramid maps the RoI head pools from. Proposals, sampling and the second stage run in
``loss`` / ``postprocess``.

Export (:class:`TwoStageExportGraph`, decode type ``"two_stage"`` in :mod:`edgedet.runtime.decode`): the graph
stops before the first data-dependent step, the RPN's NMS. It takes per level the ``min(rpn_nms_pre_test, n_l)``
best anchors by objectness (what ``postprocess`` takes before its NMS), decodes them and runs the RoI box head
on *all* of them, pooling with :class:`StaticMultiScaleRoIAlign`. The head treats each RoI on its own, so the
runtime selecting the NMS survivors' rows afterwards gives ``postprocess``'s detections; the price is the head
running on ``N = sum(k_l)`` RoIs instead of at most ``rpn_max_test`` (3,375 vs <= 1,000 at 320 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.ops import batched_nms

from edgedet.deploy.decode_spec import TwoStageSpec
from edgedet.models.base import Detections, Detector
from edgedet.models.criteria.two_stage import RCNNCriterion, RPNCriterion
from edgedet.models.dense import flatten_levels
from edgedet.models.heads.roi_box import RoIBoxHead
from edgedet.models.heads.rpn import MIN_PROPOSAL_SIZE, RPNHead, generate_proposals, select_level_topk
from edgedet.models.heads.static_roi_align import StaticMultiScaleRoIAlign
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.priors import AnchorGenerator
from edgedet.structures.targets import Targets

__all__ = ["TwoStageConfig", "TwoStageDetector", "TwoStageExportGraph"]


@dataclass
class TwoStageConfig:
    """Proposal counts (train / test) and NMS settings."""

    rpn_nms_pre_train: int = 2000
    rpn_nms_pre_test: int = 1000
    rpn_max_train: int = 1000
    rpn_max_test: int = 1000
    rpn_nms_iou: float = 0.7
    score_thr: float = 0.05
    nms_iou: float = 0.5
    max_det: int = 100


class TwoStageDetector(Detector):
    """Args:
        backbone / neck: images -> 5 pyramid maps (P2..P6). rpn: :class:`RPNHead`. roi_head: :class:`RoIBoxHead`.
        rpn_priors: anchors of the 5 levels. rpn_criterion / rcnn_criterion: assignment, sampling and losses of
        each stage (:mod:`edgedet.models.criteria.two_stage`). cfg: proposal counts and NMS settings.
    """

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, rpn: RPNHead, roi_head: RoIBoxHead,
                 rpn_priors: AnchorGenerator, rpn_criterion: RPNCriterion, rcnn_criterion: RCNNCriterion,
                 num_classes: int, imgsz: int = 640, cfg: TwoStageConfig | None = None) -> None:
        super().__init__()
        if rcnn_criterion.num_classes != num_classes:
            raise ValueError(f"rcnn_criterion is for {rcnn_criterion.num_classes} classes, the detector for {num_classes}")
        self.backbone, self.neck, self.rpn, self.roi_head = backbone, neck, rpn, roi_head
        self.rpn_priors, self.num_classes, self.imgsz = rpn_priors, num_classes, imgsz
        self.rpn_criterion, self.rcnn_criterion = rpn_criterion, rcnn_criterion
        self.rpn_coder = DeltaXYWHCoder()
        self.rcnn_coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
        self.cfg = cfg or TwoStageConfig()

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        feats = self.neck(self.backbone(images))
        cls, reg = self.rpn(feats)
        return (flatten_levels(cls, 1), flatten_levels(reg, 4), *feats[:4])

    @staticmethod
    def _level_sizes(h: int, w: int) -> list[tuple[int, int]]:
        """Sizes of the 5 pyramid levels from P2's ``(h, w)`` (each next level: ceil of half)."""
        sizes = [(h, w)]
        for _ in range(4):
            sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))
        return sizes

    def _priors(self, p2: Tensor) -> tuple[Tensor, list[int], tuple[int, int]]:
        """RPN anchors Float[P, 4], anchors per level and the input (h, w), from the P2 map."""
        h, w = (int(v) for v in p2.shape[-2:])
        sizes = self._level_sizes(h, w)
        image_size = (h * self.rpn_priors.strides[0], w * self.rpn_priors.strides[0])
        pri = torch.cat(self.rpn_priors.grid_priors(sizes, p2.device))
        return pri, self.rpn_priors.num_level_priors(sizes), image_size

    def _proposals(self, outputs: tuple[Tensor, ...], training: bool) -> list[Tensor]:
        priors, nlp, image_size = self._priors(outputs[2])
        nms_pre = self.cfg.rpn_nms_pre_train if training else self.cfg.rpn_nms_pre_test
        max_num = self.cfg.rpn_max_train if training else self.cfg.rpn_max_test
        return [generate_proposals(outputs[0][b, :, 0].detach(), outputs[1][b].detach(), priors, nlp, self.rpn_coder,
                                   image_size, nms_pre=nms_pre, nms_iou=self.cfg.rpn_nms_iou, max_num=max_num)[0]
                for b in range(outputs[0].shape[0])]

    def loss(self, outputs: tuple[Tensor, ...], targets: Targets) -> dict[str, Tensor]:
        """``loss_rpn_cls``, ``loss_rpn_box`` (:class:`RPNCriterion`), ``loss_cls``, ``loss_box`` (:class:`RCNNCriterion`)."""
        if len(targets) != outputs[0].shape[0]:
            raise ValueError(f"{len(targets)} targets for a batch of {outputs[0].shape[0]} images")
        priors, nlp, image_size = self._priors(outputs[2])
        out = self.rpn_criterion(outputs, targets, priors=priors, num_level_priors=nlp, coder=self.rpn_coder)
        roi_targets = self.rcnn_criterion.sample(self._proposals(outputs, True), targets, self.rcnn_coder)
        head_out = self.roi_head(outputs[2:], roi_targets.rois, image_size)
        return out | self.rcnn_criterion(head_out, targets, roi_targets=roi_targets)

    @torch.no_grad()
    def postprocess(self, outputs: tuple[Tensor, ...], score_thr: float | None = None) -> Detections:
        """``forward`` outputs -> per image dict(boxes [K, 4] xyxy input px, scores [K], labels [K]) above
        ``score_thr``; None = this model's ``cfg.score_thr`` (callers that evaluate pass theirs explicitly)."""
        thr = self.cfg.score_thr if score_thr is None else score_thr
        proposals = self._proposals(outputs, False)
        image_size = self._priors(outputs[2])[2]
        cls, reg = self.roi_head(outputs[2:], proposals, image_size)
        scores = cls.softmax(-1)[:, : self.num_classes]
        dets, start = [], 0
        for props in proposals:
            k = props.shape[0]
            s, d = scores[start:start + k], reg[start:start + k].reshape(k, self.num_classes, 4)
            start += k
            boxes = self.rcnn_coder.decode(props[:, None, :].expand(-1, self.num_classes, -1), d, max_shape=image_size)
            keep = torch.nonzero(s > thr, as_tuple=False)
            b, sc, lab = boxes[keep[:, 0], keep[:, 1]], s[keep[:, 0], keep[:, 1]], keep[:, 1]
            k2 = batched_nms(b, sc, lab, self.cfg.nms_iou)[: self.cfg.max_det]
            dets.append({"boxes": b[k2], "scores": sc[k2], "labels": lab[k2]})
        return dets

    def export_graph(self) -> nn.Module:
        """:class:`TwoStageExportGraph` on this model's weights: ``forward``'s backbone, neck and RPN, the RPN's
        static top-k proposals and the R-CNN head on them; the RPN's NMS and the rest run in the runtime."""
        return TwoStageExportGraph(self).train(self.training)

    def export_precisions(self) -> dict[str, tuple[str, ...]]:
        """Format -> precisions this model exports to (narrower than the formats' own: see the README)."""
        return dict(EXPORT_PRECISIONS)

    def decode_spec(self) -> TwoStageSpec:
        """The ``"two_stage"`` decode (:mod:`edgedet.runtime.decode`) of the export graph at ``imgsz``."""
        sizes = self._level_sizes(-(-self.imgsz // self.rpn_priors.strides[0]),
                                  -(-self.imgsz // self.rpn_priors.strides[0]))
        counts = [min(self.cfg.rpn_nms_pre_test, n) for n in self.rpn_priors.num_level_priors(sizes)]
        coder = self.rcnn_coder
        return TwoStageSpec(
            num_classes=self.num_classes, level_counts=counts, rpn_nms_iou=self.cfg.rpn_nms_iou,
            rpn_max_test=self.cfg.rpn_max_test, outputs=list(TwoStageExportGraph.OUTPUTS),
            rpn_min_size=float(MIN_PROPOSAL_SIZE), means=[float(m) for m in coder.means],
            stds=[float(v) for v in coder.stds], wh_clamp=float(coder.wh_clamp), nms_iou=self.cfg.nms_iou,
            max_det=self.cfg.max_det, clip_to_input=True,
        )


EXPORT_PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnx": ("fp32", "fp16", "int8"),
    "tflite": ("fp32", "fp16"),
    "paddle": ("fp32",),
    "paddle-lite": ("fp32",),
}


class TwoStageExportGraph(nn.Module):
    """Static-shape export graph of a :class:`TwoStageDetector` (shared weights; module docstring).

    ``images`` Float[B, 3, S, S] -> ``proposals`` [B, N, 4] (xyxy input px, clipped), ``objectness`` [B, N]
    (RPN logits), ``cls_logits`` [B, N, C+1] (background last), ``box_deltas`` [B, N, 4C] (the R-CNN coder's),
    rows level by level (``k_l = min(rpn_nms_pre_test, anchors on level l)``), in anchor order within a level.
    """

    OUTPUTS = ("proposals", "objectness", "cls_logits", "box_deltas")

    def __init__(self, model: TwoStageDetector) -> None:
        super().__init__()
        self.model = model
        self.pool = StaticMultiScaleRoIAlign(model.roi_head.roi_size, model.roi_head.sampling_ratio)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        m = self.model
        feats = m.neck(m.backbone(images))
        obj, reg = m.rpn(feats)
        priors, nlp, image_size = m._priors(feats[0])
        boxes, logits, _ = select_level_topk(flatten_levels(obj, 1)[..., 0], flatten_levels(reg, 4), priors, nlp,
                                             m.rpn_coder, image_size, m.cfg.rpn_nms_pre_test)
        cls, deltas = m.roi_head.classify(self.pool(feats[:4], boxes, image_size))
        b, n = logits.shape
        return boxes, logits, cls.reshape(b, n, -1), deltas.reshape(b, n, -1)
