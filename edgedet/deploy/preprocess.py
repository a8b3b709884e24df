"""The one preprocessing path: letterbox + normalise, shared by training, evaluation, every runtime and the demos.

numpy + OpenCV only (no torch), so ``edgedet.runtime`` can import it on a device.

Conventions:
    * Input images are BGR ``uint8`` arrays ``[H, W, 3]`` as OpenCV reads them.
    * The model sees RGB, letterboxed to ``size x size`` (aspect kept, centred, padded with ``PAD_VALUE``),
      normalised as ``(x / 255 - MEAN) / STD``, layout NCHW float32.
    * ``LetterboxInfo`` maps boxes between original-image pixels and model-input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MEAN = (0.485, 0.456, 0.406)  # RGB
STD = (0.229, 0.224, 0.225)  # RGB
PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxInfo:
    """How an image was placed in the model input: ``input = orig * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float
    orig_h: int
    orig_w: int


def letterbox_params(orig_h: int, orig_w: int, size: int) -> LetterboxInfo:
    """Scale and centred padding that fit an ``orig_h x orig_w`` image into ``size x size``."""
    scale = min(size / orig_h, size / orig_w)
    new_w, new_h = int(round(orig_w * scale)), int(round(orig_h * scale))
    return LetterboxInfo(scale, (size - new_w) // 2, (size - new_h) // 2, orig_h, orig_w)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize keeping the aspect ratio and pad to a square.

    Args:
        image: uint8 ``[H, W, 3]`` (any channel order; it is kept).
        size: output side.

    Returns:
        ``(canvas uint8 [size, size, 3], LetterboxInfo)``.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"letterbox expects an [H, W, 3] image, got shape {image.shape}")
    h, w = image.shape[:2]
    info = letterbox_params(h, w, size)
    new_w, new_h = int(round(w * info.scale)), int(round(h * info.scale))
    if (new_w, new_h) != (w, h):
        interp = cv2.INTER_AREA if info.scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (new_w, new_h), interpolation=interp)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    x0, y0 = int(info.pad_x), int(info.pad_y)
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = image
    return canvas, info


def normalize_rgb(image_rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` -> float32 CHW normalised with ``MEAN``/``STD``."""
    x = image_rgb.astype(np.float32) / 255.0
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess_bgr(image_bgr: np.ndarray, size: int) -> tuple[np.ndarray, LetterboxInfo]:
    """BGR image -> model input ``float32 [1, 3, size, size]`` and its letterbox info."""
    canvas, info = letterbox(image_bgr, size)
    rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
    return normalize_rgb(rgb)[None], info


def boxes_to_input(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Boxes ``[N, 4]`` xyxy in original pixels -> model-input pixels."""
    out = np.asarray(boxes, np.float32) * info.scale
    out[:, 0::2] += info.pad_x
    out[:, 1::2] += info.pad_y
    return out


def boxes_to_original(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Boxes ``[N, 4]`` xyxy in model-input pixels -> original pixels, clipped to the image."""
    out = np.asarray(boxes, np.float32).copy()
    out[:, 0::2] = (out[:, 0::2] - info.pad_x) / info.scale
    out[:, 1::2] = (out[:, 1::2] - info.pad_y) / info.scale
    out[:, 0::2] = out[:, 0::2].clip(0, info.orig_w)
    out[:, 1::2] = out[:, 1::2].clip(0, info.orig_h)
    return out
