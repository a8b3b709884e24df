"""YOLO (ultralytics layout) reader and writer.

``data.yaml`` holds ``path`` (dataset root; relative to the YAML's directory, default: that directory),
split keys (``train``, ``val``, ``test``: an image directory, a ``.txt`` list of images, or a list of those)
and ``names`` (list, or dict ``{index: name}``). Labels live where ``/images/`` is replaced by ``/labels/``,
one ``class cx cy w h`` line per object, normalised to ``[0, 1]``; polygon lines (``class x1 y1 x2 y2 ...``)
are reduced to their bounding box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from edgedet.data.index import (
    DatasetIndex,
    Problem,
    check_box_xyxy,
    image_size,
    make_record,
    resolve_image,
)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SPLIT_KEYS = ("train", "val", "test")


def _load_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found; fix: pass the dataset's data.yaml") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML: {e}; fix: repair the file") from None
    if not isinstance(data, dict) or "names" not in data:
        raise ValueError(f"{path}: not a YOLO data.yaml (no 'names'); fix: add 'names: [class0, class1, ...]'")
    return data


def yolo_splits(yaml_path: Path) -> list[str]:
    data = _load_yaml(Path(yaml_path))
    return [k for k in SPLIT_KEYS if data.get(k)]


def _class_names(names, where: str) -> list[str]:
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise ValueError(f"{where}: 'names' keys must be 0..N-1, got {keys}; fix: renumber the classes")
        return [str(names[k]) for k in keys]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise ValueError(f"{where}: 'names' must be a list or a dict; fix: 'names: [cat, dog]'")


def _list_images(entry: Path, root: Path, where: str, problems: list[Problem]) -> list[Path]:
    """Image paths of one split entry (directory, .txt list, or single file)."""
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if entry.suffix == ".txt" and entry.is_file():
        out = []
        for n, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if line:
                path = resolve_image(root, line, root, str(entry), f"line {n}", problems)
                if path is not None:
                    out.append(path)
        return out
    raise ValueError(f"{where}: split path {entry} is neither a directory nor a .txt list; "
                     "fix: point the split key at the images directory")


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
    yaml_path = Path(yaml_path).resolve()
    where = str(yaml_path)
    data = _load_yaml(yaml_path)
    names = _class_names(data["names"], where)
    root = Path(data.get("path") or ".")
    root = (root if root.is_absolute() else yaml_path.parent / root).resolve()
    if not data.get(split):
        have = [k for k in SPLIT_KEYS if data.get(k)]
        raise ValueError(f"{where}: no '{split}' split (found {have}); fix: add '{split}: images/{split}'")
    entries = data[split] if isinstance(data[split], list) else [data[split]]
    problems: list[Problem] = []
    files: list[Path] = []
    for e in entries:
        entry = (root / str(e)).resolve()
        if not entry.exists() and str(e).startswith("../"):  # Roboflow exports; ultralytics accepts these too
            entry = (root / str(e)[3:]).resolve()
        files += _list_images(entry, root, where, problems)
    records = []
    for k, file in enumerate(files, 1):
        size = image_size(file)
        if size is None:
            problems.append(Problem(str(file), "", "image cannot be read", "replace or remove the image"))
            continue
        boxes, labels = _read_label_file(label_path_for(file), size, len(names), problems)
        records.append(make_record(k, file, size[0], size[1], boxes, labels, [False] * len(labels)))
    return DatasetIndex(root=root, split=split, class_names=names, cat_ids=list(range(1, len(names) + 1)),
                        images=records, problems=problems)


def _read_label_file(path: Path, size: tuple[int, int], nc: int, problems: list[Problem]) -> tuple[list, list]:
    """Boxes (xyxy pixels) and labels of one label file; a missing file means no objects."""
    if not path.is_file():
        return [], []
    w, h = size
    boxes, labels = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        vals = line.split()
        if not vals:
            continue
        entry = f"line {n}"
        try:
            nums = [float(v) for v in vals]
        except ValueError:
            problems.append(Problem(str(path), entry, f"not numbers: {line!r}", "write 'class cx cy w h'"))
            continue
        cls = nums[0]
        if len(nums) < 5 or (len(nums) > 5 and len(nums) % 2 == 0):
            problems.append(Problem(str(path), entry, f"expected 'class cx cy w h', got {len(nums)} values",
                                    "write 'class cx cy w h' (normalised)"))
            continue
        if cls != int(cls) or not 0 <= cls < nc:
            problems.append(Problem(str(path), entry, f"unknown class {vals[0]} (data.yaml has {nc} names)",
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

    Crowd boxes are not written (YOLO has no ignore flag).

    Returns:
        The ``data.yaml`` path.
    """
    from edgedet.data.convert import place_images

    out_root = Path(out_root)
    names = place_images(index, out_root / "images" / index.split, link_images)
    label_dir = out_root / "labels" / index.split
    label_dir.mkdir(parents=True, exist_ok=True)
    for rec, name in zip(index.images, names):
        lines = []
        for box, label, crowd in zip(rec.boxes, rec.labels, rec.iscrowd):
            if crowd:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            lines.append(f"{int(label)} {(x1 + x2) / 2 / rec.width:.6f} {(y1 + y2) / 2 / rec.height:.6f} "
                         f"{(x2 - x1) / rec.width:.6f} {(y2 - y1) / rec.height:.6f}")
        (label_dir / Path(name).with_suffix(".txt")).write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    yaml_path = out_root / "data.yaml"
    data = _load_yaml(yaml_path) if yaml_path.is_file() else {}
    data[index.split] = f"images/{index.split}"
    data["names"] = dict(enumerate(index.class_names))
    with open(yaml_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return yaml_path
