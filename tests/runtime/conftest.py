"""Tiny exports shared by the runtime's validation tests and fuzz suite (built once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.runtime.tiny_models import export_tiny_pafnet_lite, image_files


@pytest.fixture(scope="session")
def onnx_export(tiny_synth, tmp_path_factory) -> Path:
    """fp32 ONNX export of the tiny PAFNet-lite (3 classes, 96 px): its directory (do not modify; copy it)."""
    _, (res,) = export_tiny_pafnet_lite(tiny_synth, tmp_path_factory.mktemp("onnx"), ["onnx"], ["fp32"])
    return res.dir


@pytest.fixture(scope="session")
def tflite_int8_export(tiny_synth, tmp_path_factory) -> Path:
    """Full-integer int8 TFLite export of the tiny PAFNet-lite (NHWC int8 input): one conversion, about a minute."""
    pytest.importorskip("ai_edge_litert")
    calib = image_files(tiny_synth / "images" / "train", 8)
    _, (res,) = export_tiny_pafnet_lite(tiny_synth, tmp_path_factory.mktemp("tfl"), ["tflite"], ["int8"],
                                        calib_images=calib, calib_n=8)
    return res.dir


def copy_export(src: Path, dst: Path) -> Path:
    """A private copy of an export directory, to edit."""
    shutil.copytree(src, dst)
    return dst
