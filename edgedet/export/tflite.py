"""PyTorch -> TFLite (LiteRT) with litert-torch, no TensorFlow: fp32, fp16 and full-integer int8.

* Layout: the file takes NHWC float32 ``[1, S, S, 3]`` named ``images`` (``edgedet.json`` input.layout
  ``"NHWC"``), the layout TFLite kernels and Android camera code use; the permute to the model's NCHW is
  traced into the graph and folded by the converter. Outputs are a signature dict keyed by the export output
  names (``boxes``, ``scores``, ``labels``).
* fp32: ``litert_torch.convert`` of ``ctx.graph`` (exact).
* fp16: ai-edge-quantizer ``FLOAT_CASTING`` (16 bit) on the fp32 file: fp16 weights, dequantized to fp32 at
  load; XNNPACK may then compute in fp16 where the CPU supports it.
* int8: PT2E (``torchao`` prepare/convert with litert-torch's ``PT2EQuantizer``): per-channel int8 weights,
  int8 activations observed on ``ctx.calib`` (the deployment preprocessing), int8 input tensor. The float
  *tail* stays float: every node after the last convolution on its path, i.e. the heatmap and box 1x1 convs,
  the box ReLU and scaling, the sigmoid, the peak test, top-k and the index maths. Quantizing the sigmoid would
  pin scores to steps of 1/256 and the top-k indices cannot be quantized at all.
  :func:`inspect_tflite` counts the converted graph's int8 / float ops and dequantize -> float op ->
  quantize round trips; they are recorded in ``edgedet.json["extra"]``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedet.export.context import ExportArtifact, ExportContext
from edgedet.models.layers import (
    DepthwiseDeconv2x,
    DepthwiseDeconv2xPhases,
    decompose_hardswish,
    fold_deconv_bn,
    fuse_phase_activations,
)
from edgedet.models.pafnet import TTFDecoder

LAYOUT = "NHWC"
INPUT_NAME = "images"
_FP32_CACHE = "tflite_fp32_cache.tflite"
CONV_TARGETS = ("aten.conv2d.", "aten.conv_transpose2d.", "aten.linear.")


def _require_litert() -> Any:
    try:
        import litert_torch
    except ImportError as e:
        raise ImportError("the TFLite export needs litert-torch and ai-edge-quantizer: "
                          "pip install 'edgedet[export]'") from e
    return litert_torch


class NHWCExportGraph(nn.Module):
    """``images`` NHWC ``[B, S, S, 3]`` -> the wrapped NCHW graph's outputs, as a dict keyed by ``output_names``."""

    def __init__(self, graph: nn.Module, output_names: list[str]) -> None:
        super().__init__()
        self.net, self.output_names = graph, list(output_names)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(images.permute(0, 3, 1, 2))
        out = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        return dict(zip(self.output_names, out))


def _nhwc(x_nchw: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x_nchw, np.float32).transpose(0, 2, 3, 1)))


def tflite_layout(module: nn.Module) -> nn.Module:
    """Switch every :class:`~edgedet.models.pafnet.TTFDecoder` in ``module`` (in place) to its channels-last form:
    same detections, no TRANSPOSE of the heatmap in an NHWC file (the class-major decode costs 3 TRANSPOSE, about
    1 ms of LiteRT's time at 320 px, ``benchmarks/latency_profile``)."""
    for m in module.modules():
        if isinstance(m, TTFDecoder):
            m.channels_last = True
    return module


def convert_fp32(graph: nn.Module, example_nchw: np.ndarray, output_names: list[str], path: Path) -> Path:
    """``graph`` (NCHW, eval) -> fp32 ``.tflite`` with an NHWC ``images`` input (decode in :func:`tflite_layout`)."""
    litert_torch = _require_litert()
    wrapped = NHWCExportGraph(tflite_layout(copy.deepcopy(graph).eval()), output_names).eval()
    with torch.no_grad():
        edge = litert_torch.convert(wrapped, sample_kwargs={INPUT_NAME: _nhwc(example_nchw)})
    edge.export(str(path))
    return path


def convert_fp16(fp32_path: Path, path: Path) -> Path:
    """fp32 ``.tflite`` -> fp16 weights (ai-edge-quantizer float casting of every supported op's weights)."""
    try:
        from ai_edge_quantizer import qtyping, quantizer
        from ai_edge_quantizer.algorithm_manager import AlgorithmName
    except ImportError as e:
        raise ImportError("fp16 TFLite needs ai-edge-quantizer: pip install 'edgedet[export]'") from e
    q = quantizer.Quantizer(str(fp32_path))
    q.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                             algorithm_key=AlgorithmName.FLOAT_CASTING)
    q.quantize().export_model(str(path), overwrite=True)
    return path


