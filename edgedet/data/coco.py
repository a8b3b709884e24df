"""COCO reader and writer (instances JSON, boxes xywh in pixels).

Layouts read:
    * a directory ``ROOT/annotations/instances_<split>.json`` with images in ``ROOT/images/<split>/``;
    * a JSON file; each ``file_name`` is looked up under ``images/<split>/`` beside the annotations
      directory, then relative to the JSON's directory, then relative to the dataset root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edgedet.data.files import (
    DatasetError,
    FileRefused,
    confine,
    finite_float,
    is_int64,
    is_regular_file,
    place_images,
    read_text,
    real_path,
)
from edgedet.data.index import DatasetIndex, Problem, check_box_xyxy, image_size, make_record, resolve_image


def coco_json_for(root: Path, split: str) -> Path:
    """The annotation file of ``split`` in a COCO dataset directory."""
    return Path(root) / "annotations" / f"instances_{split}.json"


def coco_splits(path: Path) -> list[str]:
    """Splits of a COCO directory (``annotations/instances_*.json``) or the one split of a JSON file."""
    path = Path(path)
    if path.is_file():
        return [split_from_json_name(path)]
    return sorted(p.stem[len("instances_"):] for p in (path / "annotations").glob("instances_*.json"))


def split_from_json_name(path: Path) -> str:
    stem = Path(path).stem
    return stem[len("instances_"):] if stem.startswith("instances_") else "train"


def _load_json(path: Path, root: Path) -> dict:
    fix_file = "repair or re-export the annotation file"
    try:
        data = json.loads(read_text(confine(path, root)))
    except FileRefused as e:
        raise DatasetError(path, f"annotation file {e}", "pass a COCO directory with annotations/instances_<split>"
                           ".json, or the JSON file itself, as a regular UTF-8 file") from None
    except json.JSONDecodeError as e:
        raise DatasetError(path, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", fix_file) from None
    except RecursionError:
        raise DatasetError(path, "JSON nested too deeply to read", fix_file) from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise DatasetError(path, f"invalid JSON: {e}", fix_file) from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(path, "not a COCO instances file (no 'images' list)",
                           "point at an instances_<split>.json with images/annotations/categories")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise DatasetError(path, f"'{key}' must be a list", fix_file)
    return data


def _image_base(root: Path, jdir: Path, split: str, images: list) -> Path:
    """Pick the base directory of the image files by probing the first few entries."""
    candidates = [root / "images" / split, jdir, root]
    names = [im["file_name"] for im in images[:20] if isinstance(im, dict) and isinstance(im.get("file_name"), str)]
    for base in candidates:
        if any(n and is_regular_file(base / n) for n in names):
            return base
    return candidates[0] if candidates[0].is_dir() else jdir


def read_coco(json_path: Path, split: str) -> DatasetIndex:
    """Read one COCO instances JSON into a :class:`DatasetIndex` (bad entries become Problems)."""
    json_path = Path(os.path.abspath(json_path))
    jdir = real_path(json_path.parent)
    root = jdir.parent if json_path.parent.name == "annotations" else jdir
    data = _load_json(json_path, root)
    where = str(json_path)
    problems: list[Problem] = []
    cats = _read_categories(data.get("categories", []), where, problems)
    cat_ids = sorted(cats)
    base = _image_base(root, jdir, split, data["images"])
    images = _read_images(data["images"], root, base, where, problems)
    all_ids = {im["id"] for im in data["images"] if isinstance(im, dict) and is_int64(im.get("id"))}
    per_image = _read_annotations(data.get("annotations", []), images, all_ids, cat_ids, where, problems)
    records = [make_record(i, f, w, h, *per_image[i]) for i, (f, w, h) in images.items()]
    return DatasetIndex(root=root, split=split, class_names=[cats[c] for c in cat_ids], cat_ids=cat_ids,
                        images=records, problems=problems)


def _read_annotations(
    anns: list, images: dict, all_ids: set, cat_ids: list[int], where: str, problems: list[Problem]
) -> dict[int, tuple[list, list, list, list]]:
    """Validated annotations grouped per image id as ``(boxes xyxy, labels, iscrowd, areas)`` lists.

    ``area`` is kept from the file (COCO evaluation sizes objects by it); missing or invalid -> box area.
    """
    label_of = {c: i for i, c in enumerate(cat_ids)}
    per_image: dict[int, tuple[list, list, list, list]] = {i: ([], [], [], []) for i in images}
    seen: set = set()
    for k, ann in enumerate(anns):
        entry = f"annotations[{k}] (id={_short(ann.get('id')) if isinstance(ann, dict) else None})"
        if not isinstance(ann, dict):
            problems.append(Problem(where, entry, "annotation is not an object", "remove it"))
            continue
        bad = [key for key in ("image_id", "category_id") if not is_int64(ann.get(key))]
        bad += ["id"] if ann.get("id") is not None and not is_int64(ann["id"]) else []
        if bad:
            problems.append(Problem(where, entry, f"{', '.join(bad)} must be integer(s), got "
                                    f"{', '.join(_short(ann.get(key)) for key in bad)}", "fix the annotation"))
            continue
        if ann.get("id") is not None:
            if ann["id"] in seen:
                problems.append(Problem(where, entry, f"duplicate annotation id {ann['id']}; the later one was dropped",
                                        "give every annotation a unique id"))
                continue
            seen.add(ann["id"])
        img_id = ann.get("image_id")
        if img_id not in images:
            if img_id not in all_ids:
                problems.append(Problem(where, entry, f"image_id {img_id} is not in 'images'",
                                        "fix the image_id or remove the annotation"))
            continue  # annotations of dropped images go quietly: their image already has a problem
        cat = ann.get("category_id")
        if cat not in label_of:
            problems.append(Problem(where, entry, f"unknown category_id {cat} (known: {cat_ids})",
                                    "add the category to 'categories' or fix the category_id"))
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            problems.append(Problem(where, entry, f"bbox {bbox!r} is not [x, y, w, h]", "fix the bbox"))
            continue
        x, y, w, h = (finite_float(v) if not isinstance(v, str) else float("nan") for v in bbox)
        _, width, height = images[img_id]
        box = check_box_xyxy(np.array([x, y, x + w, y + h]), width, height, where, entry, problems)
        if box is not None:
            boxes, labels, crowd, areas = per_image[img_id]
            boxes.append(box)
            labels.append(label_of[cat])
            crowd.append(bool(ann.get("iscrowd", 0)))
            area = finite_float(ann.get("area")) if not isinstance(ann.get("area"), str) else float("nan")
            areas.append(area if area > 0 else float((box[2] - box[0]) * (box[3] - box[1])))
    return per_image


def _read_categories(categories: list, where: str, problems: list[Problem]) -> dict[int, str]:
    cats: dict[int, str] = {}
    for k, c in enumerate(categories):
        entry = f"categories[{k}]"
        if not isinstance(c, dict) or not is_int64(c.get("id")):
            problems.append(Problem(where, entry, "category without an integer 'id'", "fix the category"))
            continue
        if c["id"] in cats:
            problems.append(Problem(where, entry, f"duplicate category id {c['id']}; the later one was dropped",
                                    "give every category a unique id"))
            continue
        cats[c["id"]] = str(c.get("name", c["id"]))
    return cats


def _read_images(images: list, root: Path, base: Path, where: str, problems: list[Problem]) -> dict:
    """Validated images as ``{id: (file, width, height)}`` in file order."""
    out: dict[int, tuple[Path, int, int]] = {}
    for k, im in enumerate(images):
        entry = f"images[{k}] (id={_short(im.get('id')) if isinstance(im, dict) else None})"
        if not isinstance(im, dict) or not is_int64(im.get("id")) or not isinstance(im.get("file_name"), str) \
                or not im["file_name"]:
            problems.append(Problem(where, entry, "image entry needs an integer 'id' and a 'file_name' string",
                                    "fix the entry"))
            continue
        if im["id"] in out:
            problems.append(Problem(where, entry, f"duplicate image id {im['id']}; the later one was dropped",
                                    "give every image a unique id"))
            continue
        file = resolve_image(base, im["file_name"], root, where, entry, problems)
        size = None if file is None else image_size(file, where, entry, problems, (im.get("width"), im.get("height")))
        if size is not None:
            out[im["id"]] = (file, *size)
    return out


def _short(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about values of the wrong type."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_coco(index: DatasetIndex, out_root: Path, link_images: bool = True) -> Path:
    """Write ``index`` as a COCO directory split: ``annotations/instances_<split>.json`` + ``images/<split>/``.

    Returns:
        The written JSON path.
    """
    out_root = Path(out_root)
    names = place_images(index, out_root / "images" / index.split, link_images)
    gt = index.to_coco_dict()
    for im, name in zip(gt["images"], names):
        im["file_name"] = name
    path = coco_json_for(out_root, index.split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(gt, f)
    return path
