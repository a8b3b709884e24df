"""``edgedet import-paddle``: its arguments and what it runs (``edgedet.cli`` registers and dispatches here).

Kept apart from :mod:`edgedet.export.paddle_import` so that building the CLI parser imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_import_paddle_parser(sub: Any) -> None:
    """``edgedet import-paddle MODEL_DIR [--out EXPORT_DIR]``."""
    p = sub.add_parser("import-paddle", help="import a PaddleDetection inference model (through paddle2onnx)",
                       description="A PaddleDetection inference model (model.pdmodel + model.pdiparams + "
                                   "infer_cfg.yml, as tools/export_model.py writes it) -> model.onnx + edgedet.json, "
                                   "which edgedet eval / bench / demo / predict take like an export of their own. "
                                   "The graph must end in NMS; its preprocessing is read from infer_cfg.yml.")
    p.add_argument("model_dir", help="the folder holding model.pdmodel, model.pdiparams and infer_cfg.yml")
    p.add_argument("--out", metavar="EXPORT_DIR", help="export directory to write (default: MODEL_DIR/edgedet_onnx)")


def run_import_paddle(args: argparse.Namespace) -> int:
    """Import, then print where the export is, its parity with Paddle Inference and the next command."""
    from edgedet.export.paddle_import import import_paddle

    out = import_paddle(args.model_dir, args.out)
    parity = json.loads((out / "parity.json").read_text())
    print(f"imported {args.model_dir} -> {out} (ONNX, NMS in the graph; ONNX vs Paddle Inference max diff "
          f"{parity['max_abs_diff']:.2g} on {parity['rows_paddle']} rows)")
    print(f"next: edgedet predict photos/ --model {out}   |   edgedet bench {out} --target host")
    return 0