def split_deconv_phases(module: nn.Module) -> nn.Module:
    """Replace every :class:`~edgedet.models.layers.DepthwiseDeconv2x` in ``module`` (in place) by its exact
    :class:`~edgedet.models.layers.DepthwiseDeconv2xPhases`, whose four phase convolutions PT2E quantizes (with
    the shared bias of the training form, litert-torch's quantizer left 3 of the 4 float)."""
    for name, child in module.named_children():
        if isinstance(child, DepthwiseDeconv2x):
            setattr(module, name, DepthwiseDeconv2xPhases.from_deconv(child))
        else:
            split_deconv_phases(child)
    return module


def int8_tflite_form(module: nn.Module) -> nn.Module:
    """The form of a float model that PT2E quantizes for the int8 TFLite file (in place; eval semantics; the same
    function): deconv BNs folded (:func:`~edgedet.models.layers.fold_deconv_bn`), each phase-form deconv split into
    four convs with their own bias (:func:`split_deconv_phases`), the activation after it applied per phase
    (:func:`~edgedet.models.layers.fuse_phase_activations`) and hard-swish decomposed
    (:func:`~edgedet.models.layers.decompose_hardswish`). The last two keep the int8 graph inside XNNPACK: LiteRT
    2.3's delegate takes neither an int8 HARD_SWISH nor a lone int8 RELU6, and the 22 of them split full-width
    PAFNet-lite's int8 file into 28 partitions; in this form it has the fp32 file's 6 (the decode's) and runs in
    0.58x the time (0.63x fp32's) on the x86 host, at the cost of 9 more TRANSPOSE inside XNNPACK
    (``benchmarks/quantization/README.md``). PTQ and QAT both quantize this form.
    """
    return decompose_hardswish(fuse_phase_activations(split_deconv_phases(fold_deconv_bn(module))))


def float_tail(gm: torch.fx.GraphModule) -> set[torch.fx.Node]:
    """Nodes with no convolution downstream (the last convs themselves included): they stay float."""
    has_conv_below: dict[torch.fx.Node, bool] = {}
    for node in reversed(list(gm.graph.nodes)):
        has_conv_below[node] = any(_is_conv(u) or has_conv_below.get(u, False) for u in node.users)
    return {n for n in gm.graph.nodes if not has_conv_below[n]}


