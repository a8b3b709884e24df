"""ONNX Runtime backend (CPU): ``OnnxRuntimeBackend(model_path, meta, threads).run(x_nchw)``.

Reads the metadata embedded in the file's ``metadata_props`` (key ``"edgedet"``) when no ``edgedet.json`` was
given, and checks that an ``edgedet.json`` agrees with the file (classes, outputs, decode) when both exist.

A graph that ends in NMS (``"detections_in_model"``, an imported PaddleDetection model) also takes ``im_shape`` and
``scale_factor`` inputs: they are fed ``[S, S]`` and ``[1, 1]`` (boxes in model-input pixels, see
:mod:`edgedet.runtime.decode`), and such a graph runs one image per call (paddle2onnx converts
``multiclass_nms3`` for batch 1 only), its outputs concatenated over the batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgedet.deploy.decode_spec import DetectionsInModelSpec, as_decode_spec
from edgedet.deploy.optional import require
from edgedet.deploy.schema import ONNX_METADATA_KEY, metadata_from_json_string
from edgedet.runtime.validate import check_model_io

_CHECKED_KEYS = ("class_names", "num_classes", "outputs", "decode", "input")
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
               "tensor(uint8)": "uint8", "tensor(int64)": "int64", "tensor(int32)": "int32"}


class OnnxRuntimeBackend:
    """One ``onnxruntime.InferenceSession`` on the CPU execution provider."""

    def __init__(self, model_path: Path, meta: dict[str, Any] | None, threads: int | None = None):
        ort = require("onnxruntime", "runtime")
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ValueError(f"{model_path}: onnxruntime cannot load this file ({type(e).__name__}: {e}); "
                             f"it may be truncated or not an ONNX model: re-export it") from e
        embedded = self.session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
        if meta is None:
            if embedded is None:
                raise FileNotFoundError(f"{model_path} has no edgedet.json beside it and no embedded edgedet "
                                        f"metadata: copy edgedet.json from its export directory")
            meta = metadata_from_json_string(embedded, source=f"{model_path} metadata_props")
        elif embedded is not None:
            _check_same(meta, metadata_from_json_string(embedded, source=f"{model_path} metadata_props"), model_path)
        self.meta = meta
        self._check_io(model_path)
        self.side_feeds = side_feeds(as_decode_spec(meta["decode"]), meta["input"]["size"], self.session)
        self.input_name = next(i.name for i in self.session.get_inputs() if i.name not in self.side_feeds)
        self.output_names = [o["name"] for o in meta["outputs"]]
        check_model_io(self.io_signature(), self.meta, model_path)

    def io_signature(self) -> dict[str, Any]:
        """The file's inputs and outputs (name, shape with None for symbolic dims, dtype) and the precision its
        embedded metadata records (None when it has none), for :func:`edgedet.runtime.validate.check_model_io`."""
        def describe(t: Any) -> dict[str, Any]:
            return {"name": t.name, "shape": [d if isinstance(d, int) else None for d in t.shape],
                    "dtype": _ORT_DTYPES.get(t.type, t.type)}

        embedded = self.session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
        precision = json.loads(embedded).get("precision") if embedded else None
        return {"inputs": [describe(t) for t in self.session.get_inputs()],
                "outputs": [describe(t) for t in self.session.get_outputs()], "precision": precision}

    def _check_io(self, model_path: Path) -> None:
        file_outputs = {o.name: o.shape for o in self.session.get_outputs()}
        for o in self.meta["outputs"]:
            if o["name"] not in file_outputs:
                raise ValueError(f"{model_path}: edgedet.json output '{o['name']}' is not in the file "
                                 f"(file outputs: {sorted(file_outputs)}); re-export the model")
            shape = file_outputs[o["name"]]
            if all(isinstance(d, int) for d in shape) and list(shape)[1:] != list(o["shape"])[1:]:
                raise ValueError(f"{model_path}: output '{o['name']}' has shape {shape} in the file but "
                                 f"{o['shape']} in edgedet.json (different class count or input size?); "
                                 f"re-export the model")

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """float32 ``[B, 3, S, S]`` -> outputs in ``meta["outputs"]`` order (float32)."""
        x = np.ascontiguousarray(x, np.float32)
        if not self.side_feeds:
            return [np.asarray(o, np.float32) for o in self.session.run(self.output_names, {self.input_name: x})]
        per_image = [self.session.run(self.output_names, {self.input_name: x[i : i + 1], **self.side_feeds})
                     for i in range(len(x))]
        return [np.concatenate([np.asarray(outs[k], np.float32).reshape(-1, *np.shape(outs[k])[1:])
                                for outs in per_image]) for k in range(len(self.output_names))]


def side_feeds(spec: Any, size: int, session: Any) -> dict[str, np.ndarray]:
    """The constant ``[1, 2]`` inputs of a graph that ends in NMS: ``im_shape = [S, S]``, ``scale_factor = [1, 1]``
    (in the dtype the file declares); empty for every other decode."""
    if not isinstance(spec, DetectionsInModelSpec):
        return {}
    dtypes = {i.name: np.dtype(_ORT_DTYPES.get(i.type, "float32")) for i in session.get_inputs()}
    values = {spec.im_shape_input: [[size, size]], spec.scale_factor_input: [[1.0, 1.0]]}
    return {name: np.asarray(v, dtypes.get(name, np.float32)) for name, v in values.items() if name}


def _check_same(meta: dict, embedded: dict, model_path: Path) -> None:
    for key in _CHECKED_KEYS:
        if meta[key] != embedded[key]:
            raise ValueError(f"{model_path}: edgedet.json and the metadata embedded in the file disagree on "
                             f"'{key}' ({meta[key]!r} vs {embedded[key]!r}): the json belongs to another "
                             f"export; copy the matching edgedet.json or re-export")
