"""PyTorch -> ONNX (fp32 / fp16 / int8), static shapes, opset 17, simplified, metadata embedded.

* fp32: ``torch.onnx.export(..., dynamo=False)`` at opset 17 (exact, per DESIGN), then ``onnxslim``.
* fp16: float16 weights and activations through ``onnxruntime.transformers.float16`` (the onnxconverter-common
  algorithm, shipped inside onnxruntime) with float32 inputs/outputs (``keep_io_types``); TopK, NMS, Range and
  the other ops of its default block list stay float32. Meant for GPU / mobile execution providers; on the x86
  CI CPU its latency was within about 20 % of fp32 either way (half the file size).
* int8: :func:`edgedet.quant.onnx_int8.quantize_onnx_int8` (QDQ, per-channel, reduce_range, the head tail in
  float).

The metadata (``edgedet.json`` contents) is embedded in ``metadata_props`` under the key ``"edgedet"``. Tracing to a
file and embedding live in :mod:`edgedet.export.onnx_file` (shared with the ONNX-based converters).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgedet.export.context import ExportArtifact, ExportContext
from edgedet.export.onnx_file import embed_metadata, require_onnx


def convert_onnx_fp16(src: Path, dst: Path) -> Path:
    """fp32 ONNX -> fp16 weights/activations with float32 graph inputs and outputs."""
    onnx, _ = require_onnx()
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    _toposort(model)  # the converter appends the input casts after their consumers
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


def _toposort(model: Any) -> None:
    """Reorder ``model.graph.node`` so every node comes after the producers of its inputs (stable)."""
    available = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    pending, ordered = list(model.graph.node), []
    while pending:
        is_ready = [all(i in available for i in n.input) for n in pending]
        if not any(is_ready):
            raise ValueError("ONNX graph has a cycle or a dangling input; cannot sort it")
        ordered.extend(n for n, r in zip(pending, is_ready) if r)
        for n, r in zip(pending, is_ready):
            if r:
                available.update(n.output)
        pending = [n for n, r in zip(pending, is_ready) if not r]
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def export_onnx(ctx: ExportContext) -> ExportArtifact:
    """The ``"onnx"`` entry of ``FORMAT_EXPORTERS``: fp32 / fp16 / int8 ONNX in ``ctx.out_dir``."""
    fp32 = ctx.onnx_fp32(opset=17)
    model_file = f"{ctx.model_name}_{ctx.precision}.onnx"
    dst = ctx.out_dir / model_file
    extra: dict[str, Any] = {"opset": 17, "exporter": "torch.onnx.export(dynamo=False) + onnxslim"}
    if ctx.precision == "fp32":
        shutil.copyfile(fp32, dst)
    elif ctx.precision == "fp16":
        convert_onnx_fp16(fp32, dst)
        extra["fp16"] = "onnxruntime.transformers.float16, keep_io_types=True"
    elif ctx.precision == "int8":
        from edgedet.quant.onnx_int8 import quantize_onnx_int8

        if ctx.calib is None:
            raise ValueError("int8 ONNX export needs calibration data (ctx.calib is None)")
        from edgedet.quant.float_ops import float_ops_onnx

        extra["int8"] = quantize_onnx_int8(fp32, dst, ctx.calib, method=ctx.calib_summary["method"])
        extra["float_ops"] = float_ops_onnx(dst)  # what stayed float: the intended tail, and anything else
    else:
        raise ValueError(f"onnx does not support precision '{ctx.precision}' (fp32, fp16, int8)")
    meta = ctx.make_metadata(model_file, layout="NCHW", extra=extra)
    embed_metadata(dst, meta)
    return ExportArtifact(model_file, meta)
