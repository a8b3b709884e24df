"""Validate a dataset: every reader problem plus a full decode of every image."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgedet.data.files import DatasetError, FileRefused, read_bytes
from edgedet.data.formats import available_splits, load_dataset
from edgedet.data.imagefile import decode_image_bytes, header_size, truncation
from edgedet.data.index import DatasetIndex, ImageRecord, Problem


def check_dataset(path: str | Path, splits: list[str] | None = None, workers: int = 4) -> list[Problem]:
    """Every problem of a dataset, with file and entry.

    Runs the reader of each split (missing files, bad boxes, unknown categories, duplicate ids, paths and
    symlinks escaping the root, FIFOs, images over the pixel limit, ...) and then reads every remaining image in
    full: truncated files (a JPEG without its end marker, a PNG without IEND), files OpenCV cannot decode, and
    sizes that disagree with the annotations. A split that cannot be read at all is reported as one problem
    naming its file.

    Args:
        path: COCO directory or JSON, YOLO data.yaml, or VOC root.
        splits: splits to check (default: all found).
        workers: decoding threads.

    Returns:
        Problems in reading order; empty when the dataset is clean.

    Raises:
        DatasetError: ``path`` is not a dataset in any known layout, or its ``data.yaml`` cannot be read (one line
            naming the file); every other problem, a split file that cannot be read included, is returned.
    """
    splits = available_splits(path) if splits is None else list(splits)
    problems: list[Problem] = []
    if not splits:
        return [Problem(str(path), "", "no splits found", "add annotation files for train/val")]
    for split in splits:
        try:
            index = load_dataset(path, split)
        except DatasetError as e:
            problems.append(Problem(e.file, e.entry or f"split '{split}'", e.message, e.fix))
            continue
        except ValueError as e:
            problems.append(Problem(str(path), f"split '{split}'", str(e), "see the message"))
            continue
        problems += index.problems
        problems += decode_problems(index, workers)
    return problems


def decode_problems(index: DatasetIndex, workers: int = 4) -> list[Problem]:
    """Decode every image of ``index``; a Problem for each unreadable, truncated or wrongly sized one."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        found = pool.map(_decode_one, index.images)
    return [p for p in found if p is not None]


def _decode_one(rec: ImageRecord) -> Problem | None:
    entry = f"image id={rec.id}"
    try:
        data = read_bytes(rec.file)
        header_size(data)
        cut = truncation(data)
        if cut:
            return Problem(str(rec.file), entry, cut, "replace the file with a complete copy or remove the image")
        img = decode_image_bytes(data)
    except FileRefused as e:
        return Problem(str(rec.file), entry, f"image {e}", "replace the file or remove the image from the annotations")
    h, w = img.shape[:2]
    if (w, h) != (rec.width, rec.height):
        return Problem(str(rec.file), entry,
                       f"image is {w}x{h} but the annotations say {rec.width}x{rec.height}",
                       "fix width/height in the annotations (boxes may be scaled wrongly)")
    return None
