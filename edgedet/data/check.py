"""Validate a dataset: every reader problem plus a full decode of every image."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2

from edgedet.data.formats import available_splits, load_dataset
from edgedet.data.index import DatasetIndex, ImageRecord, Problem


def check_dataset(path: str | Path, splits: list[str] | None = None, workers: int = 4) -> list[Problem]:
    """Every problem of a dataset, with file and entry.

    Runs the reader of each split (missing files, bad boxes, unknown categories, duplicate ids, paths escaping
    the root, ...) and then decodes every remaining image with OpenCV (corrupt or unreadable files, sizes that
    disagree with the annotations). A split that cannot be read at all is reported as one problem.

    Args:
        path: COCO directory or JSON, YOLO data.yaml, or VOC root.
        splits: splits to check (default: all found).
        workers: decoding threads.

    Returns:
        Problems in reading order; empty when the dataset is clean.

    Raises:
        ValueError: ``path`` is not a dataset in any known layout.
    """
    splits = available_splits(path) if splits is None else list(splits)
    problems: list[Problem] = []
    if not splits:
        return [Problem(str(path), "", "no splits found", "add annotation files for train/val")]
    for split in splits:
        try:
            index = load_dataset(path, split)
        except ValueError as e:
            problems.append(Problem(str(path), f"split '{split}'", str(e), "see the message"))
            continue
        problems += index.problems
        problems += decode_problems(index, workers)
    return problems


def decode_problems(index: DatasetIndex, workers: int = 4) -> list[Problem]:
    """Decode every image of ``index``; a Problem for each unreadable one or size mismatch."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        found = pool.map(_decode_one, index.images)
    return [p for p in found if p is not None]


def _decode_one(rec: ImageRecord) -> Problem | None:
    img = cv2.imread(str(rec.file), cv2.IMREAD_COLOR)
    if img is None:
        return Problem(str(rec.file), f"image id={rec.id}", "image cannot be decoded (corrupt or not an image)",
                       "replace the file or remove the image from the annotations")
    h, w = img.shape[:2]
    if (w, h) != (rec.width, rec.height):
        return Problem(str(rec.file), f"image id={rec.id}",
                       f"image is {w}x{h} but the annotations say {rec.width}x{rec.height}",
                       "fix width/height in the annotations (boxes may be scaled wrongly)")
    return None
