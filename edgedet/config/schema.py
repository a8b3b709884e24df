"""Dataclass schemas: the single source of truth for every run's configuration.

A YAML file under ``models/`` is a serialised :class:`RunConfig`. Unknown keys are rejected with a
did-you-mean suggestion (see :mod:`edgedet.config.io`); values are range-checked by :func:`validate_config`
(every command goes through it before any run directory exists).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable


class ConfigError(ValueError):
    """A configuration key or value a user supplied is wrong; the message says how to fix it."""


@dataclass
class ModelConfig:
    """Which detector to build and its size knobs."""

    name: str = "pafnet_lite_mbv3"  # (str) zoo preset, see `edgedet.models.zoo.PRESETS`
    num_classes: int = 0  # (int) 0 = take it from the dataset
    width: float = 1.0  # (float) channel multiplier; < 1 builds reduced-width models for CPU tests
    imgsz: int = 320  # (int) square input side in pixels (letterboxed)
    assigner: str = ""  # (str) label assigner for dense heads; "" = the preset's own
    # (str) RetinaNet-style heads (RetinaNet, NoisyAnchor, Libra): "" = none, the paper's; "gn" = GroupNorm in
    # both towers, as torchvision's RetinaNet v2: needed to learn from scratch at small width (no pretrained weights)
    head_norm: str = ""
    box_loss: str = ""  # (str) RetinaNet box loss on deltas: "" = the preset's own (smooth_l1), smooth_l1 | l1
    pred_iou_ratio: float = 0.5  # (float) Dynamic ATSS: predicted IoU's share of the combined IoU (0.5 = the paper)
    ags: bool = True  # (bool) PAFNet: attention-guided box-loss weighting
    dcn: bool = True  # (bool) PAFNet-R*/ResNet: DCNv2 in the later stages
    frozen_stages: int = -1  # (int) ResNet: stem + this many stages frozen; -1 = none (no pretrained weights ship)
    pretrained: str = ""  # (str) path to a backbone/state checkpoint (no downloads happen)


@dataclass
class DataConfig:
    """Dataset and augmentation."""

    path: str = ""  # (str) COCO dir / COCO json / YOLO data.yaml / VOC root; "" = built-in synth
    train_split: str = "train"  # (str) split name for training
    val_split: str = "val"  # (str) split name for validation
    # (int,int) min/max train size (multiples of 32) for imgsz = the YAML's; (0,0) = off. Changing model.imgsz by
    # an override scales this range with it (rounded to multiples of 32) unless data.multiscale is set too
    multiscale: tuple[int, int] = (0, 0)
    flip: float = 0.5  # (float) horizontal flip probability
    photometric: bool = True  # (bool) brightness/contrast/saturation/hue distortion
    expand: float = 0.0  # (float) random-expand probability (x4 canvas)
    crop: float = 0.0  # (float) random crop (keeps every box) probability
    gridmask: float = 0.0  # (float) GridMask probability (reached at the end of `gridmask_ramp`)
    gridmask_ramp: float = 0.0  # (float) share of training over which GridMask's probability rises from 0; 0 = none
    # (float) CutMix probability; both images' boxes are kept, weighted by the mixing ratio (weights honoured by
    # PAFNet's TTF loss; other detectors take every box at full weight)
    cutmix: float = 0.0
    cutmix_until: float = 1.0  # (float) CutMix only during this share of training (from the start)
    mosaic: float = 0.0  # (float) Mosaic probability
    workers: int = 2  # (int) DataLoader worker processes; capped at CPU cores - 1
    max_images: int = 0  # (int) use at most this many training images (0 = all)


@dataclass
class TrainConfig:
    """Optimisation schedule and engine switches."""

    epochs: int = 12  # (int) training epochs
    batch: int = 16  # (int) total batch size (split across ranks)
    lr: float = 0.015  # (float) base lr for `lr_batch` images; scaled linearly with `batch`
    lr_batch: int = 64  # (int) batch size `lr` is quoted for
    optimizer: str = "sgd"  # (str) sgd | adamw
    momentum: float = 0.9  # (float) SGD momentum
    weight_decay: float = 4e-4  # (float) weight decay
    schedule: str = "step"  # (str) step | cosine
    milestones: tuple[float, ...] = (0.67, 0.92)  # (float...) step schedule drops, as fractions of epochs
    gamma: float = 0.1  # (float) step schedule factor
    warmup_iters: int = 100  # (int) linear warmup iterations
    warmup_ratio: float = 0.2  # (float) warmup starts at lr * warmup_ratio
    ema: bool = False  # (bool) keep an exponential moving average of the weights
    ema_decay: float = 0.9998  # (float) EMA decay
    grad_clip: float = 0.0  # (float) max grad norm; 0 = off
    amp: bool = True  # (bool) mixed precision (CUDA only)
    seed: int = 0  # (int) random seed
    device: str = ""  # (str) "" = cuda if available else cpu; or cpu, cuda, cuda:N, mps
    threads: int = 0  # (int) torch intra-op CPU threads; 0 = $OMP_NUM_THREADS if set, else cores - loader workers
    sync_bn: bool = False  # (bool) SyncBatchNorm under torch.distributed
    nan_patience: int = 5  # (int) stop after this many non-finite steps in a row
    eval_interval: int = 1  # (int) evaluate every N epochs (0 = only at the end)
    max_iters: int = 0  # (int) stop each epoch after this many iterations (0 = full epoch); for tests
    time_limit: float = 0.0  # (float) at most this many minutes for the whole run, validation included (0 = off):
    # after each epoch the epochs are re-planned (never above train.epochs) from the mean epoch time, so the lr
    # schedule still ends; give a large train.epochs to train for a time instead of a number of epochs


KD_TERMS = ("hm", "box", "feat", "out")
"""Distillation terms ``distill.kd`` may list: heatmap, box, feature (PKD), teacher-agnostic output."""


@dataclass
class DistillConfig:
    """Knowledge distillation (``edgedet distill``): the teacher and the weight of each term (0 = off)."""

    teacher: str = ""  # (str) teacher checkpoint (.pt) or run directory; "" = no distillation
    kd: str = "auto"  # (str) auto (PAFNet teacher: hm,box,feat; anchor-based: out,feat) or a list of hm,box,feat,out
    hm_weight: float = 7.0  # (float) heatmap KD on the teacher's sigmoid heatmap, weighted to its confident cells
    box_weight: float = 2.5  # (float) GIoU vs the teacher's decoded boxes at its confident cells
    box_min_score: float = 0.1  # (float) cells where the teacher's max class score is below this get no box KD
    feat_weight: float = 6.0  # (float) PKD on neck maps of matching stride, per level, through 1x1 adapters
    out_weight: float = 1.0  # (float) teacher detections rendered as soft TTF targets (anchor-based teachers)
    out_blend: float = 0.5  # (float) teacher share of the heatmap target in the output term
    out_score_thr: float = 0.3  # (float) teacher detections below this score are not rendered
    warmup_iters: int = 200  # (int) every KD weight ramps linearly from 0 over these iterations


@dataclass
class RunConfig:
    """Everything a run needs; one of these is written to ``runs/<cmd>/<name>/config.yaml``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    project: str = "runs"  # (str) root of run directories
    name: str = ""  # (str) run name; "" = model name, made unique


