"""``edgedet quantize``: its arguments and what it runs (``edgedet.cli`` registers and dispatches here).

Kept apart from :mod:`edgedet.export.quantize` so that building the CLI parser imports nothing heavy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = """\
A trained PAFNet-lite checkpoint -> int8 TFLite and ONNX (QDQ) exports, with the same edgedet.json, parity.json
and float tail (final heatmap/box 1x1 convs, sigmoid, box scaling, decode) as `edgedet export --precision int8`.

--qat  quantization-aware training: the model is traced (torch.export), fake-quantized with the PTQ TFLite
       export's quantizer (per-channel int8 weights, per-tensor int8 activations; torchao prepare_qat_pt2e) and
       fine-tuned on the checkpoint's training split with its own loss, at a tenth of its learning rate (cosine
       to 0). BN statistics stop moving after --freeze-bn-after iterations, quantization ranges after
       --freeze-observers-after, so the last iterations train against the scales that get exported.
       TFLite int8 carries the learned scales (convert_pt2e -> litert-torch). ONNX QDQ takes the fine-tuned
       float weights through the PTQ path (activation ranges calibrated again on --calib-n training images):
       the QAT graph's tensors have no reliable counterpart in the ONNX graph, and onnxruntime's 7-bit
       (reduce_range) weight grid on CPUs without VNNI is not the one QAT trained for.
without --qat: post-training quantization, exactly `edgedet export CKPT --format onnx,tflite --precision int8`.

Each export's edgedet.json lists the ops left in float (extra.float_ops); OUT/quantize.json sums up the run.
Compare the results with `edgedet eval OUT/tflite_int8 --data DATA` against the checkpoint's own AP."""

EPILOG = "without --qat (PTQ, the baseline to compare with): edgedet quantize best.pt --out runs/quantize/ptq"


def add_quantize_parser(sub: Any) -> None:
    """``edgedet quantize CKPT [--qat] [--epochs N] [--data DATA] [--set KEY=VALUE] ...``."""
    p = sub.add_parser("quantize", help="int8 TFLite + ONNX of a PAFNet-lite checkpoint, by QAT (--qat) or PTQ",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="a PAFNet-lite training checkpoint (.pt from edgedet train / distill)")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning before the export")
    p.add_argument("--epochs", type=int, default=1, help="QAT epochs over the training split (default 1)")
    p.add_argument("--max-iters", type=int, default=0, metavar="N",
                   help="QAT iterations per epoch at most (default 0: the whole split)")
    p.add_argument("--batch", type=int, help="QAT batch size (default: the checkpoint's train.batch)")
    p.add_argument("--lr", type=float, help="QAT learning rate (default: 0.1 x the checkpoint's batch-scaled lr)")
    p.add_argument("--freeze-bn-after", type=int, metavar="ITERS",
                   help="freeze BN statistics after this many QAT iterations (default: half of them)")
    p.add_argument("--freeze-observers-after", type=int, metavar="ITERS",
                   help="freeze quantization ranges after this many QAT iterations (default: three quarters)")
    p.add_argument("--data", default="", help="training / calibration dataset (default: the checkpoint's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override the checkpoint's config, e.g. --set data.flip=0 --set train.threads=1 (repeatable)")
    p.add_argument("--format", default="onnx,tflite", help="comma list of onnx, tflite (default both)")
    p.add_argument("--imgsz", type=int, help="input size, a multiple of 32 (default: the checkpoint's)")
    p.add_argument("--calib-n", type=int, default=200, help="calibration images for activation ranges (default 200)")
    p.add_argument("--out", help="output directory (default: runs/quantize/<name>)")
    p.add_argument("--verbose", action="store_true", help="show the converters' own output (else OUT/export.log)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_quantize(args: argparse.Namespace) -> int:
    """Quantize, print one line per export and the next command."""
    from edgedet.engine.trainer import unique_run_dir
    from edgedet.export.cli import _print_pair
    from edgedet.export.quantize import QATSchedule, load_pafnet_lite, quantize

    if not args.qat and (args.max_iters or args.epochs != 1 or args.lr is not None or args.batch is not None):
        raise ValueError("--epochs, --max-iters, --lr and --batch set the QAT fine-tuning: add --qat")
    _, state = load_pafnet_lite(args.weights)  # a wrong file fails here, before anything is written
    out = Path(args.out) if args.out else unique_run_dir("runs", "quantize", f"{state['model_name']}_"
                                                         f"{'qat' if args.qat else 'ptq'}")
    schedule = QATSchedule(epochs=args.epochs, max_iters=args.max_iters, lr=args.lr, batch=args.batch,
                           freeze_bn_after=args.freeze_bn_after, freeze_observers_after=args.freeze_observers_after)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    print(f"{'format':<12}{'precision':<10}{'time s':>7}{'size MB':>9}  {'parity':<8}{'max |diff|':>11}  path",
          flush=True)
    result = quantize(args.weights, out_dir=out, qat=args.qat, schedule=schedule, data=args.data or None,
                      overrides=args.set, formats=formats, imgsz=args.imgsz, calib_n=args.calib_n,
                      progress=not args.quiet, log_file=None if args.verbose else out / "export.log",
                      on_pair_done=_print_pair)
    for r in result.exports:
        f = r.metadata["extra"]["float_ops"]
        outside = f" ({len(f['convs_outside_tail'])} convolutions outside the float tail)" if f["convs_outside_tail"] else ""
        print(f"{r.format} int8: {f['n']} float ops{outside}, listed in {r.dir / 'edgedet.json'}", file=sys.stdout)
    print(f"Next: edgedet eval {result.exports[0].dir} --data DATA   (summary: {out / 'quantize.json'})")
    return 0
