"""The ``edgedet`` argument parser: every subcommand's arguments and help text (``edgedet.cli`` runs them).

Building the parser imports no torch: ``edgedet --help`` answers on a runtime-only install, and quickly.
"""

from __future__ import annotations

import argparse
from typing import Any

from edgedet import __version__
from edgedet.cli_examples import PATH, lead_with_examples

DISTILL_EPILOG = """\
terms (each weighted and switched from the config: --set distill.hm_weight=0 turns one off):
  hm    heatmap KD: teacher-confidence-weighted squared error of sigmoid heatmaps   distill.hm_weight (7)
  box   GIoU vs the teacher's decoded boxes at its confident cells               distill.box_weight (2.5)
  feat  PKD on neck maps of equal stride through 1x1 adapters (training only)    distill.feat_weight (6 per level)
  out   the teacher's detections as soft TTF targets blended with the GT         distill.out_weight (1)
  every weight ramps up from 0 over distill.warmup_iters (200) iterations.

more examples:
  edgedet distill --teacher runs/train-teacher/pafnet_r18vd --data data/synth --width 0.5 --imgsz 320
  edgedet distill --teacher runs/train-teacher/atss_r18_fpn/weights/best.pt --kd out,feat
  edgedet distill --resume runs/distill/pafnet_lite_mbv3/weights/last.pt   # the teacher is found again
"""


THREADS_HELP = ("torch CPU threads (default: $OMP_NUM_THREADS when set, else the cores left after the loader "
                "workers, which get at most cores - 1)")


