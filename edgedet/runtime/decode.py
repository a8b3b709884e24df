"""Raw exported outputs -> detections in model-input pixels, numpy only.

``decode_outputs(outputs, spec, score_thr)`` dispatches on ``spec.type`` (``Detector.decode_spec()``, stored
in ``edgedet.json``, read back as the typed classes of :mod:`edgedet.deploy.decode_spec`) through the literal
table :data:`DECODERS`. Each decoder returns, per image,
``(boxes float32 [N, 4] xyxy input px, scores float32 [N] descending, labels int64 [N])``.

Decode specs (as written in ``edgedet.json``; the defaults are the typed classes'):

``"topk_boxes"`` (PAFNet/TTFNet: the graph already did sigmoid, peak extraction, top-k and box decoding)::

    {"type": "topk_boxes", "outputs": ["boxes", "scores", "labels"], "dedup_iou": 0.7}   # TopKBoxesSpec
    outputs: boxes [B, K, 4] xyxy input px, scores [B, K], labels [B, K] (float), in this order.

  Keeps ``scores > score_thr``, then removes duplicate peaks: same label and IoU > ``dedup_iou`` -> the
  higher score wins (quantized heatmaps form plateaus whose neighbouring cells can all pass as peaks).

``"anchor_deltas"`` / ``"anchor_ltrb"`` (RetinaNet / ATSS dense heads, ``edgedet.models.dense``;
``AnchorDeltasSpec`` / ``AnchorLTRBSpec``)::

    {"type": "anchor_deltas" | "anchor_ltrb", "num_classes": C,
     "priors": AnchorGenerator.spec(feat_sizes),   # GridPriorsSpec: {"type": "grid_anchors", "strides",
                                                   #  "feat_sizes", "center_offset", "base_anchors": per level [A, 4] xyxy}
               | {"type": "grid_points", "strides", "feat_sizes", "center_offset"},   # A = 1, zero-size
     "outputs": ["cls_logits", "box_deltas"(, "quality_logits")],
     "quality": "none" | "iou" | "centerness",     # how sigmoid(quality) enters the score: dense_scores()
     "means": [0, 0, 0, 0], "stds": [1, 1, 1, 1], "wh_clamp": 4.135,      # anchor_deltas
     "normalizer": "stride" | float, "clamp_negative": true,             # anchor_ltrb
     "nms_pre": 1000, "nms_iou": 0.5, "max_det": 100, "clip_to_input": true}
    outputs: cls [B, P, C], reg [B, P, 4](, quality [B, P, 1]) logits / deltas, in this order.

  P is ordered level, y, x, anchor (``edgedet.structures.priors``); the anchor of ``(level, y, x, a)`` is
  ``base_anchors[level][a] + (cx, cy, cx, cy)`` with ``cx = (x + center_offset) * stride``. ``anchor_deltas``
  is ``DeltaXYWHCoder.decode`` (``d = raw * stds + means``, dw/dh clamped to ``wh_clamp``); ``anchor_ltrb`` is
  ``LTRBDistanceCoder.decode`` (distances from the anchor centre times ``normalizer``, negatives clamped to 0).
  Scores per (anchor, class) are :func:`edgedet.deploy.decode_spec.dense_scores` of ``c = sigmoid(cls)`` and
  ``q = sigmoid(quality)``: ``c`` ("none"), ``c * q`` ("centerness"), or ``sqrt(c * q)`` ("iou", Dynamic ATSS,
  where the threshold applies to ``c`` alone). Per level: the pairs passing ``score_thr``, then the ``nms_pre``
  best by score; then class-wise NMS at ``nms_iou`` (suppress IoU > thr), the ``max_det`` best, boxes clipped to
  the input when ``clip_to_input``.

``"two_stage"`` (Faster R-CNN, ``edgedet.models.two_stage``: the graph stops before the RPN's NMS; ``TwoStageSpec``)::

    {"type": "two_stage", "num_classes": C,
     "outputs": ["proposals", "objectness", "cls_logits", "box_deltas"],
     "level_counts": [k_0, ..., k_4],               # proposal rows per RPN level, N = sum
     "rpn_min_size": 0.001, "rpn_nms_iou": 0.7, "rpn_max_test": 1000,
     "means": [0, 0, 0, 0], "stds": [0.1, 0.1, 0.2, 0.2], "wh_clamp": 4.135,   # the R-CNN box coder
     "nms_iou": 0.5, "max_det": 100, "clip_to_input": true}
    outputs: proposals [B, N, 4] xyxy input px, objectness [B, N] (RPN logits), cls_logits [B, N, C+1],
             box_deltas [B, N, 4C], in this order; rows level by level.

  Stage 1 (the RPN's post-processing): drop proposals narrower or lower than ``rpn_min_size``, NMS per level
  at ``rpn_nms_iou`` over ``sigmoid(objectness)``, keep the ``rpn_max_test`` best overall. Stage 2 on those
  rows: softmax over the C + 1 logits (background last, dropped), per-class boxes decoded from the proposal
  with ``DeltaXYWHCoder`` (``means``, ``stds``, ``wh_clamp``) and clipped to the input, scores >
  ``score_thr``, class-wise NMS at ``nms_iou``, the ``max_det`` best.

``"detections_in_model"`` (an imported PaddleDetection model whose graph ends in NMS; ``DetectionsInModelSpec``)::

    {"type": "detections_in_model", "num_classes": C, "outputs": ["<rows>", "<counts>"],
     "im_shape_input": "im_shape", "scale_factor_input": "scale_factor"}   # "" where the graph has no such input
    outputs: rows [N, 6] = (class, score, x1, y1, x2, y2), input px, image after image; counts [B] rows per image.

  The backend feeds ``im_shape = [S, S]`` and ``scale_factor = [1, 1]``, so the graph's own rescale is the
  identity and the rows are in model-input pixels like every other decode (IoU, and so the graph's NMS, is the
  same under the per-axis scaling that maps them to the original image). Keeps rows with class >= 0
  (PaddleDetection writes a class -1 row when nothing is found) and score > ``score_thr``, sorted by descending
  score, boxes clipped to the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgedet.deploy.decode_spec import (
    AnchorDeltasSpec,
    AnchorLTRBSpec,
    DecodeSpec,
    DetectionsInModelSpec,
    GridPriorsSpec,
    TopKBoxesSpec,
    TwoStageSpec,
    as_decode_spec,
    dense_scores,
)
from edgedet.runtime.nms import batched_nms_xyxy

ImageDetections = tuple[np.ndarray, np.ndarray, np.ndarray]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, np.float32)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def decode_topk_boxes(
    outputs: list[np.ndarray], spec: TopKBoxesSpec, score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """``"topk_boxes"``: threshold + duplicate-peak removal (see module docstring)."""
    if len(outputs) < 3:
        raise ValueError(f"topk_boxes decode needs outputs (boxes, scores, labels), got {len(outputs)} outputs")
    boxes, scores, labels = (np.asarray(o, np.float32) for o in outputs[:3])
    dedup_iou = spec.dedup_iou
    results = []
    for b in range(boxes.shape[0]):
        keep = scores[b] > score_thr
        bx, sc, lb = boxes[b][keep], scores[b][keep], np.rint(labels[b][keep]).astype(np.int64)
        order = batched_nms_xyxy(bx, sc, lb, dedup_iou)
        results.append((bx[order], sc[order], lb[order]))
    return results


def grid_priors_xyxy(priors: GridPriorsSpec | dict[str, Any]) -> list[np.ndarray]:
    """Per level ``[H * W * A, 4]`` xyxy priors, ordered (y, x, anchor), from a prior spec (module docstring)."""
    if isinstance(priors, dict):
        priors = GridPriorsSpec.from_dict(priors, "decode.priors")
    off = priors.center_offset
    out = []
    for lvl, (stride, (h, w)) in enumerate(zip(priors.strides, priors.feat_sizes)):
        base = (np.asarray(priors.base_anchors[lvl], np.float32).reshape(-1, 4) if priors.type == "grid_anchors"
                else np.zeros((1, 4), np.float32))
        ys, xs = np.meshgrid((np.arange(h, dtype=np.float32) + off) * stride,
                             (np.arange(w, dtype=np.float32) + off) * stride, indexing="ij")
        shifts = np.stack([xs.reshape(-1), ys.reshape(-1)] * 2, axis=1)  # [HW, 4]
        out.append((shifts[:, None, :] + base[None]).reshape(-1, 4))
    return out


def decode_deltas_xyxy(priors: np.ndarray, deltas: np.ndarray, coder: AnchorDeltasSpec | TwoStageSpec) -> np.ndarray:
    """(dx, dy, dw, dh) deltas ``[N, 4]`` relative to priors ``[N, 4]`` xyxy -> boxes ``[N, 4]`` xyxy.

    ``coder``: ``means``, ``stds``, ``wh_clamp`` (the decode spec itself).
    """
    d = deltas * np.asarray(coder.stds, np.float32) + np.asarray(coder.means, np.float32)
    clamp = coder.wh_clamp
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    px, py = priors[:, 0] + 0.5 * pw, priors[:, 1] + 0.5 * ph
    gx, gy = px + d[:, 0] * pw, py + d[:, 1] * ph
    gw, gh = pw * np.exp(np.clip(d[:, 2], -clamp, clamp)), ph * np.exp(np.clip(d[:, 3], -clamp, clamp))
    return np.stack([gx - 0.5 * gw, gy - 0.5 * gh, gx + 0.5 * gw, gy + 0.5 * gh], axis=1)


def decode_ltrb_xyxy(priors: np.ndarray, ltrb: np.ndarray, stride: np.ndarray, coder: AnchorLTRBSpec) -> np.ndarray:
    """Distances ``[N, 4]`` (l, t, r, b) from the prior centres -> boxes ``[N, 4]`` xyxy.

    ``coder``: ``normalizer`` ("stride" = each prior's level stride ``stride [N]``, or a number) and
    ``clamp_negative``.
    """
    norm = coder.normalizer
    d = ltrb * (np.asarray(stride, np.float32)[:, None] if norm == "stride" else float(norm))
    if coder.clamp_negative:
        d = np.maximum(d, 0.0)
    cx, cy = (priors[:, 0] + priors[:, 2]) / 2, (priors[:, 1] + priors[:, 3]) / 2
    return np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1)


def _decode_anchor_image(
    priors: np.ndarray, strides: np.ndarray, counts: list[int], cls: np.ndarray, reg: np.ndarray,
    qual: np.ndarray | None, spec: AnchorDeltasSpec | AnchorLTRBSpec, score_thr: float, imgsz: int | None,
) -> ImageDetections:
    """One image: ``cls [P, C]``, ``reg [P, 4]``, ``qual [P, 1]`` or None, priors ``[P, 4]``."""
    scores, passes = dense_scores(sigmoid(cls), None if qual is None else sigmoid(qual), spec.quality, score_thr)
    c, top_k = scores.shape[1], spec.nms_pre
    cands, start = [], 0
    for n in counts:
        flat = scores[start : start + n].reshape(-1)
        cand = np.nonzero(passes[start : start + n].reshape(-1))[0]
        if len(cand) > top_k:
            cand = cand[np.argsort(-flat[cand], kind="stable")[:top_k]]
        cands.append(cand + start * c)
        start += n
    anchor_idx, labels = np.divmod(np.concatenate(cands), c)
    if spec.type == "anchor_deltas":
        boxes = decode_deltas_xyxy(priors[anchor_idx], reg[anchor_idx], spec)
    else:
        boxes = decode_ltrb_xyxy(priors[anchor_idx], reg[anchor_idx], strides[anchor_idx], spec)
    if spec.clip_to_input and imgsz is not None:
        boxes = boxes.clip(0, imgsz)
    kept_scores = scores[anchor_idx, labels]
    keep = batched_nms_xyxy(boxes, kept_scores, labels, spec.nms_iou, spec.max_det)
    return boxes[keep].astype(np.float32), kept_scores[keep].astype(np.float32), labels[keep].astype(np.int64)


def decode_anchors(
    outputs: list[np.ndarray], spec: AnchorDeltasSpec | AnchorLTRBSpec, score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """``"anchor_deltas"`` / ``"anchor_ltrb"``: priors + coder -> boxes, sigmoid scores, top-k, NMS."""
    level_priors = grid_priors_xyxy(spec.priors)
    counts = [len(p) for p in level_priors]
    priors = np.concatenate(level_priors)
    strides = np.repeat(np.asarray(spec.priors.strides, np.float32), counts)
    with_quality = spec.quality != "none"
    want = [(spec.num_classes, "cls"), (4, "reg")] + ([(1, "quality")] if with_quality else [])
    if len(outputs) < len(want):
        raise ValueError(f"'{spec.type}' decode needs {len(want)} outputs ({[w[1] for w in want]}), "
                         f"got {len(outputs)}")
    for (k, name), out in zip(want, outputs):
        if np.ndim(out) != 3 or out.shape[1:] != (len(priors), k):
            raise ValueError(f"{name} output must be [B, {len(priors)}, {k}] for these priors, got {np.shape(out)}")
    cls, reg = np.asarray(outputs[0], np.float32), np.asarray(outputs[1], np.float32)
    qual = np.asarray(outputs[2], np.float32) if with_quality else None
    return [_decode_anchor_image(priors, strides, counts, cls[b], reg[b], None if qual is None else qual[b], spec,
                                 score_thr, imgsz) for b in range(cls.shape[0])]


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _rpn_survivors(proposals: np.ndarray, objectness: np.ndarray, spec: TwoStageSpec) -> np.ndarray:
    """Rows of one image's proposals ``[N, 4]`` kept by the RPN: size filter, NMS per level, the best
    ``rpn_max_test`` (descending score)."""
    counts = spec.level_counts
    levels = np.repeat(np.arange(len(counts)), counts)
    min_size = spec.rpn_min_size
    wh = proposals[:, 2:] - proposals[:, :2]
    rows = np.nonzero((wh[:, 0] >= min_size) & (wh[:, 1] >= min_size))[0]
    keep = batched_nms_xyxy(proposals[rows], sigmoid(objectness[rows]), levels[rows], spec.rpn_nms_iou,
                            spec.rpn_max_test)
    return rows[keep]


def decode_two_stage(
    outputs: list[np.ndarray], spec: TwoStageSpec, score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """``"two_stage"``: the RPN's NMS picks the rows, then the R-CNN scores, boxes and class-wise NMS."""
    if len(outputs) < 4:
        raise ValueError(f"two_stage decode needs outputs (proposals, objectness, cls_logits, box_deltas), "
                         f"got {len(outputs)} outputs")
    props, obj, cls, reg = (np.asarray(o, np.float32) for o in outputs[:4])
    c, n = spec.num_classes, sum(spec.level_counts)
    want = {"proposals": (props, (n, 4)), "objectness": (obj, (n,)), "cls_logits": (cls, (n, c + 1)),
            "box_deltas": (reg, (n, 4 * c))}
    for name, (out, shape) in want.items():
        if out.ndim != len(shape) + 1 or out.shape[1:] != shape or out.shape[0] != props.shape[0]:
            raise ValueError(f"{name} output must be [B, {', '.join(map(str, shape))}] for level_counts "
                             f"{spec.level_counts}, got {out.shape}")
    results = []
    for b in range(props.shape[0]):
        rows = _rpn_survivors(props[b], obj[b], spec)
        scores = softmax(cls[b, rows])[:, :c]  # [K, C]
        boxes = decode_deltas_xyxy(np.repeat(props[b, rows], c, axis=0), reg[b, rows].reshape(-1, 4), spec)
        if spec.clip_to_input and imgsz is not None:
            boxes = boxes.clip(0, imgsz)
        r, labels = np.nonzero(scores > score_thr)
        boxes, kept = boxes.reshape(-1, c, 4)[r, labels], scores[r, labels]
        keep = batched_nms_xyxy(boxes, kept, labels, spec.nms_iou, spec.max_det)
        results.append((boxes[keep].astype(np.float32), kept[keep].astype(np.float32), labels[keep].astype(np.int64)))
    return results


def decode_detections_in_model(
    outputs: list[np.ndarray], spec: DetectionsInModelSpec, score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """``"detections_in_model"``: split the graph's NMS rows by image, threshold, sort (module docstring)."""
    if len(outputs) < 2:
        raise ValueError(f"detections_in_model decode needs outputs (rows [N, 6], counts [B]), got {len(outputs)}")
    rows, counts = np.asarray(outputs[0], np.float32), np.asarray(outputs[1])
    if rows.ndim != 2 or rows.shape[1] != 6:
        raise ValueError(f"detections_in_model rows must be [N, 6] (class, score, x1, y1, x2, y2), got {rows.shape}")
    counts = np.rint(counts.reshape(-1)).astype(np.int64)
    if counts.size and (counts.min() < 0 or counts.sum() > len(rows)):
        raise ValueError(f"detections_in_model counts {counts.tolist()} do not fit {len(rows)} rows")
    results, start = [], 0
    for n in counts:
        image_rows, start = rows[start : start + n], start + n
        image_rows = image_rows[(image_rows[:, 0] >= 0) & (image_rows[:, 1] > score_thr)]
        image_rows = image_rows[np.argsort(-image_rows[:, 1], kind="stable")]
        boxes = image_rows[:, 2:6] if imgsz is None else image_rows[:, 2:6].clip(0, imgsz)
        results.append((boxes, image_rows[:, 1].copy(), np.rint(image_rows[:, 0]).astype(np.int64)))
    return results


DECODERS: dict[str, Callable[[list[np.ndarray], Any, float, int | None], list[ImageDetections]]] = {
    "topk_boxes": decode_topk_boxes,
    "anchor_deltas": decode_anchors,
    "anchor_ltrb": decode_anchors,
    "two_stage": decode_two_stage,
    "detections_in_model": decode_detections_in_model,
}


def decode_outputs(
    outputs: list[np.ndarray], spec: DecodeSpec | dict[str, Any], score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """Raw outputs (in ``edgedet.json`` order) -> per-image ``(boxes xyxy input px, scores, labels)``.

    Args:
        outputs: the exported graph's outputs, batch first.
        spec: a typed decode spec, or ``edgedet.json["decode"]`` (validated through
            :func:`edgedet.deploy.decode_spec.decode_spec_from_dict`: ``ValueError`` naming a bad field).
        score_thr: keep scores strictly above this.
        imgsz: model input side; decoders clip boxes to ``[0, imgsz]`` when given and ``spec.clip_to_input``.
    """
    spec = as_decode_spec(spec)
    return DECODERS[spec.type](outputs, spec, float(score_thr), imgsz)
