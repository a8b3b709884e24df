"""benchmarks/latency_profile/latency_profile.py: the MAC census per convolution class of an ONNX file.

The profiles and timings need the exported models and run in the benchmark (latency_profile.json)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "latency_profile" / "latency_profile.py"
_spec = importlib.util.spec_from_file_location("latency_profile", _PATH)
lp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lp)


def test_onnx_macs_by_conv_class(tmp_path):
    """stem 3x3 (3 -> 8, stride 2), depthwise 3x3 (8 groups), 1x1 (8 -> 16), MatMul [1, 16] x [16, 32768]."""
    w = {"w1": (8, 3, 3, 3), "w2": (8, 1, 3, 3), "w3": (16, 8, 1, 1), "m": (16, 32768)}
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), k) for k, s in w.items()]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w2"], ["b"], group=8, pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["b", "w3"], ["c"]),
             helper.make_node("GlobalAveragePool", ["c"], ["d"]),
             helper.make_node("Flatten", ["d"], ["e"]),
             helper.make_node("MatMul", ["e", "m"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 320, 320])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32768])], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    macs = lp.onnx_macs(path)
    stem, dw, pw, mm = 8 * 160 * 160 * 27, 8 * 160 * 160 * 9, 16 * 160 * 160 * 8, 16 * 32768  # 160x160 after the stem
    assert macs == {"dense kxk": round(stem / 1e6, 1), "depthwise": round(dw / 1e6, 1), "dense 1x1": round(pw / 1e6, 1),
                    "matmul": round(mm / 1e6, 1), "total_g": round((stem + dw + pw + mm) / 1e9, 3)}
    assert macs["dense kxk"] == 5.5 and macs["depthwise"] == 1.8 and macs["dense 1x1"] == 3.3 and macs["matmul"] == 0.5
    assert lp.conv_class(8, [8, 1, 3, 3], [1, 8, 160, 160]) == ("depthwise", dw)
    assert lp.conv_class(1, [4, 1, 3, 3], [1, 4, 8, 8])[0] == "dense kxk"  # one input channel: not depthwise
