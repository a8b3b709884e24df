"""Raw exported outputs -> detections in model-input pixels, numpy only.

``decode_outputs(outputs, spec, score_thr)`` dispatches on ``spec["type"]`` (``Detector.decode_spec()``, stored
in ``edgedet.json``) through the literal table :data:`DECODERS`. Each decoder returns, per image,
``(boxes float32 [N, 4] xyxy input px, scores float32 [N] descending, labels int64 [N])``.

Decode specs:

``"topk_boxes"`` (PAFNet/TTFNet: the graph already did sigmoid, 3x3 max-pool peaks, top-k and box decoding)::

    {"type": "topk_boxes", "num_classes": C, "top_k": 100,
     "dedup_iou": 0.7}                     # optional, default 0.7
    outputs: boxes [B, K, 4] xyxy input px, scores [B, K], labels [B, K] (float), in this order.

  Keeps ``scores > score_thr``, then removes duplicate peaks: same label and IoU > ``dedup_iou`` -> the
  higher score wins. Quantized heatmaps form plateaus whose neighbouring pixels all pass the max-pool test.

``"anchor_deltas"`` / ``"anchor_ltrb"`` (RetinaNet / ATSS / GFL-style dense heads)::

    {"type": "anchor_deltas" | "anchor_ltrb", "num_classes": C,
     "priors": AnchorGenerator.spec(feat_sizes),   # {"type": "grid_anchors", "strides", "feat_sizes",
                                                   #  "center_offset", "base_anchors": per level [A, 4] xyxy}
               | {"type": "grid_points", "strides", "feat_sizes", "center_offset"},   # A = 1, zero-size
     "cls_outputs": [0, 1, ...],      # output index per level (or one index: all levels flattened)
     "reg_outputs": [5, 6, ...],
     "quality_outputs": [...],        # optional IoU / centerness logits, 1 channel per anchor
     "quality": "multiply" | "sqrt",  # score = sigmoid(cls) * sigmoid(q)  (or its square root)
     "coder": {"means": [0, 0, 0, 0], "stds": [1, 1, 1, 1], "wh_clamp": 4.135}          # anchor_deltas
              {"normalizer": "stride" | float, "clamp_negative": true}                # anchor_ltrb
     "pre_nms_top_k": 1000, "nms_iou": 0.5, "max_det": 100, "clip": true}

  Per-level outputs are ``[B, A * K, H, W]`` with channel ``a * K + k`` (K = C, 4 or 1); a single flattened
  output is ``[B, N, K]`` with N ordered level, y, x, anchor (``edgedet.structures.priors`` layout). The
  anchor of ``(level, y, x, a)`` is ``base_anchors[level][a] + (cx, cy, cx, cy)``, ``cx = (x + off) * stride``.
  ``anchor_deltas`` is ``DeltaXYWHCoder.decode`` (``d = raw * stds + means``, dw/dh clamped to ``wh_clamp``);
  ``anchor_ltrb`` is ``LTRBDistanceCoder.decode`` (distances from the anchor centre times ``normalizer``,
  negatives clamped to 0). Scores are sigmoids; per level, scores > ``score_thr``, then the ``pre_nms_top_k``
  best (anchor, class) pairs; then class-wise NMS at ``nms_iou`` (suppress IoU > thr) and the ``max_det`` best.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgedet.runtime.nms import batched_nms_xyxy

ImageDetections = tuple[np.ndarray, np.ndarray, np.ndarray]


def _empty() -> ImageDetections:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, np.float32)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def decode_topk_boxes(
    outputs: list[np.ndarray], spec: dict[str, Any], score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """``"topk_boxes"``: threshold + duplicate-peak removal (see module docstring)."""
    if len(outputs) < 3:
        raise ValueError(f"topk_boxes decode needs outputs (boxes, scores, labels), got {len(outputs)} outputs")
    boxes, scores, labels = (np.asarray(o, np.float32) for o in outputs[:3])
    dedup_iou = float(spec.get("dedup_iou", 0.7))
    results = []
    for b in range(boxes.shape[0]):
        keep = scores[b] > score_thr
        bx, sc, lb = boxes[b][keep], scores[b][keep], np.rint(labels[b][keep]).astype(np.int64)
        order = batched_nms_xyxy(bx, sc, lb, dedup_iou)
        results.append((bx[order], sc[order], lb[order]))
    return results


def grid_priors_xyxy(priors: dict[str, Any]) -> list[np.ndarray]:
    """Per level ``[H * W * A, 4]`` xyxy priors, ordered (y, x, anchor), from a prior spec (module docstring)."""
    kind = priors.get("type")
    if kind not in ("grid_anchors", "grid_points"):
        raise ValueError(f"unknown prior type {kind!r}; expected 'grid_anchors' or 'grid_points'")
    off = float(priors.get("center_offset", 0.5))
    out = []
    for lvl, (stride, (h, w)) in enumerate(zip(priors["strides"], priors["feat_sizes"])):
        base = (np.asarray(priors["base_anchors"][lvl], np.float32).reshape(-1, 4) if kind == "grid_anchors"
                else np.zeros((1, 4), np.float32))
        ys, xs = np.meshgrid((np.arange(h, dtype=np.float32) + off) * stride,
                             (np.arange(w, dtype=np.float32) + off) * stride, indexing="ij")
        shifts = np.stack([xs.reshape(-1), ys.reshape(-1)] * 2, axis=1)  # [HW, 4]
        out.append((shifts[:, None, :] + base[None]).reshape(-1, 4))
    return out


def _level_maps(outputs: list[np.ndarray], indices: list[int], k: int, counts: list[int]) -> list[np.ndarray]:
    """Per-level ``[B, N_l, k]`` from per-level ``[B, A*k, H, W]`` maps or one flattened ``[B, N, k]`` output."""
    if len(indices) == 1 and len(counts) > 1 or np.asarray(outputs[indices[0]]).ndim == 3:
        flat = np.asarray(outputs[indices[0]], np.float32)
        if flat.ndim != 3 or flat.shape[1] != sum(counts) or flat.shape[2] != k:
            raise ValueError(f"flattened anchor output must be [B, {sum(counts)}, {k}], got {flat.shape}")
        return np.split(flat, np.cumsum(counts)[:-1], axis=1)
    if len(indices) != len(counts):
        raise ValueError(f"{len(indices)} per-level outputs for {len(counts)} prior levels")
    maps = []
    for i, n in zip(indices, counts):
        m = np.asarray(outputs[i], np.float32)
        bsz, ch, h, w = m.shape
        maps.append(m.reshape(bsz, ch // k, k, h, w).transpose(0, 3, 4, 1, 2).reshape(bsz, -1, k))
        if maps[-1].shape[1] != n:
            raise ValueError(f"output {i} {m.shape} does not match {n} priors of its level")
    return maps


def decode_deltas_xyxy(priors: np.ndarray, deltas: np.ndarray, coder: dict[str, Any]) -> np.ndarray:
    """(dx, dy, dw, dh) deltas ``[N, 4]`` relative to priors ``[N, 4]`` xyxy -> boxes ``[N, 4]`` xyxy."""
    d = deltas * np.asarray(coder.get("stds", [1, 1, 1, 1]), np.float32) + np.asarray(
        coder.get("means", [0, 0, 0, 0]), np.float32)
    clamp = float(coder.get("wh_clamp", abs(np.log(16 / 1000))))
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    px, py = priors[:, 0] + 0.5 * pw, priors[:, 1] + 0.5 * ph
    gx, gy = px + d[:, 0] * pw, py + d[:, 1] * ph
    gw, gh = pw * np.exp(np.clip(d[:, 2], -clamp, clamp)), ph * np.exp(np.clip(d[:, 3], -clamp, clamp))
    return np.stack([gx - 0.5 * gw, gy - 0.5 * gh, gx + 0.5 * gw, gy + 0.5 * gh], axis=1)


def decode_ltrb_xyxy(priors: np.ndarray, ltrb: np.ndarray, stride: float, coder: dict[str, Any]) -> np.ndarray:
    """Distances ``[N, 4]`` (l, t, r, b) from the prior centres -> boxes ``[N, 4]`` xyxy."""
    norm = coder.get("normalizer", "stride")
    d = ltrb * (float(stride) if norm == "stride" else float(norm))
    if coder.get("clamp_negative", True):
        d = np.maximum(d, 0.0)
    cx, cy = (priors[:, 0] + priors[:, 2]) / 2, (priors[:, 1] + priors[:, 3]) / 2
    return np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1)


def _decode_anchor_image(levels_data: list[tuple], spec: dict[str, Any], score_thr: float, imgsz: int | None):
    top_k = int(spec.get("pre_nms_top_k", 1000))
    all_boxes, all_scores, all_labels = [], [], []
    for stride, priors, cls, reg, qual in levels_data:
        scores = sigmoid(cls)  # [N, C]
        if qual is not None:
            scores = scores * sigmoid(qual)
            if spec.get("quality", "multiply") == "sqrt":
                scores = np.sqrt(scores)
        flat = scores.reshape(-1)
        cand = np.nonzero(flat > score_thr)[0]
        if len(cand) > top_k:
            cand = cand[np.argsort(-flat[cand], kind="stable")[:top_k]]
        anchor_idx, labels = np.divmod(cand, scores.shape[1])
        if spec["type"] == "anchor_deltas":
            boxes = decode_deltas_xyxy(priors[anchor_idx], reg[anchor_idx], spec.get("coder", {}))
        else:
            boxes = decode_ltrb_xyxy(priors[anchor_idx], reg[anchor_idx], stride, spec.get("coder", {}))
        all_boxes.append(boxes)
        all_scores.append(flat[cand])
        all_labels.append(labels)
    boxes, scores, labels = np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_labels)
    if spec.get("clip", True) and imgsz is not None:
        boxes = boxes.clip(0, imgsz)
    keep = batched_nms_xyxy(boxes, scores, labels, float(spec.get("nms_iou", 0.5)), int(spec.get("max_det", 100)))
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep].astype(np.int64)


def decode_anchors(
    outputs: list[np.ndarray], spec: dict[str, Any], score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """``"anchor_deltas"`` / ``"anchor_ltrb"``: priors + coder -> boxes, sigmoid scores, top-k, NMS."""
    for key in ("priors", "cls_outputs", "reg_outputs", "num_classes"):
        if key not in spec:
            raise ValueError(f"decode spec '{spec['type']}' needs '{key}' (see edgedet.runtime.decode)")
    priors = grid_priors_xyxy(spec["priors"])
    counts, strides = [len(p) for p in priors], spec["priors"]["strides"]
    cls = _level_maps(outputs, spec["cls_outputs"], int(spec["num_classes"]), counts)
    reg = _level_maps(outputs, spec["reg_outputs"], 4, counts)
    qual = _level_maps(outputs, spec["quality_outputs"], 1, counts) if spec.get("quality_outputs") else None
    results = []
    for b in range(cls[0].shape[0]):
        data = [(strides[i], priors[i], cls[i][b], reg[i][b], None if qual is None else qual[i][b])
                for i in range(len(priors))]
        results.append(_decode_anchor_image(data, spec, score_thr, imgsz))
    return results


DECODERS: dict[str, Callable[[list[np.ndarray], dict[str, Any], float, int | None], list[ImageDetections]]] = {
    "topk_boxes": decode_topk_boxes,
    "anchor_deltas": decode_anchors,
    "anchor_ltrb": decode_anchors,
}


def decode_outputs(
    outputs: list[np.ndarray], spec: dict[str, Any], score_thr: float, imgsz: int | None = None
) -> list[ImageDetections]:
    """Raw outputs (in ``edgedet.json`` order) -> per-image ``(boxes xyxy input px, scores, labels)``.

    Args:
        outputs: the exported graph's outputs, batch first.
        spec: ``edgedet.json["decode"]``.
        score_thr: keep scores strictly above this.
        imgsz: model input side; anchor decoders clip boxes to ``[0, imgsz]`` when given and ``spec["clip"]``.
    """
    kind = spec.get("type")
    if kind not in DECODERS:
        raise ValueError(f"unknown decode type {kind!r}; this edgedet decodes {sorted(DECODERS)}: upgrade edgedet "
                         f"or re-export the model")
    return DECODERS[kind](outputs, spec, float(score_thr), imgsz)
