"""LiteRT (TFLite) backend: ``LiteRTBackend(model_path, meta, threads).run(x_nchw)``.

Uses ``ai_edge_litert`` (XNNPACK on by default) and falls back to ``tflite_runtime`` when only that is installed
(2.14 gets no XNNPACK on these files and runs 2-5x slower). tflite-runtime 2.14.0, its last release, has wheels for
CPython 3.9-3.11 built against numpy 1.x: it imports beside numpy 2 but fails on the first interpreter, which is
reported as an ``ImportError`` saying so (tests/runtime/test_tflite_runtime.py runs the fallback for real in a
cached venv with numpy < 2). Runs the ``serving_default`` signature; outputs are
read by name in ``edgedet.json`` order. The file's input is NHWC (``meta["input"]["layout"]``): the backend
transposes. An int8 input (full-integer export) is quantized here with the file's scale / zero point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedet.runtime.validate import check_model_io, tensor_precision

SIGNATURE = "serving_default"


def interpreter_class() -> tuple[type, str]:
    """``(Interpreter, package)``: ai_edge_litert's, else tflite_runtime's."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError as e:
        raise ImportError("running .tflite files needs ai-edge-litert (or tflite-runtime): "
                          "pip install 'edgedet[runtime]'") from e


def quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """float32 -> the input tensor's dtype with its (scale, zero point); float inputs pass through."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.ascontiguousarray(x, np.float32)
    scale, zero = detail["quantization"]
    if scale == 0:
        raise ValueError(f"integer input '{detail['name']}' has no quantization parameters")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


class LiteRTBackend:
    """One LiteRT interpreter; batch 1 per invoke (static-shape export), looped over the batch."""

    def __init__(self, model_path: Path, meta: dict[str, Any], threads: int | None = None):
        interpreter, self.package = interpreter_class()
        self.meta = meta
        try:
            self.interpreter = interpreter(model_path=str(model_path), num_threads=threads)
        except ValueError as e:
            raise ValueError(f"{model_path}: LiteRT cannot load this file ({e}); re-export it") from e
        except (SystemError, ImportError) as e:  # a numpy-1.x-built extension under numpy 2 ("_ARRAY_API not found")
            if self.package != "tflite-runtime":
                raise
            raise ImportError(f"tflite-runtime is built against numpy 1.x and cannot run beside numpy {np.__version__}: "
                              f"install ai-edge-litert (pip install 'edgedet[runtime]'), or numpy<2 in this "
                              f"environment") from e
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise ValueError(f"{model_path} has no '{SIGNATURE}' signature (has {sorted(signatures)}); re-export")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.input_name = signatures[SIGNATURE]["inputs"][0]
        self.input_detail = self.runner.get_input_details()[self.input_name]
        self.output_names = [o["name"] for o in meta["outputs"]]
        missing = set(self.output_names) - set(signatures[SIGNATURE]["outputs"])
        if missing:
            raise ValueError(f"{model_path}: outputs {sorted(missing)} of edgedet.json are not in the file "
                             f"(file: {signatures[SIGNATURE]['outputs']}); re-export the model")
        self.nhwc = meta["input"]["layout"] == "NHWC"
        check_model_io(self.io_signature(), meta, model_path)

    def io_signature(self) -> dict[str, Any]:
        """The signature's input and outputs (name, shape, dtype) and the precision its tensors show (int8: any
        quantized integer tensor; fp16: any float16 tensor), for :func:`edgedet.runtime.validate.check_model_io`."""
        def describe(name: str, d: dict[str, Any]) -> dict[str, Any]:
            return {"name": name, "shape": [int(v) for v in d["shape"]], "dtype": np.dtype(d["dtype"]).name}

        tensors = self.interpreter.get_tensor_details()
        quantized = any(np.dtype(t["dtype"]) in (np.int8, np.uint8, np.int16)
                        and len(t.get("quantization_parameters", {}).get("scales", ())) > 0 for t in tensors)
        dtypes = [np.dtype(t["dtype"]).name for t in tensors]
        return {"inputs": [describe(self.input_name, self.input_detail)],
                "outputs": [describe(n, d) for n, d in self.runner.get_output_details().items()],
                "precision": tensor_precision(dtypes, quantized)}

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """float32 ``[B, 3, S, S]`` -> outputs in ``meta["outputs"]`` order (float32)."""
        x = np.asarray(x, np.float32)
        if self.nhwc:
            x = x.transpose(0, 2, 3, 1)
        per_image = []
        for image in x:
            out = self.runner(**{self.input_name: quantize_input(image[None], self.input_detail)})
            per_image.append([out[n] for n in self.output_names])
        return [np.concatenate([o[i] for o in per_image]).astype(np.float32) for i in range(len(self.output_names))]
