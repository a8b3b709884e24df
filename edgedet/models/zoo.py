"""Model zoo: the one preset table :data:`PRESETS`, the family builders it points to, and :func:`build_model`.

Each family builder composes its detector explicitly (backbone, neck, head, priors, coder and a criterion that
holds the assigner and the losses). A preset is a family builder with its variant's numbers fixed
(``partial(retinanet, depth=18)``): the reduced-depth twins are one line each. A builder's other keyword
parameters are named after the :class:`ModelConfig` fields it uses; ``build_model`` passes exactly those, so every
knob a preset honours is visible in its signature. Backbones: ``*_r50_fpn`` at ``width == 1`` use torchvision's
plain ResNet-50 (the backbone of the published results and parameter counts); ``*_r18_fpn`` and every reduced
width use :class:`~edgedet.models.backbones.resnet_vd.ResNetVd` (torchvision's ResNet has fixed widths).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import pickle
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedet.assigners import (
    Assigner,
    ATSSAssigner,
    DynamicATSSAssigner,
    InstanceBalancedPosSampler,
    IoUBalancedNegSampler,
    MaxIoUAssigner,
    NoisyAnchorAssigner,
    RoISampler,
)
from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.config.schema import ModelConfig
from edgedet.losses.normalizer import EMANormalizer
from edgedet.models.backbones.mobilenet_v3 import MobileNetV3
from edgedet.models.backbones.resnet_fpn import TorchvisionResNet
from edgedet.models.backbones.resnet_vd import ResNetVd
from edgedet.models.base import Detector
from edgedet.models.criteria.dense import DenseCriterion
from edgedet.models.criteria.dense_losses import (
    BalancedL1BoxLoss,
    BoxLoss,
    CenternessTarget,
    FocalClassification,
    GIoUBoxLoss,
    IoUTarget,
    L1BoxLoss,
    QualityFocalClassification,
    SmoothL1BoxLoss,
    VarifocalClassification,
)
from edgedet.models.criteria.ttf import TTFCriterion
from edgedet.models.criteria.two_stage import RCNNCriterion, RPNCriterion
from edgedet.models.dense import DenseDetector
from edgedet.models.heads.atss import ATSSHead
from edgedet.models.heads.pafnet import PAFNetHead
from edgedet.models.heads.retina import RetinaHead
from edgedet.models.heads.roi_box import RoIBoxHead
from edgedet.models.heads.rpn import RPNHead
from edgedet.models.layers import scaled_channels
from edgedet.models.necks.bfp import BFP
from edgedet.models.necks.fpn import FPN
from edgedet.models.necks.ttf import ttf_lite_neck, ttf_neck
from edgedet.models.pafnet import PAFNet
from edgedet.models.two_stage import TwoStageDetector
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.priors import AnchorGenerator, atss_anchors, retinanet_anchors

__all__ = [
    "ASSIGNERS",
    "PRESETS",
    "RETINA_BOX_LOSSES",
    "atss",
    "build_model",
    "dynamic_atss",
    "libra_faster_rcnn",
    "libra_retinanet",
    "noisy_anchor_retinanet",
    "pafnet_lite_mbv3",
    "pafnet_resnet",
    "resnet_backbone",
    "retinanet",
]

ASSIGNERS: dict[str, Callable[[], Assigner]] = {
    "max_iou": lambda: MaxIoUAssigner(0.5, 0.4, min_pos_iou=0.0, match_low_quality=True),
    "atss": lambda: ATSSAssigner(9),
    "dynamic_atss": lambda: DynamicATSSAssigner(9),
    "noisy_anchor": lambda: NoisyAnchorAssigner(50, alpha=0.75),
}
"""``ModelConfig.assigner`` names; any dense preset takes any of them (``""`` keeps the preset's own)."""

RETINA_BOX_LOSSES: dict[str, Callable[[], BoxLoss]] = {
    "smooth_l1": lambda: SmoothL1BoxLoss(beta=0.11),
    "l1": L1BoxLoss,
}
"""``ModelConfig.box_loss`` names for RetinaNet (``""`` keeps the preset's own, ``smooth_l1``): smooth L1 with
beta 0.11 is the paper's (Detectron); L1 is mmdetection's variant."""


def _pick(kind: str, table: dict[str, Callable[[], Any]], name: str, default: Callable[[], Any]) -> Any:
    """``table[name]()``, ``default()`` for ``""``; ``ValueError`` naming ``kind`` and the choices otherwise."""
    if not name:
        return default()
    if name not in table:
        raise ValueError(f"Unknown {kind} '{name}'. Available: {', '.join(table)}")
    return table[name]()


def _assigner(name: str, default: Callable[[], Assigner]) -> Assigner:
    return _pick("assigner", ASSIGNERS, name, default)


# --- PAFNet ---------------------------------------------------------------------------------------------------


def _pafnet(backbone: nn.Module, neck: nn.Module, head: PAFNetHead, num_classes: int, ags: bool) -> PAFNet:
    criterion = TTFCriterion(target_builder=TTFTargetBuilder(num_classes, stride=PAFNet.stride), ags=ags)
    return PAFNet(backbone=backbone, neck=neck, head=head, num_classes=num_classes, criterion=criterion)


def pafnet_lite_mbv3(num_classes: int, *, width: float = 1.0, ags: bool = True) -> PAFNet:
    """PAFNet-lite: MobileNetV3-large, lite TTF neck (planes 96/48/24, concat -> 48ch), LiteConv head 48/24.

    AGS is on by default: it only re-weights the box loss inside each object (no inference cost).
    """
    backbone = MobileNetV3("large", width=width)
    neck = ttf_lite_neck(backbone.out_channels, width)
    head = PAFNetHead(in_channels=neck.out_channels, num_classes=num_classes, hm_planes=scaled_channels(48, width),
                      box_planes=scaled_channels(24, width), lite=True, dcn=False)
    return _pafnet(backbone, neck, head, num_classes, ags)


def pafnet_resnet(num_classes: int, *, depth: int = 50, width: float = 1.0, dcn: bool = True, ags: bool = True,
                  frozen_stages: int = -1) -> PAFNet:
    """PAFNet: ResNet-vd (DCNv2 in stages 3-5), TTF neck (256/128/64, add), DCN head 128/64. ``depth`` 50 is the
    paper's; 18 a quick teacher with the same neck and head."""
    backbone = ResNetVd(depth, width=width, dcn=dcn, frozen_stages=frozen_stages)
    neck = ttf_neck(backbone.out_channels, width, dcn)
    head = PAFNetHead(in_channels=neck.out_channels, num_classes=num_classes, hm_planes=scaled_channels(128, width),
                      box_planes=scaled_channels(64, width), lite=False, dcn=dcn)
    return _pafnet(backbone, neck, head, num_classes, ags)


# --- one-stage dense detectors --------------------------------------------------------------------------------


def resnet_backbone(depth: int, width: float, frozen_stages: int) -> nn.Module:
    """torchvision ResNet at width 1 for depth 50, else ResNet-vd (any width)."""
    if depth == 50 and width == 1.0:
        return TorchvisionResNet(50, frozen_stages=frozen_stages)
    return ResNetVd(depth, width=width, dcn=False, frozen_stages=frozen_stages)


def _dense(criterion: DenseCriterion, *, depth: int, num_classes: int, width: float, imgsz: int, frozen_stages: int,
           atss_style: bool, bfp: bool = False, head_norm: str = "") -> DenseDetector:
    """ResNet + FPN P3-P7 (+ BFP) and a RetinaNet head (9 anchors) or, ``atss_style``, an ATSS head (1 anchor,
    P6 from P5, GroupNorm, the criterion's quality branch)."""
    backbone = resnet_backbone(depth, width, frozen_stages)
    ch = scaled_channels(256, width)
    fpn = FPN(backbone.out_channels, ch, start_level=1, num_outs=5, extra_from="output" if atss_style else "input")
    neck = nn.Sequential(fpn, BFP(channels=ch, num_levels=5, refine_level=1)) if bfp else fpn
    if atss_style:
        priors = atss_anchors()
        quality = criterion.quality.name if criterion.quality is not None else "none"
        head: nn.Module = ATSSHead(num_classes=num_classes, in_channels=ch, feat_channels=ch, num_anchors=1,
                                   stacked_convs=4, num_levels=5, quality=quality)
        coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
    else:
        priors = retinanet_anchors()
        head = RetinaHead(num_classes=num_classes, in_channels=ch, feat_channels=ch,
                          num_anchors=priors.num_base_priors, stacked_convs=4, norm=head_norm)
        coder = DeltaXYWHCoder()
    return DenseDetector(backbone=backbone, neck=neck, head=head, prior_generator=priors, coder=coder,
                         criterion=criterion, num_classes=num_classes, imgsz=imgsz)


def retinanet(num_classes: int, *, depth: int = 50, width: float = 1.0, imgsz: int = 640, assigner: str = "",
              box_loss: str = "", frozen_stages: int = -1, head_norm: str = "") -> DenseDetector:
    """RetinaNet: ResNet + FPN P3-P7 (P6 from C5), 9 anchors, max-IoU 0.5/0.4, focal + smooth L1 (beta 0.11, the
    paper's; ``box_loss="l1"``: L1) on deltas."""
    criterion = DenseCriterion(assigner=_assigner(assigner, ASSIGNERS["max_iou"]), cls_loss=FocalClassification(),
                               box_loss=_pick("box loss", RETINA_BOX_LOSSES, box_loss, RETINA_BOX_LOSSES["smooth_l1"]))
    return _dense(criterion, depth=depth, num_classes=num_classes, width=width, imgsz=imgsz,
                  frozen_stages=frozen_stages, atss_style=False, head_norm=head_norm)


def atss(num_classes: int, *, depth: int = 50, width: float = 1.0, imgsz: int = 640, assigner: str = "",
         frozen_stages: int = -1) -> DenseDetector:
    """ATSS: ResNet + FPN (P6 from P5), 1 anchor (8 x stride), GN head, focal + GIoU(2) + centerness."""
    criterion = DenseCriterion(assigner=_assigner(assigner, lambda: ATSSAssigner(9)), cls_loss=FocalClassification(),
                               box_loss=GIoUBoxLoss(weight=2.0, quality_weighted=True), quality=CenternessTarget())
    return _dense(criterion, depth=depth, num_classes=num_classes, width=width, imgsz=imgsz,
                  frozen_stages=frozen_stages, atss_style=True)


def dynamic_atss(num_classes: int, *, depth: int = 50, vfl: bool = False, width: float = 1.0, imgsz: int = 640,
                 assigner: str = "", pred_iou_ratio: float = 0.5, frozen_stages: int = -1) -> DenseDetector:
    """Dynamic ATSS: ATSS with combined predicted + anchor IoU assignment (``pred_iou_ratio``: the predicted
    IoU's share, 0.5 = the paper's sum), QFL (``vfl``: the varifocal loss), an IoU branch, GIoU(2) weighted by the
    IoU target; scores ``sqrt(cls * iou)`` of the pairs whose class probability passes the threshold."""
    cls_loss = VarifocalClassification() if vfl else QualityFocalClassification()
    own = partial(DynamicATSSAssigner, 9, pred_iou_ratio=pred_iou_ratio)
    criterion = DenseCriterion(assigner=_assigner(assigner, own), cls_loss=cls_loss,
                               box_loss=GIoUBoxLoss(weight=2.0, quality_weighted=True), quality=IoUTarget())
    return _dense(criterion, depth=depth, num_classes=num_classes, width=width, imgsz=imgsz,
                  frozen_stages=frozen_stages, atss_style=True)


def noisy_anchor_retinanet(num_classes: int, *, depth: int = 50, width: float = 1.0, imgsz: int = 640,
                           assigner: str = "", frozen_stages: int = -1, head_norm: str = "") -> DenseDetector:
    """RetinaNet + NoisyAnchor: top-30 candidates, cleanliness soft labels (alpha .75), re-weights, soft focal
    (alpha .5), smooth L1 (beta 0.1, the authors' code) on deltas, EMA normaliser (init 100, momentum .9)."""
    # N = 30 as in the paper's R50 configs: on small inputs (~100 px) a larger N makes most anchors of an object
    # candidates and the classifier learns far more slowly
    criterion = DenseCriterion(assigner=_assigner(assigner, lambda: NoisyAnchorAssigner(30, alpha=0.75)),
                               cls_loss=FocalClassification(alpha=0.5), box_loss=SmoothL1BoxLoss(beta=0.1),
                               normalizer=EMANormalizer(init=100.0, momentum=0.9))
    return _dense(criterion, depth=depth, num_classes=num_classes, width=width, imgsz=imgsz,
                  frozen_stages=frozen_stages, atss_style=False, head_norm=head_norm)


def libra_retinanet(num_classes: int, *, depth: int = 50, width: float = 1.0, imgsz: int = 640, assigner: str = "",
                    frozen_stages: int = -1, head_norm: str = "") -> DenseDetector:
    """Libra RetinaNet: RetinaNet + balanced feature pyramid (refine level 1) + balanced L1 (beta 0.11)."""
    criterion = DenseCriterion(assigner=_assigner(assigner, ASSIGNERS["max_iou"]), cls_loss=FocalClassification(),
                               box_loss=BalancedL1BoxLoss(beta=0.11))
    return _dense(criterion, depth=depth, num_classes=num_classes, width=width, imgsz=imgsz,
                  frozen_stages=frozen_stages, atss_style=False, bfp=True, head_norm=head_norm)


# --- two-stage ------------------------------------------------------------------------------------------------


def libra_faster_rcnn(num_classes: int, *, depth: int = 50, width: float = 1.0, imgsz: int = 640,
                      frozen_stages: int = -1) -> TwoStageDetector:
    """Libra Faster R-CNN: ResNet + FPN P2-P6 + BFP (refine level 2), RPN (3 anchors, 0.7/0.3, 256 samples),
    RoIAlign 7x7 + 2fc head, IoU-balanced sampling (512 RoIs, 25% positive, instance-balanced positives),
    balanced L1 box loss. Exports through :class:`~edgedet.models.two_stage.TwoStageExportGraph` (not to tflite
    int8)."""
    backbone = resnet_backbone(depth, width, frozen_stages)
    ch = scaled_channels(256, width)
    neck = nn.Sequential(FPN(backbone.out_channels, ch, start_level=0, num_outs=5, extra_from="pool"),
                         BFP(channels=ch, num_levels=5, refine_level=2))
    priors = AnchorGenerator((4, 8, 16, 32, 64), octave_base_scale=8, scales_per_octave=1, ratios=(0.5, 1.0, 2.0))
    rpn_criterion = RPNCriterion(assigner=MaxIoUAssigner(0.7, 0.3, min_pos_iou=0.3, match_low_quality=True),
                                 sampler=RoISampler(256, 0.5))
    rcnn_criterion = RCNNCriterion(
        num_classes=num_classes, assigner=MaxIoUAssigner(0.5, 0.5, min_pos_iou=0.5, match_low_quality=False),
        sampler=RoISampler(512, 0.25, pos=InstanceBalancedPosSampler(),
                           neg=IoUBalancedNegSampler(floor_thr=0.0, num_bins=3)))
    return TwoStageDetector(
        backbone=backbone, neck=neck, rpn=RPNHead(in_channels=ch, feat_channels=ch, num_anchors=priors.num_base_priors),
        roi_head=RoIBoxHead(num_classes=num_classes, in_channels=ch, fc_channels=scaled_channels(1024, width)),
        rpn_priors=priors, rpn_criterion=rpn_criterion, rcnn_criterion=rcnn_criterion, num_classes=num_classes,
        imgsz=imgsz)


# --- the preset table -----------------------------------------------------------------------------------------

PRESETS: dict[str, Callable[..., Detector]] = {
    "pafnet_lite_mbv3": pafnet_lite_mbv3,
    "pafnet_r50vd": partial(pafnet_resnet, depth=50),
    "pafnet_r18vd": partial(pafnet_resnet, depth=18),
    # r50 presets freeze the stem + stage 1 when called directly (the published setting); build_model passes
    # ModelConfig.frozen_stages (-1 unless set: no pretrained weights ship)
    "retinanet_r50_fpn": partial(retinanet, depth=50, frozen_stages=1),
    "retinanet_r18_fpn": partial(retinanet, depth=18),
    "atss_r50_fpn": partial(atss, depth=50, frozen_stages=1),
    "atss_r18_fpn": partial(atss, depth=18),
    "dynamic_atss_r50_fpn": partial(dynamic_atss, depth=50, vfl=False, frozen_stages=1),
    "dynamic_atss_r18_fpn": partial(dynamic_atss, depth=18, vfl=False),
    "dynamic_atss_vfl_r50_fpn": partial(dynamic_atss, depth=50, vfl=True, frozen_stages=1),
    "dynamic_atss_vfl_r18_fpn": partial(dynamic_atss, depth=18, vfl=True),
    "noisy_anchor_retinanet_r50_fpn": partial(noisy_anchor_retinanet, depth=50, frozen_stages=1),
    "noisy_anchor_retinanet_r18_fpn": partial(noisy_anchor_retinanet, depth=18),
    "libra_retinanet_r50_fpn": partial(libra_retinanet, depth=50, frozen_stages=1),
    "libra_retinanet_r18_fpn": partial(libra_retinanet, depth=18),
    "libra_faster_rcnn_r50_fpn": partial(libra_faster_rcnn, depth=50, frozen_stages=1),
    "libra_faster_rcnn_r18_fpn": partial(libra_faster_rcnn, depth=18),
}
"""Preset name -> builder ``(num_classes, **ModelConfig fields) -> Detector``; the names of ``models/*.yaml``."""


def build_model(cfg: ModelConfig) -> Detector:
    """Build ``PRESETS[cfg.name]`` with the ModelConfig fields its signature names; load ``cfg.pretrained``.

    Raises:
        ValueError: unknown preset name (with a suggestion), ``num_classes < 1``, or an unusable checkpoint.
    """
    if cfg.name not in PRESETS:
        close = difflib.get_close_matches(cfg.name, list(PRESETS), n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else f" Available: {', '.join(sorted(PRESETS))}."
        raise ValueError(f"Unknown model '{cfg.name}'.{hint}")
    if cfg.num_classes < 1:
        raise ValueError(f"model.num_classes must be >= 1 (set it from the dataset), got {cfg.num_classes}")
    fn = PRESETS[cfg.name]
    variant = fn.keywords if isinstance(fn, partial) else {}
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    kwargs = {}
    for name in inspect.signature(fn).parameters:
        if name in fields:
            kwargs[name] = getattr(cfg, name)
        elif name not in variant:  # the variant's own numbers (depth, vfl) are fixed by its PRESETS entry
            raise TypeError(f"preset {cfg.name} has parameter '{name}' that is not a ModelConfig field")
    if kwargs.get("frozen_stages", -1) >= 0 and not cfg.pretrained:
        warnings.warn(
            f"model.frozen_stages={cfg.frozen_stages} freezes randomly initialised layers (model.pretrained is empty);"
            " set model.frozen_stages=-1 to train them", stacklevel=2,
        )
    model = fn(**kwargs)
    if cfg.pretrained:
        _load_pretrained(model, cfg.pretrained)
    return model


def _load_pretrained(model: torch.nn.Module, path: str) -> None:
    """Load a state dict (or a checkpoint holding one under ``model``/``state_dict``); keys that match by name and
    shape are loaded, the rest keep their initialisation."""
    if not Path(path).is_file():
        raise ValueError(f"model.pretrained: file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():  # no code object named: junk bytes, not a pickled payload
            raise ValueError(f"model.pretrained: cannot read {path} as a torch state dict ({e})") from None
        raise ValueError(f"model.pretrained: refusing {path}: it holds pickled Python objects, not just tensors "
                         f"({str(e).splitlines()[0]}); re-save its state_dict from a trusted session") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"model.pretrained: cannot read {path} as a torch state dict ({e})") from None
    for key in ("model", "state_dict", "ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ValueError(f"model.pretrained: no parameter in {path} matches the model by name and shape")
    model.load_state_dict(usable, strict=False)
