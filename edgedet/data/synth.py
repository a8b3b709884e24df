"""The built-in dataset: handwritten digits and simple shapes pasted on real photographs.

13 classes: the digits "0".."9" (real handwriting from scikit-learn's bundled ``load_digits``, recoloured,
smoothed, scaled, rotated by up to 15 degrees and thresholded into a clean mask) and "circle", "triangle",
"square". Backgrounds are random crops of the photographs bundled with scikit-image (grass, gravel, brick,
coffee, astronaut, ...). Object sizes are a mixture covering COCO small (< 32^2 px area), medium and large
objects at 320 px; later objects occlude earlier ones, boxes are tight around the visible mask, and objects more
than 70% hidden are kept as ``iscrowd=1`` (ignored by training and evaluation). Images also get blur,
lighting gradients and noise.

Output is a COCO directory: ``annotations/instances_{train,val}.json``, ``images/{train,val}/*.jpg``.
Every image is drawn from its own random stream seeded by ``(seed, split, index)`` and written at a fixed JPEG
quality, so the same arguments give byte-identical files with any number of worker processes.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

SYNTH_VERSION = 3
CLASS_NAMES = [str(d) for d in range(10)] + ["circle", "triangle", "square"]
JPEG_QUALITY = 92
# photographs only; "text", "page" and "clock" are left out because their printed glyphs look like digits
BACKGROUNDS = ("grass", "gravel", "brick", "coffee", "astronaut", "chelsea", "rocket", "camera", "coins",
               "moon", "immunohistochemistry", "hubble_deep_field")
MAX_HIDDEN = 0.7  # objects with more of their mask covered than this become iscrowd
# (probability, min side, max side) at 320 px: small / medium / large objects.
SIZE_MIX = ((0.35, 14, 30), (0.45, 34, 90), (0.20, 100, 160))


@functools.lru_cache(maxsize=1)
def _backgrounds() -> tuple[np.ndarray, ...]:
    """The bundled photographs as BGR uint8; ones that fail to load offline are skipped."""
    import skimage.data

    out = []
    for name in BACKGROUNDS:
        try:
            im = np.asarray(getattr(skimage.data, name)())
        except Exception as e:  # noqa: BLE001 - a missing optional image is not an error
            log.debug("skipping background %s: %s", name, e)
            continue
        if im.dtype != np.uint8 or min(im.shape[:2]) < 128:
            continue
        im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) if im.ndim == 2 else cv2.cvtColor(im[..., :3], cv2.COLOR_RGB2BGR)
        out.append(np.ascontiguousarray(im))
    if not out:
        raise RuntimeError("no scikit-image sample photographs could be loaded; fix: reinstall scikit-image")
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _digit_templates() -> tuple[np.ndarray, np.ndarray]:
    """``load_digits`` as smooth float masks ``[1797, 32, 32]`` in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    masks = np.empty((len(d.images), 32, 32), np.float32)
    for i, im in enumerate(d.images):
        big = cv2.resize(im.astype(np.float32) / 16.0, (24, 24), interpolation=cv2.INTER_CUBIC)
        big = cv2.GaussianBlur(big, (0, 0), 1.0)
        masks[i] = cv2.copyMakeBorder(big, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=0)
    return masks.clip(0, 1), d.target.astype(np.int64)


