"""``edgedet quickstart``: the main job end to end on the built-in dataset.

synthesise the dataset -> train PAFNet-lite -> evaluate -> export every available format x precision (int8
calibrated on training images) -> evaluate every export through ``edgedet.runtime`` -> time every export with
``edgedet bench``'s runner on this host (``bench.jsonl``, ``bench/``) -> ``report.md``. The ``tiny`` schedule
finishes in minutes on a 2-core CPU; ``full`` is for a GPU.

Teacher training + distillation are not in this pipeline yet: the tiny schedule already uses ~19 of its 20 minutes
on one training, and the gain shown so far is small (``benchmarks/distill/README.md``); they run as
``edgedet train-teacher`` / ``edgedet distill``. Timing on a phone or a board needs the device, so the report names
the ``edgedet bench --target`` command for it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgedet.bench.result import BenchmarkResult

log = logging.getLogger("edgedet")


@dataclass(frozen=True)
class Schedule:
    overrides: tuple[str, ...]
    exports: tuple[tuple[str, str], ...]
    val_images: int  # images used to evaluate each export (0 = all)
    calib_n: int = 200  # int8 calibration images
    synth: tuple[int, int] = (4000, 1000)  # built-in dataset: train / val images at 320 px
    bench: tuple[int, int] = (10, 100)  # host bench: untimed calls per export, timed rounds (edgedet bench defaults)


SCHEDULES = {
    "tiny": Schedule(
        # 1,000 iterations of PAFNet-lite at width 0.5 and 192 px, ~11 min on 2 CPU cores. The lr is 16x the
        # recipe's scaled value: from random init the recipe's lr leaves the heatmap flat for thousands of
        # iterations (benchmarks/README.md: 14 epochs of this reach AP 0.23; full width at 224 px and the recipe's
        # lr reached 0.001 in the same minutes)
        overrides=("model.width=0.5", "model.imgsz=192", "train.epochs=4", "train.batch=16", "train.lr=0.04",
                   "train.lr_batch=16", "train.schedule=cosine", "train.warmup_iters=200", "train.ema=true",
                   "train.ema_decay=0.999", "data.multiscale=[0,0]", "data.gridmask=0", "data.expand=0",
                   "train.eval_interval=0", "data.workers=1"),
        exports=(("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "int8"),
                 ("paddle", "fp32"), ("paddle-lite", "fp32")),
        val_images=300,
        calib_n=100,
        # edgedet bench's defaults: its 7 exports (4 to 22 ms a call) took 15 s on 2 busy cores (load 7), 11 s
        # with 50 rounds; a paddle worker's start alone is 3 s
        bench=(10, 100),
    ),
    "full": Schedule(overrides=(), exports=(("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"),
                                            ("tflite", "fp16"), ("tflite", "int8"), ("paddle", "fp32"),
                                            ("paddle-lite", "fp32")), val_images=0),
}


def _export_and_eval(ckpt: Path, out: Path, val_index, calib_files, exports, calib_n: int, threads: int = 1,
                     progress: bool = True) -> list[dict[str, Any]]:
    from edgedet.engine.checkpoint import load_detector
    from edgedet.export.api import export
    from edgedet.export.evaluate import evaluate_export

    model, state = load_detector(ckpt, "cpu")
    imgsz = state["config"]["model"]["imgsz"]
    rows = []
    for fmt, prec in exports:
        t0 = time.time()
        try:
            (res,) = export(model, formats=[fmt], precisions=[prec], imgsz=imgsz, out_dir=out,
                            class_names=state["class_names"], model_name=state["model_name"],
                            calib_images=calib_files if prec == "int8" else None, calib_n=calib_n, source_ckpt=ckpt,
                            threads=threads)
        except (ImportError, RuntimeError, ValueError, OSError) as e:  # an optional toolchain missing or failing
            log.warning("export %s %s failed: %s", fmt, prec, e)
            rows.append({"format": fmt, "precision": prec, "error": str(e).splitlines()[0][:200]})
            continue
        metrics = evaluate_export(res.dir, val_index, threads=threads, progress=progress)
        # what ships to a device: every model file except JSON sidecars and Paddle-Lite's x86 check build
        size = sum(f.stat().st_size for f in res.dir.iterdir()
                   if f.is_file() and not f.name.endswith(".json") and "x86" not in f.name)
        rows.append({"format": fmt, "precision": prec, "dir": str(res.dir), "AP": metrics["AP"],
                     "AP50": metrics["AP50"], "size_mb": size / 1e6,
                     "max_abs_diff": res.parity.get("max_abs_diff"), "parity_passed": res.parity.get("passed"),
                     "seconds": time.time() - t0})
    return rows


def run_quickstart(schedule: str = "tiny", device: str = "", project: str = "runs", progress: bool = True) -> int:
    from edgedet.config import resolve
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth
    from edgedet.engine.report import machine_summary
    from edgedet.engine.trainer import Trainer, unique_run_dir

    plan = SCHEDULES[schedule]
    qs_dir = unique_run_dir(project, "quickstart", f"pafnet_lite_{schedule}")
    qs_dir.mkdir(parents=True)
    timings: dict[str, float] = {}

    t0 = time.time()
    data = ensure_synth(n_train=plan.synth[0], n_val=plan.synth[1])
    timings["dataset"] = time.time() - t0
    print(f"[1/5] built-in dataset at {data} ({timings['dataset']:.0f} s)")

    t0 = time.time()
    overrides = [*plan.overrides, f"data.path={data}"] + ([f"train.device={device}"] if device else [])
    cfg = resolve("pafnet_lite_mbv3", overrides)
    run_dir = qs_dir / "train"
    metrics = Trainer(cfg, run_dir, progress=progress).fit()
    timings["train"] = time.time() - t0
    print(f"[2/5] trained PAFNet-lite: val AP {metrics['AP']:.4f}, AP50 {metrics['AP50']:.4f} "
          f"({timings['train']:.0f} s) -> {run_dir}")

    t0 = time.time()
    val = load_dataset(data, "val")
    if plan.val_images:
        val.images = val.images[: plan.val_images]
    calib = [r.file for r in load_dataset(data, "train").images]
    torch_subset = _torch_metrics(run_dir / "weights" / "last.pt", val)
    rows = _export_and_eval(run_dir / "weights" / "last.pt", qs_dir / "export", val, calib, plan.exports, plan.calib_n,
                            progress=progress)
    timings["export+eval"] = time.time() - t0
    print(f"[3/5] exported and evaluated {sum('AP' in r for r in rows)}/{len(rows)} format x precision pairs "
          f"({timings['export+eval']:.0f} s)")

    t0 = time.time()
    records, bench_error = _host_bench(rows, qs_dir, *plan.bench, progress=progress)
    timings["bench"] = time.time() - t0
    outcome = f"failed: {bench_error}" if bench_error else f"-> {qs_dir / 'bench.jsonl'}, {qs_dir / 'bench'}"
    print(f"[4/5] host benchmark of {sum('dir' in r for r in rows)} export(s) (edgedet bench --target host, 1 thread) "
          f"{outcome} ({timings['bench']:.0f} s)")

    bench_lines = _bench_section(records, bench_error, rows, *plan.bench)
    report = _write_report(qs_dir, schedule, metrics, torch_subset, rows, timings, machine_summary(), len(val.images),
                           bench_lines)
    (qs_dir / "summary.json").write_text(json.dumps(
        {"train": metrics, "exports": rows, "timings": timings, "bench_error": bench_error}, indent=2, default=float))
    print(f"[5/5] report: {report}")
    print(report.read_text())
    return 0


def _host_bench(rows: list[dict[str, Any]], qs_dir: Path, warmup: int, runs: int, progress: bool = True
                ) -> tuple[list[BenchmarkResult], str | None]:
    """``edgedet bench EXPORT... --target host --threads 1`` on every export that was made, through the command's
    own runner (one worker process per export, interleaved rounds) and its :func:`save_results`.

    The records are appended to ``qs_dir/bench.jsonl``, the report (table + plots) goes to ``qs_dir/bench/``, and each
    row of ``rows`` that has an export gets its ``p50_ms`` and ``mean_ms`` from its record, the quickstart's only
    latency figures. Returns the records and, when the bench could not run, its one-line error instead.
    """
    from edgedet.bench.cli import save_results
    from edgedet.bench.runner import BenchSettings, benchmark
    from edgedet.bench.targets import BenchError, HostTarget

    made = [r for r in rows if "dir" in r]
    if not made:
        return [], None
    settings = BenchSettings(threads=(1,), warmup=warmup, runs=runs)
    try:
        records = benchmark([Path(r["dir"]) for r in made], HostTarget(), settings, progress=progress)
    except BenchError as e:  # a worker that cannot load its export: the exports' AP still stands in the report
        log.warning("host benchmark failed: %s", e)
        return [], str(e)
    save_results(records, qs_dir / "bench.jsonl", qs_dir / "bench")
    by_model = {rec.model: rec for rec in records}
    for row in made:
        latency = by_model[str(Path(row["dir"]))].latency
        row.update(p50_ms=latency.p50_ms, mean_ms=latency.mean_ms)
    return records, None


def _bench_section(records: list[BenchmarkResult], error: str | None, rows: list[dict[str, Any]], warmup: int,
                   runs: int) -> list[str]:
    """The report's host benchmark section: how it ran, ``edgedet bench``'s own table, what it left out."""
    from edgedet.bench.report import markdown_table

    lines = ["## Host benchmark (edgedet bench --target host)", ""]
    if error:
        return lines + [f"Failed: {error}"]
    if not records:
        return lines + ["No export was made, so nothing was timed."]
    lines += [f"Every export made above, on 1 thread, each in its own worker process: {warmup} untimed calls, then {runs} "
              "timed rounds of one call per export in a fresh order each round, so background load hits all alike. "
              "Records: [`bench.jsonl`](bench.jsonl); table and plot: [`bench/`](bench/bench_report.md).", "",
              markdown_table(records)]
    failed = [f"{r['format']} {r['precision']}" for r in rows if "error" in r]
    if failed:
        lines += ["", f"Not timed (the export failed; its error is in the exports table): {', '.join(failed)}."]
    return lines


def _torch_metrics(ckpt: Path, val_index) -> dict[str, Any]:
    """PyTorch's own metrics on the same validation subset the exports are scored on."""
    import torch

    from edgedet.config.schema import DataConfig
    from edgedet.engine.checkpoint import load_detector
    from edgedet.engine.trainer import evaluate_model

    model, state = load_detector(ckpt, "cpu")
    return evaluate_model(model, val_index, state["config"]["model"]["imgsz"], torch.device("cpu"),
                          DataConfig(workers=0))


