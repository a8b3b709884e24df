"""YOLO (ultralytics layout) reader and writer.

``data.yaml`` holds ``path`` (dataset root; relative to the YAML's directory, default: that directory),
split keys (``train``, ``val``, ``test``: an image directory, a ``.txt`` list of images, or a list of those)
and ``names`` (list, or dict ``{index: name}``). Labels live where ``/images/`` is replaced by ``/labels/``,
one ``class cx cy w h`` line per object, normalised to ``[0, 1]``; polygon lines (``class x1 y1 x2 y2 ...``)
are reduced to their bounding box.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import yaml

from edgedet.data.files import (
    DatasetError,
    FileRefused,
    PathEscapes,
    confine,
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

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SPLIT_KEYS = ("train", "val", "test")


def _load_yaml(path: Path) -> dict:
    fix_file = "repair the file"
    try:
        data = yaml.safe_load(read_text(confine(path, real_path(Path(os.path.abspath(path)).parent))))
    except FileRefused as e:
        raise DatasetError(path, f"data.yaml {e}", "pass the dataset's data.yaml, a regular UTF-8 file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise DatasetError(path, f"invalid YAML{at}: {getattr(e, 'problem', None) or e}", fix_file) from None
    except RecursionError:
        raise DatasetError(path, "YAML nested too deeply to read", fix_file) from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise DatasetError(path, f"invalid YAML: {e}", fix_file) from None
    if not isinstance(data, dict) or "names" not in data:
        raise DatasetError(path, "not a YOLO data.yaml (no 'names')", "add 'names: [class0, class1, ...]'")
    if data.get("path") is not None and not isinstance(data["path"], str):
        raise DatasetError(path, f"'path' must be a string (the dataset root), got {type(data['path']).__name__}",
                           "write 'path: .' or the dataset directory, or remove the key")
    return data


def yolo_splits(yaml_path: Path) -> list[str]:
    data = _load_yaml(Path(yaml_path))
    return [k for k in SPLIT_KEYS if data.get(k)]


def _class_names(names, where: str) -> list[str]:
    if isinstance(names, dict):
        keys = list(names)
        if any(type(k) is not int for k in keys) or sorted(keys) != list(range(len(keys))):
            raise DatasetError(where, f"'names' keys must be 0..N-1, got {str(keys)[:80]}", "renumber the classes")
        return [str(names[k]) for k in range(len(keys))]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise DatasetError(where, "'names' must be a list or a dict", "write 'names: [cat, dog]'")


def _list_images(entry: Path, root: Path, where: str, item: str, problems: list[Problem]) -> list[Path]:
    """Image paths of one split entry (directory, .txt list, or single file); nothing outside ``root``."""
    try:
        real = confine(entry, root)
    except PathEscapes as e:
        problems.append(Problem(where, item, f"split path {entry} {e}", "set 'path:' in data.yaml to a folder that "
                                "holds every split, or move the split inside the dataset root"))
        return []
    except FileRefused as e:
        problems.append(Problem(where, item, f"split path {entry} {e}", e.fix))
        return []
    if os.path.isdir(real):
        return _images_in_dir(entry, root, problems)
    if entry.suffix == ".txt":
        try:
            lines = read_text(real).splitlines()
        except FileRefused as e:
            problems.append(Problem(where, item, f"image list {entry} {e}", e.fix))
            return []
        out = []
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if line:
                path = resolve_image(root, line, root, str(entry), f"line {n}", problems)
                if path is not None:
                    out.append(path)
        return out
    try:
        read_bytes(real, 0)
    except FileRefused as err:  # not found, a name too long, a FIFO...
        problems.append(Problem(where, item, f"split path {entry} {err}", "point the split key at the images directory"))
        return []
    problems.append(Problem(where, item, f"split path {entry} is neither a directory nor a .txt list of images",
                            "point the split key at the images directory"))
    return []


def _images_in_dir(folder: Path, root: Path, problems: list[Problem]) -> list[Path]:
    """Image files under ``folder`` (symlinked directories are not entered); links leaving ``root`` and
    non-regular files (a FIFO named ``x.jpg``) become Problems."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() not in IMAGE_EXTS:
                continue
            if resolve_image(path.parent, name, root, str(path), "", problems) is not None:
                out.append(path)
    return out


