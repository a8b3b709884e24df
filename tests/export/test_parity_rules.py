"""Detection pairing rules of the parity check, on hand-built detections."""

import numpy as np

from edgedet.export.parity import _match_detections, _same_detections


def dets(boxes, scores, labels):
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), np.array(labels)


def test_identical_detections_pass():
    d = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.5], [0, 1])
    m = _match_detections(d, d)
    assert m["matched"] == 2 and m["tie_shifted"] == 0 and _same_detections(m)


def test_one_float_rounding_peak_flip_is_tolerated_and_counted():
    t = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.194864], [0, 1])
    r = dets([[0, 0, 10, 10], [24, 20, 44, 40]], [0.9, 0.194861], [0, 1])  # IoU 0.67: a one-stride shift
    m = _match_detections(t, r)
    assert m["matched"] == 2 and m["tie_shifted"] == 1 and _same_detections(m)


def test_a_moved_box_with_a_different_score_fails():
    t = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.5], [0, 1])
    r = dets([[0, 0, 10, 10], [24, 20, 44, 40]], [0.9, 0.45], [0, 1])
    m = _match_detections(t, r)
    assert m["matched"] == 1 and not _same_detections(m)


def test_many_tie_shifts_fail():
    t = dets([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0.5, 0.4, 0.3], [0, 0, 0])
    r = dets([[2, 2, 12, 12], [24, 24, 44, 44], [54, 54, 64, 64]], [0.5, 0.4, 0.3], [0, 0, 0])
    m = _match_detections(t, r)
    assert m["tie_shifted"] == 3 and not _same_detections(m)
