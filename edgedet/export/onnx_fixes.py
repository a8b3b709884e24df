"""ONNX graph fixes that x2paddle 1.6 needs, or it converts silently wrong (or crashes Paddle's oneDNN kernels).

:func:`fix_onnx_for_x2paddle` applies, with the ``onnx`` API, on a static-shape opset-13 model:

1. static shapes: every value gets a fully known shape (``infer_shapes(strict_mode, data_prop)``); any unknown
   dimension is an error (x2paddle guesses shapes otherwise);
2. ``MaxPool``: the ``dilations`` attribute is dropped (x2paddle rejects it; only all-ones is accepted);
3. ``Resize``: ``coordinate_transformation_mode`` ``half_pixel`` -> ``pytorch_half_pixel`` (the same for every
   output length > 1, which static shapes let us check), and the ``scales`` input -> a constant ``sizes``
   input, with roi/scales as named empty tensors (x2paddle drops empty input names and then indexes past them;
   a Resize traced with constant sizes, e.g. the FPN's top-down path, gets the same named empty inputs);
4. ``Pad`` (constant mode, 4-D) -> ``Concat`` with constant blocks: x2paddle maps ONNX's 8-value pads to a
   ``pad`` op whose oneDNN kernel segfaults, and loses the pad value (an input since opset 11);
5. integer index maths is refused: a ``Div`` / ``Mod`` / ``Floor`` on integer tensors (truncation vs floor
   semantics differ between ONNX and Paddle); the decode must do its index maths in float.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT_TYPES = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError("the Paddle export needs onnx: pip install 'edgedet[export]'") from e
    return onnx


def _shapes(model: Any) -> dict[str, tuple[list[int | None], int]]:
    """name -> (shape, elem_type) for every graph value with type info."""
    out = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        t = vi.type.tensor_type
        out[vi.name] = ([d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim], t.elem_type)
    return out


def _constants(model: Any) -> dict[str, np.ndarray]:
    onnx = _onnx()
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = onnx.numpy_helper.to_array(node.attribute[0].t)
    return consts


def _static_shapes(model: Any) -> Any:
    onnx = _onnx()
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    for name, (shape, _) in _shapes(model).items():
        if any(d is None or d <= 0 for d in shape):
            raise ValueError(f"ONNX value '{name}' has a non-static shape {shape}: export with a fixed input size")
    return model


def _drop_maxpool_dilations(node: Any) -> int:
    onnx = _onnx()
    dil = [a for a in node.attribute if a.name == "dilations"]
    if not dil:
        return 0
    if any(v != 1 for v in onnx.helper.get_attribute_value(dil[0])):
        raise ValueError(f"MaxPool '{node.name}' has dilations != 1, which x2paddle cannot convert")
    kept = [a for a in node.attribute if a.name != "dilations"]
    del node.attribute[:]
    node.attribute.extend(kept)
    return 1


def _fix_resize(model: Any, node: Any, shapes: dict, consts: dict) -> None:
    onnx = _onnx()
    in_shape, out_shape = shapes[node.input[0]][0], shapes[node.output[0]][0]
    for a in node.attribute:
        if a.name == "coordinate_transformation_mode" and a.s == b"half_pixel":
            if min(out_shape[2:]) <= 1:
                raise ValueError(f"Resize '{node.name}' to a length-1 axis: half_pixel != pytorch_half_pixel there")
            a.s = b"pytorch_half_pixel"
    if len(node.input) >= 4 and node.input[3] in consts:
        sizes = [int(d) for d in consts[node.input[3]]]
    elif len(node.input) >= 3 and node.input[2] in consts:
        sizes = [int(np.floor(d * s)) for d, s in zip(in_shape, consts[node.input[2]])]
    else:
        raise ValueError(f"Resize '{node.name}' has neither constant scales nor sizes")
    if sizes != list(out_shape):
        raise ValueError(f"Resize '{node.name}': sizes {sizes} disagree with the inferred {out_shape}")
    empty, sizes_name = f"{node.name}_empty", f"{node.name}_sizes"
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(0, np.float32), empty))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(sizes, np.int64), sizes_name))
    while len(node.input) < 4:
        node.input.append("")
    node.input[1], node.input[2], node.input[3] = empty, empty, sizes_name


def _pad_as_concat(model: Any, node: Any, shapes: dict, consts: dict) -> list[Any]:
    """Nodes that replace a constant-mode 4-D ``Pad`` by concatenating constant blocks along H then W."""
    onnx = _onnx()
    mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
    shape, elem = shapes[node.input[0]]
    if mode != b"constant" or len(shape) != 4 or node.input[1] not in consts:
        raise ValueError(f"Pad '{node.name}': only constant-mode 4-D pads with constant pads are supported")
    pads = [int(p) for p in consts[node.input[1]]]
    value = float(consts[node.input[2]]) if len(node.input) > 2 and node.input[2] else 0.0
    if pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
        raise ValueError(f"Pad '{node.name}' pads N or C or crops ({pads}); only H/W padding is supported")
    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
    n, c, h, w = shape
    new_nodes, cur, blocks = [], node.input[0], []
    for axis, (before, after) in ((2, (pads[2], pads[6])), (3, (pads[3], pads[7]))):
        if not before and not after:
            continue
        parts = []
        for tag, size in (("before", before), ("after", after)):
            if size:
                block_shape = [n, c, size, w] if axis == 2 else [n, c, h + pads[2] + pads[6], size]
                name = f"{node.name}_{tag}{axis}"
                blocks.append(onnx.numpy_helper.from_array(np.full(block_shape, value, dtype), name))
                parts.append((tag, name))
        inputs = [p for t, p in parts if t == "before"] + [cur] + [p for t, p in parts if t == "after"]
        out = f"{node.name}_cat{axis}"
        new_nodes.append(onnx.helper.make_node("Concat", inputs, [out], name=out, axis=axis))
        cur = out
    model.graph.initializer.extend(blocks)
    new_nodes[-1].output[0] = node.output[0]
    return new_nodes


def _check_float_index_maths(model: Any, shapes: dict) -> None:
    for node in model.graph.node:
        if node.op_type in ("Div", "Mod", "Floor") and shapes.get(node.input[0], ([], 1))[1] not in FLOAT_TYPES:
            raise ValueError(f"ONNX node '{node.name}' ({node.op_type}) works on integers; x2paddle and Paddle "
                             f"round integer division differently from ONNX: do the decode's index maths in float")


def fix_onnx_for_x2paddle(model: Any) -> tuple[Any, dict[str, int]]:
    """Apply the fixes of the module docstring to an ``onnx.ModelProto``.

    Returns:
        ``(fixed model, counts)`` with counts of ``maxpool_dilations``, ``resize`` and ``pad`` nodes changed.

    Raises:
        ValueError: a graph these fixes cannot make safe (dynamic shapes, integer index maths, odd pads).
    """
    onnx = _onnx()
    model = _static_shapes(model)
    shapes, consts = _shapes(model), _constants(model)
    _check_float_index_maths(model, shapes)
    counts = {"maxpool_dilations": 0, "resize": 0, "pad": 0}
    nodes = []
    for node in model.graph.node:
        if node.op_type == "MaxPool":
            counts["maxpool_dilations"] += _drop_maxpool_dilations(node)
        elif node.op_type == "Resize":
            _fix_resize(model, node, shapes, consts)
            counts["resize"] += 1
        elif node.op_type == "Pad":
            nodes.extend(_pad_as_concat(model, node, shapes, consts))
            counts["pad"] += 1
            continue
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model = _static_shapes(model)
    onnx.checker.check_model(model)
    return model, counts
