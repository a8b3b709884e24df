"""edgedet.quant.float_ops on hand-built QDQ graphs: which ops count as float, which float convs lie outside the tail."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgedet.quant.float_ops import float_ops, float_ops_onnx


def _qdq_model(path, first_conv_quantized: bool) -> None:
    """x -> Q -> DQ -> conv1 (int8 weight through DQ) [-> Q -> DQ] -> conv2 (float weight) -> Sigmoid -> y."""
    w_int8 = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.int8), "w1_q")
    inits = [w_int8, numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.uint8), "zp"), numpy_helper.from_array(np.array(0, np.int8), "zp_w"),
             numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w2")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q_in"),
             helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"], name="dq_in"),
             helper.make_node("DequantizeLinear", ["w1_q", "s", "zp_w"], ["w1"], name="dq_w1"),
             helper.make_node("Conv", ["xd", "w1"], ["c1"], name="conv1")]
    if first_conv_quantized:
        nodes += [helper.make_node("QuantizeLinear", ["c1", "s", "zp"], ["c1q"], name="q_c1"),
                  helper.make_node("DequantizeLinear", ["c1q", "s", "zp"], ["c1d"], name="dq_c1")]
        conv2_in = "c1d"
    else:
        conv2_in = "c1"
    nodes += [helper.make_node("Conv", [conv2_in, "w2"], ["c2"], name="conv2"),
              helper.make_node("Sigmoid", ["c2"], ["y"], name="sigmoid")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnx_integer_conv_is_not_counted_and_the_tail_is(tmp_path):
    _qdq_model(tmp_path / "m.onnx", first_conv_quantized=True)
    r = float_ops(tmp_path / "m.onnx")
    assert r["ops"] == ["Conv conv2", "Sigmoid sigmoid"]
    assert r["n"] == 2 and r["by_type"] == {"Conv": 1, "Sigmoid": 1}
    assert r["convs"] == ["conv2"] and r["convs_outside_tail"] == []


def test_onnx_conv_left_float_before_another_conv_is_outside_the_tail(tmp_path):
    _qdq_model(tmp_path / "m.onnx", first_conv_quantized=False)
    r = float_ops_onnx(tmp_path / "m.onnx")
    assert r["convs"] == ["conv1", "conv2"]
    assert r["convs_outside_tail"] == ["conv1"]  # conv2 follows it: conv1 should have been integer


def test_unknown_suffix_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="reads .tflite or .onnx"):
        float_ops(tmp_path / "model.pdmodel")
