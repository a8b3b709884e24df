"""Box-aware augmentations on numpy arrays.

Every transform takes and returns ``image`` uint8 ``[H, W, 3]`` (RGB in the training pipeline), ``boxes``
float32 ``[N, 4]`` xyxy in the image's pixels and, where objects can disappear, ``labels`` int64 ``[N]``.
Random transforms take an explicit ``np.random.Generator``; each has a deterministic ``*_apply`` core with
the sampled parameters as arguments, which the tests check with exact numbers.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgedet.deploy.preprocess import MEAN, LetterboxInfo, boxes_to_input, letterbox

MEAN_PIXEL = tuple(round(m * 255) for m in MEAN)  # RGB; normalises to 0, i.e. "no information"


def hflip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right: ``x1' = W - x2``, ``x2' = W - x1``."""
    w = image.shape[1]
    out = boxes.copy()
    out[:, 0], out[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), out


def photometric_distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness (+-32), contrast (x0.5-1.5), saturation (x0.5-1.5), hue (+-18 deg), each with p=0.5.

    Args:
        image: RGB uint8 ``[H, W, 3]``.
    """
    img = image.astype(np.float32)
    if rng.random() < 0.5:
        img += rng.uniform(-32, 32)
    if rng.random() < 0.5:
        img = (img - img.mean()) * rng.uniform(0.5, 1.5) + img.mean()
    img = np.clip(img, 0, 255)
    do_sat, do_hue = rng.random() < 0.5, rng.random() < 0.5
    if do_sat or do_hue:
        hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        if do_sat:
            hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 1.5), 0, 255)
        if do_hue:
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-9, 9)) % 180  # OpenCV hue unit is 2 degrees
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return img.astype(np.uint8)


def expand_apply(
    image: np.ndarray, boxes: np.ndarray, canvas_hw: tuple[int, int], offset_xy: tuple[int, int],
    fill: tuple[int, int, int] = MEAN_PIXEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Place ``image`` at ``offset_xy`` on a ``canvas_hw`` canvas filled with ``fill``; boxes shift by the offset."""
    h, w = image.shape[:2]
    ch, cw = canvas_hw
    x, y = offset_xy
    if not (0 <= x <= cw - w and 0 <= y <= ch - h):
        raise ValueError(f"expand: image {w}x{h} at {offset_xy} does not fit a {cw}x{ch} canvas")
    canvas = np.empty((ch, cw, 3), np.uint8)
    canvas[:] = fill
    canvas[y: y + h, x: x + w] = image
    return canvas, boxes + np.array([x, y, x, y], np.float32)