def _write_report(qs_dir: Path, schedule: str, metrics: dict, torch_subset: dict, rows: list[dict], timings: dict,
                  machine: str, n_val: int, bench_lines: list[str]) -> Path:
    lines = [f"# edgedet quickstart ({schedule} schedule)", "", f"Machine: {machine}", "",
             f"PAFNet-lite (PyTorch, all val images): AP {metrics['AP']:.4f}, AP50 {metrics['AP50']:.4f}, "
             f"APs {metrics['APs']:.4f}, APm {metrics['APm']:.4f}, APl {metrics['APl']:.4f}", "",
             f"## Exports (evaluated through edgedet.runtime on {n_val} val images; latency from the host benchmark "
             "below, 1 thread)", "",
             "| format | precision | AP | AP50 | size MB | p50 ms | mean ms | max abs diff vs torch | fp32 parity (1e-4) |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| pytorch | fp32 | {torch_subset['AP']:.4f} | {torch_subset['AP50']:.4f} | | | | | |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['format']} | {r['precision']} | failed: {r['error']} | | | | | | |")
            continue
        diff = r["max_abs_diff"]
        latency = " | ".join("" if r.get(k) is None else f"{r[k]:.2f}" for k in ("p50_ms", "mean_ms"))
        lines.append(f"| {r['format']} | {r['precision']} | {r['AP']:.4f} | {r['AP50']:.4f} | {r['size_mb']:.2f} | "
                     f"{latency} | {diff if diff is None else f'{diff:.2e}'} | "
                     f"{r['parity_passed'] if r['precision'] == 'fp32' else 'n/a (report only)'} |")
    lines += ["", "Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), "",
              "Not in this pipeline yet: teacher training + distillation. On a phone or a board: "
              "`edgedet bench EXPORT_DIR... --target adb` (or `ssh://user@board`).", "", *bench_lines]
    path = qs_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
