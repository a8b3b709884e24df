"""``report.md`` of a run: what was trained, on what, and how well."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgedet.bench import cpu_model
from edgedet.config.schema import RunConfig
from edgedet.engine.evaluator import format_metrics_table


def machine_summary() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_model()}, {torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}"


def write_train_report(run_dir: Path, cfg: RunConfig, metrics: dict[str, Any], best_ap: float) -> Path:
    lines = [
        f"# {cfg.model.name} on {cfg.data.path}",
        "",
        f"- machine: {machine_summary()}",
        f"- schedule: {cfg.train.epochs} epochs, batch {cfg.train.batch}, lr {cfg.train.lr} per {cfg.train.lr_batch} "
        f"images ({cfg.train.schedule}), input {cfg.model.imgsz}, width {cfg.model.width}",
        f"- best val AP: {best_ap:.4f}",
        "",
        "## Final validation metrics (pycocotools)",
        "",
        "```",
        format_metrics_table(metrics) if metrics else "(not evaluated)",
        "```",
        "",
        "Plots: `losses.png`, `lr.png`, `ap.png`, `samples.png` (red: predictions, green: ground truth).",
        "Weights: `weights/last.pt`, `weights/best.pt`. Config: `config.yaml`.",
    ]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
