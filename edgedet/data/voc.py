"""Pascal VOC reader and writer.

Layout: ``ROOT/Annotations/<id>.xml``, ``ROOT/JPEGImages/<file>``, ``ROOT/ImageSets/Main/<split>.txt``.
Classes are read from ``ROOT/classes.txt`` (one name a line) when present, else they are the sorted set of
``<name>`` values in all annotation files. VOC pixel coordinates are 1-based and inclusive, so
``xyxy = (xmin - 1, ymin - 1, xmax, ymax)``. ``difficult`` objects become ``iscrowd`` (ignored), as in VOC
evaluation.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from edgedet.data.files import (
    DatasetError,
    FileRefused,
    confine,
    finite_float,
    place_images,
    read_bytes,
    read_text,
    real_path,
)
from edgedet.data.index import (
    DatasetIndex,
    Problem,
    check_box_xyxy,
    image_size,
    make_record,
    resolve_image,
)


def is_voc_root(path: Path) -> bool:
    path = Path(path)
    return (path / "Annotations").is_dir() and (path / "JPEGImages").is_dir()


def voc_splits(root: Path) -> list[str]:
    """Split files of ``ImageSets/Main`` (class-specific ``<class>_<split>.txt`` files are skipped)."""
    return sorted(p.stem for p in (Path(root) / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)


def _parse(path: Path, root: Path) -> ET.Element:
    """The root element of an annotation file inside ``root``.

    Raises:
        FileRefused: the file is outside ``root``, missing, not a regular file, or not valid XML (unknown
            encodings included).
    """
    data = read_bytes(confine(path, root))
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        raise FileRefused(f"is not valid XML ({e})", "fix or re-export the annotation file") from None
    except (LookupError, ValueError) as e:  # an encoding Python does not know, or one that cannot decode the bytes
        raise FileRefused(f"declares an unreadable XML encoding ({e})",
                          "save the file as UTF-8 and declare encoding=\"utf-8\"") from None


def voc_class_names(root: Path) -> list[str]:
    """Class names: ``classes.txt`` when present, else sorted names found in every annotation file.

    Annotation files that cannot be read are skipped here; reading their split reports them.

    Raises:
        DatasetError: ``classes.txt`` exists but cannot be read.
    """
    root = real_path(root)
    classes = root / "classes.txt"
    if os.path.lexists(classes):
        try:
            text = read_text(confine(classes, root))
        except FileRefused as e:
            raise DatasetError(classes, f"class list {e}", e.fix) from None
        return [n.strip() for n in text.splitlines() if n.strip()]
    names: set[str] = set()
    for xml in sorted((root / "Annotations").glob("*.xml")):
        try:
            tree = _parse(xml, root)
        except FileRefused:
            continue
        names.update((o.findtext("name") or "").strip() for o in tree.iter("object"))
    names.discard("")
    return sorted(names)


def read_voc(root: Path, split: str) -> DatasetIndex:
    """Read one split of a VOC dataset (bad entries become Problems).

    Raises:
        DatasetError: the split file (or ``classes.txt``) is missing or cannot be read.
    """
    root = real_path(root)
    split_file = root / "ImageSets" / "Main" / f"{split}.txt"
    if not os.path.lexists(split_file):
        raise DatasetError(split_file, f"split file not found (splits here: {voc_splits(root)})",
                           f"list the image ids of '{split}' in that file, one a line")
    try:
        lines = read_text(confine(split_file, root)).splitlines()
    except FileRefused as e:
        raise DatasetError(split_file, f"split file {e}", e.fix) from None
    names = voc_class_names(root)
    label_of = {n: i for i, n in enumerate(names)}
    problems: list[Problem] = []
    records = []
    seen: set[str] = set()
    ids = [(n, x.split()[0]) for n, x in enumerate(lines, 1) if x.strip()]
    for k, (n, stem) in enumerate(ids, 1):
        if stem in seen:
            problems.append(Problem(str(split_file), f"line {n}", f"duplicate image id '{stem}'; dropped",
                                    "list every image once"))
            continue
        seen.add(stem)
        rec = _read_one(root, stem, k, label_of, problems, (str(split_file), f"line {n}"))
        if rec is not None:
            records.append(rec)
    return DatasetIndex(root=root, split=split, class_names=names, cat_ids=list(range(1, len(names) + 1)),
                        images=records, problems=problems)


def _read_one(root: Path, stem: str, image_id: int, label_of: dict, problems: list[Problem],
              split_line: tuple[str, str]):
    xml = root / "Annotations" / f"{stem}.xml"
    where = str(xml)
    try:
        confine(xml, root)
    except FileRefused as e:  # the id leads outside the root (or loops): name the split file's line
        problems.append(Problem(*split_line, f"image id '{stem[:300]}' {e}", e.fix))
        return None
    try:
        tree = _parse(xml, root)
    except FileRefused as e:
        problems.append(Problem(where, "", f"annotation file {e}", e.fix))
        return None
    fname = (tree.findtext("filename") or f"{stem}.jpg").strip()
    file = resolve_image(root / "JPEGImages", fname, root, where, "<filename>", problems)
    if file is None:
        return None
    size = image_size(file, where, "<size>", problems, (_int(tree.findtext("size/width")),
                                                        _int(tree.findtext("size/height"))))
    if size is None:
        return None
    w, h = size
    boxes, labels, crowd = [], [], []
    for j, obj in enumerate(tree.iter("object")):
        entry = f"object[{j}]"
        name = (obj.findtext("name") or "").strip()
        if name not in label_of:
            problems.append(Problem(where, entry, f"unknown class {name[:40]!r}",
                                    "fix the name or add it to classes.txt"))
            continue
        coords = [finite_float(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")]
        if not all(math.isfinite(c) for c in coords):
            problems.append(Problem(where, entry, "missing or non-numeric <bndbox>", "fix the box"))
            continue
        box = np.array([coords[0] - 1, coords[1] - 1, coords[2], coords[3]])
        box = check_box_xyxy(box, w, h, where, entry, problems)
        if box is not None:
            boxes.append(box)
            labels.append(label_of[name])
            crowd.append((obj.findtext("difficult") or "0").strip() == "1")
    return make_record(image_id, file, w, h, boxes, labels, crowd)


def _int(text: str | None) -> int | None:
    """An integer ``<size>`` value (``"640"`` or ``"640.0"``), or None when missing, non-numeric or huge."""
    value = finite_float(text)
    return int(value) if math.isfinite(value) and value == int(value) and abs(value) < 2**62 else None


def write_voc(index: DatasetIndex, out_root: Path, link_images: bool = True) -> Path:
    """Write one split as VOC (Annotations, JPEGImages, ImageSets/Main/<split>.txt, classes.txt).

    Returns:
        The dataset root.
    """
    out_root = Path(out_root)
    names = place_images(index, out_root / "JPEGImages", link_images)
    ann_dir = out_root / "Annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    for rec, name in zip(index.images, names):
        ET.ElementTree(_record_xml(rec, name, index.class_names)).write(ann_dir / f"{Path(name).stem}.xml")
    sets = out_root / "ImageSets" / "Main"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / f"{index.split}.txt").write_text("".join(Path(n).stem + "\n" for n in names), encoding="utf-8")
    (out_root / "classes.txt").write_text("".join(n + "\n" for n in index.class_names), encoding="utf-8")
    return out_root


def _record_xml(rec, name: str, class_names: list[str]) -> ET.Element:
    ann = ET.Element("annotation")
    ET.SubElement(ann, "filename").text = name
    size = ET.SubElement(ann, "size")
    for tag, v in (("width", rec.width), ("height", rec.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(v)
    for box, label, crowd in zip(rec.boxes, rec.labels, rec.iscrowd):
        obj = ET.SubElement(ann, "object")
        ET.SubElement(obj, "name").text = class_names[int(label)]
        ET.SubElement(obj, "difficult").text = "1" if crowd else "0"
        bnd = ET.SubElement(obj, "bndbox")
        x1, y1, x2, y2 = (float(v) for v in box)
        for tag, v in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(bnd, tag).text = f"{v:g}"
    return ann
