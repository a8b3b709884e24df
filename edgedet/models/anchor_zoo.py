"""Preset builders of the anchor-based detectors (RetinaNet, ATSS, Dynamic ATSS, NoisyAnchor, Libra).

Each preset's keyword parameters are :class:`edgedet.config.schema.ModelConfig` fields, so
``edgedet.models.zoo.build_model`` can call it. Backbones: ``*_r50_fpn`` at ``width == 1`` use torchvision's plain
ResNet-50 (the backbone of the published results and parameter counts); ``*_r18_fpn`` and every reduced width
use :class:`~edgedet.models.backbones.resnet_vd.ResNetVd` (torchvision's ResNet has fixed widths).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from edgedet.assigners import (
    ATSSAssigner,
    DenseAssigner,
    DynamicATSSAssigner,
    InstanceBalancedPosSampler,
    IoUBalancedNegSampler,
    MaxIoUAssigner,
    NoisyAnchorAssigner,
    RoISampler,
)
from edgedet.models.backbones.resnet_fpn import TorchvisionResNet
from edgedet.models.backbones.resnet_vd import ResNetVd
from edgedet.models.dense import DenseDetector
from edgedet.models.dense_loss import DenseLossConfig
from edgedet.models.heads.atss import ATSSHead
from edgedet.models.heads.retina import RetinaHead
from edgedet.models.heads.roi_box import RoIBoxHead
from edgedet.models.heads.rpn import RPNHead
from edgedet.models.layers import scaled_channels
from edgedet.models.necks.bfp import BFP
from edgedet.models.necks.fpn import FPN
from edgedet.models.two_stage import TwoStageDetector
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.priors import AnchorGenerator, atss_anchors, retinanet_anchors

__all__ = [
    "ANCHOR_PRESETS",
    "ASSIGNERS",
    "atss_r18_fpn",
    "atss_r50_fpn",
    "dynamic_atss_r18_fpn",
    "dynamic_atss_r50_fpn",
    "dynamic_atss_vfl_r18_fpn",
    "dynamic_atss_vfl_r50_fpn",
    "libra_faster_rcnn_r18_fpn",
    "libra_faster_rcnn_r50_fpn",
    "libra_retinanet_r18_fpn",
    "libra_retinanet_r50_fpn",
    "noisy_anchor_retinanet_r18_fpn",
    "noisy_anchor_retinanet_r50_fpn",
    "resnet_backbone",
    "retinanet_r18_fpn",
    "retinanet_r50_fpn",
]

ASSIGNERS: dict[str, Callable[[], DenseAssigner]] = {
    "max_iou": lambda: MaxIoUAssigner(0.5, 0.4, min_pos_iou=0.0, match_low_quality=True),
    "atss": lambda: ATSSAssigner(9),
    "dynamic_atss": lambda: DynamicATSSAssigner(9),
    "noisy_anchor": lambda: NoisyAnchorAssigner(50, alpha=0.75),
}
"""``ModelConfig.assigner`` names; any dense preset takes any of them (``""`` keeps the preset's own)."""


def _assigner(name: str, default: DenseAssigner) -> DenseAssigner:
    if not name:
        return default
    if name not in ASSIGNERS:
        raise ValueError(f"Unknown assigner '{name}'. Available: {', '.join(ASSIGNERS)}")
    return ASSIGNERS[name]()


def resnet_backbone(depth: int, width: float, frozen_stages: int) -> nn.Module:
    """torchvision ResNet at width 1 for depth 50, else ResNet-vd (any width)."""
    if depth == 50 and width == 1.0:
        return TorchvisionResNet(50, frozen_stages)
    return ResNetVd(depth, width, False, frozen_stages)


def _dense(depth: int, num_classes: int, width: float, imgsz: int, frozen_stages: int, *, atss_style: bool,
           quality: str, assigner: DenseAssigner, losses: DenseLossConfig, bfp: bool = False) -> DenseDetector:
    backbone = resnet_backbone(depth, width, frozen_stages)
    ch = scaled_channels(256, width)
    fpn = FPN(backbone.out_channels, ch, start_level=1, num_outs=5, extra_from="output" if atss_style else "input")
    neck = nn.Sequential(fpn, BFP(ch, 5, refine_level=1)) if bfp else fpn
    if atss_style:
        priors = atss_anchors()
        head: nn.Module = ATSSHead(num_classes, ch, ch, 1, 4, 5, quality)
        coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
    else:
        priors = retinanet_anchors()
        head = RetinaHead(num_classes, ch, ch, priors.num_base_priors, 4)
        coder = DeltaXYWHCoder()
    return DenseDetector(backbone, neck, head, priors, coder, assigner, num_classes=num_classes, imgsz=imgsz,
                         losses=losses)


def _retinanet(depth, num_classes, width, imgsz, assigner, frozen_stages, *, bfp=False, losses=None,
               default_assigner=None) -> DenseDetector:
    return _dense(depth, num_classes, width, imgsz, frozen_stages, atss_style=False, quality="none",
                  assigner=_assigner(assigner, default_assigner or ASSIGNERS["max_iou"]()),
                  losses=losses or DenseLossConfig(cls="focal", reg="l1"), bfp=bfp)


def retinanet_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                      frozen_stages: int = 1) -> DenseDetector:
    """RetinaNet: ResNet-50 + FPN P3-P7 (P6 from C5), 9 anchors, max-IoU 0.5/0.4, focal + L1 on deltas."""
    return _retinanet(50, num_classes, width, imgsz, assigner, frozen_stages)


