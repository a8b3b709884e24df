"""Class-wise NMS (cv2.dnn.NMSBoxesBatched) on hand-built boxes and against torchvision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms, box_iou

from edgedet.runtime.nms import batched_nms_xyxy, box_iou_xyxy

A, B, C, D = [0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30]  # IoU(A, B) = 81 / 119


def test_hand_built_suppression_and_order():
    boxes = np.array([A, B, C, D], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    labels = np.array([0, 0, 1, 0])
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, labels, 0.5), [3, 0, 2])  # B under A; C other label
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, labels, 0.7), [3, 0, 1, 2])  # 0.68 < 0.7
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, np.zeros(4), 0.5), [3, 0])  # A == C
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, labels, 0.5, max_det=2), [3, 0])


def test_greedy_chain_and_strict_threshold():
    # IoU(a, b) = IoU(b, c) = 1/3, IoU(a, c) = 0: b goes, so c stays although b would have removed it
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, np.zeros(3), 0.3), [0, 2])
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, np.zeros(3), 0.34), [0, 1, 2])


def test_sub_pixel_boxes_are_not_rounded():
    # IoU = 0.09 / 0.23 = 0.39: integer rectangles would make these empty and keep both
    boxes = np.array([[0, 0, 0.4, 0.4], [0.1, 0.1, 0.5, 0.5]], np.float32)
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, [0.9, 0.8], [0, 0], 0.3), [0])


def test_empty_and_bad_lengths():
    assert batched_nms_xyxy(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).shape == (0,)
    with pytest.raises(ValueError, match="differ in length"):
        batched_nms_xyxy(np.zeros((2, 4)), np.zeros(3), np.zeros(2), 0.5)


def test_matches_torchvision_on_random_boxes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (300, 2))
    wh = rng.uniform(5, 60, (300, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    labels = rng.integers(0, 4, 300)
    for thr in (0.3, 0.5, 0.7):
        ref = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), thr).numpy()
        np.testing.assert_array_equal(batched_nms_xyxy(boxes, scores, labels, thr), ref)
    np.testing.assert_allclose(box_iou_xyxy(boxes[:50], boxes[50:90]),
                               box_iou(torch.from_numpy(boxes[:50]), torch.from_numpy(boxes[50:90])).numpy(),
                               atol=1e-6)


def test_max_det_caps_the_result_not_the_candidates():
    # a cap on the candidates (cv2's top_k) would return [0] only: the duplicate uses up the second slot
    boxes = np.array([A, A, D], np.float32)
    np.testing.assert_array_equal(batched_nms_xyxy(boxes, [0.9, 0.8, 0.7], [0, 0, 0], 0.5, max_det=2), [0, 2])
