"""Quantization-aware training (PT2E) of a trained PAFNet-lite, and its int8 TFLite / ONNX exports.

The steps (DISTILL.md "Quantization"):

1. ``torch.export`` of :class:`QATGraph` in train mode with a dynamic batch: NHWC ``images`` -> the export graph's
   ``boxes`` / ``scores`` / ``labels`` plus the raw ``hm`` / ``ltrb`` the loss needs, of the model in the form the
   PTQ TFLite export quantizes (:func:`~edgedet.export.tflite.int8_tflite_form`: deconv BNs folded, phase-form
   deconvs split into four convs with their own biases and the activation after them per phase, hard-swish
   decomposed).
2. ``prepare_qat_pt2e`` with the PTQ export's quantizer (litert-torch ``PT2EQuantizer``, per-channel symmetric
   int8 weights, per-tensor affine int8 activations, the same float tail), but its QAT variant: fake-quant
   modules (``FusedMovingAvgObsFakeQuantize``) instead of observers, and conv-BN pairs trained through simulated
   BN folding.
3. Fine-tuning on the training split (the checkpoint's data and augmentation settings, fixed input size) with
   the model's own loss; after ``freeze_bn_after`` iterations the BN statistics stop moving (the graph's
   ``batch_norm`` nodes switch to running statistics) and after ``freeze_observers_after`` the activation and
   weight ranges stop moving, so the last iterations train against the scales that will be exported.
4. TFLite: ``convert_pt2e`` -> ``litert_torch.convert`` (the learned scales become the file's). ONNX: the
   fine-tuned float weights go through the PTQ QDQ path (:mod:`edgedet.quant.onnx_int8`): see :data:`ONNX_ROUTE`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedet.export.context import ExportArtifact, ExportContext
from edgedet.export.tflite import (
    INPUT_NAME,
    LAYOUT,
    _require_litert,
    _tail_float_quantizer_cls,
    inspect_tflite,
    int8_tflite_form,
    tflite_layout,
)
from edgedet.models.layers import decompose_hardswish
from edgedet.models.pafnet import PAFNet

RAW_OUTPUTS = ("hm", "ltrb")
ONNX_ROUTE = ("fine-tuned float weights through the PTQ QDQ path (edgedet.quant.onnx_int8): the QAT graph "
              "(torch.export) and the ONNX graph (TorchScript export + onnxslim) name and fuse tensors differently, "
              "so learned activation scales have no reliable one-to-one home in the QDQ file, and onnxruntime's "
              "reduce_range 7-bit weight grid (needed on CPUs without VNNI) is not the 8-bit grid QAT trained for")


class QATGraph(nn.Module):
    """NHWC ``images [B, S, S, 3]`` -> ``{boxes, scores, labels, hm, ltrb}``: the export graph's outputs plus the
    raw head outputs (``hm`` logits ``[B, C, S/4, S/4]``, ``ltrb`` ``[B, 4, S/4, S/4]``) the loss is computed on.
    The decode is a channels-last copy of the model's (:func:`~edgedet.export.tflite.tflite_layout`), as in the
    PTQ TFLite file; the model's own decoder is left as it is."""

    def __init__(self, model: PAFNet, output_names: list[str]) -> None:
        super().__init__()
        self.model, self.output_names = model, list(output_names)
        self.decoder = tflite_layout(copy.deepcopy(model.decoder))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = self.model(images.permute(0, 3, 1, 2))
        decoded = self.decoder(*raw)
        return {**dict(zip(self.output_names, decoded)), **dict(zip(RAW_OUTPUTS, raw))}


class _ExportOutputs(nn.Module):
    """The converted QAT graph with only the export outputs (the raw ones are dropped, and with them their ops)."""

    def __init__(self, graph: torch.fx.GraphModule, output_names: list[str]) -> None:
        super().__init__()
        self.graph_module, self.output_names = graph, list(output_names)
        self.training = False  # an exported GraphModule refuses .eval(); it is in eval form already

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.graph_module(images=images)
        return {k: out[k] for k in self.output_names}


@contextlib.contextmanager
def _litert_qat_patterns() -> Iterator[None]:
    """litert-torch 0.x builds its conv-BN QAT patterns from plain functions, which torchao's pattern tracer
    (``torch.export``) rejects; wrap them in a module for the duration, as torchao's own QAT patterns are."""
    from litert_torch.quantize import pt2e_quantizer_utils as lu
    from torchao.quantization.pt2e.export_utils import WrapperModule

    original = lu._get_aten_graph_module_for_pattern

    def wrapped(pattern, example_inputs, is_cuda=False, **kwargs):
        return original(pattern if isinstance(pattern, nn.Module) else WrapperModule(pattern), example_inputs,
                        is_cuda, **kwargs)

    lu._get_aten_graph_module_for_pattern = wrapped
    try:
        yield
    finally:
        lu._get_aten_graph_module_for_pattern = original


