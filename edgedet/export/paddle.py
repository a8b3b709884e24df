"""PyTorch -> ONNX (opset 13) -> graph fixes -> x2paddle 1.6 -> Paddle inference model (``.pdmodel``/``.pdiparams``).

x2paddle 1.6 supports ONNX opsets 7-15 (no ``HardSwish``, hence opset 13, where it is ``HardSigmoid * x``), and
converts some graphs silently wrong; :mod:`edgedet.export.onnx_fixes` makes the graph safe first. Two more
incompatibilities of x2paddle 1.6 with current onnx are bridged here: it imports ``onnx.mapping`` (removed in
onnx 1.17; a small stand-in module is registered) and its ``onnx2paddle()`` entry point checks
``onnx.version.version`` (gone) and posts a conversion report over the network, so its decoder / op mapper /
optimizer are called directly. The conversion runs in a child process of this Python: x2paddle switches
Paddle's global mode and prints a lot.

paddlepaddle 2.6.2 writes the legacy ``.pdmodel`` program (3.x writes PIR json, which Paddle-Lite's opt cannot
read and whose oneDNN path fails on interpolate). Precision: fp32 only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

from edgedet.export.context import ExportArtifact, ExportContext
from edgedet.export.onnx_fixes import fix_onnx_for_x2paddle

OPSET = 13
MODEL_FILE = "model.pdmodel"
PARAMS_FILE = "model.pdiparams"


def _require_x2paddle() -> None:
    try:
        import onnx  # noqa: F401
        import paddle  # noqa: F401
        import x2paddle  # noqa: F401
    except ImportError as e:
        raise ImportError("the Paddle export needs paddlepaddle 2.6.2, x2paddle 1.6 and onnx: "
                          "pip install 'edgedet[export]'") from e


def _install_onnx_mapping_shim() -> None:
    """x2paddle imports ``onnx.mapping.TENSOR_TYPE_TO_NP_TYPE`` (removed from onnx); provide it."""
    try:
        import onnx.mapping  # noqa: F401
        return
    except ImportError:
        pass
    from onnx import TensorProto, helper

    shim = types.ModuleType("onnx.mapping")
    table = {}
    for value in TensorProto.DataType.values():
        try:
            table[value] = helper.tensor_dtype_to_np_dtype(value)
        except (KeyError, ValueError, TypeError):
            continue
    shim.TENSOR_TYPE_TO_NP_TYPE = table
    sys.modules["onnx.mapping"] = shim


def x2paddle_convert(onnx_path: str | Path, save_dir: str | Path) -> Path:
    """ONNX file -> ``save_dir/inference_model/model.pdmodel`` (+ ``.pdiparams``), in this process.

    Returns:
        The ``inference_model`` directory.
    """
    _require_x2paddle()
    _install_onnx_mapping_shim()
    from x2paddle.decoder.onnx_decoder import ONNXDecoder
    from x2paddle.op_mapper.onnx2paddle.onnx_op_mapper import ONNXOpMapper
    from x2paddle.optimizer.optimizer import GraphOptimizer

    mapper = ONNXOpMapper(ONNXDecoder(str(onnx_path), True, None))
    mapper.paddle_graph.build()
    GraphOptimizer(source_frame="onnx").optimize(mapper.paddle_graph)
    mapper.paddle_graph.gen_model(str(save_dir))
    out = Path(save_dir) / "inference_model"
    if not (out / MODEL_FILE).is_file():
        raise RuntimeError(f"x2paddle wrote no {MODEL_FILE} under {out}")
    return out


def _convert_in_child(onnx_path: Path, save_dir: Path, timeout: float = 900) -> Path:
    cmd = [sys.executable, "-m", "edgedet.export.paddle", str(onnx_path), str(save_dir)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"x2paddle conversion of {onnx_path} failed (exit {out.returncode}):\n"
                           f"{(out.stdout + out.stderr)[-4000:]}")
    return save_dir / "inference_model"


def convert_onnx_to_paddle(onnx_path: Path, out_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Fix ``onnx_path`` for x2paddle, convert, and copy ``model.pdmodel``/``model.pdiparams`` into ``out_dir``.

    Returns:
        Notes for ``edgedet.json["extra"]``: the fixes applied and Paddle's output variable names.
    """
    _require_x2paddle()
    import onnx

    fixed, counts = fix_onnx_for_x2paddle(onnx.load(str(onnx_path)))
    fixed_path = work_dir / f"{Path(onnx_path).stem}_x2paddle.onnx"
    onnx.save(fixed, str(fixed_path))
    save_dir = work_dir / f"{fixed_path.stem}_paddle"
    shutil.rmtree(save_dir, ignore_errors=True)
    inference = _convert_in_child(fixed_path, save_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, PARAMS_FILE):
        shutil.copyfile(inference / name, out_dir / name)
    return {"onnx_fixes": counts, "paddle_output_names": paddle_output_names(out_dir / MODEL_FILE),
            "onnx_outputs": [o.name for o in fixed.graph.output]}


def paddle_output_names(model_file: Path) -> list[str]:
    """Fetch-variable names of a ``.pdmodel`` in output order (x2paddle keeps the ONNX output order)."""
    from edgedet.runtime.paddle import make_predictor

    return list(make_predictor(model_file, threads=1).get_output_names())


def export_paddle(ctx: ExportContext) -> ExportArtifact:
    """The ``"paddle"`` entry of ``FORMAT_EXPORTERS`` (fp32)."""
    if ctx.precision != "fp32":
        raise ValueError(f"paddle export supports fp32 only, got '{ctx.precision}'")
    extra = convert_onnx_to_paddle(ctx.onnx_fp32(opset=OPSET), ctx.out_dir, ctx.work_dir)
    extra.update({"params_file": PARAMS_FILE, "opset": OPSET, "converter": "x2paddle 1.6 (+ edgedet onnx_fixes)"})
    return ExportArtifact(MODEL_FILE, ctx.make_metadata(MODEL_FILE, layout="NCHW", extra=extra))


def _main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m edgedet.export.paddle MODEL.onnx SAVE_DIR", file=sys.stderr)
        return 2
    out = x2paddle_convert(argv[0], argv[1])
    print(json.dumps({"inference_model": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
