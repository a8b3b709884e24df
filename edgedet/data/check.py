"""Validate a dataset: every reader problem plus a full decode of every image."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from edgedet.data.files import DatasetError, FileRefused, read_bytes
from edgedet.data.formats import available_splits, load_dataset
from edgedet.data.imagefile import decode_image_bytes, header_size, truncation
from edgedet.data.index import DatasetIndex, ImageRecord, Problem


@dataclass
class SplitSummary:
    """What ``data check`` read of one split: counts after dropping the entries it reports as problems."""

    split: str
    images: int
    boxes: int
    crowd: int
    classes: int

    def __str__(self) -> str:
        return (f"{self.split}: {self.images} images, {self.boxes} boxes"
                + (f" (+{self.crowd} crowd/ignored)" if self.crowd else "") + f", {self.classes} classes")


@dataclass
class CheckReport:
    """Problems of a dataset, what was checked per split, and how long it took."""

    problems: list[Problem] = field(default_factory=list)
    splits: list[SplitSummary] = field(default_factory=list)
    seconds: float = 0.0


def check_dataset(path: str | Path, splits: list[str] | None = None, workers: int = 4) -> list[Problem]:
    """Every problem of a dataset, with file and entry (:func:`check_dataset_report` without the counts).

    Args:
        path: COCO directory or JSON, YOLO data.yaml, or VOC root.
        splits: splits to check (default: all found).
        workers: decoding threads.

    Returns:
        Problems in reading order; empty when the dataset is clean.
    """
    return check_dataset_report(path, splits, workers).problems


def check_dataset_report(path: str | Path, splits: list[str] | None = None, workers: int = 4) -> CheckReport:
    """Every problem of a dataset, with file and entry, and what was read of each split.

    Runs the reader of each split (missing files, bad boxes, unknown categories, duplicate ids, paths and
    symlinks escaping the root, FIFOs, images over the pixel limit, ...) and then reads every remaining image in
    full: truncated files (a JPEG without its end marker, a PNG without IEND), files OpenCV cannot decode, and
    sizes that disagree with the annotations. A split that cannot be read at all is reported as one problem
    naming its file.

    Args:
        path: COCO directory or JSON, YOLO data.yaml, or VOC root.
        splits: splits to check (default: all found).
        workers: decoding threads.

    Raises:
        DatasetError: ``path`` is not a dataset in any known layout, or its ``data.yaml`` cannot be read (one line
            naming the file); every other problem, a split file that cannot be read included, is returned.
    """
    t0 = time.perf_counter()
    splits = available_splits(path) if splits is None else list(splits)
    report = CheckReport()
    if not splits:
        report.problems.append(Problem(str(path), "", "no splits found", "add annotation files for train/val"))
    for split in splits:
        try:
            index = load_dataset(path, split)
        except DatasetError as e:
            report.problems.append(Problem(e.file, e.entry or f"split '{split}'", e.message, e.fix))
            continue
        except ValueError as e:
            report.problems.append(Problem(str(path), f"split '{split}'", str(e), "see the message"))
            continue
        report.problems += index.problems
        report.problems += decode_problems(index, workers)
        crowd = sum(int(r.iscrowd.sum()) for r in index.images)
        report.splits.append(SplitSummary(split, len(index.images), sum(len(r.boxes) for r in index.images) - crowd,
                                          crowd, index.num_classes))
    report.seconds = time.perf_counter() - t0
    return report


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
