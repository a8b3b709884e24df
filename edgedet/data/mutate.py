"""Broken datasets for robustness tests: a small valid COCO / YOLO / VOC dataset and named mutations of it.

A case directory holds ``ds/`` (the dataset root) and ``outside/`` (files no reader may open: images, a label
file and a VOC annotation whose class is :data:`SECRET`). :func:`make_case` writes both; a mutation from
:data:`MUTATIONS` (``{format: {name: fn(ds, rng)}}``) then breaks the dataset in one way: hostile values
(lists and dicts as ids, ``inf``, ``1e400``, 400-digit integers, NUL bytes, 300-character names), bad
encodings, deep nesting, paths and symlinks that leave the root, symlink loops, FIFOs, truncated files and image
bombs. ``tests/data/test_reader_fuzz.py`` and ``benchmarks/robustness/reader_mutations.py`` draw from it.
"""

from __future__ import annotations

import json
import os
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

SECRET = "SECRETCLASS"  # the class of outside/secret.xml and the name no reader output may contain
FORMATS = ("coco", "yolo", "voc")
STEMS = ("a", "b", "c")
EXT = {"a": ".jpg", "b": ".png", "c": ".jpg"}
W, H = 64, 48

# Values a JSON / YAML field may hold in a broken file; "__INF__" etc. are written as bare JSON tokens.
HOSTILE_VALUES = [None, [], {}, [1], {"a": 1}, [[1, 2]], 10**400, -(10**400), 2**63, -1, 0, 1.5, "", "x" * 300,
                  "a\x00b", "../../outside/secret.jpg", True, "__INF__", "__NAN__", "__1E400__", "ünï\u202e"]