def random_expand(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, max_ratio: float = 4.0,
    fill: tuple[int, int, int] = MEAN_PIXEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Zoom out: a canvas up to ``max_ratio`` times the image side, image at a random offset."""
    h, w = image.shape[:2]
    r = rng.uniform(1.0, max_ratio)
    ch, cw = int(h * r), int(w * r)
    offset = (int(rng.integers(0, cw - w + 1)), int(rng.integers(0, ch - h + 1)))
    return expand_apply(image, boxes, (ch, cw), offset, fill)


def crop_apply(image: np.ndarray, boxes: np.ndarray, window: tuple[int, int, int, int]):
    """Cut ``window`` (x0, y0, x1, y1, integers) out of the image; boxes shift by ``(-x0, -y0)`` (not clipped)."""
    x0, y0, x1, y1 = window
    return image[y0:y1, x0:x1].copy(), boxes - np.array([x0, y0, x0, y0], np.float32)


def random_crop_window(
    height: int, width: int, boxes: np.ndarray, rng: np.random.Generator, min_scale: float = 0.3
) -> tuple[int, int, int, int]:
    """A crop window ``(x0, y0, x1, y1)`` of scale ``min_scale``-1 (aspect 0.5-2) that contains every box."""
    s = rng.uniform(min_scale, 1.0)
    ar = np.sqrt(rng.uniform(0.5, 2.0))
    cw, ch = min(int(width * s * ar), width), min(int(height * s / ar), height)
    if len(boxes):
        ux1, uy1 = (int(np.floor(v)) for v in boxes[:, :2].min(0).clip(0))
        ux2, uy2 = int(np.ceil(boxes[:, 2].max())), int(np.ceil(boxes[:, 3].max()))
        ux2, uy2 = min(ux2, width), min(uy2, height)
        cw, ch = max(cw, ux2 - ux1), max(ch, uy2 - uy1)
        x_lo, x_hi = max(0, ux2 - cw), min(ux1, width - cw)
        y_lo, y_hi = max(0, uy2 - ch), min(uy1, height - ch)
    else:
        x_lo, x_hi, y_lo, y_hi = 0, width - cw, 0, height - ch
    x0, y0 = int(rng.integers(x_lo, x_hi + 1)), int(rng.integers(y_lo, y_hi + 1))
    return x0, y0, x0 + max(cw, 1), y0 + max(ch, 1)


def random_crop(image, boxes, rng: np.random.Generator, min_scale: float = 0.3):
    """Zoom in on a random window that keeps every box whole."""
    window = random_crop_window(image.shape[0], image.shape[1], boxes, rng, min_scale)
    return crop_apply(image, boxes, window)


def gridmask_apply(
    image: np.ndarray, d: int, ratio: float, offset_xy: tuple[int, int], fill: tuple[int, int, int] = MEAN_PIXEL
) -> np.ndarray:
    """GridMask: squares of side ``int(d * ratio)`` repeating every ``d`` px from ``offset_xy`` are set to ``fill``.

    (The GridMask paper's "mode 1", as used by PAFNet: about ``ratio**2`` of the image is hidden.)
    """
    h, w = image.shape[:2]
    side = int(d * ratio)
    rows = np.zeros(h, bool)
    cols = np.zeros(w, bool)
    for start in range(offset_xy[1] - d, h, d):
        rows[max(start, 0): max(start + side, 0)] = True
    for start in range(offset_xy[0] - d, w, d):
        cols[max(start, 0): max(start + side, 0)] = True
    out = image.copy()
    out[rows[:, None] & cols[None, :]] = fill
    return out


GRIDMASK_D = (96, 224)
"""GridMask's cell size range in image pixels (the GridMask paper's COCO setting, used by PAFNet-lite)."""


def random_gridmask(image: np.ndarray, rng: np.random.Generator, ratio: float = 0.5,
                    d_range: tuple[int, int] = GRIDMASK_D, fill: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """GridMask with a cell size ``d`` drawn from ``d_range`` (capped at the shorter image side), a random offset
    and black squares (the paper's fill 0): about ``ratio**2`` of the image is hidden."""
    short = min(image.shape[:2])
    lo, hi = (max(min(v, short), 2) for v in d_range)
    d = int(rng.integers(lo, hi + 1))
    return gridmask_apply(image, d, ratio, (int(rng.integers(d)), int(rng.integers(d))), fill)


def cutmix_apply(image1, boxes1, labels1, image2, boxes2, labels2, region: tuple[int, int, int, int], lam: float):
    """Paste ``region`` (x0, y0, x1, y1) of ``image2`` (same size as ``image1``) into ``image1``.

    Every box of both images is kept as it is, as the reference does (a box may be partly or wholly hidden by the
    other image): image 1's weighted ``lam``, image 2's ``1 - lam``, the mixing ratio the region was drawn from.

    Returns:
        ``(image, boxes [N1 + N2, 4], labels [N1 + N2], weights float32 [N1 + N2])``.
    """
    x0, y0, x1, y1 = region
    out = image1.copy()
    out[y0:y1, x0:x1] = image2[y0:y1, x0:x1]
    boxes = np.concatenate([boxes1.reshape(-1, 4), boxes2.reshape(-1, 4)]).astype(np.float32)
    labels = np.concatenate([labels1, labels2]).astype(np.int64)
    weights = np.concatenate([np.full(len(labels1), lam), np.full(len(labels2), 1.0 - lam)]).astype(np.float32)
    return out, boxes, labels, weights


def random_cutmix(image1, boxes1, labels1, image2, boxes2, labels2, rng: np.random.Generator,
                  alpha: float = 1.5, beta: float = 1.5):
    """CutMix with ``lam ~ Beta(alpha, beta)``: a region of ``(1 - lam)`` of the area comes from image 2; image 1's
    boxes weigh ``lam``, image 2's ``1 - lam`` (:func:`cutmix_apply`).

    Image 2 is first resized to image 1's size (its boxes scaled with it); the reference pads both to the larger
    size instead, which leaves part of the canvas empty.
    """
    h, w = image1.shape[:2]
    if image2.shape[:2] != (h, w):
        sx, sy = w / image2.shape[1], h / image2.shape[0]
        image2 = cv2.resize(image2, (w, h), interpolation=cv2.INTER_LINEAR)
        boxes2 = boxes2 * np.array([sx, sy, sx, sy], np.float32)
    lam = float(rng.beta(alpha, beta))
    cut = np.sqrt(1.0 - lam)
    cw, ch = int(w * cut), int(h * cut)
    cx, cy = int(rng.integers(w)), int(rng.integers(h))
    region = (max(cx - cw // 2, 0), max(cy - ch // 2, 0), min(cx + cw // 2, w), min(cy + ch // 2, h))
    return cutmix_apply(image1, boxes1, labels1, image2, boxes2, labels2, region, lam)


def mosaic(items: list, size: int, rng: np.random.Generator, fill: tuple[int, int, int] = MEAN_PIXEL):
    """Four images around a random centre on a ``2*size`` canvas (each resized to a longer side of ``size``).

    Args:
        items: four ``(image, boxes, labels)``.

    Returns:
        ``(image [2*size, 2*size, 3], boxes, labels)``; boxes clipped to the canvas, empty ones dropped.
    """
    if len(items) != 4:
        raise ValueError(f"mosaic needs 4 images, got {len(items)}")
    s2 = 2 * size
    canvas = np.empty((s2, s2, 3), np.uint8)
    canvas[:] = fill
    xc, yc = int(rng.uniform(0.5 * size, 1.5 * size)), int(rng.uniform(0.5 * size, 1.5 * size))
    all_boxes, all_labels = [], []
    for k, (img, boxes, labels) in enumerate(items):
        r = size / max(img.shape[:2])
        img = cv2.resize(img, (max(int(img.shape[1] * r), 1), max(int(img.shape[0] * r), 1)))
        h, w = img.shape[:2]
        # corner of this tile on the canvas: top-left, top-right, bottom-left, bottom-right of the centre
        x1 = xc - w if k in (0, 2) else xc
        y1 = yc - h if k in (0, 1) else yc
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x1 + w, s2), min(y1 + h, s2)
        canvas[cy1:cy2, cx1:cx2] = img[cy1 - y1: cy2 - y1, cx1 - x1: cx2 - x1]
        b = boxes * r + np.array([x1, y1, x1, y1], np.float32)
        all_boxes.append(_clip_to(b, np.array([cx1, cy1, cx2, cy2], np.float32)))
        all_labels.append(labels)
    boxes = np.concatenate(all_boxes).reshape(-1, 4).astype(np.float32)
    labels = np.concatenate(all_labels).astype(np.int64)
    keep = _area(boxes) > 0
    return canvas, boxes[keep], labels[keep]


def letterbox_with_boxes(image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, LetterboxInfo]:
    """:func:`edgedet.deploy.preprocess.letterbox` plus the boxes mapped into input pixels."""
    canvas, info = letterbox(image, size)
    return canvas, boxes_to_input(boxes.reshape(-1, 4), info), info


def clip_and_filter(boxes: np.ndarray, labels: np.ndarray, size: int, min_size: float = 2.0, weights=None):
    """Clip boxes to ``[0, size]`` and drop those narrower or shorter than ``min_size`` pixels.

    Returns ``(boxes, labels)``, or ``(boxes, labels, weights)`` when per-box ``weights`` are given.
    """
    boxes = boxes.reshape(-1, 4).clip(0, size)
    wh = boxes[:, 2:] - boxes[:, :2]
    keep = (wh >= min_size).all(1)
    kept = boxes[keep].astype(np.float32), labels[keep]
    return kept if weights is None else (*kept, weights[keep])


def _clip_to(boxes: np.ndarray, region: np.ndarray) -> np.ndarray:
    out = boxes.reshape(-1, 4).copy()
    out[:, 0::2] = out[:, 0::2].clip(region[0], region[2])
    out[:, 1::2] = out[:, 1::2].clip(region[1], region[3])
    return out


def _area(boxes: np.ndarray) -> np.ndarray:
    b = boxes.reshape(-1, 4)
    return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
