"""Drawing detections on BGR images: the one drawing path of ``Detections.draw``, ``edgedet predict`` (checkpoint
or export) and ``edgedet demo``.

numpy + OpenCV only, so :mod:`edgedet.runtime` can use it on a device. Colours are BGR ``uint8`` triples, one per
class from :data:`PALETTE` (class ``k`` gets ``PALETTE[k % len(PALETTE)]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# 20 saturated, mutually distinct colours (BGR); none is grey, so a box never vanishes into a grey background
PALETTE: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72), (23, 204, 146),
    (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100),
    (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(label: int) -> tuple[int, int, int]:
    """BGR colour of class ``label``."""
    return PALETTE[int(label) % len(PALETTE)]


def label_text(label: int, score: float, names: Sequence[str] | None) -> str:
    """``"name 0.87"``; the class id stands in for a name the model does not carry."""
    name = names[label] if names is not None and 0 <= label < len(names) else str(label)
    return f"{name} {score:.2f}"


def put_text_box(image: np.ndarray, text: str, org: tuple[int, int], bg: tuple[int, int, int],
                 scale: float, thickness: int = 1) -> None:
    """Text on a filled box whose top-left is ``org`` (moved inside the image), black or white for contrast."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    h, w = image.shape[:2]
    x = int(min(max(org[0], 0), max(w - tw - 2, 0)))
    y = int(min(max(org[1], 0), max(h - th - base - 2, 0)))
    cv2.rectangle(image, (x, y), (x + tw + 2, y + th + base + 2), bg, cv2.FILLED)
    fg = (0, 0, 0) if sum(bg) > 3 * 150 else (255, 255, 255)
    cv2.putText(image, text, (x + 1, y + th + 1), FONT, scale, fg, thickness, cv2.LINE_AA)


def draw_detections(image_bgr: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                    names: Sequence[str] | None = None, *, line_width: int | None = None) -> np.ndarray:
    """A copy of ``image_bgr`` with one box per detection, its class colour and a ``"name score"`` label.

    Args:
        image_bgr: uint8 ``[H, W, 3]`` BGR.
        boxes: float ``[N, 4]`` xyxy in ``image_bgr`` pixels.
        scores: float ``[N]``.
        labels: int ``[N]`` class ids; ``names[label]`` is written when ``names`` is given.
        line_width: box line width in pixels (default: 0.3% of the mean side, at least 2).

    Returns:
        uint8 ``[H, W, 3]`` BGR; the input is not modified.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"draw expects a uint8 BGR [H, W, 3] image, got {image_bgr.dtype} {image_bgr.shape}")
    out = image_bgr.copy()
    h, w = out.shape[:2]
    lw = line_width or max(2, round((h + w) / 2 * 0.003))  # 2 px up to ~830 px: survives video compression
    scale = max(0.3, min(lw / 3, min(h, w) / 600))  # labels stay a small part of a small image
    # lowest score first, so the most confident box and label end up on top
    for i in np.argsort(np.asarray(scores), kind="stable"):
        x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[i])
        color = class_color(int(labels[i]))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, lw)
        text = label_text(int(labels[i]), float(scores[i]), names)
        _, th = cv2.getTextSize(text, FONT, scale, 1)[0]
        above = y1 - th - 6
        put_text_box(out, text, (x1, above if above >= 0 else y1 + lw), color, scale)
    return out
