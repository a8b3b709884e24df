"""Format detection: one entry point that reads COCO, YOLO or VOC into a :class:`DatasetIndex`."""

from __future__ import annotations

import os
from pathlib import Path

from edgedet.data.coco import coco_json_for, coco_splits, read_coco, split_from_json_name
from edgedet.data.files import DatasetError
from edgedet.data.index import DatasetIndex
from edgedet.data.voc import is_voc_root, read_voc, voc_splits
from edgedet.data.yolo import read_yolo, yolo_splits

FORMATS = ("coco", "yolo", "voc")


def detect_format(path: str | Path) -> tuple[str, Path]:
    """Which format ``path`` holds and the file/dir its reader takes.

    Returns:
        ``(fmt, entry)`` with fmt in ``FORMATS``: a COCO JSON file or directory, a YOLO ``data.yaml``
        (a directory holding one counts), or a VOC root.

    Raises:
        DatasetError: nothing readable at ``path``; the message says what layouts are accepted.
    """
    path = Path(path).expanduser()
    try:
        return _detect(path)
    except OSError as e:  # a name too long, a symlink loop, no permission
        raise DatasetError(path, f"cannot be examined ({e.strerror or e})", "pass a readable dataset path") from None


def _detect(path: Path) -> tuple[str, Path]:
    if not os.path.lexists(path):
        raise DatasetError(path, "no such file or directory",
                           "pass a COCO directory or JSON, a YOLO data.yaml or a VOC root")
    if not path.is_dir():  # a file, or a FIFO / loop that the reader then names as such
        if path.suffix.lower() == ".json":
            return "coco", path
        if path.suffix.lower() in (".yaml", ".yml"):
            return "yolo", path
    elif (path / "annotations").is_dir() and any((path / "annotations").glob("instances_*.json")):
        return "coco", path
    elif is_voc_root(path):
        return "voc", path
    else:
        for name in ("data.yaml", "data.yml", "dataset.yaml"):
            if (path / name).is_file():
                return "yolo", path / name
    raise DatasetError(path, "unknown dataset layout", "pass a COCO directory (annotations/instances_<split>.json + "
                       "images/<split>/), a COCO .json file, a YOLO data.yaml, or a VOC root (Annotations/, "
                       "JPEGImages/, ImageSets/Main/)")


def available_splits(path: str | Path) -> list[str]:
    """Split names present in the dataset at ``path``."""
    fmt, entry = detect_format(path)
    if fmt == "coco":
        return coco_splits(entry)
    if fmt == "yolo":
        return yolo_splits(entry)
    return voc_splits(entry)


def load_dataset(path: str | Path, split: str = "train") -> DatasetIndex:
    """Read one split of a COCO / YOLO / VOC dataset, detecting the format.

    Bad entries never raise: they are dropped and recorded in ``index.problems`` (file and entry named).

    Raises:
        DatasetError: the dataset itself cannot be read (no annotation file, invalid JSON/YAML, unknown split);
            one line naming the file and the fix.
    """
    fmt, entry = detect_format(path)
    if fmt == "coco":
        if entry.is_file():
            own = split_from_json_name(entry)
            return read_coco(entry, split if split == own else own)
        json_path = coco_json_for(entry, split)
        if not os.path.lexists(json_path):
            raise DatasetError(json_path, f"annotation file not found (splits here: {coco_splits(entry)})",
                               f"pick one of those splits or add instances_{split}.json")
        return read_coco(json_path, split)
    if fmt == "yolo":
        return read_yolo(entry, split)
    return read_voc(entry, split)
