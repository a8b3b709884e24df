"""Model zoo: one plain builder function per preset, and :func:`build_model` from a :class:`ModelConfig`.

A preset's keyword parameters are named after the :class:`ModelConfig` fields it uses; ``build_model`` passes
exactly those, so every knob a preset honours is visible in its signature.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from edgedet.config.schema import ModelConfig
from edgedet.models import anchor_zoo
from edgedet.models.backbones.mobilenet_v3 import MobileNetV3
from edgedet.models.backbones.resnet_vd import ResNetVd
from edgedet.models.base import Detector
from edgedet.models.heads.pafnet import PAFNetHead
from edgedet.models.layers import scaled_channels
from edgedet.models.necks.ttf import ttf_lite_neck, ttf_neck
from edgedet.models.pafnet import PAFNet

__all__ = ["PRESETS", "build_model", "pafnet_lite_mbv3", "pafnet_r18vd", "pafnet_r50vd"]


def pafnet_lite_mbv3(num_classes: int, *, width: float = 1.0, ags: bool = True) -> PAFNet:
    """PAFNet-lite: MobileNetV3-large, lite TTF neck (planes 96/48/24, concat -> 48ch), LiteConv head 48/24.

    AGS is on by default: it only re-weights the box loss inside each object (no inference cost).
    """
    backbone = MobileNetV3("large", width)
    neck = ttf_lite_neck(backbone.out_channels, width)
    head = PAFNetHead(neck.out_channels, num_classes, scaled_channels(48, width), scaled_channels(24, width), lite=True, dcn=False)
    return PAFNet(backbone, neck, head, num_classes, ags=ags)


def _pafnet_resnet(depth: int, num_classes: int, width: float, dcn: bool, ags: bool, frozen_stages: int) -> PAFNet:
    backbone = ResNetVd(depth, width, dcn, frozen_stages)
    neck = ttf_neck(backbone.out_channels, width, dcn)
    head = PAFNetHead(neck.out_channels, num_classes, scaled_channels(128, width), scaled_channels(64, width), lite=False, dcn=dcn)
    return PAFNet(backbone, neck, head, num_classes, ags=ags)


def pafnet_r50vd(
    num_classes: int, *, width: float = 1.0, dcn: bool = True, ags: bool = True, frozen_stages: int = -1
) -> PAFNet:
    """PAFNet: ResNet50-vd (DCNv2 in stages 3-5), TTF neck (256/128/64, add), DCN head 128/64."""
    return _pafnet_resnet(50, num_classes, width, dcn, ags, frozen_stages)


def pafnet_r18vd(
    num_classes: int, *, width: float = 1.0, dcn: bool = True, ags: bool = True, frozen_stages: int = -1
) -> PAFNet:
    """PAFNet on ResNet18-vd: a quick teacher (same neck and head as ``pafnet_r50vd``)."""
    return _pafnet_resnet(18, num_classes, width, dcn, ags, frozen_stages)


PRESETS: dict[str, Callable[..., Detector]] = {
    "pafnet_lite_mbv3": pafnet_lite_mbv3,
    "pafnet_r50vd": pafnet_r50vd,
    "pafnet_r18vd": pafnet_r18vd,
    "retinanet_r50_fpn": anchor_zoo.retinanet_r50_fpn,
    "retinanet_r18_fpn": anchor_zoo.retinanet_r18_fpn,
    "atss_r50_fpn": anchor_zoo.atss_r50_fpn,
    "atss_r18_fpn": anchor_zoo.atss_r18_fpn,
    "dynamic_atss_r50_fpn": anchor_zoo.dynamic_atss_r50_fpn,
    "dynamic_atss_r18_fpn": anchor_zoo.dynamic_atss_r18_fpn,
    "dynamic_atss_vfl_r50_fpn": anchor_zoo.dynamic_atss_vfl_r50_fpn,
    "dynamic_atss_vfl_r18_fpn": anchor_zoo.dynamic_atss_vfl_r18_fpn,
    "noisy_anchor_retinanet_r50_fpn": anchor_zoo.noisy_anchor_retinanet_r50_fpn,
    "noisy_anchor_retinanet_r18_fpn": anchor_zoo.noisy_anchor_retinanet_r18_fpn,
    "libra_retinanet_r50_fpn": anchor_zoo.libra_retinanet_r50_fpn,
    "libra_retinanet_r18_fpn": anchor_zoo.libra_retinanet_r18_fpn,
    "libra_faster_rcnn_r50_fpn": anchor_zoo.libra_faster_rcnn_r50_fpn,
    "libra_faster_rcnn_r18_fpn": anchor_zoo.libra_faster_rcnn_r18_fpn,
}


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
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    kwargs = {}
    for name in inspect.signature(fn).parameters:
        if name not in fields:
            raise TypeError(f"preset {cfg.name} has parameter '{name}' that is not a ModelConfig field")
        kwargs[name] = getattr(cfg, name)
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
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ValueError(f"model.pretrained: no parameter in {path} matches the model by name and shape")
    model.load_state_dict(usable, strict=False)