def retinanet_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                      frozen_stages: int = -1) -> DenseDetector:
    """RetinaNet on ResNet18-vd (quick variant; tests use it at reduced width)."""
    return _retinanet(18, num_classes, width, imgsz, assigner, frozen_stages)


def _atss(depth, num_classes, width, imgsz, assigner, frozen_stages, dynamic: bool, cls: str = "qfl"):
    if dynamic:  # combined IoU assignment, soft targets, IoU branch, GIoU weighted by the IoU target
        losses = DenseLossConfig(cls=cls, reg="giou", reg_weight=2.0, reg_weighted_by_quality=True)
        return _dense(depth, num_classes, width, imgsz, frozen_stages, atss_style=True, quality="iou",
                      assigner=_assigner(assigner, DynamicATSSAssigner(9)), losses=losses)
    losses = DenseLossConfig(cls="focal", reg="giou", reg_weight=2.0, reg_weighted_by_quality=True)
    return _dense(depth, num_classes, width, imgsz, frozen_stages, atss_style=True, quality="centerness",
                  assigner=_assigner(assigner, ATSSAssigner(9)), losses=losses)


def atss_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                 frozen_stages: int = 1) -> DenseDetector:
    """ATSS: ResNet-50 + FPN (P6 from P5), 1 anchor (8 x stride), GN head, focal + GIoU(2) + centerness."""
    return _atss(50, num_classes, width, imgsz, assigner, frozen_stages, dynamic=False)


def atss_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                 frozen_stages: int = -1) -> DenseDetector:
    return _atss(18, num_classes, width, imgsz, assigner, frozen_stages, dynamic=False)


def dynamic_atss_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                         frozen_stages: int = 1) -> DenseDetector:
    """Dynamic ATSS: ATSS with combined predicted + anchor IoU assignment, QFL, IoU branch, IoU-weighted GIoU."""
    return _atss(50, num_classes, width, imgsz, assigner, frozen_stages, dynamic=True, cls="qfl")


def dynamic_atss_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                         frozen_stages: int = -1) -> DenseDetector:
    return _atss(18, num_classes, width, imgsz, assigner, frozen_stages, dynamic=True, cls="qfl")


def dynamic_atss_vfl_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                             frozen_stages: int = 1) -> DenseDetector:
    """Dynamic ATSS with the varifocal loss instead of QFL."""
    return _atss(50, num_classes, width, imgsz, assigner, frozen_stages, dynamic=True, cls="vfl")


def dynamic_atss_vfl_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                             frozen_stages: int = -1) -> DenseDetector:
    return _atss(18, num_classes, width, imgsz, assigner, frozen_stages, dynamic=True, cls="vfl")


_NOISY_LOSSES = {"cls": "focal", "focal_alpha": 0.5, "reg": "l1", "normalizer": "ema"}


def noisy_anchor_retinanet_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                                   frozen_stages: int = 1) -> DenseDetector:
    """RetinaNet + NoisyAnchor: top-30 candidates, cleanliness soft labels (alpha .75), re-weights, soft focal
    (alpha .5), EMA normaliser."""
    return _retinanet(50, num_classes, width, imgsz, assigner, frozen_stages, losses=DenseLossConfig(**_NOISY_LOSSES),
                      default_assigner=NoisyAnchorAssigner(30, alpha=0.75))


def noisy_anchor_retinanet_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                                   frozen_stages: int = -1) -> DenseDetector:
    # N = 30 as in the paper's R50 configs: on small inputs (~100 px) a larger N makes most anchors of an object
    # candidates and the classifier learns far more slowly
    return _retinanet(18, num_classes, width, imgsz, assigner, frozen_stages, losses=DenseLossConfig(**_NOISY_LOSSES),
                      default_assigner=NoisyAnchorAssigner(30, alpha=0.75))