# Tokens a YOLO label field or a VOC element may hold.
HOSTILE_TOKENS = ["inf", "-inf", "nan", "1e400", "-1e400", "1" * 400, "9" * 5000, "-1", "0x10", "", "1e-400",
                  "7", "0.5.5", "\x00", "١", "None", "[]", "x" * 300, "1_0", " 1"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header claims ``width x height`` grey pixels (the pixel data is cut short)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def real_bomb_png(path: Path, side: int = 20000) -> Path:
    """A complete ``side x side`` black greyscale PNG (about 390 KB at 20000 px), written once and reused."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        comp, row, parts = zlib.compressobj(9), b"\x00" * (side + 1), []
        for _ in range(side):
            parts.append(comp.compress(row))
        idat = b"".join(parts) + comp.flush()
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                         + _png_chunk(b"IEND", b""))
    return path


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)


def _voc_xml(filename: str, name: str) -> str:
    return (f"<annotation><filename>{filename}</filename><size><width>{W}</width><height>{H}</height>"
            f"<depth>3</depth></size><object><name>{name}</name><difficult>0</difficult><bndbox><xmin>5</xmin>"
            "<ymin>6</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>")


def make_case(case: Path, fmt: str) -> Path:
    """Write a valid 3-image, 2-class ``fmt`` dataset under ``case/ds`` and the ``case/outside`` decoys.

    Returns:
        What :func:`edgedet.data.load_dataset` takes: the COCO or VOC root, or the YOLO ``data.yaml``.
    """
    ds, out = case / "ds", case / "outside"
    for k, ext in enumerate((".jpg", ".png")):
        _image(out / f"secret{ext}", 100 + k)
        _image(out / "images" / f"secret{ext}", 100 + k)
    (out / "secret.xml").write_text(_voc_xml("secret.jpg", SECRET))
    (out / "secret.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (out / "labels").mkdir(exist_ok=True)
    (out / "labels" / "secret.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    if fmt == "coco":
        for k, s in enumerate(STEMS):
            _image(ds / "images" / "train" / f"{s}{EXT[s]}", k)
        images = [{"id": k + 1, "file_name": f"{s}{EXT[s]}", "width": W, "height": H} for k, s in enumerate(STEMS)]
        anns = [{"id": k + 1, "image_id": k + 1, "category_id": 1 + k % 2, "bbox": [5, 6, 25, 30], "area": 750,
                 "iscrowd": 0} for k in range(3)]
        cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
        (ds / "annotations").mkdir(parents=True)
        _write_json(ds / "annotations" / "instances_train.json", {"images": images, "annotations": anns,
                                                                  "categories": cats})
        return ds
    if fmt == "yolo":
        for k, s in enumerate(STEMS):
            _image(ds / "images" / "train" / f"{s}{EXT[s]}", k)
            (ds / "labels" / "train").mkdir(parents=True, exist_ok=True)
            (ds / "labels" / "train" / f"{s}.txt").write_text(f"{k % 2} 0.5 0.5 0.25 0.5\n1 0.3 0.3 0.1 0.1\n")
        (ds / "data.yaml").write_text("path: .\ntrain: images/train\nnames: [cat, dog]\n")
        return ds / "data.yaml"
    for k, s in enumerate(STEMS):
        _image(ds / "JPEGImages" / f"{s}{EXT[s]}", k)
        (ds / "Annotations").mkdir(parents=True, exist_ok=True)
        (ds / "Annotations" / f"{s}.xml").write_text(_voc_xml(f"{s}{EXT[s]}", ("cat", "dog")[k % 2]))
    (ds / "ImageSets" / "Main").mkdir(parents=True)
    (ds / "ImageSets" / "Main" / "train.txt").write_text("a\nb\nc\n")
    return ds


def _write_json(path: Path, data: object) -> None:
    text = json.dumps(data)
    for token, raw in (('"__INF__"', "Infinity"), ('"__NAN__"', "NaN"), ('"__1E400__"', "1e400")):
        text = text.replace(token, raw)
    path.write_text(text)


# ---- file-level mutations: applied to one file of the dataset (an image, a label, an annotation file) ----------

def _replace(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        for p in path.iterdir():
            _replace(p)
        path.rmdir()
    elif os.path.lexists(path):
        path.unlink()


def _fifo(path: Path, rng: random.Random) -> None:
    _replace(path)
    os.mkfifo(path)


def _loop(path: Path, rng: random.Random) -> None:
    _replace(path)
    twin = path.with_name(path.name + ".loop")
    _replace(twin)
    os.symlink(twin, path)
    os.symlink(path, twin)


def _link_outside(path: Path, rng: random.Random) -> None:
    case = next(p for p in path.parents if (p / "outside").is_dir())
    ext = path.suffix if path.suffix in (".jpg", ".png", ".xml", ".txt") else ".jpg"
    _replace(path)
    os.symlink(case / "outside" / f"secret{ext}", path)


def _truncate(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * rng.uniform(0.3, 0.9)))])


def _garbage(path: Path, rng: random.Random) -> None:
    path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))


def _flip_bytes(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))


def _bad_utf8(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    k = rng.randrange(len(data) + 1)
    path.write_bytes(data[:k] + b"\xff\xfe\xc3" + data[k:])


def _bomb(path: Path, rng: random.Random) -> None:
    path.write_bytes(bomb_png(rng.choice([60000, 20000, 9000]), rng.choice([60000, 20000, 9000])))


def _as_dir(path: Path, rng: random.Random) -> None:
    _replace(path)
    path.mkdir()


def _empty(path: Path, rng: random.Random) -> None:
    path.write_bytes(b"")


FILE_MUTATIONS: dict[str, Callable[[Path, random.Random], None]] = {
    "fifo": _fifo, "symlink_loop": _loop, "symlink_outside": _link_outside, "truncate": _truncate,
    "garbage": _garbage, "flip_bytes": _flip_bytes, "bad_utf8": _bad_utf8, "directory": _as_dir, "empty": _empty,
}
IMAGE_MUTATIONS = {**FILE_MUTATIONS, "bomb": _bomb}


def files_of(ds: Path, fmt: str) -> dict[str, list[Path]]:
    """The dataset's files by role: ``images``, ``labels`` (YOLO label / VOC xml), ``index`` (json / yaml / split
    list)."""
    if fmt == "coco":
        return {"images": sorted((ds / "images" / "train").iterdir()),
                "labels": [], "index": [ds / "annotations" / "instances_train.json"]}
    if fmt == "yolo":
        return {"images": sorted((ds / "images" / "train").iterdir()),
                "labels": sorted((ds / "labels" / "train").iterdir()), "index": [ds / "data.yaml"]}
    return {"images": sorted((ds / "JPEGImages").iterdir()), "labels": sorted((ds / "Annotations").iterdir()),
            "index": [ds / "ImageSets" / "Main" / "train.txt"]}


def _file_mutation(role: str, name: str) -> Callable[[Path, str, random.Random], None]:
    def apply(ds: Path, fmt: str, rng: random.Random) -> None:
        targets = files_of(ds, fmt)[role]
        if targets:
            (IMAGE_MUTATIONS if role == "images" else FILE_MUTATIONS)[name](rng.choice(targets), rng)
    return apply


# ---- value-level mutations: one entry of an annotation file gets a hostile value ----------------------------------

def _coco_value(ds: Path, fmt: str, rng: random.Random) -> None:
    path = files_of(ds, fmt)["index"][0]
    data = json.loads(path.read_text())
    section = rng.choice(["images", "annotations", "categories", "top"])
    value = rng.choice(HOSTILE_VALUES)
    if section == "top":
        data[rng.choice(["images", "annotations", "categories"])] = value
    else:
        item = rng.choice(data[section])
        keys = {"images": ["id", "file_name", "width", "height"], "categories": ["id", "name"],
                "annotations": ["id", "image_id", "category_id", "bbox", "bbox[]", "area", "iscrowd"]}[section]
        key = rng.choice(keys)
        if key == "bbox[]":
            item["bbox"][rng.randrange(4)] = value
        else:
            item[key] = value
    _write_json(path, data)


def _coco_deep(ds: Path, fmt: str, rng: random.Random) -> None:
    depth = rng.choice([1000, 100_000])
    path = files_of(ds, fmt)["index"][0]
    text = path.read_text()
    path.write_text(text[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}")


def _coco_field(section: str, key: str, value: object) -> Callable[[Path, str, random.Random], None]:
    def apply(ds: Path, fmt: str, rng: random.Random) -> None:
        path = files_of(ds, fmt)["index"][0]
        data = json.loads(path.read_text())
        data[section][rng.randrange(len(data[section]))][key] = value
        _write_json(path, data)
    return apply


YAML_VALUES = ["5", "[1, 2]", "{a: 1}", ".inf", "1e400", "'../../outside'", "../outside/images", "/", "null",
               "'" + "x" * 300 + "'", "{0: a, x: b}", "{0: a, 5: b}", "[" * 5000 + "]" * 5000, "1" * 400, "9" * 5000,
               "&a [*a]", "!!binary aGVsbG8=", "true", "[images/train, 7]", "''", "images/../../outside/images"]


def _yolo_label(ds: Path, fmt: str, rng: random.Random) -> None:
    path = rng.choice(files_of(ds, fmt)["labels"])
    lines = [line.split() for line in path.read_text().splitlines()]
    line = rng.choice(lines)
    line[rng.randrange(len(line))] = rng.choice(HOSTILE_TOKENS)
    path.write_text("\n".join(" ".join(x) for x in lines) + "\n")


def _yolo_yaml(key: str | None = None, value: str | None = None) -> Callable[[Path, str, random.Random], None]:
    def apply(ds: Path, fmt: str, rng: random.Random) -> None:
        data = {"path": ".", "train": "images/train", "names": "[cat, dog]"}
        k = key or rng.choice(list(data))
        # 'path' declares the dataset root (ultralytics' own yamls put it beside the yaml's folder), so pointing it
        # at outside/ moves the root there rather than escaping it
        pool = [v for v in YAML_VALUES if k != "path" or "outside" not in v]
        data[k] = value if value is not None else rng.choice(pool)
        (ds / "data.yaml").write_text("".join(f"{k}: {v}\n" for k, v in data.items()))
    return apply


def _yolo_split_dir_outside(ds: Path, fmt: str, rng: random.Random) -> None:
    train = ds / "images" / "train"
    _replace(train)
    os.symlink(ds.parent / "outside" / "images", train)


VOC_ELEMENTS = ["filename", "size/width", "size/height", "object/name", "object/difficult", "object/bndbox/xmin",
                "object/bndbox/ymax"]


def _voc_value(ds: Path, fmt: str, rng: random.Random) -> None:
    import xml.etree.ElementTree as ET

    path = rng.choice(files_of(ds, fmt)["labels"])
    tree = ET.parse(path)
    tree.getroot().find(rng.choice(VOC_ELEMENTS)).text = rng.choice(HOSTILE_TOKENS).replace("\x00", "")
    tree.write(path)


def _voc_encoding(ds: Path, fmt: str, rng: random.Random) -> None:
    path = rng.choice(files_of(ds, fmt)["labels"])
    enc = rng.choice(["klingon", "utf-32", "x-unknown", "utf-7", "cp037"])
    path.write_bytes(f'<?xml version="1.0" encoding="{enc}"?>'.encode() + path.read_bytes())


def _voc_deep(ds: Path, fmt: str, rng: random.Random) -> None:
    depth = rng.choice([1000, 100_000])
    path = rng.choice(files_of(ds, fmt)["labels"])
    path.write_text(path.read_text().replace("</annotation>", "<x>" * depth + "</x>" * depth + "</annotation>"))


def _voc_split_line(line: str | None = None) -> Callable[[Path, str, random.Random], None]:
    def apply(ds: Path, fmt: str, rng: random.Random) -> None:
        choice = line if line is not None else rng.choice(
            ["../../outside/secret", "../../../outside/secret", "x" * 300, "a\x00", "/etc/passwd", "a", "..",
             "../Annotations/a", "a b c", "\ufeffa"])
        path = files_of(ds, fmt)["index"][0]
        path.write_text(path.read_text() + choice + "\n")
    return apply


def _voc_filename(value: str) -> Callable[[Path, str, random.Random], None]:
    def apply(ds: Path, fmt: str, rng: random.Random) -> None:
        path = rng.choice(files_of(ds, fmt)["labels"])
        text = path.read_text()
        start, end = text.index("<filename>") + len("<filename>"), text.index("</filename>")
        path.write_text(text[:start] + value + text[end:])
    return apply


Mutation = Callable[[Path, str, random.Random], None]

_SPECIFIC: dict[str, dict[str, Mutation]] = {
    "coco": {
        "value": _coco_value, "deep_json": _coco_deep,
        "image_id_list": _coco_field("images", "id", [1]), "image_id_dict": _coco_field("images", "id", {"a": 1}),
        "ann_image_id_list": _coco_field("annotations", "image_id", [1]),
        "ann_category_id_dict": _coco_field("annotations", "category_id", {"a": 1}),
        "bbox_huge_int": _coco_field("annotations", "bbox", [10**400, 1, 5, 5]),
        "width_huge_int": _coco_field("images", "width", 10**400),
        "long_file_name": _coco_field("images", "file_name", "x" * 300 + ".jpg"),
        "escaping_file_name": _coco_field("images", "file_name", "../../../outside/secret.jpg"),
    },
    "yolo": {
        "label_value": _yolo_label, "yaml_value": _yolo_yaml(),
        "path_not_str": _yolo_yaml("path", "[1, 2]"), "split_escapes": _yolo_yaml("train", "../outside/images"),
        "split_dir_symlink_outside": _yolo_split_dir_outside,
    },
    "voc": {
        "xml_value": _voc_value, "unknown_encoding": _voc_encoding, "deep_xml": _voc_deep,
        "split_line": _voc_split_line(), "id_escapes": _voc_split_line("../../outside/secret"),
        "long_id": _voc_split_line("x" * 300), "long_file_name": _voc_filename("y" * 300 + ".jpg"),
        "escaping_file_name": _voc_filename("../../outside/secret.jpg"),
    },
}


def _all_mutations() -> dict[str, dict[str, Mutation]]:
    out: dict[str, dict[str, Mutation]] = {}
    for fmt in FORMATS:
        out[fmt] = dict(_SPECIFIC[fmt])
        for name in IMAGE_MUTATIONS:
            out[fmt][f"image_{name}"] = _file_mutation("images", name)
        for role in ("labels", "index") if fmt != "coco" else ("index",):
            for name in FILE_MUTATIONS:
                out[fmt][f"{role}_{name}"] = _file_mutation(role, name)
    return out


MUTATIONS: dict[str, dict[str, Mutation]] = _all_mutations()


STRUCTURAL = ("fifo", "symlink", "directory", "loop")  # mutations that replace a file rather than edit it


def make_broken_case(case: Path, fmt: str, names: list[str], seed: int) -> Path:
    """:func:`make_case`, then apply the mutations ``names`` of ``fmt`` with a ``seed``-ed stream.

    Mutations that edit a file's content run first and those that replace a file (FIFO, symlink, directory) last,
    so no edit ever opens a FIFO or writes through a symlink; an edit that cannot parse what an earlier edit left
    (a COCO value change after the JSON was truncated) is skipped.

    Returns:
        What :func:`edgedet.data.load_dataset` takes for the dataset.
    """
    entry = make_case(case, fmt)
    rng = random.Random(seed)
    for name in sorted(names, key=lambda n: (n == "split_dir_symlink_outside", any(k in n for k in STRUCTURAL))):
        try:
            MUTATIONS[fmt][name](case / "ds", fmt, rng)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, SyntaxError, RecursionError):
            if any(k in name for k in STRUCTURAL):
                raise
    return entry