def _is_conv(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and str(node.target).startswith(CONV_TARGETS)


def _op_name(target: Any) -> str:
    text = str(target)
    return text.split(".")[1] if text.startswith("aten.") else getattr(target, "__name__", text)


def _tail_float_quantizer_cls() -> type:
    from litert_torch.quantize import pt2e_quantizer as pq

    class TailFloatPT2EQuantizer(pq.PT2EQuantizer):
        """litert-torch's PT2E quantizer with the global config applied outside :func:`float_tail` only."""

        def _annotate_for_static_quantization_config(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            tail = float_tail(model)
            self.tail_ops = sorted({_op_name(n.target) for n in tail if n.op == "call_function"})
            return self._annotate_all_static_patterns(model, self.global_config, lambda n: n not in tail)

    return TailFloatPT2EQuantizer


def int8_quantizer(method: str) -> Any:
    """Per-channel symmetric int8 weights; activations by a histogram (``percentile``/``entropy``: minimises the
    L2 quantization error over the histogram) or min/max (``minmax``) observer."""
    from litert_torch.quantize import pt2e_quantizer as pq
    from torchao.quantization.pt2e.observer import MinMaxObserver

    if method not in ("percentile", "entropy", "minmax"):
        raise ValueError(f"calibration method must be percentile, entropy or minmax, got '{method}'")
    config = pq.get_symmetric_quantization_config(is_per_channel=True)
    if method == "minmax":
        act = dataclasses.replace(config.input_activation,
                                  observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
        config = dataclasses.replace(config, input_activation=act, output_activation=act)
    return _tail_float_quantizer_cls()().set_global(config)


def convert_int8(
    graph: nn.Module, calib_nchw: np.ndarray, output_names: list[str], path: Path, method: str = "percentile"
) -> dict[str, Any]:
    """PT2E full-integer int8 with a float tail (module docstring); returns notes for ``edgedet.json``.

    Args:
        calib_nchw: float32 ``[N, 3, S, S]`` through :mod:`edgedet.deploy.preprocess`; run one image at a time.
    """
    litert_torch = _require_litert()
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    if calib_nchw is None or len(calib_nchw) == 0:
        raise ValueError("int8 TFLite export needs calibration images")
    float_graph = tflite_layout(int8_tflite_form(copy.deepcopy(graph).eval()))
    wrapped = NHWCExportGraph(float_graph, output_names).eval()
    example = {INPUT_NAME: _nhwc(calib_nchw[:1])}
    exported = torch.export.export(wrapped, (), example).module()
    quantizer = int8_quantizer(method)
    prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for image in calib_nchw:
            prepared(**{INPUT_NAME: _nhwc(image[None])})
    converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    for module in converted.modules():  # the graph was traced in eval mode; only the flag says otherwise
        module.training = False
    edge = litert_torch.convert(converted, sample_kwargs=example, quant_config=QuantConfig(pt2e_quantizer=quantizer))
    edge.export(str(path))
    observer = "MinMaxObserver" if method == "minmax" else "HistogramObserver"
    return {"quantizer": "PT2E (litert-torch PT2EQuantizer, torchao)", "weights": "int8 per-channel symmetric",
            "activations": f"int8 per-tensor affine, {observer}", "float_tail_ops": quantizer.tail_ops}


def inspect_tflite(path: Path) -> dict[str, Any]:
    """Op census of a ``.tflite`` without delegates: int8 vs float ops and quantize round trips.

    Returns:
        ``{"ops": {op: n}, "int8_ops": n, "float_ops": n, "roundtrips": {op: n}, "input_dtype": str}`` where a
        round trip is a float op fed by a DEQUANTIZE whose output goes straight into a QUANTIZE.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    tensors = {t["index"]: np.dtype(t["dtype"]) for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()  # the only public-enough view of the op list in ai-edge-litert 2.3
    producer = {int(o): op for op in ops for o in op["outputs"]}
    consumers: dict[int, list[dict]] = {}
    for op in ops:
        for i in op["inputs"]:
            consumers.setdefault(int(i), []).append(op)
    int8, flt, trips = 0, 0, Counter()
    for op in ops:
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        out_dtype = tensors.get(int(op["outputs"][0])) if len(op["outputs"]) else None
        if out_dtype in (np.dtype(np.int8), np.dtype(np.uint8)):
            int8 += 1
            continue
        flt += 1
        fed_by_dq = any(producer.get(int(i), {}).get("op_name") == "DEQUANTIZE" for i in op["inputs"])
        feeds_q = any(c["op_name"] == "QUANTIZE" for o in op["outputs"] for c in consumers.get(int(o), []))
        if fed_by_dq and feeds_q:
            trips[op["op_name"]] += 1
    return {"ops": dict(Counter(op["op_name"] for op in ops)), "int8_ops": int8, "float_ops": flt,
            "roundtrips": dict(trips), "input_dtype": np.dtype(interp.get_input_details()[0]["dtype"]).name}


def _fp32_file(ctx: ExportContext) -> Path:
    """The fp32 conversion, done once per ``export()`` call (fp16 starts from it)."""
    path = ctx.work_dir / _FP32_CACHE
    if not path.is_file():
        convert_fp32(ctx.graph, ctx.example_input, ctx.output_names, path)
    return path


def export_tflite(ctx: ExportContext) -> ExportArtifact:
    """The ``"tflite"`` entry of ``FORMAT_EXPORTERS``: fp32 / fp16 / int8 ``.tflite`` in ``ctx.out_dir``."""
    model_file = f"{ctx.model_name}_{ctx.precision}.tflite"
    dst = ctx.out_dir / model_file
    extra: dict[str, Any] = {"converter": "litert-torch", "signature": "serving_default",
                             "input_dtype": "float32"}
    if ctx.precision == "fp32":
        dst.write_bytes(_fp32_file(ctx).read_bytes())
    elif ctx.precision == "fp16":
        convert_fp16(_fp32_file(ctx), dst)
        extra["fp16"] = "ai-edge-quantizer FLOAT_CASTING 16-bit weights, float32 compute fallback"
    elif ctx.precision == "int8":
        method = (ctx.calib_summary or {}).get("method", "percentile")
        extra["int8"] = convert_int8(ctx.graph, ctx.calib, ctx.output_names, dst, method)
    else:
        raise ValueError(f"tflite does not support precision '{ctx.precision}' (fp32, fp16, int8)")
    census = inspect_tflite(dst)
    extra["input_dtype"] = census.pop("input_dtype")
    extra["graph"] = census
    if ctx.precision == "int8":
        from edgedet.quant.float_ops import float_ops_tflite

        extra["float_ops"] = float_ops_tflite(dst)  # what stayed float: the intended tail, and anything else
    return ExportArtifact(model_file, ctx.make_metadata(model_file, layout=LAYOUT, extra=extra))
