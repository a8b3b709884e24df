"""Paddle inference model -> Paddle-Lite ``.nb`` (naive buffer) for ARM, plus an x86 twin for host parity.

``paddle_lite_opt`` comes from the ``paddlelite`` 2.13rc0 wheel in the cached Python 3.10 toolchain
(:mod:`edgedet.deploy.toolchain`); the Paddle model comes from :mod:`edgedet.export.paddle` (x2paddle).

* ``model.nb``: ``--valid_targets=arm``, the file to ship to a phone or ARM board (the ``model_file``).
* ``model_x86.nb``: ``--valid_targets=x86`` for running on this host through ``MobileConfig``. Paddle-Lite's x86
  target has no ``depthwise_conv2d_transpose`` kernel, so the x86 twin is made from a copy of the program in which
  such ops are renamed ``conv2d_transpose`` (same inputs and attributes, ``groups`` = channels; the generic kernel
  handles groups). PAFNet-lite's neck no longer holds any: it computes its depthwise transposed convolutions as
  depthwise phase convolutions (:class:`edgedet.models.layers.DepthwiseDeconv2x`), so the ARM and x86 files run
  the same op types; ``extra.x86_op_renames.count`` records how many ops were renamed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from edgedet.deploy.toolchain import TOOLCHAIN_PACKAGES, ToolchainError, toolchain_bin
from edgedet.export.context import ExportArtifact, ExportContext
from edgedet.export.paddle import MODEL_FILE as PD_MODEL
from edgedet.export.paddle import OPSET, convert_onnx_to_paddle
from edgedet.export.paddle import PARAMS_FILE as PD_PARAMS

ARM_FILE = "model.nb"
X86_FILE = "model_x86.nb"
X86_RENAMES = {"depthwise_conv2d_transpose": "conv2d_transpose"}


def lite_opt(model_file: Path, params_file: Path, out_nb: Path, target: str, timeout: float = 600) -> Path:
    """``paddle_lite_opt`` -> ``out_nb`` (``.nb`` suffix) for ``target`` (``arm`` / ``x86``)."""
    if out_nb.suffix != ".nb":
        raise ValueError(f"Paddle-Lite output must end in .nb, got {out_nb}")
    out_nb.unlink(missing_ok=True)
    cmd = [str(toolchain_bin("paddle_lite_opt")), f"--model_file={model_file}", f"--param_file={params_file}",
           "--optimize_out_type=naive_buffer", f"--optimize_out={out_nb.with_suffix('')}",
           f"--valid_targets={target}"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    log = (out.stdout + out.stderr)[-3000:]
    if out.returncode != 0 or not out_nb.is_file():
        raise ToolchainError(f"paddle_lite_opt --valid_targets={target} failed (exit {out.returncode}):\n{log}")
    return out_nb


def rename_ops(model_file: Path, out_file: Path, renames: dict[str, str]) -> int:
    """Copy a ``.pdmodel`` with op types renamed; returns how many ops changed (needs paddlepaddle)."""
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc()
    program.ParseFromString(Path(model_file).read_bytes())
    changed = 0
    for block in program.blocks:
        for op in block.ops:
            if op.type in renames:
                op.type = renames[op.type]
                changed += 1
    out_file.write_bytes(program.SerializeToString())
    return changed


def paddle_to_lite(paddle_dir: Path, out_dir: Path, work_dir: Path) -> dict[str, Any]:
    """``paddle_dir/model.pdmodel`` -> ``out_dir/model.nb`` (ARM) and ``out_dir/model_x86.nb``; returns notes."""
    model, params = paddle_dir / PD_MODEL, paddle_dir / PD_PARAMS
    lite_opt(model, params, out_dir / ARM_FILE, "arm")
    x86_dir = work_dir / "paddle_x86"
    x86_dir.mkdir(parents=True, exist_ok=True)
    renamed = rename_ops(model, x86_dir / PD_MODEL, X86_RENAMES)
    shutil.copyfile(params, x86_dir / PD_PARAMS)
    lite_opt(x86_dir / PD_MODEL, x86_dir / PD_PARAMS, out_dir / X86_FILE, "x86")
    return {"x86_model_file": X86_FILE, "x86_op_renames": {**X86_RENAMES, "count": renamed},
            "valid_targets": "arm", "toolchain": list(TOOLCHAIN_PACKAGES)}


def export_paddle_lite(ctx: ExportContext) -> ExportArtifact:
    """The ``"paddle-lite"`` entry of ``FORMAT_EXPORTERS`` (fp32): ONNX -> Paddle -> ``.nb``."""
    if ctx.precision != "fp32":
        raise ValueError(f"paddle-lite export supports fp32 only, got '{ctx.precision}'")
    paddle_dir = ctx.work_dir / "paddle_for_lite"
    extra = convert_onnx_to_paddle(ctx.onnx_fp32(opset=OPSET), paddle_dir, ctx.work_dir)
    extra.update(paddle_to_lite(paddle_dir, ctx.out_dir, ctx.work_dir))
    extra.update({"opset": OPSET, "converter": "x2paddle 1.6 (+ edgedet onnx_fixes) -> paddle_lite_opt 2.13rc0"})
    return ExportArtifact(ARM_FILE, ctx.make_metadata(ARM_FILE, layout="NCHW", extra=extra))
