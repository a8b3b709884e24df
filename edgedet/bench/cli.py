"""``edgedet bench``: its arguments, its ``--accuracy`` images and scorer, what it runs and where its records go
(:func:`save_results`, which ``edgedet quickstart``'s host bench shares).

``edgedet.cli`` dispatches here, as it does to :mod:`edgedet.demo.cli`. Reading a dataset and COCO evaluation live
in layers this torch-free package may not import (``edgedet.data``, ``edgedet.engine``), so ``edgedet.cli`` hands
them in as :class:`DatasetTools`. User mistakes raise :class:`BenchError` with the fix in one line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgedet.bench.report import markdown_table, write_report
from edgedet.bench.result import BenchmarkResult, append_jsonl
from edgedet.bench.runner import BenchSettings, Scorer, benchmark
from edgedet.bench.targets import BenchError, HostTarget, SshTarget

__all__ = ["BenchError", "DatasetTools", "accuracy_images", "add_bench_parser", "parse_threads", "run_bench",
           "save_results"]


def add_bench_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="latency (and AP) of exports on this host, an ssh board or an Android phone",
        description="Benchmark exports on a target: one JSONL record per (export, threads). Exports run "
        "interleaved round by round, each in its own worker process (honest peak RSS).")
    p.add_argument("exports", nargs="+", metavar="EXPORT_DIR", help="export directories (edgedet.json + model)")
    p.add_argument("--target", default="host", help="host (default), ssh://user@host[:port] (an ARM board with "
                   "python3 + numpy + the runtime), adb or adb:SERIAL (the Android demo app's benchmark mode)")
    p.add_argument("--threads", default="1", help="comma list of runtime threads, one record each (default 1)")
    p.add_argument("--cores", default="all", help="pin to big, little, all (default) or a hex mask (taskset style)")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls per export first (default 10)")
    p.add_argument("--runs", type=int, default=100, help="timed rounds, one call per export each (default 100)")
    p.add_argument("--cooldown", type=float, default=0.0, metavar="S",
                   help="idle seconds before each thread count's timed rounds (default 0)")
    p.add_argument("--accuracy", action="store_true", help="also COCO AP from the target's own detections on "
                   "--val-images images of --data, and its difference to this host's AP for the same file")
    p.add_argument("--data", default="", help="dataset for --accuracy (default: the built-in synthetic dataset)")
    p.add_argument("--split", default="val", help="split for --accuracy (default val)")
    p.add_argument("--val-images", type=int, default=50, help="images for --accuracy (default 50)")
    p.add_argument("--out", default="bench.jsonl", help="JSONL file the records are appended to (default bench.jsonl)")
    p.add_argument("--report", metavar="DIR", help="write a Markdown table and plots here")
    p.add_argument("--ssh-key", help="private key for an ssh target (default: ssh's own choice)")
    p.add_argument("--keep", action="store_true", help="leave the shipped files on the target")
    p.add_argument("--emulated", action="store_true", help="mark the records emulated (detected by itself on the "
                   "board of benchmarks/device/arm64_board.sh)")
    p.add_argument("--device-binary", metavar="PATH", help="time with this device benchmark tool instead of the "
                   "Python worker: TFLite's benchmark_model for .tflite exports, Paddle-Lite's benchmark_bin for .nb "
                   "(paddle-lite) exports; pushed to the target's temp dir, run with taskset per --cores, its output "
                   "read into the same records (times only; tested with stand-ins, not on hardware)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass(frozen=True)
class DatasetTools:
    """The dataset and COCO functions ``--accuracy`` needs, from layers above this package (``edgedet.cli``).

    Args:
        load_split: ``(data, split) -> index`` (``data`` "" means the built-in synthetic dataset); the index has
            ``root``, ``class_names``, ``images`` (records with ``id`` and ``file``), ``cat_ids``, ``to_coco_dict()``.
        coco_evaluate: ``(gt_dict, results) -> metrics`` with ``metrics["AP"]``.
        detections_to_coco: ``(image_id, boxes, scores, labels, cat_ids) -> results`` (COCO result dicts).
    """

    load_split: Callable[[str, str], Any]
    coco_evaluate: Callable[[dict, list], dict]
    detections_to_coco: Callable[..., list]


def accuracy_images(args: argparse.Namespace, tools: DatasetTools) -> tuple[list[Path], Scorer]:
    """The first ``--val-images`` images of ``--data`` and a scorer: target detections -> COCO AP on them."""
    from edgedet.deploy.schema import read_metadata

    if args.val_images < 1:
        raise BenchError(f"--val-images must be >= 1, got {args.val_images}")
    index = tools.load_split(args.data, args.split)
    for export in args.exports:
        names = read_metadata(export)["class_names"]
        if list(names) != list(index.class_names):
            raise BenchError(f"{export} was exported for classes {names}, but {index.root} has "
                             f"{list(index.class_names)}: pass the dataset it was trained on with --data")
    records = index.images[:args.val_images]
    if not records:
        raise BenchError(f"{index.root} has no readable images in split '{args.split}': check it with "
                         f"`edgedet data check {index.root}` or pick another --split")
    ids = {rec.id for rec in records}
    gt = index.to_coco_dict()
    gt = {**gt, "images": [im for im in gt["images"] if im["id"] in ids],
          "annotations": [a for a in gt["annotations"] if a["image_id"] in ids]}

    def score(dets: list) -> float:
        results = []
        for rec, d in zip(records, dets):
            if d is not None:  # an image the target could not read counts as missed
                results += tools.detections_to_coco(rec.id, d["boxes"], d["scores"], d["labels"], index.cat_ids)
        return tools.coco_evaluate(gt, results)["AP"]

    return [Path(rec.file) for rec in records], score


def parse_threads(text: str) -> tuple[int, ...]:
    try:
        threads = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise BenchError(f"--threads {text!r}: give a comma list of counts such as 1,2,4") from None
    if not threads or min(threads) < 1:
        raise BenchError(f"--threads {text!r}: give a comma list of counts >= 1 such as 1,2,4")
    return threads


def check_exports(paths: list[str]) -> list[Path]:
    from edgedet.deploy.schema import METADATA_FILE

    out = []
    for p in map(Path, paths):
        if not (p / METADATA_FILE).is_file():
            hint = "it does not exist" if not p.exists() else f"it holds no {METADATA_FILE}"
            raise BenchError(f"{p} is not an export directory ({hint}): pass what `edgedet export` wrote, "
                             "e.g. runs/export/<name>/onnx_fp32")
        out.append(p)
    return out


def make_target(spec: str, *, key: str | None, keep: bool):
    if spec == "host":
        return HostTarget()
    if spec.startswith("ssh://"):
        return SshTarget(spec, key=key, keep=keep)
    if spec == "adb" or spec.startswith("adb:"):
        from edgedet.bench.adb import AdbTarget

        return AdbTarget(spec, adb=os.environ.get("ADB", "adb"), keep=keep)
    raise BenchError(f"--target {spec!r}: use host, ssh://user@host[:port], adb or adb:SERIAL")


def run_bench(args: argparse.Namespace, dataset: DatasetTools | None = None) -> int:
    """The whole command: check, run on the target, append the records, print the table, write the report.

    Args:
        dataset: what ``--accuracy`` reads and scores with (required with ``--accuracy``).
    """
    exports = check_exports(args.exports)
    settings = BenchSettings(threads=parse_threads(args.threads), warmup=args.warmup, runs=args.runs,
                             cooldown_s=args.cooldown, cores=args.cores)
    is_adb = args.target == "adb" or args.target.startswith("adb:")
    if args.accuracy and (args.device_binary or is_adb):
        what = "--device-binary (the tool times only)" if args.device_binary else \
            "adb targets (the app's benchmark mode times only)"
        raise BenchError(f"--accuracy is not available with {what}: measure AP with `edgedet eval EXPORT_DIR` on the "
                         "host, or on the device without --device-binary")
    if args.device_binary:
        from edgedet.bench.device_binary import run_device_binary

        target = make_target(args.target, key=args.ssh_key, keep=args.keep)
        results = run_device_binary(target, Path(args.device_binary), exports, threads=settings.threads,
                                    warmup=settings.warmup, runs=settings.runs, cores=settings.cores,
                                    cooldown_s=settings.cooldown_s, keep=args.keep, progress=not args.quiet)
    elif is_adb:
        results = make_target(args.target, key=None, keep=args.keep).benchmark(
            exports, threads=settings.threads, warmup=settings.warmup, runs=settings.runs, cores=settings.cores,
            cooldown_s=settings.cooldown_s)
    else:
        assert dataset is not None or not args.accuracy, "edgedet.cli hands in the dataset tools for --accuracy"
        images, score = accuracy_images(args, dataset) if args.accuracy else ([], None)
        target = make_target(args.target, key=args.ssh_key, keep=args.keep)
        results = benchmark(exports, target, settings, images=images, score=score, progress=not args.quiet)
    if args.emulated:
        results = [replace(r, emulated=True) for r in results]
    out = Path(args.out)
    written = save_results(results, out, Path(args.report) if args.report else None)
    print(markdown_table(results))
    print(f"\nappended {len(results)} record(s) to {out}")
    if any(r.emulated for r in results):
        print("emulated target: these latencies are NOT device speed (parity and AP are what counts there)")
    if written:
        print("report: " + ", ".join(str(p) for p in written))
    return 0


def save_results(results: list[BenchmarkResult], out: Path, report_dir: Path | None = None) -> list[Path]:
    """Where a bench's records go: appended to the JSONL file ``out`` (its folder created) and, with
    ``report_dir``, the report (Markdown table + plots) written there. Returns the report's files ([] without)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(out, results)
    return write_report(results, report_dir) if report_dir is not None else []
