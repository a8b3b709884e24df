"""Convert any readable dataset (COCO / YOLO / VOC) into a COCO directory, a YOLO dataset or a VOC root."""

from __future__ import annotations

import logging
from pathlib import Path

from edgedet.data.coco import write_coco
from edgedet.data.formats import available_splits, load_dataset
from edgedet.data.voc import write_voc
from edgedet.data.yolo import write_yolo

log = logging.getLogger(__name__)

WRITERS = {"coco": write_coco, "yolo": write_yolo, "voc": write_voc}


def convert(src: str | Path, dst: str | Path, fmt: str = "coco", link_images: bool = True) -> Path:
    """Convert every split of the dataset at ``src`` into format ``fmt`` under ``dst``.

    Entries the reader drops (see :func:`edgedet.data.check_dataset`) are left out and logged as a count.

    Args:
        src: COCO directory or JSON, YOLO data.yaml, or VOC root.
        dst: output directory (created).
        fmt: "coco" (annotations/instances_<split>.json + images/<split>/), "yolo" (data.yaml + images/ +
            labels/) or "voc".
        link_images: hard-link images when possible instead of copying.

    Returns:
        What to pass to :func:`load_dataset` for the result (the directory, or ``data.yaml`` for YOLO).
    """
    if fmt not in WRITERS:
        raise ValueError(f"unknown output format '{fmt}'; fix: use one of {sorted(WRITERS)}")
    dst = Path(dst)
    splits = available_splits(src)
    if not splits:
        raise ValueError(f"{src}: no splits found; fix: check the dataset layout")
    out = dst
    for split in splits:
        index = load_dataset(src, split)
        if index.problems:
            log.warning("%s [%s]: %d problem(s) while reading; those entries were left out (run `edgedet data "
                        "check %s` for the list)", src, split, len(index.problems), src)
        out = WRITERS[fmt](index, dst, link_images)
    return out if fmt == "yolo" else dst