_LIBRA_LOSSES = {"cls": "focal", "reg": "balanced_l1", "reg_beta": 0.11}


def libra_retinanet_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                            frozen_stages: int = 1) -> DenseDetector:
    """Libra RetinaNet: RetinaNet + balanced feature pyramid (refine level 1) + balanced L1 (beta 0.11)."""
    return _retinanet(50, num_classes, width, imgsz, assigner, frozen_stages, bfp=True,
                      losses=DenseLossConfig(**_LIBRA_LOSSES))


def libra_retinanet_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                            frozen_stages: int = -1) -> DenseDetector:
    return _retinanet(18, num_classes, width, imgsz, assigner, frozen_stages, bfp=True,
                      losses=DenseLossConfig(**_LIBRA_LOSSES))


def _libra_faster_rcnn(depth: int, num_classes: int, width: float, imgsz: int, frozen_stages: int) -> TwoStageDetector:
    backbone = resnet_backbone(depth, width, frozen_stages)
    ch = scaled_channels(256, width)
    neck = nn.Sequential(FPN(backbone.out_channels, ch, start_level=0, num_outs=5, extra_from="pool"),
                         BFP(ch, 5, refine_level=2))
    priors = AnchorGenerator((4, 8, 16, 32, 64), octave_base_scale=8, scales_per_octave=1, ratios=(0.5, 1.0, 2.0))
    return TwoStageDetector(
        backbone, neck, RPNHead(ch, ch, priors.num_base_priors),
        RoIBoxHead(num_classes, ch, scaled_channels(1024, width)), priors, num_classes=num_classes, imgsz=imgsz,
        rpn_assigner=MaxIoUAssigner(0.7, 0.3, min_pos_iou=0.3, match_low_quality=True),
        rpn_sampler=RoISampler(256, 0.5),
        rcnn_assigner=MaxIoUAssigner(0.5, 0.5, min_pos_iou=0.5, match_low_quality=False),
        rcnn_sampler=RoISampler(512, 0.25, pos=InstanceBalancedPosSampler(),
                                neg=IoUBalancedNegSampler(floor_thr=0.0, num_bins=3)),
    )


def libra_faster_rcnn_r50_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640,
                              frozen_stages: int = 1) -> TwoStageDetector:
    """Libra Faster R-CNN: ResNet-50 + FPN P2-P6 + BFP (refine level 2), RPN (3 anchors, 0.7/0.3, 256 samples),
    RoIAlign 7x7 + 2fc head, IoU-balanced sampling (512 RoIs, 25% positive, instance-balanced positives),
    balanced L1 box loss. Exports through :class:`~edgedet.models.two_stage.TwoStageExportGraph` (not to tflite
    int8)."""
    return _libra_faster_rcnn(50, num_classes, width, imgsz, frozen_stages)


def libra_faster_rcnn_r18_fpn(num_classes: int, *, width: float = 1.0, imgsz: int = 640,
                              frozen_stages: int = -1) -> TwoStageDetector:
    return _libra_faster_rcnn(18, num_classes, width, imgsz, frozen_stages)


ANCHOR_PRESETS: dict[str, Callable[..., nn.Module]] = {
    "retinanet_r50_fpn": retinanet_r50_fpn,
    "retinanet_r18_fpn": retinanet_r18_fpn,
    "atss_r50_fpn": atss_r50_fpn,
    "atss_r18_fpn": atss_r18_fpn,
    "dynamic_atss_r50_fpn": dynamic_atss_r50_fpn,
    "dynamic_atss_r18_fpn": dynamic_atss_r18_fpn,
    "dynamic_atss_vfl_r50_fpn": dynamic_atss_vfl_r50_fpn,
    "dynamic_atss_vfl_r18_fpn": dynamic_atss_vfl_r18_fpn,
    "noisy_anchor_retinanet_r50_fpn": noisy_anchor_retinanet_r50_fpn,
    "noisy_anchor_retinanet_r18_fpn": noisy_anchor_retinanet_r18_fpn,
    "libra_retinanet_r50_fpn": libra_retinanet_r50_fpn,
    "libra_retinanet_r18_fpn": libra_retinanet_r18_fpn,
    "libra_faster_rcnn_r50_fpn": libra_faster_rcnn_r50_fpn,
    "libra_faster_rcnn_r18_fpn": libra_faster_rcnn_r18_fpn,
}
