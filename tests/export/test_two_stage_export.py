"""Export of the two-stage detector (a tiny Libra Faster R-CNN at 128 px) to every pair it supports.

fp32, every format: the export-time parity gate (raw outputs within 1e-4 abs or rel, proposals in units of the
input side; identical detections) and ``edgedet.runtime`` ``predict`` on a new image equal to PyTorch's
``model.predict`` (``postprocess``) on the same letterboxed input, mapped to the original pixels: the same
labels, scores within 1e-4, boxes within 1e-3 input px. fp16 / int8 (reported, not gated): the share of
PyTorch's detections above 0.05 paired by a runtime detection (same label, IoU >= 0.5) from parity.json,
fp16 >= 90% (measured 99%), ONNX int8 >= 50% (measured 77% on this random-weight model). TFLite int8 is refused
up front (litert-torch's PT2E quantizer would observe the integer index maths of the static RoIAlign).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from edgedet.deploy.preprocess import boxes_to_original, preprocess_bgr
from edgedet.export.api import export
from edgedet.runtime import load
from tests.runtime.tiny_models import CLASS_NAMES, image_files, tiny_faster_rcnn

IMGSZ, THR = 128, 0.3
OUTPUTS = ["proposals", "objectness", "cls_logits", "box_deltas"]


@pytest.fixture(scope="module")
def model(tiny_synth):
    return tiny_faster_rcnn(image_files(tiny_synth / "images" / "train", 8), imgsz=IMGSZ)


def _export(model, tiny_synth, out, formats, precisions):
    results = export(model, formats=formats, precisions=precisions, imgsz=IMGSZ, out_dir=out,
                     class_names=CLASS_NAMES, model_name="libra_faster_rcnn_r18_fpn", threads=1,
                     calib_images=image_files(tiny_synth / "images" / "train", 8), calib_n=8,
                     parity_images=image_files(tiny_synth / "images" / "val", 3))
    return {(r.format, r.precision): r for r in results}


@pytest.fixture(scope="module")
def onnx_exports(model, tiny_synth, tmp_path_factory):
    return _export(model, tiny_synth, tmp_path_factory.mktemp("two_stage_onnx"), ["onnx"], ["fp32", "fp16", "int8"])


@pytest.fixture(scope="module")
def converter_exports(model, tiny_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("two_stage_converters")
    res = _export(model, tiny_synth, out, ["tflite"], ["fp32", "fp16"])
    res.update(_export(model, tiny_synth, out, ["paddle", "paddle-lite"], ["fp32"]))
    return res


def _assert_fp32_exact(model, result, tiny_synth):
    p = result.parity
    assert [o["name"] for o in result.metadata["outputs"]] == OUTPUTS
    assert result.metadata["outputs"][0]["shape"] == [1, 852, 4]  # 300 + 300 + 192 + 48 + 12 proposals
    assert result.metadata["decode"]["type"] == "two_stage"
    assert p["passed"] and p["max_abs_diff"] < 1e-4, p
    d = p["detections"]
    assert d["torch"] == d["runtime"] == d["matched"] >= 100 and d["tie_shifted"] == 0 and d["min_iou"] > 0.9999
    image = cv2.resize(cv2.imread(str(image_files(tiny_synth / "images" / "val", 4)[3])), (160, 120))
    dets = load(result.dir, threads=1).predict(image, score_thr=THR)
    x, info = preprocess_bgr(image, IMGSZ)
    ref = model.predict(torch.from_numpy(x), score_thr=THR)[0]
    assert 10 <= len(dets) == len(ref["scores"]) < 100  # the threshold, not max_det, decides
    order = np.lexsort((dets.boxes[:, 0], dets.labels, -np.round(dets.scores, 4)))
    ref_order = np.lexsort((ref["boxes"][:, 0].numpy(), ref["labels"].numpy(), -np.round(ref["scores"].numpy(), 4)))
    np.testing.assert_allclose(dets.scores[order], ref["scores"].numpy()[ref_order], atol=1e-4)
    np.testing.assert_array_equal(dets.labels[order], ref["labels"].numpy()[ref_order])
    scale = 160 / IMGSZ  # original px per input px
    np.testing.assert_allclose(dets.boxes[order], boxes_to_original(ref["boxes"].numpy(), info)[ref_order],
                               atol=1e-3 * scale)


def _paired_share(result) -> float:
    d = result.parity["detections"]
    return d["matched"] / d["torch"]


def test_onnx_fp32_equals_pytorch(model, onnx_exports, tiny_synth):
    _assert_fp32_exact(model, onnx_exports["onnx", "fp32"], tiny_synth)


def test_onnx_fp16_and_int8_detections_close(onnx_exports):
    assert _paired_share(onnx_exports["onnx", "fp16"]) >= 0.9
    assert _paired_share(onnx_exports["onnx", "int8"]) >= 0.5
    assert all(onnx_exports["onnx", p].parity["passed"] for p in ("fp16", "int8"))  # finite, right shapes


def test_unsupported_pair_is_refused_before_any_work(model, tmp_path):
    with pytest.raises(ValueError, match="TwoStageDetector models cannot be exported as tflite int8; supported for "
                                         "this model: onnx: fp32/fp16/int8, tflite: fp32/fp16, paddle: fp32, "
                                         "paddle-lite: fp32"):
        export(model, formats=["onnx", "tflite"], precisions=["int8"], imgsz=IMGSZ, out_dir=tmp_path,
               class_names=CLASS_NAMES, model_name="libra_faster_rcnn_r18_fpn")
    assert not any(tmp_path.iterdir())


@pytest.mark.optional
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite", "paddle", "paddle-lite"])
def test_converter_fp32_equals_pytorch(model, converter_exports, tiny_synth, fmt):
    _assert_fp32_exact(model, converter_exports[fmt, "fp32"], tiny_synth)


@pytest.mark.optional
@pytest.mark.slow
def test_tflite_fp16_detections_close(converter_exports):
    assert _paired_share(converter_exports["tflite", "fp16"]) >= 0.9
