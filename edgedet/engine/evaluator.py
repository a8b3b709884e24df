"""COCO evaluation through pycocotools: the 12 standard stats and per-class AP.

Also the model-side evaluation loop: letterboxed batches -> ``Detector.predict`` -> boxes in original pixels ->
COCO results. The same ``coco_evaluate`` scores exports through ``edgedet.runtime``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def load_results_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a COCO detection results JSON (a list of ``{image_id, category_id, bbox, score}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Detections file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: a COCO results file is a JSON list of detections, got {type(data).__name__}")
    for i, d in enumerate(data):
        missing = {"image_id", "category_id", "bbox", "score"} - set(d)
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {sorted(missing)}; each needs image_id, category_id, bbox, score")
    return data


def coco_evaluate(gt: dict[str, Any], detections: list[dict[str, Any]], verbose: bool = False) -> dict[str, Any]:
    """Score COCO-format ``detections`` against the COCO ground-truth dict ``gt``.

    Returns:
        dict with the 12 COCO stats under ``STAT_KEYS`` (floats in 0..1, unrounded; -1 where undefined) and
        ``per_class``: ``{class_name: AP}``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = copy.deepcopy(gt)
    gt.setdefault("info", {})
    gt.setdefault("licenses", [])
    img_ids = {im["id"] for im in gt["images"]}
    cat_ids = {c["id"] for c in gt["categories"]}
    for i, d in enumerate(detections):
        if d["image_id"] not in img_ids:
            raise ValueError(f"detection {i}: image_id {d['image_id']} is not in the ground truth")
        if d["category_id"] not in cat_ids:
            raise ValueError(f"detection {i}: category_id {d['category_id']} is not in the ground truth")
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if not detections:
            return {**{k: 0.0 for k in STAT_KEYS}, "per_class": {c["name"]: 0.0 for c in gt["categories"]}}
        coco_dt = coco_gt.loadRes(copy.deepcopy(detections))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:
        print(sink.getvalue())
    out: dict[str, Any] = {k: float(v) for k, v in zip(STAT_KEYS, ev.stats)}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[coco_gt.cats[cat_id]["name"]] = float(p.mean()) if p.size else -1.0
    out["per_class"] = per_class
    return out


def format_metrics_table(metrics: dict[str, Any]) -> str:
    """The 12 stats and per-class AP as a plain-text table."""
    lines = ["  ".join(f"{k:>6}" for k in STAT_KEYS), "  ".join(f"{metrics[k]:6.3f}" for k in STAT_KEYS)]
    if metrics.get("per_class"):
        width = max(len(n) for n in metrics["per_class"]) + 2
        lines.append("")
        lines.append(f"{'class':<{width}}AP")
        for name, ap in metrics["per_class"].items():
            lines.append(f"{name:<{width}}{ap:.3f}")
    return "\n".join(lines)


def detections_to_coco(
    image_id: int, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, cat_ids: list[int]
) -> list[dict[str, Any]]:
    """Detections in original pixels (xyxy) -> COCO result entries (xywh)."""
    out = []
    for (x0, y0, x1, y1), s, lab in zip(np.asarray(boxes, float), np.asarray(scores, float), np.asarray(labels)):
        out.append({
            "image_id": int(image_id),
            "category_id": int(cat_ids[int(lab)]),
            "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)],
            "score": round(float(s), 5),
        })
    return out


def evaluate_predictor(
    predict_batch: Callable[[Any], list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
    batches: Iterable[tuple[Any, list[dict[str, Any]]]],
    gt: dict[str, Any],
    cat_ids: list[int],
    progress: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``predict_batch`` over ``batches`` of ``(inputs, metas)`` and score the results.

    ``predict_batch(inputs)`` returns per image ``(boxes xyxy model-input px, scores, labels)``; each meta holds
    ``image_id`` and ``letterbox`` ``(scale, pad_x, pad_y, orig_h, orig_w)``.
    """
    from edgedet.deploy.preprocess import LetterboxInfo, boxes_to_original

    results: list[dict[str, Any]] = []
    iterator = batches
    if progress:
        from tqdm import tqdm

        iterator = tqdm(batches, desc="eval", leave=False, dynamic_ncols=True)
    for inputs, metas in iterator:
        for (boxes, scores, labels), meta in zip(predict_batch(inputs), metas):
            info = LetterboxInfo(*meta["letterbox"])
            boxes = boxes_to_original(np.asarray(boxes, np.float32).reshape(-1, 4), info)
            results.extend(detections_to_coco(meta["image_id"], boxes, scores, labels, cat_ids))
    return coco_evaluate(gt, results), results