# ------------------------------------------------------------------------------------------------ validation
def _number(lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False, hi_open: bool = False):
    """A range rule: ``(test, text)``; NaN and infinities never pass."""

    def test(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)

    if hi == math.inf:
        text = f"{'>' if lo_open else '>='} {lo:g}"
    else:
        text = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return test, text


def _one_of(*choices: str):
    return (lambda v: v in choices), " or ".join(repr(c) for c in choices)


def _size(v: Any) -> bool:
    return isinstance(v, int) and 32 <= v <= 4096 and v % 32 == 0


def _multiscale(v: Any) -> bool:
    lo, hi = v
    return (lo, hi) == (0, 0) or (_size(lo) and _size(hi) and lo <= hi)


def _kd_terms(v: Any) -> bool:
    if v == "auto":
        return True
    items = [t.strip() for t in str(v).split(",")]
    return bool(items) and all(t in KD_TERMS for t in items) and len(set(items)) == len(items)


_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)?")
_PROBABILITY = _number(0, 1)

# dotted key -> (test, allowed values as the error message states them)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model.num_classes": _number(0),
    "model.width": _number(0, 4, lo_open=True),
    "model.imgsz": (_size, "a multiple of 32 from 32 to 4096"),
    "model.frozen_stages": _number(-1),
    "model.head_norm": _one_of("", "gn"),
    "model.pred_iou_ratio": _PROBABILITY,
    "data.multiscale": (_multiscale, "[0, 0] (off) or [min, max], multiples of 32 from 32 to 4096, min <= max"),
    "data.flip": _PROBABILITY,
    "data.expand": _PROBABILITY,
    "data.crop": _PROBABILITY,
    "data.gridmask": _PROBABILITY,
    "data.cutmix": _PROBABILITY,
    "data.gridmask_ramp": _PROBABILITY,
    "data.cutmix_until": _PROBABILITY,
    "data.mosaic": _PROBABILITY,
    "data.workers": _number(0),
    "data.max_images": _number(0),
    "train.epochs": _number(1),
    "train.batch": _number(1),
    "train.lr": _number(0, lo_open=True),
    "train.lr_batch": _number(1),
    "train.optimizer": _one_of("sgd", "adamw"),
    "train.momentum": _number(0, 1, hi_open=True),
    "train.weight_decay": _number(0),
    "train.schedule": _one_of("step", "cosine"),
    "train.milestones": (lambda v: all(_PROBABILITY[0](m) for m in v), "fractions of the epochs, each in [0, 1]"),
    "train.gamma": _number(0, lo_open=True),
    "train.warmup_iters": _number(0),
    "train.warmup_ratio": _PROBABILITY,
    "train.ema_decay": _number(0, 1, hi_open=True),
    "train.grad_clip": _number(0),
    "train.seed": _number(0),
    "train.device": (lambda v: bool(_DEVICE.fullmatch(v)), "'' (auto), 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    "train.threads": _number(0),
    "train.nan_patience": _number(1),
    "train.eval_interval": _number(0),
    "train.max_iters": _number(0),
    "train.time_limit": _number(0),
    "distill.kd": (_kd_terms, f"'auto' or a comma-separated list of {', '.join(KD_TERMS)}"),
    "distill.hm_weight": _number(0),
    "distill.box_weight": _number(0),
    "distill.box_min_score": _number(0, 1, hi_open=True),
    "distill.feat_weight": _number(0),
    "distill.out_weight": _number(0),
    "distill.out_blend": _PROBABILITY,
    "distill.out_score_thr": _number(0, 1, hi_open=True),
    "distill.warmup_iters": _number(0),
}


def check_value(key: str, value: Any) -> None:
    """Range-check one value of field ``key`` (dotted, e.g. ``model.imgsz``).

    Raises:
        ConfigError: naming the field, the value and the allowed range.
    """
    test, allowed = RULES[key]
    if not test(value):
        shown = list(value) if isinstance(value, tuple) else value
        raise ConfigError(f"{key}={shown!r} is not allowed: it must be {allowed}")


def validate_config(cfg: RunConfig) -> RunConfig:
    """Range-check every field of ``cfg`` that has a rule in :data:`RULES`; returns ``cfg``.

    Raises:
        ConfigError: on the first bad value, naming the field, the value and the allowed range.
    """
    for key in RULES:
        section, name = key.split(".")
        check_value(key, getattr(getattr(cfg, section), name))
    return cfg