def qat_quantizer() -> Any:
    """The PTQ TFLite export's quantizer (float tail included) with its QAT config (fake-quant modules)."""
    from litert_torch.quantize import pt2e_quantizer as pq

    config = pq.get_symmetric_quantization_config(is_per_channel=True, is_qat=True)
    return _tail_float_quantizer_cls()().set_global(config)


@dataclasses.dataclass
class QATModel:
    """A prepared QAT graph and what goes with it."""

    prepared: torch.fx.GraphModule  # takes images=NHWC float32, returns QATGraph's dict
    quantizer: Any
    float_model: PAFNet  # the traced model (deconv BNs folded, deconvs split); fine-tuned weights land here
    output_names: list[str]


def prepare_qat(model: PAFNet, imgsz: int, output_names: list[str]) -> QATModel:
    """Trace ``model`` (not changed: a folded copy is traced) and insert fake-quant (module docstring, steps 1-2)."""
    _require_litert()
    from torchao.quantization.pt2e import quantize_pt2e

    float_model = int8_tflite_form(copy.deepcopy(model).cpu().eval()).train()
    example = {INPUT_NAME: torch.zeros(2, imgsz, imgsz, 3)}
    batch = torch.export.Dim("batch", min=1, max=4096)
    exported = torch.export.export(QATGraph(float_model, output_names).train(), (), example,
                                   dynamic_shapes={INPUT_NAME: {0: batch}}).module()
    quantizer = qat_quantizer()
    with _litert_qat_patterns():
        prepared = quantize_pt2e.prepare_qat_pt2e(exported, quantizer)
    return QATModel(prepared, quantizer, float_model, list(output_names))


def freeze_bn_stats(prepared: torch.fx.GraphModule) -> int:
    """Switch every training-mode ``batch_norm`` node to its running statistics (no more updates); returns how
    many were switched."""
    n = 0
    for node in prepared.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.batch_norm.default and node.args[5]:
            node.args = (*node.args[:5], False, *node.args[6:])
            n += 1
    prepared.recompile()
    return n


def freeze_observers(prepared: torch.fx.GraphModule) -> None:
    """Fake-quant keeps quantizing, with the scales it has now."""
    from torchao.quantization.pt2e import disable_observer

    prepared.apply(disable_observer)


def fine_tuned_float_model(qat: QATModel) -> PAFNet:
    """``qat.float_model`` (eval) with the fine-tuned weights and BN statistics of ``qat.prepared``."""
    state = qat.prepared.state_dict()
    target = qat.float_model.state_dict()
    missing = [k for k in target if f"model.{k}" not in state]
    if missing:
        raise RuntimeError(f"the QAT graph lost {len(missing)} weights of the model (first: {missing[0]})")
    qat.float_model.load_state_dict({k: state[f"model.{k}"] for k in target})
    return decompose_hardswish(qat.float_model, undo=True).eval()  # native HardSwish again for the ONNX file


def _lr_at(base: float, it: int, total: int) -> float:
    """Cosine from ``base`` to 0 over ``total`` iterations: fine-tuning from a trained model needs no warmup."""
    return 0.5 * base * (1.0 + math.cos(math.pi * min(it, total) / max(total, 1)))


