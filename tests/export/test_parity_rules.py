"""Detection pairing rules of the parity check, on hand-built detections."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edgedet.export.parity import _match_detections, _same_detections, check_parity, synthetic_images_bgr
from tests.runtime.tiny_models import CLASS_NAMES, IMGSZ, image_files, tiny_pafnet_lite


def dets(boxes, scores, labels):
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), np.array(labels)


def test_identical_detections_pass():
    d = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.5], [0, 1])
    m = _match_detections(d, d)
    assert m["matched"] == 2 and m["tie_shifted"] == 0 and _same_detections(m)


def test_one_float_rounding_peak_flip_is_tolerated_and_counted():
    t = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.194864], [0, 1])
    r = dets([[0, 0, 10, 10], [24, 20, 44, 40]], [0.9, 0.194861], [0, 1])  # IoU 0.67: a one-stride shift
    m = _match_detections(t, r)
    assert m["matched"] == 2 and m["tie_shifted"] == 1 and _same_detections(m)


def test_a_moved_box_with_a_different_score_fails():
    t = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.5], [0, 1])
    r = dets([[0, 0, 10, 10], [24, 20, 44, 40]], [0.9, 0.45], [0, 1])
    m = _match_detections(t, r)
    assert m["matched"] == 1 and not _same_detections(m)


def test_many_tie_shifts_fail():
    t = dets([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0.5, 0.4, 0.3], [0, 0, 0])
    r = dets([[2, 2, 12, 12], [24, 24, 44, 44], [54, 54, 64, 64]], [0.5, 0.4, 0.3], [0, 0, 0])
    m = _match_detections(t, r)
    assert m["tie_shifted"] == 3 and not _same_detections(m)


# --- top-k pairing on a real export: an untrained PAFNet-lite, whose top-k scores are near-tied ---------------


@pytest.fixture(scope="module")
def untrained_onnx(tmp_path_factory):
    """A freshly initialised PAFNet-lite (80 classes, 96 px) exported to fp32 ONNX, as ``edgedet export --model
    pafnet_lite_mbv3 --num-classes 80`` does: its heatmap is nearly constant, so the top-100 scores lie within
    float rounding of each other and which tied cells fill the top-k differs between backends. The preset's
    width (width 0.25 leaves every feature dead: constant boxes that no weight change could move)."""
    from edgedet.config import resolve
    from edgedet.export.api import export
    from edgedet.models.zoo import build_model

    cfg = resolve("pafnet_lite_mbv3").model
    cfg.num_classes, cfg.imgsz = 80, 96
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=96, out_dir=tmp_path_factory.mktemp("u"),
                    class_names=[f"c{i}" for i in range(80)], model_name="pafnet_lite_mbv3", threads=1)
    return model, res


def test_untrained_exact_export_passes(untrained_onnx):
    _, res = untrained_onnx
    p = res.parity
    scores = p["outputs"]["scores"]
    assert scores["max_abs_diff"] < 1e-6  # the export is exact ...
    assert p["outputs"]["boxes"]["max_abs_diff"] < 1e-3  # ... and each runtime entry is the PyTorch cell it claims
    assert p["topk_unpaired_entries"] == 0 and p["passed"], p


def _corrupt_copy(res, tmp_path, change) -> Path:
    """A copy of export ``res`` whose ONNX file has ``change(node, initializers)`` applied to one Conv node."""
    import onnx

    copy = tmp_path / res.dir.name
    shutil.copytree(res.dir, copy)
    graph = onnx.load(str(copy / res.model_path.name))
    weights = {i.name: i for i in graph.graph.initializer}
    change([n for n in graph.graph.node if n.op_type == "Conv" and n.input[1] in weights], weights)
    onnx.save(graph, str(copy / res.model_path.name))
    return copy


def _scale(init, factor: float = 1.5, add: float = 0.0) -> None:
    from onnx import numpy_helper

    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * factor + add, init.name))


def test_one_corrupted_weight_fails(tiny_synth, tmp_path):
    """A model with live features (tests.runtime.tiny_models): the first conv's weights x 1.5 must FAIL."""
    from edgedet.export.api import export

    model = tiny_pafnet_lite(image_files(tiny_synth / "images" / "train", 8))
    images = image_files(tiny_synth / "images" / "val", 4)
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=IMGSZ, out_dir=tmp_path / "x",
                    class_names=CLASS_NAMES, model_name="pafnet_lite_mbv3", threads=1, parity_images=images)
    assert res.parity["passed"], res.parity
    copy = _corrupt_copy(res, tmp_path, lambda convs, w: _scale(w[convs[0].input[1]]))
    p = check_parity(model, copy, images, threads=1)
    assert not p["passed"] and p["max_abs_diff"] > 1e-2, p


def test_corrupted_box_bias_of_a_near_tied_model_fails(untrained_onnx, tmp_path):
    """On the untrained model (dead features: only the output biases reach the outputs), the last conv's bias + 1
    moves every box or score: near-tied pairing must not excuse it."""
    model, res = untrained_onnx
    copy = _corrupt_copy(res, tmp_path, lambda convs, w: _scale(w[convs[-1].input[2]], 1.0, 1.0))
    p = check_parity(model, copy, synthetic_images_bgr(4, 96), threads=1)
    assert not p["passed"] and p["max_abs_diff"] > 1e-2, p


def test_int8_reports_its_box_difference_and_is_never_called_a_pass(tiny_synth, tmp_path):
    """int8 is report-only: parity.json says so with its figures (``edgedet export`` prints "report"), not "pass"."""
    from edgedet.export.api import export

    model = tiny_pafnet_lite(image_files(tiny_synth / "images" / "train", 8))
    (res,) = export(model, formats=["onnx"], precisions=["int8"], imgsz=IMGSZ, out_dir=tmp_path,
                    class_names=CLASS_NAMES, model_name="pafnet_lite_mbv3", threads=1, calib_n=8,
                    calib_images=image_files(tiny_synth / "images" / "train", 8),
                    parity_images=image_files(tiny_synth / "images" / "val", 4))
    p = res.parity
    assert p["passed"] and p["verdict"] == "report only"  # the file ran: outputs present, shaped, finite
    boxes = p["outputs"]["boxes"]["max_abs_diff"]
    assert boxes > 0.1  # int8 moves boxes; the figure is reported as it is
    assert "report only" in p["summary"] and f"boxes {boxes:.3g}" in p["summary"], p["summary"]
