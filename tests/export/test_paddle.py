"""Paddle inference (x2paddle) export of a tiny real PAFNet-lite, and the ONNX fixes x2paddle needs.

fp32 tolerance: the parity check's 1e-4 abs (or rel) on raw outputs and identical detections; Paddle's oneDNN
sigmoid / convolutions land at ~6e-5 on the scores.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgedet.deploy.schema import read_metadata
from edgedet.export.onnx_fixes import fix_onnx_for_x2paddle
from tests.export.topk_compare import assert_fp32_parity
from tests.runtime.tiny_models import export_tiny_pafnet_lite, image_files

pytestmark = [pytest.mark.optional, pytest.mark.slow]


@pytest.fixture(scope="module")
def exported(tiny_synth, tmp_path_factory):
    model, (res,) = export_tiny_pafnet_lite(tiny_synth, tmp_path_factory.mktemp("paddle_export"), ["paddle"], ["fp32"])
    return model, res


def test_files_and_metadata(exported):
    _, res = exported
    assert sorted(p.name for p in res.dir.iterdir()) == ["edgedet.json", "model.pdiparams", "model.pdmodel",
                                                         "parity.json"]
    meta = read_metadata(res.dir)
    assert meta["format"] == "paddle" and meta["input"]["layout"] == "NCHW"
    extra = meta["extra"]
    # pads: the decode's separable peak test (2: columns, then the row maxima) and the three LiteUpsample
    # phase-form deconvolutions (DepthwiseDeconv2x)
    assert extra["opset"] == 13 and extra["onnx_fixes"]["resize"] == 3 and extra["onnx_fixes"]["pad"] == 5
    assert len(extra["paddle_output_names"]) == 3


def test_fp32_parity(exported, tiny_synth):
    assert_fp32_parity(exported[0], exported[1], image_files(tiny_synth / "images" / "val", 8))


def _tiny_onnx(div_dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """x [1,2,4,4] -> MaxPool(dilations=1) -> Resize(scales x2, half_pixel) -> Pad(top 1, right 2, value -1)."""
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "pads")
    value = numpy_helper.from_array(np.array(-1.0, np.float32), "value")
    nodes = [
        helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         dilations=[1, 1]),
        helper.make_node("Resize", ["p", "", "scales"], ["r"], name="resize", mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Pad", ["r", "pads", "value"], ["y"], name="pad", mode="constant"),
    ]
    inits = [scales, pads, value]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 9, 10])]
    if div_dtype != TensorProto.FLOAT:
        nodes.append(helper.make_node("Div", ["i", "two"], ["q"], name="int_div"))
        inits.append(numpy_helper.from_array(np.array(2, np.int64), "two"))
        outputs.append(helper.make_tensor_value_info("q", TensorProto.INT64, [3]))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])]
    if div_dtype != TensorProto.FLOAT:
        inputs.append(helper.make_tensor_value_info("i", TensorProto.INT64, [3]))
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_onnx_fixes_change_the_graph_not_the_numbers():
    model = _tiny_onnx()
    x = np.random.default_rng(0).normal(size=(1, 2, 4, 4)).astype(np.float32)
    before = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    fixed, counts = fix_onnx_for_x2paddle(model)
    after = ort.InferenceSession(fixed.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert counts == {"maxpool_dilations": 1, "resize": 1, "pad": 1}
    ops = [n.op_type for n in fixed.graph.node]
    assert "Pad" not in ops and ops.count("Concat") == 2
    pool = next(n for n in fixed.graph.node if n.op_type == "MaxPool")
    assert "dilations" not in [a.name for a in pool.attribute]
    resize = next(n for n in fixed.graph.node if n.op_type == "Resize")
    mode = next(a.s for a in resize.attribute if a.name == "coordinate_transformation_mode")
    assert mode == b"pytorch_half_pixel"
    sizes = next(i for i in fixed.graph.initializer if i.name == resize.input[3])
    assert numpy_helper.to_array(sizes).tolist() == [1, 2, 8, 8]
    assert after[0, 0, 0].tolist() == [-1.0] * 10  # the pad value survives (x2paddle drops it)


def test_onnx_fixes_refuse_integer_index_maths():
    with pytest.raises(ValueError, match="index maths in float"):
        fix_onnx_for_x2paddle(_tiny_onnx(div_dtype=TensorProto.INT64))
