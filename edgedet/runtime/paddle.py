"""Paddle Inference backend (CPU, oneDNN): ``PaddleInferenceBackend(model_path, meta, threads).run(x_nchw)``.

Runs a ``model.pdmodel`` + ``model.pdiparams`` pair (paddlepaddle 2.6.x, legacy program format) with
``paddle.inference``: oneDNN on (about 3x faster than the plain CPU kernels here) minus its
``elementwise_act_onednn_fuse_pass`` (which turns the decode's scores into 1.0 in paddle 2.6.2), glog quiet,
``threads`` CPU math threads. Outputs are fetched by the names recorded at export (``extra.paddle_output_names``), so they come
back in ``edgedet.json`` order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedet.deploy.optional import require
from edgedet.runtime.validate import check_model_io


def make_predictor(model_file: str | Path, threads: int | None = None, onednn: bool = True) -> Any:
    """A ``paddle.inference`` predictor for ``model_file`` (its ``.pdiparams`` beside it)."""
    inference = require("paddle.inference", "export")
    model_file = Path(model_file)
    params = model_file.with_suffix(".pdiparams")
    if not params.is_file():
        raise FileNotFoundError(f"{params} is missing: a Paddle inference model is {model_file.name} + {params.name}")
    config = inference.Config(str(model_file), str(params))
    config.disable_gpu()
    if onednn:
        config.enable_mkldnn()
        # Paddle 2.6.2's oneDNN elementwise+activation fusion breaks the decode's peak test (scores all 1.0).
        config.delete_pass("elementwise_act_onednn_fuse_pass")
        # ... and its reshape+transpose+matmul fusion is off by ~1e-3 on the non-local block of Libra's BFP.
        config.delete_pass("reshape_transpose_matmul_mkldnn_fuse_pass")
    else:
        config.disable_mkldnn()
    config.set_cpu_math_library_num_threads(threads or 1)
    config.disable_glog_info()
    config.switch_ir_optim(True)
    return inference.create_predictor(config)


class PaddleInferenceBackend:
    """One ``paddle.inference`` predictor; batch 1 per call (static-shape export), looped over the batch."""

    def __init__(self, model_path: Path, meta: dict[str, Any], threads: int | None = None):
        self.meta, self.model_path = meta, Path(model_path)
        self.predictor = make_predictor(model_path, threads)
        names = list(self.predictor.get_output_names())
        wanted = meta.get("extra", {}).get("paddle_output_names") or names
        if sorted(wanted) != sorted(names) or len(wanted) != len(meta["outputs"]):
            raise ValueError(f"{model_path}: outputs {names} do not match edgedet.json "
                             f"({wanted}, {len(meta['outputs'])} outputs); re-export the model")
        self.output_names = wanted
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        check_model_io(self.io_signature(), meta, model_path)

    def io_signature(self) -> dict[str, Any]:
        """The program's declared input and output shapes (-1 = any) and dtypes, read from the ``.pdmodel``'s
        ProgramDesc (the predictor's handles know shapes only after a run); outputs under their edgedet.json
        names. Paddle Inference exposes no tensor precision here."""
        names = self.predictor.get_input_names()
        declared = _declared_vars(self.model_path, [*names, *self.output_names])
        def describe(name: str, file_name: str) -> dict[str, Any]:
            shape, dtype = declared.get(file_name, (None, None))
            return {"name": name, "shape": shape, "dtype": dtype}

        inputs = [describe(n, n) for n in names]
        outputs = [describe(o["name"], n) for o, n in zip(self.meta["outputs"], self.output_names)]
        return {"inputs": inputs, "outputs": outputs, "precision": None}

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """float32 ``[B, 3, S, S]`` -> outputs in ``meta["outputs"]`` order (float32)."""
        per_image = []
        for image in np.asarray(x, np.float32):
            self.input.copy_from_cpu(np.ascontiguousarray(image[None]))
            self.predictor.run()
            per_image.append([self.predictor.get_output_handle(n).copy_to_cpu() for n in self.output_names])
        return [np.concatenate([o[i] for o in per_image]).astype(np.float32) for i in range(len(self.output_names))]


def _declared_vars(model_file: Path, names: list[str]) -> dict[str, tuple[list[int], str]]:
    """``{name: (shape, dtype)}`` of variables ``names`` as declared in a legacy ``.pdmodel``; empty when this
    paddle cannot parse it (then nothing is compared)."""
    try:
        from paddle.base import core

        program = core.ProgramDesc(Path(model_file).read_bytes())  # keep it alive: its block borrows from it
        block = program.block(0)
        found = {n: block.find_var(n.encode()) for n in names}
        return {n: ([int(d) for d in v.shape()], str(v.dtype()).split(".")[-1].lower())
                for n, v in found.items() if v is not None}
    except Exception:  # noqa: BLE001  (another ProgramDesc API: skip the comparison, never fail the load)
        return {}
