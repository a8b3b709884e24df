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
        assert 10 <= len(scores) <= spec["max_det"]
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
    # reference: priors + LTRBDistanceCoder(normalizer = stride), score sigmoid(cls) * sigmoid(quality)
    priors = torch.cat(gen.grid_priors(sizes))
    strides = torch.cat([torch.full((h * w,), float(s)) for s, (h, w) in zip((8, 16), sizes)])
    ref_boxes = LTRBDistanceCoder().decode(priors, reg, strides)
    flat = (cls.sigmoid() * qual.sigmoid()).reshape(-1)
    keep = torch.nonzero(flat > 0.02).squeeze(1)
    anchor, label = keep // c, keep % c
    nms = batched_nms(ref_boxes[anchor], flat[keep], label, 0.6)[:100]
    assert 5 < len(scores) <= 100
    np.testing.assert_allclose(scores, flat[keep][nms].numpy(), atol=1e-6)
    np.testing.assert_allclose(boxes, ref_boxes[anchor][nms].numpy(), atol=1e-4)
    np.testing.assert_array_equal(labels, label[nms].numpy())


def test_anchor_spec_errors():
    spec = {"type": "anchor_deltas", "num_classes": 2, "priors": atss_anchors((8,)).spec([(4, 4)]),
            "quality": "iou"}
    with pytest.raises(ValueError, match=r"needs 3 outputs \(\['cls', 'reg', 'quality'\]\)"):
        decode_outputs([np.zeros((1, 16, 2), np.float32), np.zeros((1, 16, 4), np.float32)], spec, 0.5)
    with pytest.raises(ValueError, match=r"cls output must be \[B, 16, 2\] for these priors"):
        decode_outputs([np.zeros((1, 12, 2), np.float32)] + [np.zeros((1, 16, 4), np.float32)] * 2, spec, 0.5)
    with pytest.raises(ValueError, match="needs 'priors'"):
        decode_outputs([], {"type": "anchor_ltrb", "num_classes": 2}, 0.5)
