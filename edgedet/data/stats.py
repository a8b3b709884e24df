"""Class and box-size statistics of one split, as a dict, a text table and a PNG."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from edgedet.data.formats import load_dataset

SMALL, MEDIUM = 32**2, 96**2  # COCO area thresholds (pixels)
SIZE_BINS = [0, 8, 16, 32, 64, 96, 128, 256, 512, 1_000_000]  # sqrt(area) histogram edges


def dataset_stats(path: str | Path, split: str = "train", out_png: str | Path | None = None) -> dict:
    """Statistics of one split.

    Returns:
        dict with ``split``, ``images``, ``images_without_boxes``, ``instances``, ``crowd``, ``per_class``
        (name -> count, crowd excluded), ``size`` (COCO small/medium/large counts by box area in original
        pixels), ``size_hist`` (``edges`` and ``counts`` of sqrt(box area)), ``boxes_per_image`` (mean, max)
        and ``problems`` (count of reader problems).
    """
    index = load_dataset(path, split)
    per_class = {n: 0 for n in index.class_names}
    areas, crowd, per_image = [], 0, []
    for rec in index.images:
        keep = ~rec.iscrowd
        crowd += int(rec.iscrowd.sum())
        per_image.append(int(keep.sum()))
        for label in rec.labels[keep]:
            per_class[index.class_names[int(label)]] += 1
        wh = rec.boxes[keep, 2:] - rec.boxes[keep, :2]
        areas.extend((wh[:, 0] * wh[:, 1]).tolist())
    areas = np.asarray(areas, np.float64)
    counts, _ = np.histogram(np.sqrt(areas), bins=SIZE_BINS)
    stats = {
        "split": split, "images": len(index.images), "images_without_boxes": sum(n == 0 for n in per_image),
        "instances": len(areas), "crowd": crowd, "per_class": per_class,
        "size": {"small": int((areas < SMALL).sum()), "medium": int(((areas >= SMALL) & (areas < MEDIUM)).sum()),
                 "large": int((areas >= MEDIUM).sum())},
        "size_hist": {"edges": SIZE_BINS, "counts": counts.tolist()},
        "boxes_per_image": {"mean": float(np.mean(per_image)) if per_image else 0.0,
                            "max": max(per_image, default=0)},
        "problems": len(index.problems),
    }
    if out_png is not None:
        plot_stats(stats, out_png)
    return stats


def plot_stats(stats: dict, out_png: str | Path) -> Path:
    """Bar chart of instances per class and histogram of box sizes, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(stats["per_class"])
    a.bar(range(len(names)), list(stats["per_class"].values()), color="tab:blue")
    a.set_xticks(range(len(names)), names, rotation=60 if len(names) > 12 else 0, fontsize=8)
    a.set_title(f"instances per class ({stats['split']}, {stats['images']} images)")
    edges = stats["size_hist"]["edges"]
    labels = [f"{lo}-{hi}" if hi < 1_000_000 else f">{lo}" for lo, hi in itertools.pairwise(edges)]
    b.bar(range(len(labels)), stats["size_hist"]["counts"], color="tab:orange")
    b.set_xticks(range(len(labels)), labels, rotation=45, fontsize=8)
    s = stats["size"]
    b.set_title(f"sqrt(box area) px: small {s['small']}, medium {s['medium']}, large {s['large']}")
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def format_stats_table(stats: dict) -> str:
    """Plain-text summary of :func:`dataset_stats` output."""
    s, bpi = stats["size"], stats["boxes_per_image"]
    lines = [
        (f"split {stats['split']}: {stats['images']} images ({stats['images_without_boxes']} without boxes), "
         f"{stats['instances']} instances (+{stats['crowd']} crowd/ignored), {bpi['mean']:.2f} boxes/image "
         f"(max {bpi['max']}), {stats['problems']} reader problems"),
        f"sizes (COCO): small {s['small']}  medium {s['medium']}  large {s['large']}",
        "",
        f"{'class':<24}{'instances':>10}{'share':>8}",
    ]
    total = max(stats["instances"], 1)
    for name, n in stats["per_class"].items():
        lines.append(f"{name[:23]:<24}{n:>10}{100 * n / total:>7.1f}%")
    return "\n".join(lines)
