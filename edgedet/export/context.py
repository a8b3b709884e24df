"""The types an exporter works with: :class:`ExportContext` in, :class:`ExportArtifact` out.

Their own module so that every exporter (``edgedet.export.onnx_export``, ``.tflite``, ``.paddle``,
``.paddle_lite``) imports them and :mod:`edgedet.export.api` imports the exporters, with no import circle.
The exporter contract is in :mod:`edgedet.export.api`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edgedet.deploy.schema import build_metadata
from edgedet.export.onnx_file import export_onnx_file
from edgedet.models.base import Detector


@dataclass
class ExportArtifact:
    """What an exporter produced: ``model_file`` relative to ``ctx.out_dir`` and the full ``edgedet.json`` dict."""

    model_file: str
    metadata: dict[str, Any]


@dataclass
class ExportContext:
    """Everything an exporter needs (the contract is in :mod:`edgedet.export.api`).

    ``graph`` is ``model.export_graph()``; ``example_input`` float32 ``[1, 3, S, S]`` NCHW (preprocessed);
    ``calib`` float32 ``[n, 3, S, S]`` (int8 only); ``output_names`` / ``output_shapes`` in export-graph order.
    """

    model: Detector
    graph: nn.Module
    fmt: str
    precision: str
    imgsz: int
    out_dir: Path
    work_dir: Path
    input_name: str
    output_names: list[str]
    output_shapes: list[list[int]]
    example_input: np.ndarray  # float32 [1, 3, S, S]
    calib: np.ndarray | None
    calib_summary: dict[str, Any] | None
    threads: int
    model_name: str
    class_names: list[str]
    source_ckpt: Path | None
    _onnx_cache: dict[str, Path] = field(default_factory=dict)

    def onnx_fp32(self, opset: int = 17) -> Path:
        """Simplified fp32 ONNX of ``graph`` with static shapes, exported once per ``export()`` call and opset."""
        key = f"opset{opset}"
        if key not in self._onnx_cache:
            path = self.work_dir / f"model_fp32_{key}.onnx"
            export_onnx_file(self.graph, self.example_input, path, input_name=self.input_name,
                             output_names=self.output_names, opset=opset)
            self._onnx_cache[key] = path
        return self._onnx_cache[key]

    def make_metadata(self, model_file: str, layout: str = "NCHW", extra: dict[str, Any] | None = None) -> dict:
        """The ``edgedet.json`` dict for this format x precision."""
        outputs = [{"name": n, "shape": s, "dtype": "float32"} for n, s in zip(self.output_names, self.output_shapes)]
        return build_metadata(
            model_name=self.model_name, class_names=self.class_names, imgsz=self.imgsz, fmt=self.fmt,
            precision=self.precision, model_file=model_file, outputs=outputs, decode=self.model.decode_spec(),
            layout=layout, input_name=self.input_name,
            calibration=self.calib_summary if self.precision == "int8" else None,
            source_ckpt=self.source_ckpt, extra=extra,
        )
