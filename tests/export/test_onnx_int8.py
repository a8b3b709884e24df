"""int8 building blocks on hand-built ONNX graphs: the float tail, activation ranges, calibration choice."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgedet.deploy.preprocess import preprocess_bgr
from edgedet.export.calib import load_calibration_images, load_images_bgr
from edgedet.quant.onnx_int8 import activation_ranges, float_tail_nodes


def _graph() -> onnx.ModelProto:
    """x -> conv1 -> relu1 -> conv2 -> sig -> "heat";  relu1 -> conv3 -> mul -> "box";  x -> neg -> "neg"."""
    w = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    k = numpy_helper.from_array(np.array(16.0, np.float32), "k")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w"], ["c2"], name="conv2"),
        helper.make_node("Sigmoid", ["c2"], ["heat"], name="sig"),
        helper.make_node("Conv", ["r1", "w"], ["c3"], name="conv3"),
        helper.make_node("Mul", ["c3", "k"], ["box"], name="mul"),
        helper.make_node("Neg", ["x"], ["neg"], name="neg"),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 32, 32]) for n in ("x", "heat", "box", "neg")]
    graph = helper.make_graph(nodes, "g", [io[0]], io[1:], initializer=[w, k])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_float_tail_stops_at_the_last_conv_of_each_path():
    # neg has no conv on its path: everything up to the input stays float
    assert float_tail_nodes(_graph()) == ["conv2", "conv3", "mul", "neg", "sig"]


def test_activation_ranges_minmax_and_signed_percentile():
    rng = np.random.default_rng(0)
    calib = rng.uniform(-1.0, 1.0, (200, 2, 32, 32)).astype(np.float32)  # 409,600 values per tensor
    calib[7, 0, 0, 0] = 100.0  # one outlier
    mm = activation_ranges(_graph(), calib, "minmax")
    assert mm["x"] == (pytest.approx(float(calib.min())), 100.0)
    assert mm["neg"] == (-100.0, pytest.approx(-float(calib.min())))
    assert mm["r1"][0] == 0.0 and mm["box"] == (0.0, pytest.approx(32 * 100.0, abs=33))  # 16 * 2 * (100 + x)
    pc = activation_ranges(_graph(), calib, "percentile")
    # 99.999 % cuts 5e-6 of each tail = 2 values of 409,600: the outlier goes; bins are (100 + 1) / 2048 wide
    lo, hi = pc["x"]
    assert lo == pytest.approx(float(calib.min()), abs=1e-6), "the negative side is kept, not clipped at 0"
    assert 0.95 < hi < 1.1, "the outlier is cut"
    assert pc["neg"][0] < -0.95 and pc["neg"][1] > 0.95
    assert pc["r1"][0] == 0.0


def test_activation_ranges_survive_constant_tensors():
    calib = np.full((4, 2, 32, 32), 0.5, np.float32)  # onnxruntime's own histogram calibrator raises here
    pc = activation_ranges(_graph(), calib, "percentile")
    assert pc["x"] == (0.5, 0.5) and pc["neg"] == (-0.5, -0.5)


def test_calibration_choice_is_deterministic_and_uses_preprocess(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        sub = tmp_path / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"{i:02d}.png"), rng.integers(0, 255, (40 + i, 60, 3), dtype=np.uint8))
    x1 = load_calibration_images(tmp_path, 5, 64)
    x2 = load_calibration_images(sorted(tmp_path.rglob("*.png"), reverse=True), 5, 64)
    assert x1.shape == (5, 3, 64, 64) and x1.dtype == np.float32
    np.testing.assert_array_equal(x1, x2)  # same files, any listing order -> same set in the same order
    chosen = load_images_bgr(tmp_path, 5)
    np.testing.assert_array_equal(x1, np.concatenate([preprocess_bgr(im, 64)[0] for im in chosen]))
    assert len({im.shape for im in chosen}) == 5  # five different files
    assert load_calibration_images(tmp_path, 50, 64).shape[0] == 12
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_calibration_images(tmp_path / "empty", 5, 64)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_calibration_images(tmp_path / "missing", 5, 64)