def _add_train_args(p: argparse.ArgumentParser, default_model: str) -> None:
    p.set_defaults(default_model=default_model)
    p.add_argument("--model", help=f"zoo model name or YAML path (default: {default_model}); "
                   "list them with `edgedet config list`")
    p.add_argument("--data", default="", help="COCO dir / COCO json / YOLO data.yaml / VOC root; default: the built-in "
                   "synthetic dataset (generated once into ~/.cache/edgedet/synth)")
    p.add_argument("--epochs", type=int, help="training epochs (overrides train.epochs)")
    p.add_argument("--batch", type=int, help="total batch size; the lr scales linearly with it")
    p.add_argument("--imgsz", type=int, help="input size (square, letterboxed, a multiple of 32); scales the "
                   "model's multi-scale range with it")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.add_argument("--width", type=float, help="channel multiplier (e.g. 0.25 for a tiny CPU model)")
    p.add_argument("--name", default="", help="run name (default: the model name, made unique)")
    p.add_argument("--project", help="root of run directories (default: runs)")
    p.add_argument("--resume", metavar="LAST_PT", help="continue the run that wrote this last.pt with its saved "
                   "config and data (nothing else needed); --model/--data/--set may only repeat saved values, "
                   "--device/--threads may change")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set train.lr=0.01 --set data.flip=0 (repeatable)")
    p.add_argument("--max-iters", type=int, metavar="N",
                   help="a quick run of N iterations in all (as few epochs as the dataset needs), warmup scaled to N/10, "
                        "single-scale input at --imgsz, validation at the end (a smoke test of a dataset or a config)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``edgedet`` command tree; subcommands are listed in the order a user works in."""
    parser = argparse.ArgumentParser(
        prog="edgedet", description=f"Object detectors from a GPU to phones and ARM boards.\n\n{PATH}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgedet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_data_parser(sub)
    _add_training_parsers(sub)
    _add_eval_parser(sub)
    _add_export_parser(sub)

    from edgedet.export.paddle_import_cli import add_import_paddle_parser  # light; paddle only when it runs

    add_import_paddle_parser(sub)

    from edgedet.export.quantize_cli import add_quantize_parser  # light; torch only when it runs

    add_quantize_parser(sub)

    _add_config_parser(sub)
    _add_quickstart_parser(sub)

    from edgedet.bench.cli import add_bench_parser  # torch-free, like the runtime
    from edgedet.demo.cli import add_demo_parser, add_predict_parser

    add_predict_parser(sub)
    add_demo_parser(sub)
    add_bench_parser(sub)

    lead_with_examples(parser)
    return parser


def _add_data_parser(sub: Any) -> None:
    data = sub.add_parser("data", help="make, check, convert and describe datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    p = dsub.add_parser("synth", help="generate the built-in synthetic dataset (COCO layout)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--train", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--val", type=int, default=1000, help="validation images (default 1000)")
    p.add_argument("--imgsz", type=int, default=320, help="image side in pixels (default 320)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    p = dsub.add_parser("check", help="report every problem in a dataset with file and entry; exit 1 if any")
    p.add_argument("data", help="COCO dir / COCO json / YOLO data.yaml / VOC root")
    p.add_argument("--split", action="append", help="split(s) to check (default: all found)")
    p = dsub.add_parser("convert", help="convert a dataset between COCO, YOLO and VOC")
    p.add_argument("src", help="input dataset (any supported format)")
    p.add_argument("dst", help="output directory")
    p.add_argument("--to", required=True, choices=["coco", "yolo", "voc"], help="output format")
    p = dsub.add_parser("stats", help="images, instances per class, COCO size classes, as a table and a PNG")
    p.add_argument("data", help="dataset path")
    p.add_argument("--split", default="train", help="split (default train)")
    p.add_argument("--png", "--out", dest="png",
                   help="write the histogram PNG here (default: ./stats_<split>.png in the current directory; "
                        "the dataset folder is never written to)")


def _add_training_parsers(sub: Any) -> None:
    for name, default, text in (("train", "pafnet_lite_mbv3", "train a detector (the student alone)"),
                                ("train-teacher", "pafnet_r18vd", "train a teacher (any zoo model)")):
        _add_train_args(sub.add_parser(name, help=text, description=text), default)

    text = ("distil a trained teacher (any zoo detector) into a PAFNet / PAFNet-lite student: the trainer of "
            "`edgedet train` plus KD loss terms; writes runs/distill/<name>/ (everything train writes, the teacher's "
            "AP on the same val set, one metrics.csv column per KD term, the teacher's cost per iteration)")
    p = sub.add_parser("distill", help="distil a teacher into PAFNet-lite", description=text, epilog=DISTILL_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_args(p, "pafnet_lite_mbv3")
    p.add_argument("--teacher", metavar="CKPT_OR_RUN_DIR", help="the teacher: a checkpoint of `edgedet train` / "
                   "`train-teacher` or its run directory (weights/best.pt); same classes, input size and "
                   "normalisation as the student (required unless --resume)")
    p.add_argument("--kd", help="terms: auto (default; PAFNet teacher: hm,box,feat; anchor-based teacher: out,feat) "
                   "or a comma list of hm, box, feat, out (overrides distill.kd)")


def _add_eval_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="COCO metrics of a checkpoint, an export, or a results file")
    p.add_argument("weights", nargs="?", help="training checkpoint (.pt) or export directory/file")
    p.add_argument("--data", default="", help="dataset (default: the built-in synthetic dataset)")
    p.add_argument("--split", default="val", help="split (default val)")
    p.add_argument("--detections", help="a COCO results JSON to score instead of running a model")
    p.add_argument("--out", help="write the metrics JSON here")
    p.add_argument("--imgsz", type=int, help="input size (default: the checkpoint's)")
    p.add_argument("--device", default="", help="torch device for checkpoints (default: cuda when present)")
    p.add_argument("--threads", type=int, help=f"{THREADS_HELP}; for exports: the runtime's threads "
                   "(default: the runtime's own)")


def _add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export to ONNX / TFLite / Paddle / Paddle-Lite in fp32 / fp16 / int8")
    p.add_argument("weights", nargs="?", help="training checkpoint (.pt); omit with --model for a fresh model")
    p.add_argument("--model", help="zoo model to export freshly initialised (latency work), with --num-classes")
    p.add_argument("--num-classes", type=int, default=80, help="classes for --model (default 80)")
    p.add_argument("--format", default="onnx", help="comma list: onnx,tflite,paddle,paddle-lite (default onnx). "
                   "On 2 CPU cores: onnx takes seconds, paddle tens of seconds, tflite about a minute per precision, "
                   "paddle-lite builds a Python 3.10 toolchain once (about a minute) and then takes seconds")
    p.add_argument("--precision", default="fp32", help="comma list: fp32,fp16,int8 (default fp32)")
    p.add_argument("--calib", default="", help="dataset for int8 calibration (default: the built-in dataset)")
    p.add_argument("--calib-n", type=int, default=200, help="calibration images (default 200)")
    p.add_argument("--imgsz", type=int, help="input size, a multiple of 32 (default: the checkpoint's)")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.add_argument("--out", help="output directory (default: runs/export/<name>)")
    p.add_argument("--no-cache", action="store_true",
                   help="convert again even when the same weights were exported with the same settings before (a "
                        "cached conversion is reused from ~/.cache/edgedet/export; parity is checked either way)")
    p.add_argument("--verbose", action="store_true",
                   help="show the converters' own output (by default it goes to OUT/export.log, printed only on failure)")
    p.add_argument("--android", metavar="ASSETS_DIR", help="also copy the TFLite export (the first --precision) to "
                   "ASSETS_DIR/model/, where the demo app finds it: android_demo/app/src/main/assets")


def _add_config_parser(sub: Any) -> None:
    p = sub.add_parser("config", help="list zoo models or print a fully resolved config")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.add_parser("list", help="list the zoo model names")
    p = csub.add_parser("show", help="print the fully resolved config of a model (YAML)")
    p.add_argument("name", help="zoo model name or YAML path")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="overrides, as for train")


def _add_quickstart_parser(sub: Any) -> None:
    p = sub.add_parser("quickstart", help="the main job end to end on the built-in dataset",
                       description="synth data -> teacher -> PAFNet-lite alone and distilled from the teacher (side "
                       "by side) -> int8 calibration and export of the distilled student to every format -> evaluate "
                       "every export -> host benchmark -> runs/quickstart/<name>/report.md (distillation table first)")
    p.add_argument("--schedule", choices=["tiny", "full"], default="tiny",
                   help="tiny: under 20 min on a 2-core CPU (default); full: PAFNet R50vd teaching a full-width "
                        "PAFNet-lite on the recipes' schedules, for a GPU")
    p.add_argument("--device", default="", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--project", default="runs", help="root of run directories")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
