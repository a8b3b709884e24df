"""``edgedet quickstart``: the main job end to end on the built-in dataset.

synthesise the dataset -> train PAFNet-lite -> evaluate -> export every available format x precision (int8
calibrated on training images) -> evaluate every export through ``edgedet.runtime`` -> time it on this host ->
``report.md``. The ``tiny`` schedule finishes in minutes on a 2-core CPU; ``full`` is for a GPU.

Teacher training + distillation and the on-device benchmark runner join this pipeline when they are built.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("edgedet")


@dataclass(frozen=True)
class Schedule:
    overrides: tuple[str, ...]
    exports: tuple[tuple[str, str], ...]
    val_images: int  # images used to evaluate each export (0 = all)
    calib_n: int = 200  # int8 calibration images
    synth: tuple[int, int] = (4000, 1000)  # built-in dataset: train / val images at 320 px


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
    ),
    "full": Schedule(overrides=(), exports=(("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"),
                                            ("tflite", "fp16"), ("tflite", "int8"), ("paddle", "fp32"),
                                            ("paddle-lite", "fp32")), val_images=0),
}


def host_latency_ms(predictor, imgsz: int, runs: int = 20, warmup: int = 3) -> dict[str, float]:
    from edgedet.bench import latency_stats, time_calls

    x = np.random.default_rng(0).standard_normal((1, 3, imgsz, imgsz)).astype(np.float32)
    stats = latency_stats(time_calls(predictor.run, x, warmup=warmup, runs=runs))
    return {"p50_ms": stats.p50_ms, "mean_ms": stats.mean_ms}


def _export_and_eval(ckpt: Path, out: Path, val_index, calib_files, exports, calib_n: int, threads: int = 1,
                     progress: bool = True) -> list[dict[str, Any]]:
    from edgedet import runtime
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
        lat = host_latency_ms(runtime.load(res.dir, threads=threads), imgsz)
        # what ships to a device: every model file except JSON sidecars and Paddle-Lite's x86 check build
        size = sum(f.stat().st_size for f in res.dir.iterdir()
                   if f.is_file() and not f.name.endswith(".json") and "x86" not in f.name)
        rows.append({"format": fmt, "precision": prec, "dir": str(res.dir), "AP": metrics["AP"],
                     "AP50": metrics["AP50"], "size_mb": size / 1e6, **lat,
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
    print(f"[1/4] built-in dataset at {data} ({timings['dataset']:.0f} s)")

    t0 = time.time()
    overrides = [*plan.overrides, f"data.path={data}"] + ([f"train.device={device}"] if device else [])
    cfg = resolve("pafnet_lite_mbv3", overrides)
    run_dir = qs_dir / "train"
    metrics = Trainer(cfg, run_dir, progress=progress).fit()
    timings["train"] = time.time() - t0
    print(f"[2/4] trained PAFNet-lite: val AP {metrics['AP']:.4f}, AP50 {metrics['AP50']:.4f} "
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
    print(f"[3/4] exported and evaluated {sum('AP' in r for r in rows)}/{len(rows)} format x precision pairs "
          f"({timings['export+eval']:.0f} s)")

    report = _write_report(qs_dir, schedule, metrics, torch_subset, rows, timings, machine_summary(), len(val.images))
    (qs_dir / "summary.json").write_text(json.dumps({"train": metrics, "exports": rows, "timings": timings},
                                                    indent=2, default=float))
    print(f"[4/4] report: {report}")
    print(report.read_text())
    return 0


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
                  machine: str, n_val: int) -> Path:
    lines = [f"# edgedet quickstart ({schedule} schedule)", "", f"Machine: {machine}", "",
             f"PAFNet-lite (PyTorch, all val images): AP {metrics['AP']:.4f}, AP50 {metrics['AP50']:.4f}, "
             f"APs {metrics['APs']:.4f}, APm {metrics['APm']:.4f}, APl {metrics['APl']:.4f}", "",
             f"## Exports (evaluated through edgedet.runtime on {n_val} val images; host latency, 1 thread)", "",
             "| format | precision | AP | AP50 | size MB | p50 ms | max abs diff vs torch | fp32 parity (1e-4) |",
             "|---|---|---|---|---|---|---|---|",
             f"| pytorch | fp32 | {torch_subset['AP']:.4f} | {torch_subset['AP50']:.4f} | | | | |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['format']} | {r['precision']} | failed: {r['error']} | | | | | |")
            continue
        diff = r["max_abs_diff"]
        lines.append(f"| {r['format']} | {r['precision']} | {r['AP']:.4f} | {r['AP50']:.4f} | {r['size_mb']:.2f} | "
                     f"{r['p50_ms']:.1f} | {diff if diff is None else f'{diff:.2e}'} | "
                     f"{r['parity_passed'] if r['precision'] == 'fp32' else 'n/a (report only)'} |")
    lines += ["", "Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), "",
              "Not in this pipeline yet: teacher training + distillation, the on-device benchmark runner."]
    path = qs_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
