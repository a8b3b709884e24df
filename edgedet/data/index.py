"""In-memory dataset index shared by every reader, writer, checker and the torch Dataset.

Every format reader (COCO, YOLO, VOC) produces a :class:`DatasetIndex`: one :class:`ImageRecord` per usable
image with its boxes in original pixels (xyxy), and a list of :class:`Problem` for every entry it dropped or
fixed. Readers never raise on a bad entry; the helpers below record the problem and tell the caller to drop it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgedet.data.files import FileRefused, confine, is_int64, is_regular_file, one_line, read_bytes
from edgedet.data.imagefile import ImageTooLarge, check_pixels, probe_image

# Boxes that leave the image by at most this many pixels are clipped silently (rounding in annotation tools).
BOX_EDGE_TOLERANCE = 1.0


@dataclass
class Problem:
    """One thing wrong with a dataset: where it is, what is wrong and how to fix it."""

    file: str
    entry: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.entry}" if self.entry else self.file
        return one_line(f"{where}: {self.message} (fix: {self.fix})")


@dataclass
class ImageRecord:
    """One image and its annotations.

    Attributes:
        id: image id (the COCO id when read from COCO).
        file: absolute path of the image file.
        width, height: image size in pixels.
        boxes: float32 ``[N, 4]`` xyxy in original-image pixels.
        labels: int64 ``[N]`` contiguous class indices in ``[0, C)``.
        iscrowd: bool ``[N]``; crowd / difficult / mostly-occluded boxes, ignored by training and evaluation.
        areas: optional float32 ``[N]`` object areas from the source annotations (COCO ``area``, the mask
            area), which COCO evaluation uses for its small/medium/large split; None = box areas.
    """

    id: int
    file: Path
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.bool_))
    areas: np.ndarray | None = None


@dataclass
class DatasetIndex:
    """A whole split of a dataset.

    Attributes:
        root: dataset root directory (image paths never leave it).
        split: split name ("train", "val", ...).
        class_names: name of each contiguous label.
        cat_ids: COCO category id of each contiguous label.
        images: usable images.
        problems: everything the reader dropped or fixed.
    """

    root: Path
    split: str
    class_names: list[str]
    cat_ids: list[int]
    images: list[ImageRecord]
    problems: list[Problem] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_coco_dict(self) -> dict:
        """COCO ground-truth dict (images, annotations with xywh bbox, categories) for pycocotools.

        Original image ids, category ids and areas are kept; file names are relative to ``root`` where possible.
        """
        images, annotations = [], []
        ann_id = 1
        for rec in self.images:
            images.append(
                {"id": int(rec.id), "file_name": relative_name(rec.file, self.root),
                 "width": int(rec.width), "height": int(rec.height)}
            )
            for k, (box, label, crowd) in enumerate(zip(rec.boxes, rec.labels, rec.iscrowd)):
                x1, y1, x2, y2 = (float(v) for v in box)
                w, h = x2 - x1, y2 - y1
                own = rec.areas is not None and len(rec.areas) == len(rec.boxes)
                area = float(rec.areas[k]) if own else w * h
                annotations.append(
                    {"id": ann_id, "image_id": int(rec.id), "category_id": int(self.cat_ids[int(label)]),
                     "bbox": [x1, y1, w, h], "area": area, "iscrowd": int(bool(crowd))}
                )
                ann_id += 1
        categories = [{"id": int(c), "name": n} for c, n in zip(self.cat_ids, self.class_names)]
        return {"images": images, "annotations": annotations, "categories": categories}


def relative_name(file: Path, root: Path) -> str:
    """``file`` relative to ``root`` with forward slashes, or the absolute path if it is outside."""
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return Path(file).as_posix()


def resolve_image(
    base: Path, name: str, root: Path, where: str, entry: str, problems: list[Problem]
) -> Path | None:
    """Resolve an image path: it must stay inside ``root`` (symlinks followed) and be a regular file.

    Returns:
        The absolute real path, or None after recording a :class:`Problem` that names ``where`` and ``entry``.
    """
    try:
        path = confine(Path(base) / name, root)
        if not is_regular_file(path):
            read_bytes(path, 0)  # raises with the reason: not found, a FIFO, a directory...
    except FileRefused as e:
        problems.append(Problem(where, entry, f"image file '{name}' {e}", e.fix))
        return None
    return path


def image_size(
    file: Path, where: str, entry: str, problems: list[Problem], declared: tuple[object, object] = (None, None)
) -> tuple[int, int] | None:
    """``(width, height)`` of an image record: the declared size when valid, else the file header's.

    The header is read in both cases (no decode), so an image whose file holds more pixels than
    :func:`edgedet.data.imagefile.max_image_pixels` is dropped even when its annotations declare a small size.
    A file whose header cannot be read is kept when the size is declared (``data check`` decodes it and reports
    it; the loader skips it) and dropped otherwise.

    Returns:
        The size, or None after recording a :class:`Problem`.
    """
    w, h = declared
    ok = is_int64(w) and is_int64(h) and w > 0 and h > 0
    try:
        if ok:
            check_pixels(w, h)
        size = probe_image(file)
    except ImageTooLarge as e:
        problems.append(Problem(where, entry, f"image {file} {e}", e.fix))
        return None
    except FileRefused as e:
        if ok:
            return w, h
        problems.append(Problem(where, entry, f"image {file} {e}", e.fix))
        return None
    return (w, h) if ok else size


def check_box_xyxy(
    box: np.ndarray, width: int, height: int, where: str, entry: str, problems: list[Problem]
) -> np.ndarray | None:
    """Validate one box ``[4]`` xyxy in pixels against its image size.

    Degenerate (w or h <= 0), non-finite and fully outside boxes are dropped; boxes that leave the image by more
    than ``BOX_EDGE_TOLERANCE`` pixels are reported and clipped; tiny overshoots are clipped silently.

    Returns:
        The (clipped) box as float32 ``[4]``, or None when it must be dropped.
    """
    try:
        box = np.asarray(box, np.float64)
    except (OverflowError, TypeError, ValueError):  # ints beyond float range, nested or non-numeric values
        box = np.full(4, np.nan)
    if box.shape != (4,) or not np.isfinite(box).all():
        problems.append(Problem(where, entry, f"box {box.tolist()} is not 4 finite numbers", "fix or remove it"))
        return None
    x1, y1, x2, y2 = box
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        problems.append(Problem(where, entry, f"box has width {x2 - x1:g} and height {y2 - y1:g} (must be > 0)",
                                "fix the box or remove the annotation"))
        return None
    clipped = np.array([min(max(x1, 0), width), min(max(y1, 0), height),
                        min(max(x2, 0), width), min(max(y2, 0), height)])
    if clipped[2] - clipped[0] <= 0 or clipped[3] - clipped[1] <= 0:
        problems.append(Problem(where, entry, f"box {_fmt(box)} lies outside the {width}x{height} image",
                                "fix the coordinates (pixels, origin top-left) or remove the annotation"))
        return None
    overshoot = np.abs(clipped - box).max()
    if overshoot > BOX_EDGE_TOLERANCE:
        problems.append(Problem(where, entry,
                                f"box {_fmt(box)} extends {overshoot:.1f} px outside the {width}x{height} image; "
                                "it was clipped", "clip the box to the image"))
    return clipped.astype(np.float32)


def _fmt(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def make_record(
    image_id: int, file: Path, width: int, height: int, boxes: list, labels: list, crowd: list,
    areas: list | None = None,
) -> ImageRecord:
    """Build an :class:`ImageRecord` from python lists (boxes xyxy pixels)."""
    return ImageRecord(
        id=int(image_id), file=file, width=int(width), height=int(height),
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        labels=np.asarray(labels, np.int64).reshape(-1),
        iscrowd=np.asarray(crowd, np.bool_).reshape(-1),
        areas=None if areas is None else np.asarray(areas, np.float32).reshape(-1),
    )

