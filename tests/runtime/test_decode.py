"""numpy decoders: topk_boxes on hand-built outputs; anchor decoders against the torch priors / coders / NMS."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms

from edgedet.runtime.decode import decode_outputs, grid_priors_xyxy, sigmoid
from edgedet.structures.coders import DeltaXYWHCoder, LTRBDistanceCoder
from edgedet.structures.priors import atss_anchors, retinanet_anchors


def test_topk_boxes_threshold_and_duplicate_peaks():
    boxes = np.array([[[10, 10, 50, 50], [11, 10, 51, 50], [10, 10, 50, 50], [60, 60, 90, 90], [0, 0, 5, 5]],
                      [[0, 0, 8, 8], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]], np.float32)
    scores = np.array([[0.9, 0.85, 0.8, 0.6, 0.2], [0.5, 0.0, 0.0, 0.0, 0.0]], np.float32)
    labels = np.array([[1, 1, 2, 0, 1], [2, 0, 0, 0, 0]], np.float32)
    spec = {"type": "topk_boxes", "topk": 5}
    (b0, s0, l0), (_, s1, l1) = decode_outputs([boxes, scores, labels], spec, 0.25)
    # entry 1 duplicates entry 0 (same label, IoU 0.95); entry 2 has another label; entry 4 is below 0.25
    np.testing.assert_array_equal(s0, np.float32([0.9, 0.8, 0.6]))
    np.testing.assert_array_equal(l0, [1, 2, 0])
    np.testing.assert_array_equal(b0, boxes[0, [0, 2, 3]])
    assert l0.dtype == np.int64 and b0.dtype == np.float32
    np.testing.assert_array_equal(s1, np.float32([0.5]))
    np.testing.assert_array_equal(l1, [2])
    (b, s, _), _ = decode_outputs([boxes, scores, labels], {**spec, "dedup_iou": 0.99}, 0.1)
    assert len(s) == 5  # nothing is a duplicate at IoU > 0.99
    (b, s, _), _ = decode_outputs([boxes, scores, labels], spec, 0.95)
    assert b.shape == (0, 4) and s.shape == (0,)


def test_unknown_decode_type_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown decode type 'yolo'.*\['anchor_deltas', 'anchor_ltrb'"):
        decode_outputs([], {"type": "yolo"}, 0.5)


@pytest.mark.parametrize("gen", [retinanet_anchors((8, 16, 32)), atss_anchors((8, 16, 32))])
def test_priors_rebuilt_exactly_from_the_generator_spec(gen):
    sizes = [(12, 10), (6, 5), (3, 3)]
    ref = gen.grid_priors(sizes)
    ours = grid_priors_xyxy(gen.spec(sizes))
    for r, o in zip(ref, ours):
        np.testing.assert_allclose(o, r.numpy(), atol=1e-4)


def _reference_postprocess(priors, cls, reg, decode_box, score_thr, top_k, iou, max_det):
    """Torch reference: per level threshold + top-k over (anchor, class), decode, batched NMS, max_det."""
    boxes, scores, labels = [], [], []
    for p, c, r in zip(priors, cls, reg):
        s = c.sigmoid().reshape(-1)
        keep = torch.nonzero(s > score_thr).squeeze(1)
        s = s[keep]
        s, order = s.sort(descending=True, stable=True)
        keep = keep[order][:top_k]
        anchor, label = keep // c.shape[1], keep % c.shape[1]
        boxes.append(decode_box(p[anchor], r[anchor]))
        scores.append(s[:top_k])
        labels.append(label)
    boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
    keep = batched_nms(boxes, scores, labels, iou)[:max_det]
    return boxes[keep].numpy(), scores[keep].numpy(), labels[keep].numpy()


def _level_maps(rng, sizes, a, k):
    return [rng.normal(-2.0, 1.5, (1, a * k, h, w)).astype(np.float32) for h, w in sizes]


def _flatten(maps, k):
    """[1, A*k, H, W] -> [N, k] in (y, x, anchor) order, like the heads do."""
    return [torch.from_numpy(m).permute(0, 2, 3, 1).reshape(-1, k) for m in maps]


def test_anchor_deltas_matches_torch_priors_coder_and_nms():
    gen, sizes, c = retinanet_anchors((8, 16, 32)), [(8, 8), (4, 4), (2, 2)], 3
    coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
    rng = np.random.default_rng(0)
    cls, reg = _level_maps(rng, sizes, 9, c), [m * 0.3 for m in _level_maps(rng, sizes, 9, 4)]
    spec = {"type": "anchor_deltas", "num_classes": c, "priors": gen.spec(sizes),
            "cls_outputs": [0, 1, 2], "reg_outputs": [3, 4, 5],
            "coder": {"means": list(coder.means), "stds": list(coder.stds), "wh_clamp": coder.wh_clamp},
            "pre_nms_top_k": 50, "nms_iou": 0.5, "max_det": 15, "clip": True}
    boxes, scores, labels = decode_outputs(cls + reg, spec, 0.1, imgsz=64)[0]
    ref = _reference_postprocess(gen.grid_priors(sizes), _flatten(cls, c), _flatten(reg, 4),
                                 lambda p, r: coder.decode(p, r, max_shape=(64, 64)), 0.1, 50, 0.5, 15)
    assert len(scores) == 15  # max_det reached: the top-k and NMS really select
    np.testing.assert_allclose(boxes, ref[0], atol=1e-3)
    np.testing.assert_allclose(scores, ref[1], atol=1e-6)
    np.testing.assert_array_equal(labels, ref[2])


def test_anchor_ltrb_flattened_outputs_with_quality():
    gen, sizes, c = atss_anchors((8, 16)), [(6, 6), (3, 3)], 2
    rng = np.random.default_rng(1)
    cls_maps, q_maps = _level_maps(rng, sizes, 1, c), _level_maps(rng, sizes, 1, 1)
    reg_maps = [np.abs(m) for m in _level_maps(rng, sizes, 1, 4)]
    cat = [torch.cat(_flatten(m, k)).numpy()[None] for m, k in ((cls_maps, c), (reg_maps, 4), (q_maps, 1))]
    spec = {"type": "anchor_ltrb", "num_classes": c, "priors": gen.spec(sizes), "cls_outputs": [0],
            "reg_outputs": [1], "quality_outputs": [2], "quality": "sqrt",
            "coder": {"normalizer": "stride", "clamp_negative": True}, "pre_nms_top_k": 1000, "nms_iou": 0.6,
            "max_det": 100, "clip": False}
    boxes, scores, labels = decode_outputs(cat, spec, 0.05)[0]
    # reference: priors + LTRBDistanceCoder(normalizer = stride), score sqrt(sigmoid(cls) * sigmoid(q))
    priors = torch.cat(gen.grid_priors(sizes))
    strides = torch.cat([torch.full((h * w,), float(s)) for s, (h, w) in zip((8, 16), sizes)])
    ref_boxes = LTRBDistanceCoder().decode(priors, torch.from_numpy(cat[1][0]), strides)
    ref_scores = torch.sqrt(torch.from_numpy(sigmoid(cat[0][0])) * torch.from_numpy(sigmoid(cat[2][0])))
    flat = ref_scores.reshape(-1)
    keep = torch.nonzero(flat > 0.05).squeeze(1)
    anchor, label = keep // c, keep % c
    nms = batched_nms(ref_boxes[anchor], flat[keep], label, 0.6)[:100]
    assert 5 < len(scores) <= 100
    np.testing.assert_allclose(scores, flat[keep][nms].numpy(), atol=1e-6)
    np.testing.assert_allclose(boxes, ref_boxes[anchor][nms].numpy(), atol=1e-4)
    np.testing.assert_array_equal(labels, label[nms].numpy())


def test_anchor_spec_errors():
    gen = atss_anchors((8,))
    spec = {"type": "anchor_ltrb", "num_classes": 2, "priors": gen.spec([(4, 4)]), "cls_outputs": [0]}
    with pytest.raises(ValueError, match="needs 'reg_outputs'"):
        decode_outputs([np.zeros((1, 2, 4, 4), np.float32)], spec, 0.5)
    spec["reg_outputs"] = [1]
    with pytest.raises(ValueError, match="does not match 16 priors"):
        decode_outputs([np.zeros((1, 2, 3, 4), np.float32), np.zeros((1, 4, 3, 4), np.float32)], spec, 0.5)