def label_path_for(image: Path) -> Path:
    """``.../images/<...>/x.jpg`` -> ``.../labels/<...>/x.txt`` (the ultralytics rule)."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_yolo(yaml_path: Path, split: str) -> DatasetIndex:
    """Read one split of a YOLO dataset (bad lines become Problems)."""
    yaml_path = Path(os.path.abspath(yaml_path))
    where = str(yaml_path)
    data = _load_yaml(yaml_path)
    names = _class_names(data["names"], where)
    root = Path(data.get("path") or ".")
    root = real_path(root if root.is_absolute() else yaml_path.parent / root)
    if not data.get(split):
        have = [k for k in SPLIT_KEYS if data.get(k)]
        raise DatasetError(where, f"no '{split}' split (found {have})", f"add '{split}: images/{split}'")
    entries = data[split] if isinstance(data[split], list) else [data[split]]
    problems: list[Problem] = []
    files: list[Path] = []
    for j, e in enumerate(entries):
        item = f"{split}[{j}]" if isinstance(data[split], list) else split
        if not isinstance(e, str) or not e:
            problems.append(Problem(where, item, f"split entry {str(e)[:80]!r} is not a path",
                                    f"write '{split}: images/{split}'"))
            continue
        entry = root / e
        if e.startswith("../") and not _exists(entry):  # Roboflow exports; ultralytics accepts these too
            entry = root / e[3:]
        files += _list_images(entry, root, where, item, problems)
    records = []
    for k, file in enumerate(files, 1):
        size = image_size(file, str(file), "", problems)
        if size is None:
            continue
        labels_read = _read_label_file(label_path_for(file), root, size, len(names), problems)
        if labels_read is None:
            continue
        boxes, labels = labels_read
        records.append(make_record(k, file, size[0], size[1], boxes, labels, [False] * len(labels)))
    return DatasetIndex(root=root, split=split, class_names=names, cat_ids=list(range(1, len(names) + 1)),
                        images=records, problems=problems)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _read_label_file(
    path: Path, root: Path, size: tuple[int, int], nc: int, problems: list[Problem]
) -> tuple[list, list] | None:
    """Boxes (xyxy pixels) and labels of one label file; a missing file means no objects.

    Returns:
        ``(boxes, labels)``, or None after recording a Problem when the file exists but cannot be read (outside
        ``root``, not a regular file, not UTF-8): its image is then dropped, since training on it with no boxes
        would teach that its objects are background.
    """
    if not os.path.lexists(path):
        return [], []
    try:
        text = read_text(confine(path, root))
    except FileRefused as e:
        problems.append(Problem(str(path), "", f"label file {e}; its image was dropped", e.fix))
        return None
    w, h = size
    boxes, labels = [], []
    for n, line in enumerate(text.splitlines(), 1):
        vals = line.split()
        if not vals:
            continue
        entry = f"line {n}"
        try:
            nums = [float(v) for v in vals]
        except ValueError:
            problems.append(Problem(str(path), entry, f"not numbers: {line[:80]!r}", "write 'class cx cy w h'"))
            continue
        cls = nums[0]
        if len(nums) < 5 or (len(nums) > 5 and len(nums) % 2 == 0):
            problems.append(Problem(str(path), entry, f"expected 'class cx cy w h', got {len(nums)} values",
                                    "write 'class cx cy w h' (normalised)"))
            continue
        if not math.isfinite(cls) or cls != int(cls) or not 0 <= cls < nc:
            problems.append(Problem(str(path), entry, f"unknown class {vals[0][:40]} (data.yaml has {nc} names)",
                                    "fix the class index or add the name to data.yaml"))
            continue
        if len(nums) == 5:
            cx, cy, bw, bh = nums[1:]
            box = np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
        else:
            pts = np.array(nums[1:]).reshape(-1, 2) * (w, h)
            box = np.concatenate([pts.min(0), pts.max(0)])
        box = check_box_xyxy(box, w, h, str(path), entry, problems)
        if box is not None:
            boxes.append(box)
            labels.append(int(cls))
    return boxes, labels


def write_yolo(index: DatasetIndex, out_root: Path, link_images: bool = True) -> Path:
    """Write one split as ``images/<split>/``, ``labels/<split>/`` and (re)write ``data.yaml``.

    ``data.yaml`` gets ``path:`` (the absolute dataset root, as ultralytics expects), the split key and
    ``names``. Crowd boxes are not written (YOLO has no ignore flag): their count and the first image holding
    one are logged as a warning.

    Returns:
        The ``data.yaml`` path.
    """
    out_root = Path(out_root)
    names = place_images(index, out_root / "images" / index.split, link_images)
    label_dir = out_root / "labels" / index.split
    label_dir.mkdir(parents=True, exist_ok=True)
    crowd_boxes, crowd_images = 0, []
    for rec, name in zip(index.images, names):
        lines = []
        for box, label, crowd in zip(rec.boxes, rec.labels, rec.iscrowd):
            if crowd:
                crowd_boxes += 1
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            lines.append(f"{int(label)} {(x1 + x2) / 2 / rec.width:.6f} {(y1 + y2) / 2 / rec.height:.6f} "
                         f"{(x2 - x1) / rec.width:.6f} {(y2 - y1) / rec.height:.6f}")
        if rec.iscrowd.any():
            crowd_images.append(rec.file)
        (label_dir / Path(name).with_suffix(".txt")).write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    if crowd_boxes:
        log.warning("%s [%s]: %d crowd/ignore box(es) in %d image(s) left out of %s (YOLO has no ignore flag; "
                    "first: %s)", index.root, index.split, crowd_boxes, len(crowd_images), label_dir,
                    crowd_images[0])
    yaml_path = out_root / "data.yaml"
    data = _load_yaml(yaml_path) if yaml_path.is_file() else {}
    data = {"path": str(out_root.resolve()), **{k: v for k, v in data.items() if k != "path"}}
    data[index.split] = f"images/{index.split}"
    data["names"] = dict(enumerate(index.class_names))
    with open(yaml_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return yaml_path
