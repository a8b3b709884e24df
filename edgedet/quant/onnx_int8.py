"""ONNX Runtime static int8 (QDQ) with the head tail kept in float.

Choices (DESIGN "Facts to build on", int8):
* QDQ, per-channel int8 weights, uint8 activations, ``reduce_range=True``: U8S8 without reduce_range
  saturates (VPMADDUBSW) on AVX2 CPUs without VNNI.
* Activation ranges from ``percentile`` (99.999, histogram) by default, collected in chunks so memory stays
  bounded; ``minmax`` and ``entropy`` are available.
* The graph's tail stays float: walking back from every graph output, all nodes up to and including the first
  Conv on each path (the final heatmap / box / class 1x1 convs, sigmoid, box scaling, max-pool peaks, top-k and
  the decode maths) go to ``nodes_to_exclude``. Quantizing them is what breaks heatmap detectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CALIB_METHODS = ("percentile", "minmax", "entropy")
PERCENTILE = 99.999
_CHUNK = 16


def _require_ort_quant() -> Any:
    try:
        import onnxruntime.quantization as q
    except ImportError as e:
        raise ImportError("int8 ONNX export needs onnxruntime: pip install 'edgedet[export]'") from e
    return q


def float_tail_nodes(model: Any) -> list[str]:
    """Names of the nodes between the last Conv on each path and the graph outputs, those Convs included.

    Args:
        model: ``onnx.ModelProto`` with named nodes.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    tail: dict[str, Any] = {}
    stack = [o.name for o in model.graph.output]
    seen: set[str] = set()
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        tail[node.name] = node
        if node.op_type in ("Conv", "ConvTranspose"):
            continue  # the last conv on this path: keep it float, quantize what feeds it
        stack.extend(i for i in node.input if i)
    return sorted(tail)


class _ArrayReader:
    """``CalibrationDataReader`` over a float32 ``[N, 3, S, S]`` array, one image per step, with ranges."""

    def __init__(self, data: np.ndarray, input_name: str):
        self.data, self.input_name = data, input_name
        self.start, self.end, self.pos = 0, len(data), 0

    def __len__(self) -> int:
        return len(self.data)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end, self.pos = start_index, end_index, start_index

    def rewind(self) -> None:
        self.pos = self.start

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= self.end:
            return None
        x = self.data[self.pos : self.pos + 1]
        self.pos += 1
        return {self.input_name: np.ascontiguousarray(x, np.float32)}


def _chunk_size(n: int) -> int:
    """Largest divisor of ``n`` not above ``_CHUNK`` (ORT's strided calibration needs an exact split)."""
    return max(d for d in range(1, min(n, _CHUNK) + 1) if n % d == 0)


def quantize_onnx_int8(
    src: Path,
    dst: Path,
    calib: np.ndarray,
    *,
    method: str = "percentile",
    per_channel: bool = True,
    reduce_range: bool = True,
    exclude: list[str] | None = None,
) -> dict[str, Any]:
    """Static QDQ int8 quantization of ``src`` into ``dst``.

    Args:
        src: fp32 ONNX with named nodes (:func:`edgedet.export.onnx_export.export_onnx_file`).
        dst: output path.
        calib: float32 ``[N, 3, S, S]`` preprocessed calibration images.
        method: activation range estimator, one of ``CALIB_METHODS``.
        exclude: node names kept float; default :func:`float_tail_nodes`.

    Returns:
        Summary for ``edgedet.json["extra"]``: settings and the float-kept node names.
    """
    import onnx

    q = _require_ort_quant()
    if method not in CALIB_METHODS:
        raise ValueError(f"calibration method '{method}' is not one of {list(CALIB_METHODS)}")
    if calib.ndim != 4 or len(calib) == 0:
        raise ValueError(f"calibration data must be a non-empty [N, 3, S, S] array, got {calib.shape}")
    model = onnx.load(str(src))
    exclude = float_tail_nodes(model) if exclude is None else list(exclude)
    methods = {"percentile": q.CalibrationMethod.Percentile, "minmax": q.CalibrationMethod.MinMax,
               "entropy": q.CalibrationMethod.Entropy}
    extra = {"CalibStridedMinMax": _chunk_size(len(calib)), "ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = PERCENTILE
    providers = ["CPUExecutionProvider"]
    q.quantize_static(
        str(src), str(dst), _ArrayReader(calib, model.graph.input[0].name),
        quant_format=q.QuantFormat.QDQ, per_channel=per_channel, reduce_range=reduce_range,
        activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
        calibrate_method=methods[method], nodes_to_exclude=exclude, extra_options=extra,
        calibration_providers=providers,
    )
    return {"quantizer": "onnxruntime.quantization.quantize_static", "format": "QDQ", "per_channel": per_channel,
            "reduce_range": reduce_range, "activations": "uint8", "weights": "int8", "calib_method": method,
            "float_nodes": exclude}
