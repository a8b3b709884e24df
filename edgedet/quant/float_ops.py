"""The float ops left in an int8 file: which ops of a ``.tflite`` or QDQ ``.onnx`` do not run in integer.

An int8 export keeps its tail in float on purpose (the final heatmap / box 1x1 convs, the sigmoid, the box scaling
and the decode: :mod:`edgedet.export.tflite`, :mod:`edgedet.quant.onnx_int8`); everything else should be integer.
This census says what stayed float, so a report can show it and a test can fail when a convolution outside the
tail is left float (a quantizer that skipped a pattern, a converter that dropped a Q/DQ pair).

* TFLite: an op is float when one of its inputs or outputs is a float tensor (QUANTIZE / DEQUANTIZE, the
  conversions themselves, are not counted). Ops on integers only (shapes, indices) are neither.
* ONNX QDQ: an op runs in integer when every float input comes from a DequantizeLinear (weights included) and
  every output goes to a QuantizeLinear only: onnxruntime then fuses the group into an integer kernel. Any other
  op that touches a float tensor is float.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CONV_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "Conv", "ConvTranspose",
                      "Gemm", "MatMul"})
_FLOAT = (np.float16, np.float32, np.float64)


@dataclass
class _Op:
    type: str
    name: str
    inputs: list[Any]
    outputs: list[Any]
    is_float: bool


def _census(ops: list[_Op]) -> dict[str, Any]:
    """All ops in execution order -> the summary written to ``edgedet.json["extra"]["float_ops"]``.

    A float convolution with another convolution downstream is outside the intended float tail (the tail is
    everything after the last convolution of each path, those convolutions included): ``convs_outside_tail``.
    """
    consumers: dict[Any, list[int]] = {}
    for k, op in enumerate(ops):
        for t in op.inputs:
            consumers.setdefault(t, []).append(k)
    conv_below = [False] * len(ops)
    for k in reversed(range(len(ops))):
        users = [u for t in ops[k].outputs for u in consumers.get(t, [])]
        conv_below[k] = any(ops[u].type in CONV_OPS or conv_below[u] for u in users)
    found = [(op, below) for op, below in zip(ops, conv_below) if op.is_float]
    return {"n": len(found), "by_type": dict(Counter(op.type for op, _ in found)),
            "convs": [op.name for op, _ in found if op.type in CONV_OPS],
            "convs_outside_tail": [op.name for op, below in found if op.type in CONV_OPS and below],
            "ops": [f"{op.type} {op.name}" for op, _ in found]}


def float_ops_tflite(path: str | Path) -> dict[str, Any]:
    """Float ops of a ``.tflite`` (module docstring), each named by its first output tensor.

    Returns:
        ``{"n": int, "by_type": {op: n}, "convs": [float convolutions], "convs_outside_tail": [float convolutions
        with a convolution downstream], "ops": ["OP tensor_name", ...]}`` in graph order.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    details = {t["index"]: t for t in interp.get_tensor_details()}

    def is_float(i: int) -> bool:
        return i in details and np.dtype(details[i]["dtype"]).type in _FLOAT

    ops = []
    for op in interp._get_ops_details():  # the op list; ai-edge-litert 2.x has no public one
        ins, outs = [int(i) for i in op["inputs"] if int(i) >= 0], [int(i) for i in op["outputs"] if int(i) >= 0]
        name = details[outs[0]]["name"] if outs and outs[0] in details else f"op{op['index']}"
        counted = op["op_name"] not in ("QUANTIZE", "DEQUANTIZE") and any(is_float(i) for i in [*ins, *outs])
        ops.append(_Op(op["op_name"], name, ins, outs, counted))
    return _census(ops)


def float_ops_onnx(path: str | Path) -> dict[str, Any]:
    """Float ops of a QDQ ``.onnx`` (module docstring), each named by its node name.

    Returns:
        as :func:`float_ops_tflite`.
    """
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    elem = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.input, *g.output]}
    elem.update({t.name: t.data_type for t in g.initializer})
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in g.output}

    def integer_kernel(n: Any) -> bool:
        ins = [i for i in n.input if i and elem.get(i) in floats]
        outs = [o for o in n.output if o]
        fed = bool(ins) and all(getattr(producer.get(i), "op_type", "") == "DequantizeLinear" for i in ins)
        feeds = all(o not in graph_outputs and consumers.get(o)
                    and all(c.op_type == "QuantizeLinear" for c in consumers[o]) for o in outs)
        return fed and feeds

    ops = []
    for n in g.node:
        touches_float = any(elem.get(t) in floats for t in [*n.input, *n.output] if t)
        counted = n.op_type not in ("QuantizeLinear", "DequantizeLinear") and touches_float and not integer_kernel(n)
        ops.append(_Op(n.op_type, n.name or n.output[0], [i for i in n.input if i], list(n.output), counted))
    return _census(ops)


def float_ops(path: str | Path) -> dict[str, Any]:
    """:func:`float_ops_tflite` or :func:`float_ops_onnx` by the file's suffix."""
    suffix = Path(path).suffix
    if suffix == ".tflite":
        return float_ops_tflite(path)
    if suffix == ".onnx":
        return float_ops_onnx(path)
    raise ValueError(f"float op census reads .tflite or .onnx files, got {path}")