def _shape_mask(label: int, rng: np.random.Generator) -> np.ndarray:
    """Float mask ``[64, 64]`` of a circle / triangle / square (``label`` 10, 11, 12), anti-aliased."""
    m = np.zeros((256, 256), np.uint8)
    if label == 10:
        ax = (int(rng.uniform(80, 112)), int(rng.uniform(80, 112)))
        cv2.ellipse(m, (128, 128), ax, 0, 0, 360, 255, -1, cv2.LINE_AA)
    elif label == 11:
        pts = np.array([[128, 20], [20, 230], [236, 230]], np.float64)
        pts[:, 0] += rng.uniform(-30, 30, 3)
        cv2.fillPoly(m, [pts.astype(np.int32)], 255, cv2.LINE_AA)
    else:
        cv2.rectangle(m, (36, 36), (220, 220), 255, -1, cv2.LINE_AA)
    return cv2.resize(m, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _object_mask(label: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """Soft mask ``[h, w]`` float32 of one object whose longer side is about ``side`` pixels."""
    if label < 10:
        masks, targets = _digit_templates()
        choices = np.flatnonzero(targets == label)
        base = masks[choices[rng.integers(len(choices))]]
        angle = rng.uniform(-15, 15)
    else:
        base = _shape_mask(label, rng)
        angle = rng.uniform(-180, 180) if label == 11 else rng.uniform(-20, 20)
    n = base.shape[0]
    rot = cv2.getRotationMatrix2D((n / 2, n / 2), angle, 1.0)
    base = cv2.warpAffine(base, rot, (n, n), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(base > 0.5)
    base = base[max(ys.min() - 1, 0): ys.max() + 2, max(xs.min() - 1, 0): xs.max() + 2]
    scale = side / max(base.shape)
    w, h = max(round(base.shape[1] * scale), 3), max(round(base.shape[0] * scale), 3)
    mask = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    return np.clip((mask - 0.5) * 4 + 0.5, 0, 1)  # sharpen the edge: clean paste, tight box


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    bgs = _backgrounds()
    bg = bgs[rng.integers(len(bgs))]
    h, w = bg.shape[:2]
    side = int(rng.uniform(0.35, 1.0) * min(h, w))
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = cv2.resize(bg[y0: y0 + side, x0: x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:  # tint, so grey photographs vary in colour too
        crop = crop * rng.uniform(0.7, 1.15, 3)
    return np.clip(crop, 0, 255).astype(np.float32)


def _colour(bg_patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A saturated colour whose brightness differs clearly from the patch it lands on."""
    mean = float(bg_patch.mean())
    bright = mean < 128
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(120, 256),
                      rng.integers(200, 256) if bright else rng.integers(0, 60)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _side(rng: np.random.Generator, size: int) -> int:
    probs = np.array([p for p, _, _ in SIZE_MIX])
    _, lo, hi = SIZE_MIX[rng.choice(len(SIZE_MIX), p=probs)]
    return round(float(np.exp(rng.uniform(np.log(lo), np.log(hi))) * size / 320))


def _paste_objects(img: np.ndarray, rng: np.random.Generator) -> tuple[list, np.ndarray]:
    """Paste objects in order (later over earlier) into ``img`` (float32, modified in place).

    Returns:
        ``(objects, owner)``: objects as ``(k, label, mask area, (x, y, w, h) of the paste)``; ``owner``
        int32 ``[size, size]`` holds the ``k`` of the object visible at each pixel (0 = background).
    """
    size = img.shape[0]
    owner = np.zeros((size, size), np.int32)
    pasted = []
    for k in range(1, rng.integers(2, 8) + 1):
        label = int(rng.integers(len(CLASS_NAMES)))
        mask = _object_mask(label, _side(rng, size), rng)
        h, w = mask.shape
        if h >= size or w >= size:
            continue
        y, x = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
        roi = img[y: y + h, x: x + w]
        colour = _colour(roi, rng)
        shade = 1.0 + rng.uniform(-0.15, 0.15) * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        fg = colour[None, None, :] * shade[..., None] + 6 * rng.standard_normal((h, w, 1), dtype=np.float32)
        a = mask[..., None]
        roi[:] = roi * (1 - a) + fg * a
        solid = mask > 0.5
        owner[y: y + h, x: x + w][solid] = k
        pasted.append((k, label, int(solid.sum()), (x, y, w, h)))
    return pasted, owner


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting gradient, global gain/offset, optional blur and sensor noise."""
    size = img.shape[0]
    if rng.random() < 0.4:
        ang = rng.uniform(0, 2 * np.pi)
        ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
        field = np.float32(np.cos(ang)) * ramp[None, :] + np.float32(np.sin(ang)) * ramp[:, None]
        img = img * (1 + np.float32(rng.uniform(0.2, 0.5)) * field)[..., None]
    img = img * np.float32(rng.uniform(0.75, 1.2)) + np.float32(rng.uniform(-20, 20))
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.3))
    if rng.random() < 0.5:
        img = img + np.float32(rng.uniform(2, 6)) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_image(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, list[dict]]:
    """Draw one synthetic image.

    Returns:
        ``(image BGR uint8 [size, size, 3], objects)`` with objects as dicts ``label``, ``bbox`` (xywh pixels,
        tight around the visible mask), ``area`` (visible mask pixels), ``iscrowd``.
    """
    rng = np.random.default_rng([seed, zlib.crc32(split.encode()), index])
    img = _background(size, rng)
    pasted, owner = _paste_objects(img, rng)
    objects = []
    for k, label, area, (x, y, w, h) in pasted:
        ys, xs = np.nonzero(owner[y: y + h, x: x + w] == k)
        if len(ys) == 0:
            continue
        visible = len(ys) / max(area, 1)
        x0, y0 = x + int(xs.min()), y + int(ys.min())
        bbox = [x0, y0, x + int(xs.max()) + 1 - x0, y + int(ys.max()) + 1 - y0]
        objects.append({"label": label, "bbox": bbox, "area": len(ys), "iscrowd": int(visible < 1 - MAX_HIDDEN)})
    return _photometric(img, rng), objects


def _render_chunk(args: tuple) -> list[tuple[int, list[dict]]]:
    seed, split, indices, size, out_dir = args
    out = []
    for i in indices:
        img, objects = render_image(seed, split, i, size)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok, "JPEG encoding failed"
        (Path(out_dir) / f"{i:06d}.jpg").write_bytes(buf.tobytes())
        out.append((i, objects))
    return out


def _render_split(out_dir: Path, split: str, n: int, size: int, seed: int, workers: int) -> list:
    img_dir = out_dir / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    chunks = [(seed, split, list(range(i, min(i + 50, n))), size, str(img_dir)) for i in range(0, n, 50)]
    if workers <= 1 or n <= 100:
        return [r for c in chunks for r in _render_chunk(c)]
    # Default start method (fork on Linux): spawn would re-run an unguarded user script in every worker. The
    # children must not call cv2.setNumThreads: after fork it can deadlock on the parent's thread pool.
    with ProcessPoolExecutor(workers) as pool:
        return [r for part in pool.map(_render_chunk, chunks) for r in part]


def _coco_json(results: list, size: int) -> dict:
    images, annotations = [], []
    for i, objects in results:
        images.append({"id": i + 1, "file_name": f"{i:06d}.jpg", "width": size, "height": size})
        for o in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": o["label"] + 1,
                                "bbox": o["bbox"], "area": o["area"], "iscrowd": o["iscrowd"]})
    cats = [{"id": k + 1, "name": n, "supercategory": "digit" if k < 10 else "shape"}
            for k, n in enumerate(CLASS_NAMES)]
    return {"info": {"description": "edgedet synth", "version": SYNTH_VERSION}, "images": images,
            "annotations": annotations, "categories": cats}


def generate_synth(
    out_dir: str | Path, n_train: int = 4000, n_val: int = 1000, imgsz: int = 320, seed: int = 0,
    workers: int | None = None,
) -> Path:
    """Generate the built-in dataset as a COCO directory.

    Args:
        out_dir: output directory (created; existing files of the same names are overwritten).
        n_train, n_val: number of images per split.
        imgsz: image side in pixels (object sizes scale with it; designed for 320).
        seed: random seed; the same arguments give byte-identical files.
        workers: processes (default: all CPU cores).

    Returns:
        ``out_dir`` (pass it to :func:`edgedet.data.load_dataset`).
    """
    if imgsz < 64 or n_train < 0 or n_val < 0:
        raise ValueError(f"generate_synth: need imgsz >= 64 and non-negative counts, got imgsz={imgsz}, "
                         f"n_train={n_train}, n_val={n_val}")
    out_dir = Path(out_dir)
    workers = workers or os.cpu_count() or 1
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        results = _render_split(out_dir, split, n, imgsz, seed, workers)
        with open(out_dir / "annotations" / f"instances_{split}.json", "w", encoding="utf-8") as f:
            json.dump(_coco_json(results, imgsz), f)
    return out_dir


STAMP = "edgedet_synth.json"


def default_synth_root() -> Path:
    """Where the built-in dataset lives: ``$EDGEDET_DATA`` or ``~/.cache/edgedet/synth``."""
    env = os.environ.get("EDGEDET_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgedet" / "synth"


def ensure_synth(
    root: str | Path | None = None, n_train: int = 4000, n_val: int = 1000, imgsz: int = 320, seed: int = 0,
    workers: int | None = None,
) -> Path:
    """Generate the built-in dataset once and reuse it while its parameters stay the same.

    A stamp file records the parameters; it is written last, so an interrupted generation is redone.

    Returns:
        The dataset root (a COCO directory).
    """
    root = Path(root) if root is not None else default_synth_root()
    params = {"version": SYNTH_VERSION, "n_train": n_train, "n_val": n_val, "imgsz": imgsz, "seed": seed}
    stamp = root / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")) == params:
                return root
        except json.JSONDecodeError:
            pass
    stamp.unlink(missing_ok=True)
    for split in ("train", "val"):  # only our own outputs: stale images of a larger run must not linger
        d = root / "images" / split
        if d.is_dir():
            for f in d.glob("[0-9]*.jpg"):
                f.unlink()
    generate_synth(root, n_train, n_val, imgsz, seed, workers)
    stamp.write_text(json.dumps(params), encoding="utf-8")
    return root
