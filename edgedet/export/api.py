"""``export()``: one directory per format x precision, each with model file(s), edgedet.json and parity.json.

Exporter contract (the table :data:`FORMAT_EXPORTERS`; the heavy ones import their module lazily; exporters import
:class:`~edgedet.export.context.ExportContext` / ``ExportArtifact`` from :mod:`edgedet.export.context`, never this
module)::

    def export_<fmt>(ctx: ExportContext) -> ExportArtifact

* write the model file(s) into ``ctx.out_dir`` (created, empty); ``ctx.precision`` is one of
  ``SUPPORTED_PRECISIONS[fmt]``;
* build the metadata with ``ctx.make_metadata(model_file, layout="NCHW"|"NHWC", extra={...})`` (embed it in the
  file when the format allows) and return ``ExportArtifact(model_file, metadata)``;
* ``ctx.onnx_fp32()`` returns a cached, simplified fp32 ONNX (opset 17) of ``ctx.graph`` for ONNX-based
  converters; ``ctx.calib`` is float32 ``[n, 3, S, S]`` NCHW through :mod:`edgedet.deploy.preprocess` (int8 only);
* a missing heavy dependency raises ``ImportError`` naming the pip extra (``pip install 'edgedet[tflite]'``).

The API then writes ``edgedet.json`` and ``parity.json`` (runs the file through :mod:`edgedet.runtime`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedet.deploy.decode_spec import as_decode_spec
from edgedet.deploy.preprocess import preprocess_bgr
from edgedet.deploy.schema import file_sha256, write_metadata
from edgedet.export import cache as export_cache
from edgedet.export.calib import describe_source, load_calibration_images, load_images_bgr
from edgedet.export.console import converter_output_to
from edgedet.export.context import ExportArtifact, ExportContext
from edgedet.export.onnx_export import export_onnx
from edgedet.export.parity import check_parity, synthetic_images_bgr
from edgedet.models.base import Detector

INPUT_NAME = "images"
SUPPORTED_PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnx": ("fp32", "fp16", "int8"),
    "tflite": ("fp32", "fp16", "int8"),
    "paddle": ("fp32",),
    "paddle-lite": ("fp32",),
}


@dataclass
class ExportResult:
    """One exported format x precision."""

    format: str
    precision: str
    dir: Path
    model_path: Path
    metadata: dict[str, Any]
    parity: dict[str, Any]
    cached: bool = False  # the converted file came from edgedet.export.cache (parity was checked again)


def _export_tflite(ctx: ExportContext) -> ExportArtifact:
    from edgedet.export.tflite import export_tflite

    return export_tflite(ctx)


def _export_paddle(ctx: ExportContext) -> ExportArtifact:
    from edgedet.export.paddle import export_paddle

    return export_paddle(ctx)


def _export_paddle_lite(ctx: ExportContext) -> ExportArtifact:
    from edgedet.export.paddle_lite import export_paddle_lite

    return export_paddle_lite(ctx)


FORMAT_EXPORTERS: dict[str, Callable[[ExportContext], ExportArtifact]] = {
    "onnx": export_onnx,
    "tflite": _export_tflite,
    "paddle": _export_paddle,
    "paddle-lite": _export_paddle_lite,
}


def check_pairs(formats: Sequence[str], precisions: Sequence[str], model: Detector | None = None,
                ) -> list[tuple[str, str]]:
    """Validate the requested format x precision pairs; ``ValueError`` lists the supported ones.

    With ``model``, also against :meth:`Detector.export_precisions` (a two-stage detector exports to fewer pairs).
    """
    supported = ", ".join(f"{f}: {'/'.join(p)}" for f, p in SUPPORTED_PRECISIONS.items())
    if not formats or not precisions:
        raise ValueError(f"give at least one format and one precision (supported: {supported})")
    pairs = []
    for fmt in formats:
        if fmt not in SUPPORTED_PRECISIONS:
            raise ValueError(f"unknown export format '{fmt}'; supported: {supported}")
        for prec in precisions:
            if prec not in SUPPORTED_PRECISIONS[fmt]:
                raise ValueError(f"{fmt} does not support precision '{prec}'; supported: {supported}")
            pairs.append((fmt, prec))
    narrower = model.export_precisions() if model is not None else None
    if narrower is not None:
        for fmt, prec in pairs:
            if prec not in narrower.get(fmt, ()):
                allowed = ", ".join(f"{f}: {'/'.join(p)}" for f, p in narrower.items() if p)
                raise ValueError(f"{type(model).__name__} models cannot be exported as {fmt} {prec}; "
                                 f"supported for this model: {allowed}")
    return pairs


def _output_names(model: Detector, n: int) -> list[str]:
    names = as_decode_spec(model.decode_spec()).outputs
    if len(names) != n:
        names = [f"output{i}" for i in range(n)]
    return list(names)


def _trace_outputs(graph: nn.Module, x: np.ndarray) -> list[list[int]]:
    with torch.no_grad():
        out = graph(torch.from_numpy(x))
    out = (out,) if isinstance(out, torch.Tensor) else tuple(out)
    return [list(o.shape) for o in out]


def _calibration(source: Any, n: int, method: str, imgsz: int) -> tuple[np.ndarray, dict[str, Any]]:
    from edgedet.quant.onnx_int8 import CALIB_METHODS

    if not source:
        raise ValueError("int8 export needs calibration images: pass calib_images (CLI: --calib DATA)")
    if method not in CALIB_METHODS:
        raise ValueError(f"calib_method '{method}' is not one of {list(CALIB_METHODS)}")
    calib = load_calibration_images(source, n, imgsz)
    summary = {"n_images": len(calib), "source": describe_source(source), "method": method,
               "preprocess": "edgedet.deploy.preprocess.preprocess_bgr"}
    return calib, summary


def export(
    model: Detector,
    *,
    formats: list[str],
    precisions: list[str],
    imgsz: int,
    out_dir: Path,
    class_names: list[str],
    model_name: str,
    calib_images: list[Path] | Path | None = None,
    calib_n: int = 200,
    calib_method: str = "percentile",
    source_ckpt: Path | None = None,
    threads: int = 1,
    parity_images: Sequence[np.ndarray | Path] | None = None,
    log_file: Path | None = None,
    use_cache: bool = True,
    on_pair_done: Callable[[ExportResult, float], None] | None = None,
    exporters: Mapping[str, Callable[[ExportContext], ExportArtifact]] | None = None,
) -> list[ExportResult]:
    """Export ``model`` to every requested format x precision under ``out_dir/<fmt>_<precision>/``.

    Args:
        model: a detector; exported in eval mode on the CPU (its ``export_graph()`` is traced). Left in eval mode
            on the CPU, with ``model.imgsz`` (where it has one) set to ``imgsz``.
        formats: subset of ``SUPPORTED_PRECISIONS`` keys; precisions: ``fp32``/``fp16``/``int8``.
        imgsz: square input side (static shapes).
        class_names: one per class, ``len == model.num_classes``.
        calib_images: image files or a directory (int8 only; required for int8).
        calib_n: number of calibration images (chosen deterministically).
        calib_method: ``percentile`` | ``minmax`` (activation ranges, int8; see edgedet.quant.onnx_int8).
        source_ckpt: checkpoint path, recorded by sha256.
        threads: CPU threads for quantization and the parity runtime.
        parity_images: BGR images or paths for the parity check (default: 4 calibration images, else synthetic).
        log_file: where the converters' own output goes (their stdout / stderr, C++ and subprocesses included;
            :mod:`edgedet.export.console`); None leaves it on the terminal.
        use_cache: reuse a converted file of the same weights, pair, size, classes, calibration and edgedet code
            from :mod:`edgedet.export.cache` (``EDGEDET_EXPORT_CACHE=0`` turns it off everywhere).
        on_pair_done: called with each pair's result and its seconds as soon as the pair is written and checked.
        exporters: replaces entries of :data:`FORMAT_EXPORTERS` for this call (QAT writes its own trained graph
            as TFLite int8: :mod:`edgedet.export.qat`); the cache is then not used (its key does not know the
            exporter).

    Returns:
        One :class:`ExportResult` per pair, in ``formats`` x ``precisions`` order.
    """
    pairs = check_pairs(formats, precisions, model)
    if len(class_names) != model.num_classes:
        raise ValueError(f"{len(class_names)} class_names for a model with num_classes = {model.num_classes}")
    if imgsz % 32 != 0:
        raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
    model = model.eval().cpu()
    if hasattr(model, "imgsz"):
        model.imgsz = imgsz  # decode specs (anchor grids, proposal counts) describe the exported input size
    graph = model.export_graph().eval()
    calib, calib_summary = None, None
    if any(p == "int8" for _, p in pairs):
        calib, calib_summary = _calibration(calib_images, calib_n, calib_method, imgsz)
    if parity_images is None:
        parity_images = load_images_bgr(calib_images, 4) if calib_images else synthetic_images_bgr(4, imgsz)
    example = preprocess_bgr(load_images_bgr(parity_images, 1)[0], imgsz)[0]
    shapes = _trace_outputs(graph, example)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_sha = export_cache.model_digest(model) if use_cache and not exporters and export_cache.enabled() else None
    src_sha = file_sha256(source_ckpt) if source_ckpt else None
    results, cache = [], {}
    table = {**FORMAT_EXPORTERS, **(exporters or {})}
    with tempfile.TemporaryDirectory(prefix="edgedet_export_") as work:
        for fmt, prec in pairs:
            pair_dir = out_dir / f"{fmt.replace('-', '_')}_{prec}"
            pair_dir.mkdir(parents=True, exist_ok=True)
            ctx = ExportContext(
                model=model, graph=graph, fmt=fmt, precision=prec, imgsz=imgsz, out_dir=pair_dir,
                work_dir=Path(work), input_name=INPUT_NAME, output_names=_output_names(model, len(shapes)),
                output_shapes=shapes, example_input=example, calib=calib, calib_summary=calib_summary,
                threads=threads, model_name=model_name, class_names=list(class_names),
                source_ckpt=Path(source_ckpt) if source_ckpt else None, _onnx_cache=cache,
            )
            t0 = time.perf_counter()
            key = export_cache.entry_key(
                model_sha=model_sha, fmt=fmt, precision=prec, imgsz=imgsz, class_names=list(class_names),
                model_name=model_name, source_ckpt_sha=src_sha, calib=calib if prec == "int8" else None,
            ) if model_sha else None
            with converter_output_to(log_file):
                meta = export_cache.restore(key, pair_dir) if key else None
                if meta is None:
                    artifact = table[fmt](ctx)
                    write_metadata(pair_dir, artifact.metadata)
                    if key:
                        export_cache.store(key, pair_dir)
                else:
                    artifact = ExportArtifact(meta["model_file"], meta)
                parity = check_parity(model, pair_dir, parity_images, threads=threads)
            results.append(ExportResult(fmt, prec, pair_dir, pair_dir / artifact.model_file, artifact.metadata,
                                        parity, cached=meta is not None))
            if on_pair_done is not None:
                on_pair_done(results[-1], time.perf_counter() - t0)
    return results
