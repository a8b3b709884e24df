"""ONNX files from PyTorch: trace a graph to a static-shape, simplified ONNX file; embed ``edgedet.json`` in it.

Shared by the ``"onnx"`` exporter (:mod:`edgedet.export.onnx_export`) and :meth:`ExportContext.onnx_fp32`, which
the ONNX-based converters (Paddle, Paddle-Lite) start from.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedet.deploy.schema import ONNX_METADATA_KEY
from edgedet.models.layers import fold_deconv_bn


def require_onnx() -> tuple[Any, Any]:
    """``(onnx, onnxslim)`` modules, or ``ImportError`` naming the pip extra."""
    try:
        import onnx
        import onnxslim
    except ImportError as e:
        raise ImportError("ONNX export needs onnx and onnxslim: pip install 'edgedet[export]'") from e
    return onnx, onnxslim


def export_onnx_file(
    graph: nn.Module,
    example_input: np.ndarray,
    path: Path,
    *,
    input_name: str = "images",
    output_names: list[str],
    opset: int = 17,
    simplify: bool = True,
) -> Path:
    """Trace ``graph`` on ``example_input`` (float32 ``[1, 3, S, S]``) to a static-shape ONNX file.

    Every node gets a unique name (quantization excludes nodes by name). BatchNorms after transposed convolutions
    are folded first (:func:`~edgedet.models.layers.fold_deconv_bn`, on a copy): torch's exporter folds BN only
    into a ``Conv``, and the int8 file would keep them float.
    """
    onnx, onnxslim = require_onnx()
    path = Path(path)
    graph = fold_deconv_bn(copy.deepcopy(graph).eval())
    with torch.no_grad(), warnings.catch_warnings():
        # tracing freezes shapes into constants: that is the static-shape export we want
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # dynamo=False is deliberate (DESIGN)
        torch.onnx.export(
            graph, (torch.from_numpy(np.ascontiguousarray(example_input, np.float32)),), str(path),
            dynamo=False, opset_version=opset, input_names=[input_name], output_names=list(output_names),
            do_constant_folding=True,
        )
    model = onnx.load(str(path))
    if simplify:
        model = onnxslim.slim(model)
    _name_nodes(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _name_nodes(model: Any) -> None:
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def embed_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` as JSON into the ONNX file's ``metadata_props`` (key ``"edgedet"``), replacing any old one."""
    onnx, _ = require_onnx()
    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps(meta))
    onnx.save(model, str(path))
