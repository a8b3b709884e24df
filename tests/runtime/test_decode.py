"""numpy decoders: topk_boxes on hand-built outputs; anchor decoders against the zoo's dense detectors and the
torch priors / coders / NMS."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms

from edgedet.config.schema import ModelConfig
from edgedet.models.zoo import build_model
from edgedet.runtime.decode import decode_outputs, grid_priors_xyxy
from edgedet.structures.boxes import points_ltrb_to_xyxy
from edgedet.structures.coders import DeltaXYWHCoder
from edgedet.structures.priors import atss_anchors, retinanet_anchors


def test_topk_boxes_threshold_and_duplicate_peaks():
    boxes = np.array([[[10, 10, 50, 50], [11, 10, 51, 50], [10, 10, 50, 50], [60, 60, 90, 90], [0, 0, 5, 5]],
                      [[0, 0, 8, 8], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]], np.float32)
    scores = np.array([[0.9, 0.85, 0.8, 0.6, 0.2], [0.5, 0.0, 0.0, 0.0, 0.0]], np.float32)
    labels = np.array([[1, 1, 2, 0, 1], [2, 0, 0, 0, 0]], np.float32)
    spec = {"type": "topk_boxes"}
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


def test_detections_in_model_splits_thresholds_and_sorts():
    # two images: 3 rows then 2; PaddleDetection's "nothing found" row has class -1
    rows = np.array([[0, 0.4, 1, 2, 30, 40], [2, 0.9, -5, 3, 70, 20], [1, 0.1, 0, 0, 5, 5],
                     [-1, 0.0, 0, 0, 0, 0], [1, 0.6, 10, 10, 20, 20]], np.float32)
    spec = {"type": "detections_in_model", "num_classes": 3, "outputs": ["rows", "counts"]}
    (b0, s0, l0), (b1, s1, l1) = decode_outputs([rows, np.array([3, 2], np.float32)], spec, 0.25, 64)
    np.testing.assert_array_equal(s0, np.float32([0.9, 0.4]))  # sorted, the 0.1 row dropped
    np.testing.assert_array_equal(l0, [2, 0])
    np.testing.assert_array_equal(b0, [[0, 3, 64, 20], [1, 2, 30, 40]])  # clipped to the 64 px input
    np.testing.assert_array_equal(s1, np.float32([0.6]))
    np.testing.assert_array_equal(l1, [1])
    assert l0.dtype == np.int64 and b1.dtype == np.float32
    (b, s, _), = decode_outputs([rows[:0], np.array([0], np.float32)], spec, 0.25, 64)
    assert b.shape == (0, 4) and s.shape == (0,)
    with pytest.raises(ValueError, match=r"counts \[3, 3\] do not fit 5 rows"):
        decode_outputs([rows, np.array([3, 3], np.float32)], spec, 0.25)
    with pytest.raises(ValueError, match=r"rows must be \[N, 6\]"):
        decode_outputs([rows[:, :4], np.array([5], np.float32)], spec, 0.25)


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


def _dense_model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name=name, num_classes=3, width=0.25, imgsz=128)).eval()
    with torch.no_grad():  # spread the class scores so that thresholds, top-k and NMS all have work to do
        model.head.cls_out.weight.normal_(0.0, 0.1)
        model.head.cls_out.bias.fill_(-1.5)
    return model


@pytest.mark.parametrize("name, thr", [("retinanet_r18_fpn", 0.1), ("atss_r18_fpn", 0.15),
                                       ("dynamic_atss_r18_fpn", 0.15)])
def test_anchor_decode_matches_the_dense_detector_postprocess(name, thr):
    model = _dense_model(name)
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 1, (2, 3, 128, 128)).astype(np.float32))
    with torch.no_grad():
        out = model(x)
        ref = model.postprocess(out, score_thr=thr)
    spec = model.decode_spec()
    ours = decode_outputs([o.numpy() for o in out], spec, thr, imgsz=128)
    for (boxes, scores, labels), r in zip(ours, ref):
        assert 10 <= len(scores) <= spec.max_det
        a, b = _canonical(boxes, scores, labels), _canonical(r["boxes"].numpy(), r["scores"].numpy(),
                                                              r["labels"].numpy())
        np.testing.assert_allclose(a[1], b[1], atol=1e-6)
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_allclose(a[0], b[0], atol=1e-3)


def _canonical(boxes, scores, labels):
    """Order by score, then label and box: equal scores may come out of NMS in either order."""
    order = np.lexsort((boxes[:, 1], boxes[:, 0], labels, -np.round(scores, 6)))
    return boxes[order], scores[order], labels[order]


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
    """Per-level [P_l, k] logits in (y, x, anchor) order."""
    return [torch.from_numpy(rng.normal(-2.0, 1.5, (h * w * a, k)).astype(np.float32)) for h, w in sizes]


def test_anchor_deltas_nms_pre_and_max_det():
    gen, sizes, c = retinanet_anchors((8, 16, 32)), [(8, 8), (4, 4), (2, 2)], 3
    coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
    rng = np.random.default_rng(0)
    cls, reg = _level_maps(rng, sizes, 9, c), [m * 0.3 for m in _level_maps(rng, sizes, 9, 4)]
    spec = {"type": "anchor_deltas", "num_classes": c, "priors": gen.spec(sizes), "quality": "none",
            "means": list(coder.means), "stds": list(coder.stds), "wh_clamp": coder.wh_clamp,
            "nms_pre": 50, "nms_iou": 0.5, "max_det": 15, "clip_to_input": True}
    outputs = [torch.cat(cls).numpy()[None], torch.cat(reg).numpy()[None]]
    boxes, scores, labels = decode_outputs(outputs, spec, 0.1, imgsz=64)[0]
    ref = _reference_postprocess(gen.grid_priors(sizes), cls, reg,
                                 lambda p, r: coder.decode(p, r, max_shape=(64, 64)), 0.1, 50, 0.5, 15)
    assert len(scores) == 15  # max_det reached: the top-k and NMS really select
    np.testing.assert_allclose(boxes, ref[0], atol=1e-3)
    np.testing.assert_allclose(scores, ref[1], atol=1e-6)
    np.testing.assert_array_equal(labels, ref[2])


def test_anchor_ltrb_with_quality():
    gen, sizes, c = atss_anchors((8, 16)), [(6, 6), (3, 3)], 2
    rng = np.random.default_rng(1)
    cls, qual = torch.cat(_level_maps(rng, sizes, 1, c)), torch.cat(_level_maps(rng, sizes, 1, 1))
    reg = torch.cat(_level_maps(rng, sizes, 1, 4)).abs()
    spec = {"type": "anchor_ltrb", "num_classes": c, "priors": gen.spec(sizes), "quality": "centerness",
            "normalizer": "stride", "clamp_negative": True, "nms_pre": 1000, "nms_iou": 0.6, "max_det": 100,
            "clip_to_input": False}
    boxes, scores, labels = decode_outputs([cls.numpy()[None], reg.numpy()[None], qual.numpy()[None]], spec, 0.02)[0]
    # reference: prior centres + stride * distances (negatives clamped to 0), score sigmoid(cls) * sigmoid(quality)
    priors = torch.cat(gen.grid_priors(sizes))
    strides = torch.cat([torch.full((h * w,), float(s)) for s, (h, w) in zip((8, 16), sizes)])
    ref_boxes = points_ltrb_to_xyxy((priors[:, :2] + priors[:, 2:]) / 2, (reg * strides[:, None]).clamp(min=0))
    flat = (cls.sigmoid() * qual.sigmoid()).reshape(-1)
    keep = torch.nonzero(flat > 0.02).squeeze(1)
    anchor, label = keep // c, keep % c
    nms = batched_nms(ref_boxes[anchor], flat[keep], label, 0.6)[:100]
    assert 5 < len(scores) <= 100
    np.testing.assert_allclose(scores, flat[keep][nms].numpy(), atol=1e-6)
    np.testing.assert_allclose(boxes, ref_boxes[anchor][nms].numpy(), atol=1e-4)
    np.testing.assert_array_equal(labels, label[nms].numpy())


def test_anchor_iou_quality_thresholds_the_class_probability_and_scores_the_geometric_mean():
    # two grid points (stride 8, centres (4, 4) and (12, 4)), one class; logit(p) = ln(p / (1 - p))
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    spec = {"type": "anchor_ltrb", "num_classes": 1, "quality": "iou", "normalizer": 1.0, "clamp_negative": True,
            "priors": {"type": "grid_points", "strides": [8], "feat_sizes": [[1, 2]], "center_offset": 0.5},
            "nms_pre": 1000, "nms_iou": 0.5, "max_det": 100, "clip_to_input": False}
    cls = np.float32([[[logit(0.16)], [logit(0.04)]]])
    qual = np.float32([[[logit(0.25)], [logit(0.81)]]])
    reg = np.float32([[[2, 2, 2, 2], [3, 3, 3, 3]]])
    boxes, scores, labels = decode_outputs([cls, reg, qual], spec, 0.05)[0]
    # prior 0: c = .16 passes 0.05 although c * q = .04 does not; score sqrt(.04) = .2. Prior 1: c = .04 fails
    # although its score sqrt(.0324) = .18 would pass
    np.testing.assert_allclose(scores, [0.2], rtol=1e-5)
    np.testing.assert_allclose(boxes, [[2, 2, 6, 6]], atol=1e-5)
    assert labels.tolist() == [0]


def test_anchor_spec_errors():
    spec = {"type": "anchor_deltas", "num_classes": 2, "priors": atss_anchors((8,)).spec([(4, 4)]),
            "quality": "iou"}
    with pytest.raises(ValueError, match=r"needs 3 outputs \(\['cls', 'reg', 'quality'\]\)"):
        decode_outputs([np.zeros((1, 16, 2), np.float32), np.zeros((1, 16, 4), np.float32)], spec, 0.5)
    with pytest.raises(ValueError, match=r"cls output must be \[B, 16, 2\] for these priors"):
        decode_outputs([np.zeros((1, 12, 2), np.float32)] + [np.zeros((1, 16, 4), np.float32)] * 2, spec, 0.5)
    with pytest.raises(ValueError, match="needs 'priors'"):
        decode_outputs([], {"type": "anchor_ltrb", "num_classes": 2}, 0.5)


def _two_stage_spec(**kw):
    spec = {"type": "two_stage", "num_classes": 2, "level_counts": [3, 1], "rpn_min_size": 1e-3, "rpn_nms_iou": 0.7,
            "rpn_max_test": 2, "means": [0, 0, 0, 0], "stds": [0.1, 0.1, 0.2, 0.2], "wh_clamp": 4.135,
            "nms_iou": 0.5, "max_det": 100, "clip_to_input": True}
    return {**spec, **kw}


def test_two_stage_rpn_nms_per_level_then_rcnn_scores():
    # level 0: A, B (IoU(A, B) = 10/11 > 0.7: B suppressed), a 0.0005 px wide sliver (dropped by size);
    # level 1: C overlaps A as much but lives on another level. rpn_max_test = 2 keeps A and C.
    props = np.array([[[0, 0, 10, 10], [0, 0, 10, 11], [20, 20, 20.0005, 30], [0, 0, 10, 10.5]]], np.float32)
    obj = np.array([[2.0, 1.0, 9.0, 0.0]], np.float32)
    cls = np.array([[[2.0, 0, 0], [0, 9, 0], [9, 0, 0], [0, 3, 0]]], np.float32)  # rows B and the sliver: never used
    deltas = np.zeros((1, 4, 8), np.float32)
    deltas[0, 0, :4] = [1.0, 0, 0, 0]  # A, class 0: dx = 1 * 0.1 * width -> shifted 1 px right
    boxes, scores, labels = decode_outputs([props, obj, cls, deltas], _two_stage_spec(), 0.1, imgsz=64)[0]
    e2, e3 = np.exp(2.0), np.exp(3.0)
    # C as class 0 (1 / (e3 + 2)) and A as class 1 fall to the class-wise NMS: IoU 90 / 115 > 0.5 with the winners
    np.testing.assert_allclose(scores, [e3 / (e3 + 2), e2 / (e2 + 2)], rtol=1e-6)
    np.testing.assert_array_equal(labels, [1, 0])
    np.testing.assert_allclose(boxes, [[0, 0, 10, 10.5], [1, 0, 11, 10]], atol=1e-5)
    boxes, scores, labels = decode_outputs([props, obj, cls, deltas], _two_stage_spec(nms_iou=0.8), 0.01, 64)[0]
    # at 0.8, C as class 0 survives (IoU 0.78 with A) while A as class 1 still does not (IoU 100 / 105 with C)
    np.testing.assert_allclose(scores, [e3 / (e3 + 2), e2 / (e2 + 2), 1 / (e3 + 2)], rtol=1e-6)
    np.testing.assert_array_equal(labels, [1, 0, 0])
    # one proposal per image after the RPN; boxes clipped to the input; a score threshold
    boxes, scores, labels = decode_outputs([props, obj, cls, deltas], _two_stage_spec(rpn_max_test=1), 0.5, 5)[0]
    np.testing.assert_allclose(boxes, [[1, 0, 5, 5]], atol=1e-6)
    np.testing.assert_allclose(scores, [e2 / (e2 + 2)], rtol=1e-6)


def test_two_stage_spec_and_output_errors():
    props, obj = np.zeros((1, 4, 4), np.float32), np.zeros((1, 4), np.float32)
    cls, deltas = np.zeros((1, 4, 3), np.float32), np.zeros((1, 4, 8), np.float32)
    with pytest.raises(ValueError, match="needs 'level_counts'"):
        decode_outputs([props, obj, cls, deltas], {"type": "two_stage", "num_classes": 2}, 0.5)
    with pytest.raises(ValueError, match=r"needs outputs \(proposals, objectness, cls_logits, box_deltas\)"):
        decode_outputs([props, obj], _two_stage_spec(), 0.5)
    with pytest.raises(ValueError, match=r"cls_logits output must be \[B, 4, 3\] for level_counts \[3, 1\]"):
        decode_outputs([props, obj, cls[:, :, :2], deltas], _two_stage_spec(), 0.5)
    with pytest.raises(ValueError, match=r"proposals output must be \[B, 5, 4\]"):
        decode_outputs([props, obj, cls, deltas], _two_stage_spec(level_counts=[3, 2]), 0.5)
