"""edgedet.deploy.draw and Detections.draw: boxes in class colours, labels with names and scores, input untouched."""

from __future__ import annotations

import numpy as np
import pytest

from edgedet.deploy.draw import PALETTE, class_color, draw_detections, label_text
from edgedet.runtime import Detections

GREY = 128


def _dets(names=("cat", "dog")) -> Detections:
    return Detections(np.array([[10, 120, 60, 180], [120, 40, 220, 140]], np.float32), np.array([0.9, 0.4], np.float32),
                      np.array([1, 0], np.int64), list(names) if names else None)


def test_boxes_in_class_colours_and_input_untouched():
    image = np.full((200, 240, 3), GREY, np.uint8)
    dets = _dets()
    out = dets.draw(image)
    assert (image == GREY).all()  # a copy is drawn on
    # box 0 (class 1): its bottom and right edges are the class colour (2 px lines at this size); box 1 (class 0) too
    assert (out[180, 12:59] == class_color(1)).all() and (out[122:179, 60] == class_color(1)).all()
    assert (out[140, 122:219] == class_color(0)).all() and (out[42:139, 220] == class_color(0)).all()
    assert class_color(0) != class_color(1)
    # inside a box, away from its label, nothing changed
    assert (out[160, 20:50] == GREY).all() and (out[100:130, 140:200] == GREY).all()
    # the labels are drawn: filled boxes in the class colour just above each box
    assert (out[95:119, 10:60] == class_color(1)).all(axis=-1).sum() > 150
    assert (out[15:39, 120:200] == class_color(0)).all(axis=-1).sum() > 150
    np.testing.assert_array_equal(out, draw_detections(image, dets.boxes, dets.scores, dets.labels, ["cat", "dog"]))


def test_no_detections_draws_nothing():
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    np.testing.assert_array_equal(empty.draw(image), image)


def test_names_and_their_fallback():
    assert _dets().class_names() == ["dog", "cat"]
    assert _dets(names=None).class_names() == ["1", "0"]
    assert label_text(1, 0.876, ["cat", "dog"]) == "dog 0.88"
    assert label_text(7, 0.5, ["cat"]) == "7 0.50"  # an id beyond the names: the id
    assert class_color(len(PALETTE) + 3) == PALETTE[3]


def test_rejects_a_non_image():
    with pytest.raises(ValueError, match="uint8 BGR"):
        draw_detections(np.zeros((10, 10), np.uint8), np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))
