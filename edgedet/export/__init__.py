"""Export a trained :class:`~edgedet.models.base.Detector` to deployable files.

Entry point: :func:`edgedet.export.api.export` (also ``edgedet.export.export``) writes one directory per
format x precision (``out/onnx_fp32/``, ``out/onnx_int8/``, ``out/tflite_fp16/`` ...) holding the model file(s),
``edgedet.json`` (:mod:`edgedet.deploy.schema`) and ``parity.json`` (:mod:`edgedet.export.parity`).

Exporter contract (table ``FORMAT_EXPORTERS`` in :mod:`edgedet.export.api`)::

    def export_<fmt>(ctx: ExportContext) -> ExportArtifact

``ExportContext`` gives the model, the graph to trace, the precision, the pair's output directory, a shared
scratch directory, calibration data and ``ctx.make_metadata(model_file, layout, extra)``; the exporter writes
its file(s) into ``ctx.out_dir`` and returns ``ExportArtifact(model_file, metadata)``; the API then writes
``edgedet.json`` and runs the parity check through :mod:`edgedet.runtime`. Formats that go through ONNX call
``ctx.onnx_fp32()`` for a cached, simplified fp32 ONNX file.

This package's ``__init__`` imports nothing heavy: :mod:`edgedet.runtime` imports
:mod:`edgedet.deploy.schema` without torch.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("export", "ExportResult", "ExportContext", "ExportArtifact", "FORMAT_EXPORTERS"):
        from edgedet.export import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgedet.export' has no attribute {name!r}")