def train_qat(qat: QATModel, loader_for_epoch: Any, *, epochs: int, iters_per_epoch: int, lr: float,
              weight_decay: float, momentum: float, freeze_bn_after: int, freeze_observers_after: int,
              progress: bool = True) -> list[dict[str, float]]:
    """Fine-tune ``qat.prepared`` with the loss of ``qat.float_model`` (SGD, cosine lr).

    Args:
        loader_for_epoch: ``epoch -> iterable of (uint8 images [B, 3, S, S] RGB, targets, metas)``, the training
            loader (:func:`edgedet.data.build_dataloader`).
        iters_per_epoch: iterations per epoch (at most the loader's length).
        freeze_bn_after / freeze_observers_after: iteration after which BN statistics / quantization ranges stop
            moving (0 = frozen from the start).

    Returns:
        One ``{"epoch", "loss_<term>"..., "lr", "iter_ms", "bn_frozen", "observers_frozen"}`` row per epoch.
    """
    from edgedet.data.dataset import normalize_batch
    from edgedet.engine.trainer import TrainingDiverged, _progress

    prepared, criterion = qat.prepared, qat.float_model
    decay = [p for n, p in prepared.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in prepared.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=lr, momentum=momentum)
    total, it, rows = epochs * iters_per_epoch, 0, []
    bn_frozen = obs_frozen = False
    for epoch in range(epochs):
        sums: dict[str, float] = {}
        n_done, t0 = 0, time.perf_counter()
        bar = _progress(loader_for_epoch(epoch), iters_per_epoch, f"QAT epoch {epoch + 1}/{epochs}", progress)
        for i, (images, targets, _metas) in enumerate(bar):
            if i >= iters_per_epoch:
                break
            if not bn_frozen and it >= freeze_bn_after:
                freeze_bn_stats(prepared)
                bn_frozen = True
            if not obs_frozen and it >= freeze_observers_after:
                freeze_observers(prepared)
                obs_frozen = True
            for g in opt.param_groups:
                g["lr"] = _lr_at(lr, it, total)
            x = normalize_batch(images).permute(0, 2, 3, 1)  # NHWC, as the exported file takes it
            out = prepared(**{INPUT_NAME: x})
            losses = criterion.loss((out["hm"], out["ltrb"]), targets)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"non-finite QAT loss at iteration {it + 1}: try a lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            n_done += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if progress:
                bar.set_postfix({k.replace("loss_", ""): f"{v / n_done:.3f}" for k, v in sums.items()})
        rows.append({"epoch": epoch + 1, **{k: v / max(n_done, 1) for k, v in sums.items()},
                     "lr": opt.param_groups[0]["lr"], "iter_ms": round(1000 * (time.perf_counter() - t0) / max(n_done, 1), 1),
                     "bn_frozen": bn_frozen, "observers_frozen": obs_frozen})
    return rows


def convert_qat_tflite(qat: QATModel, example_nchw: np.ndarray, path: Path) -> dict[str, Any]:
    """The trained QAT graph -> int8 ``.tflite`` with the learned scales; returns notes for ``edgedet.json``."""
    litert_torch = _require_litert()
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import move_exported_model_to_eval, quantize_pt2e

    prepared = copy.deepcopy(qat.prepared)
    move_exported_model_to_eval(prepared)
    converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    example = {INPUT_NAME: torch.from_numpy(np.ascontiguousarray(example_nchw.transpose(0, 2, 3, 1)))}
    edge = litert_torch.convert(_ExportOutputs(converted, qat.output_names), sample_kwargs=example,
                                quant_config=QuantConfig(pt2e_quantizer=qat.quantizer))
    edge.export(str(path))
    return {"quantizer": "PT2E QAT (litert-torch PT2EQuantizer is_qat=True, torchao prepare_qat_pt2e)",
            "weights": "int8 per-channel symmetric",  # as PTQ's; the values were fine-tuned under fake-quant
            "activations": "int8 per-tensor affine, FusedMovingAvgObsFakeQuantize (learned by QAT)",
            "float_tail_ops": qat.quantizer.tail_ops}


def qat_tflite_exporter(qat: QATModel, notes: dict[str, Any]):
    """An ``edgedet.export.api`` exporter (``ctx -> ExportArtifact``) writing the QAT TFLite int8 file, with the
    same metadata as the PTQ export (``notes`` go to ``extra["qat"]``)."""
    from edgedet.quant.float_ops import float_ops_tflite

    def export_qat_tflite(ctx: ExportContext) -> ExportArtifact:
        if ctx.precision != "int8":
            raise ValueError(f"the QAT exporter writes int8 only, not {ctx.precision}")
        model_file = f"{ctx.model_name}_{ctx.precision}.tflite"
        dst = ctx.out_dir / model_file
        extra: dict[str, Any] = {"converter": "litert-torch", "signature": "serving_default",
                                 "int8": convert_qat_tflite(qat, ctx.example_input, dst), "qat": notes}
        census = inspect_tflite(dst)
        extra["input_dtype"] = census.pop("input_dtype")
        extra["graph"] = census
        extra["float_ops"] = float_ops_tflite(dst)
        calib = {"method": "qat", "source": "learned during QAT (no calibration pass)",
                 "n_images": notes.get("train_images")}
        return ExportArtifact(model_file, dataclasses.replace(ctx, calib_summary=calib).make_metadata(
            model_file, layout=LAYOUT, extra=extra))

    return export_qat_tflite
