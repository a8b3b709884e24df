"""Class-wise non-maximum suppression in numpy + OpenCV (``cv2.dnn.NMSBoxesBatched``).

Boxes are float ``[N, 4]`` xyxy in any consistent pixel frame. IoU uses continuous areas (``w * h``, no +1).
A box is suppressed when its IoU with a kept, higher-scoring box of the same label is strictly greater than
``iou_thr``.
"""

from __future__ import annotations

import cv2
import numpy as np


def batched_nms_xyxy(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_thr: float, max_det: int = 0
) -> np.ndarray:
    """Indices of the boxes kept by per-label NMS, sorted by descending score.

    Args:
        boxes: ``[N, 4]`` xyxy.
        scores: ``[N]``.
        labels: ``[N]`` integer class ids; boxes of different labels never suppress each other.
        iou_thr: suppress when IoU > ``iou_thr``.
        max_det: keep at most this many (0 = all).

    Returns:
        int64 ``[K]`` indices into the inputs.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if not (len(boxes) == len(scores) == len(labels)):
        raise ValueError(f"boxes {boxes.shape}, scores {scores.shape}, labels {labels.shape} differ in length")
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    # NMSBoxesBatched drops scores <= score_threshold: keep everything here, callers threshold first. Its top_k
    # caps the candidates *before* suppression, so it stays 0 and max_det is applied to the result.
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), labels.tolist(), float(-np.inf), float(iou_thr))
    keep = np.asarray(keep, np.int64).reshape(-1)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return keep[:max_det] if max_det > 0 else keep


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``[N, M]`` of xyxy boxes ``a [N, 4]`` and ``b [M, 4]``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
