"""PreprocessSpec: edgedet's own rule unchanged, and the stretch / interpolation / normalisation an imported model
(PaddleDetection's Resize keep_ratio: false, NormalizeImage) needs, with exact expected values."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgedet.deploy.preprocess import (
    DEFAULT_PREPROCESS,
    MEAN,
    STD,
    LetterboxInfo,
    PreprocessSpec,
    boxes_to_input,
    boxes_to_original,
    letterbox,
    preprocess_bgr,
)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_default_rule_is_the_letterbox_and_imagenet_numbers():
    image = _image(30, 60)
    x, info = preprocess_bgr(image, 32)
    canvas, _ = letterbox(image, 32)
    want = (cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0 - np.float32(MEAN)) / np.float32(STD)
    np.testing.assert_array_equal(x[0], want.transpose(2, 0, 1))
    assert info == LetterboxInfo(32 / 60, 0, 8, 30, 60) and info.scale_xy == (32 / 60, 32 / 60)
    assert DEFAULT_PREPROCESS.to_block() == {"color": "rgb", "scale": 1 / 255, "mean": list(MEAN), "std": list(STD),
                                             "letterbox": {"centred": True, "pad_value": 114}}


def test_stretch_is_paddledetection_resize_and_normalize():
    image = _image(45, 80)
    spec = PreprocessSpec(resize="stretch", interp="cubic", scale=1 / 255, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    x, info = preprocess_bgr(image, 64, spec)
    # PaddleDetection: cv2.resize(im, None, None, fx=64 / w, fy=64 / h, interpolation=2) on RGB, then normalise
    rgb = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), None, None, fx=64 / 80, fy=64 / 45,
                     interpolation=cv2.INTER_CUBIC).astype(np.float32)
    want = (rgb / 255.0 - np.float32([0.5, 0.4, 0.3])) / np.float32([0.2, 0.25, 0.5])
    np.testing.assert_allclose(x[0], want.transpose(2, 0, 1), atol=1e-6)
    assert x.shape == (1, 3, 64, 64) and info == LetterboxInfo(64 / 80, 0.0, 0.0, 45, 80, scale_y=64 / 45)


def test_stretched_boxes_map_back_per_axis():
    info = LetterboxInfo(0.5, 0.0, 0.0, 100, 200, scale_y=0.25)
    boxes = np.array([[10.0, 20.0, 110.0, 60.0]], np.float32)
    np.testing.assert_array_equal(boxes_to_input(boxes, info), [[5.0, 5.0, 55.0, 15.0]])
    np.testing.assert_array_equal(boxes_to_original(boxes_to_input(boxes, info), info), boxes)
    np.testing.assert_array_equal(boxes_to_original(np.array([[0, 0, 150, 40]], np.float32), info),
                                  [[0, 0, 200, 100]])  # clipped to the 200 x 100 image


def test_scale_one_and_pixel_means():
    spec = PreprocessSpec(resize="stretch", interp="nearest", scale=1.0, mean=(100.0, 110.0, 120.0),
                          std=(2.0, 2.0, 2.0))
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 2] = 200  # red in BGR
    x, _ = preprocess_bgr(image, 8, spec)
    assert x[0, :, 0, 0].tolist() == [50.0, -55.0, -60.0]  # RGB: (200 - 100) / 2, (0 - 110) / 2, (0 - 120) / 2


@pytest.mark.parametrize("kw, message", [
    ({"resize": "crop"}, "preprocess.resize 'crop'"),
    ({"interp": "bicubic"}, "preprocess.interp 'bicubic'"),
    ({"scale": 0.0}, "preprocess.scale must be a positive number"),
    ({"std": (1.0, 0.0, 1.0)}, "preprocess.std must be positive"),
    ({"mean": (1.0, 2.0)}, "preprocess.mean must be 3 finite numbers"),
    ({"pad_value": 256}, "pad_value must be in 0..255"),
])
def test_bad_specs_name_the_field(kw, message):
    with pytest.raises(ValueError, match=message):
        PreprocessSpec(**kw)
