"""Calibration and parity images: file discovery, deterministic choice, preprocessing through edgedet.deploy.preprocess.

``paths_or_data`` may be a directory (searched recursively for images, so COCO / YOLO / VOC roots work), one
image file, a list of image paths, a list of BGR ``uint8 [H, W, 3]`` arrays, or an already preprocessed
float32 ``[N, 3, S, S]`` array. When more than ``n`` images are available, ``n`` are drawn with a fixed seed
from the sorted file list (arrays: their given order), so the same data always gives the same calibration set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edgedet.deploy.preprocess import preprocess_bgr

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CALIB_SEED = 0
Source = str | Path | np.ndarray | Sequence[str | Path | np.ndarray]


def find_images(source: str | Path) -> list[Path]:
    """Sorted image files under a directory (recursive), or the file itself."""
    path = Path(source)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"calibration source {path} does not exist")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    return files


def _choose(items: list, n: int) -> list:
    """``n`` items drawn deterministically (fixed seed) in their original order; all of them if fewer."""
    if n <= 0:
        raise ValueError(f"the number of images must be positive, got {n}")
    if len(items) <= n:
        return list(items)
    idx = np.sort(np.random.default_rng(CALIB_SEED).choice(len(items), size=n, replace=False))
    return [items[i] for i in idx]


def _as_items(source: Source) -> list:
    if isinstance(source, (str, Path)):
        return find_images(source)
    if isinstance(source, np.ndarray):
        return [source] if source.ndim == 3 else list(source)
    items = []
    for s in source:
        items.extend(find_images(s) if isinstance(s, (str, Path)) and Path(s).is_dir() else [s])
    if items and all(isinstance(i, (str, Path)) for i in items):
        return sorted({Path(i) for i in items})  # the listing order must not change the choice
    return items


def read_bgr(item: str | Path | np.ndarray) -> np.ndarray:
    """An image path or BGR array -> BGR ``uint8 [H, W, 3]``."""
    if isinstance(item, np.ndarray):
        if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 [H, W, 3] image, got {item.dtype} {item.shape}")
        return item
    image = cv2.imread(str(item), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {item}")
    return image


def load_images_bgr(source: Source, n: int) -> list[np.ndarray]:
    """Up to ``n`` BGR images from ``source`` (deterministic choice)."""
    return [read_bgr(item) for item in _choose(_as_items(source), n)]


def load_calibration_images(paths_or_data: Source, n: int, imgsz: int) -> np.ndarray:
    """Calibration batch through the deployment preprocessing.

    Args:
        paths_or_data: see the module docstring.
        n: number of images wanted (fewer if fewer exist).
        imgsz: model input side.

    Returns:
        float32 ``[min(n, available), 3, imgsz, imgsz]`` letterboxed, RGB, normalised (``preprocess_bgr``).
    """
    if isinstance(paths_or_data, np.ndarray) and paths_or_data.ndim == 4:
        if paths_or_data.shape[1:] != (3, imgsz, imgsz):
            raise ValueError(f"preprocessed calibration data must be [N, 3, {imgsz}, {imgsz}], "
                             f"got {paths_or_data.shape}")
        return np.ascontiguousarray(np.stack(_choose(list(paths_or_data), n)), np.float32)
    images = load_images_bgr(paths_or_data, n)
    return np.concatenate([preprocess_bgr(im, imgsz)[0] for im in images]).astype(np.float32)


def describe_source(paths_or_data: Source) -> str:
    """Short human-readable description of a calibration source, for ``edgedet.json``."""
    if isinstance(paths_or_data, (str, Path)):
        return str(paths_or_data)
    if isinstance(paths_or_data, np.ndarray):
        return f"array {list(paths_or_data.shape)}"
    items = list(paths_or_data)
    if items and all(isinstance(i, (str, Path)) for i in items):
        parents = sorted({str(Path(i).parent) for i in items})
        return f"{len(items)} files in {', '.join(parents[:3])}" + (" ..." if len(parents) > 3 else "")
    return f"{len(items)} in-memory images"
