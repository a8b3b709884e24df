"""PNG plots of a run: losses, learning rate, AP curves, sample predictions."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics_csv(path: str | Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()} for row in csv.DictReader(f)]


def plot_metrics(csv_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``losses.png``, ``lr.png`` and ``ap.png`` from a run's ``metrics.csv``."""
    rows = read_metrics_csv(csv_path)
    if not rows:
        return []
    plt = _plt()
    out_dir = Path(out_dir)
    epochs = [r["epoch"] for r in rows]
    written = []
    groups = {
        "losses.png": [k for k in rows[0] if k.startswith("loss")],
        "lr.png": ["lr"],
        "ap.png": [k for k in ("AP", "AP50", "AP75", "APs", "APm", "APl") if k in rows[0]],
    }
    for name, keys in groups.items():
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for k in keys:
            ax.plot(epochs, [r[k] for r in rows], marker="o", label=k)
        ax.set_xlabel("epoch")
        ax.set_title(name[:-4])
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        written.append(out_dir / name)
    return written


def draw_detections(
    image_rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, class_names: list[str],
    color: tuple[int, int, int] = (255, 64, 64),
) -> np.ndarray:
    """Copy of ``image_rgb`` with boxes and ``name score`` captions drawn (OpenCV)."""
    import cv2

    out = np.ascontiguousarray(image_rgb.copy())
    for (x0, y0, x1, y1), s, lab in zip(boxes, scores, labels):
        p0, p1 = (int(x0), int(y0)), (int(x1), int(y1))
        cv2.rectangle(out, p0, p1, color, 1)
        name = class_names[int(lab)] if 0 <= int(lab) < len(class_names) else str(int(lab))
        cv2.putText(out, f"{name} {s:.2f}", (p0[0], max(p0[1] - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1)
    return out


def plot_samples(samples: list[dict[str, Any]], class_names: list[str], path: str | Path, cols: int = 4) -> Path:
    """Grid of sample predictions (red) over ground truth (green). Each sample: image (RGB uint8), pred, gt dicts."""
    plt = _plt()
    rows = max(1, (len(samples) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, samples):
        img = draw_detections(s["image"], s["gt_boxes"], np.ones(len(s["gt_boxes"])), s["gt_labels"], class_names,
                              color=(40, 200, 40))
        img = draw_detections(img, s["boxes"], s["scores"], s["labels"], class_names)
        ax.imshow(img)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
