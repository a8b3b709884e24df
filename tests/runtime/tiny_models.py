"""Tiny real zoo detectors for export / runtime tests, with outputs that look like a trained model's.

A freshly initialised PAFNet-lite at width 0.25 has dead head features and a constant heatmap (every score is
sigmoid(bias)), so parity would compare constants. Re-estimating BatchNorm statistics on real images and
spreading the final heatmap conv gives varied peaks, boxes and scores without a training run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgedet.config.schema import ModelConfig
from edgedet.export.calib import load_calibration_images
from edgedet.models.zoo import build_model

IMGSZ = 96
CLASS_NAMES = ["digit", "square", "circle"]


def image_files(data_dir: Path, n: int) -> list[Path]:
    files = sorted(Path(data_dir).rglob("*.jpg")) + sorted(Path(data_dir).rglob("*.png"))
    assert len(files) >= n, f"need {n} images under {data_dir}, found {len(files)}"
    return files[:n]


def _bn_stats_from(model: torch.nn.Module, images: list[Path], imgsz: int) -> None:
    """BatchNorm running statistics = the exact batch statistics of ``images`` (one train-mode forward)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batch below
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(load_calibration_images(images, len(images), imgsz)))


def export_tiny_pafnet_lite(data: Path, out_dir: Path, formats: list[str], precisions: list[str], **kw):
    """:func:`tiny_pafnet_lite` (BN from 16 train images of ``data``) exported with 4 val images for parity.

    Returns ``(model, [ExportResult, ...])``; ``kw`` goes to :func:`edgedet.export.api.export`.
    """
    from edgedet.export.api import export

    model = tiny_pafnet_lite(image_files(data / "images" / "train", 16))
    results = export(model, formats=formats, precisions=precisions, imgsz=IMGSZ, out_dir=out_dir,
                     class_names=CLASS_NAMES, model_name="pafnet_lite_mbv3", threads=1,
                     parity_images=image_files(data / "images" / "val", 4), **kw)
    return model, results


def tiny_pafnet_lite(images: list[Path], *, imgsz: int = IMGSZ, seed: int = 0) -> torch.nn.Module:
    """``pafnet_lite_mbv3`` (3 classes, width 0.25) with BN statistics from ``images`` and a spread heatmap head."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=len(CLASS_NAMES), width=0.25, imgsz=imgsz))
    _bn_stats_from(model, images, imgsz)
    with torch.no_grad():
        model.head.hm_out.weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(seed))
        model.head.hm_out.bias.fill_(-2.0)
    return model.eval()


def scores_spread(model: torch.nn.Module, images: list[Path], imgsz: int = IMGSZ) -> float:
    x = torch.from_numpy(load_calibration_images(images, len(images), imgsz))
    with torch.no_grad():
        return float(np.std(model(x)[0].sigmoid().numpy()))


def tiny_faster_rcnn(images: list[Path], *, imgsz: int = 128, seed: int = 0) -> torch.nn.Module:
    """``libra_faster_rcnn_r18_fpn`` (3 classes, width 0.25) that detects something, without a training run.

    BN statistics from ``images``; the RPN objectness and the R-CNN classifier spread so that proposals and
    class scores vary (fresh heads score every anchor 0.5 and every class 1 / (C + 1)); 300 proposals per level
    before the RPN's NMS (P2 and P3 have more anchors, so the top-k selects) and 200 after it (so the cut
    matters).
    """
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name="libra_faster_rcnn_r18_fpn", num_classes=len(CLASS_NAMES), width=0.25,
                                    imgsz=imgsz))
    _bn_stats_from(model, images, imgsz)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.rpn.cls_out.weight.normal_(0.0, 0.3, generator=gen)
        model.rpn.reg_out.weight.normal_(0.0, 0.05, generator=gen)
        model.roi_head.cls_out.weight.normal_(0.0, 0.1, generator=gen)
        model.roi_head.cls_out.bias.copy_(torch.tensor([0.0] * len(CLASS_NAMES) + [0.5]))
        model.roi_head.reg_out.weight.normal_(0.0, 0.02, generator=gen)
    model.cfg.rpn_nms_pre_test, model.cfg.rpn_max_test = 300, 200
    return model.eval()
