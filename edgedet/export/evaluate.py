"""Evaluate an exported model through ``edgedet.runtime`` with the same COCO scoring as training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from edgedet.deploy.thresholds import EVAL_SCORE_THR
from edgedet.engine.evaluator import coco_evaluate, detections_to_coco


def evaluate_export(path: str | Path, index, threads: int | None = None, score_thr: float = EVAL_SCORE_THR,
                    progress: bool = True) -> dict[str, Any]:
    """COCO metrics of an export (file or export directory) on a dataset index.

    Images are read as BGR and go through the runtime's own letterbox and decode, exactly as on a device.
    Category ids are mapped through the index, so class order must match the export's metadata.
    ``score_thr`` is passed to every ``predict`` explicitly: evaluation keeps low-scoring detections
    (:data:`edgedet.deploy.thresholds.EVAL_SCORE_THR`, the same as the PyTorch evaluation), not the user-facing
    ``predict`` default.
    """
    from edgedet import runtime

    predictor = runtime.load(path, threads=threads)
    names = list(predictor.meta.get("class_names", []))
    if names and names != list(index.class_names):
        raise ValueError(f"{path} was exported for classes {names}, but the dataset has {index.class_names}; "
                         "evaluate on the dataset it was trained on")
    results = []
    records = index.images
    if progress:
        from tqdm import tqdm

        records = tqdm(records, desc=f"eval {Path(path).name}", leave=False, dynamic_ncols=True)
    for rec in records:
        image = cv2.imread(str(rec.file), cv2.IMREAD_COLOR)
        if image is None:
            continue  # unreadable images are reported by `edgedet data check`; they count as missed detections
        det = predictor.predict(image, score_thr=score_thr)
        results.extend(detections_to_coco(rec.id, det.boxes, det.scores, det.labels, index.cat_ids))
    return coco_evaluate(index.to_coco_dict(), results)
