"""Dataclass schemas: the single source of truth for every run's configuration.

A YAML file under ``models/`` is a serialised :class:`RunConfig`. Unknown keys are rejected with a
did-you-mean suggestion (see :mod:`edgedet.config.io`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    """Which detector to build and its size knobs."""

    name: str = "pafnet_lite_mbv3"  # (str) zoo preset, see `edgedet.models.zoo.PRESETS`
    num_classes: int = 0  # (int) 0 = take it from the dataset
    width: float = 1.0  # (float) channel multiplier; < 1 builds reduced-width models for CPU tests
    imgsz: int = 320  # (int) square input side in pixels (letterboxed)
    assigner: str = ""  # (str) label assigner for dense heads; "" = the preset's own
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
    multiscale: tuple[int, int] = (0, 0)  # (int,int) min/max train size (multiple of 32); (0,0) = off
    flip: float = 0.5  # (float) horizontal flip probability
    photometric: bool = True  # (bool) brightness/contrast/saturation/hue distortion
    expand: float = 0.0  # (float) random-expand probability (x4 canvas)
    crop: float = 0.0  # (float) random crop (keeps every box) probability
    gridmask: float = 0.0  # (float) GridMask probability
    cutmix: float = 0.0  # (float) CutMix probability
    mosaic: float = 0.0  # (float) Mosaic probability
    workers: int = 2  # (int) DataLoader worker processes
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
    device: str = ""  # (str) "" = cuda if available else cpu
    sync_bn: bool = False  # (bool) SyncBatchNorm under torch.distributed
    nan_patience: int = 5  # (int) stop after this many non-finite steps in a row
    eval_interval: int = 1  # (int) evaluate every N epochs (0 = only at the end)
    max_iters: int = 0  # (int) stop each epoch after this many iterations (0 = full epoch); for tests


@dataclass
class RunConfig:
    """Everything a run needs; one of these is written to ``runs/<cmd>/<name>/config.yaml``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    project: str = "runs"  # (str) root of run directories
    name: str = ""  # (str) run name; "" = model name, made unique
