"""Regression tests for the reader defects of the reliability issue: each broken input gives a one-line Problem or
DatasetError naming the file, never a traceback, a hang, or a read outside the dataset root."""

import ast
import json
import logging
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edgedet.data import DatasetError, check_dataset, convert, load_dataset
from edgedet.data.imagefile import MAX_PIXELS_ENV, probe_image, truncation
from edgedet.data.index import Problem
from edgedet.data.mutate import SECRET, bomb_png, make_case

DATA_DIR = Path(__file__).parents[2] / "edgedet" / "data"


def _find(problems, *needles):
    hits = [p for p in problems if all(n in str(p) for n in needles)]
    assert hits, f"no problem with {needles} in:\n" + "\n".join(map(str, problems))
    return hits[0]


def _within(seconds, fn, *args):
    """``fn(*args)``, failing the test instead of hanging when it blocks (a FIFO read never returns)."""
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} still running after {seconds} s (blocked on a FIFO?)")
    if "error" in out:
        raise out["error"]
    return out["value"]


def _coco_json(case: Path) -> Path:
    return case / "ds" / "annotations" / "instances_train.json"


def _edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


# ---- 2: values of the wrong type or out of range -------------------------------------------------------------------

def test_yolo_class_inf_1e400_and_400_digits_drop_only_their_line(tmp_path):
    entry = make_case(tmp_path, "yolo")
    label = tmp_path / "ds" / "labels" / "train" / "a.txt"
    label.write_text("inf 0.5 0.5 0.2 0.2\n1e400 0.5 0.5 0.2 0.2\n" + "1" * 400 + " 0.5 0.5 0.2 0.2\n"
                     "0 0.5 0.5 0.25 0.5\n")
    index = load_dataset(entry)
    assert [str(p) for p in index.problems if "a.txt" in p.file] == [
        f"{label}: line {n}: unknown class {v} (data.yaml has 2 names) (fix: fix the class index or add the name "
        "to data.yaml)" for n, v in ((1, "inf"), (2, "1e400"), (3, "1" * 40))]
    rec = next(r for r in index.images if r.file.stem == "a")
    np.testing.assert_allclose(rec.boxes, [[24, 12, 40, 36]])


def test_coco_integers_beyond_float_range_drop_their_box_or_fall_back(tmp_path):
    make_case(tmp_path, "coco")

    def edit(d):
        d["annotations"][0]["bbox"] = [10**400, 1, 5, 5]
        d["annotations"][1]["area"] = 10**400
        d["images"][2]["width"] = 10**400
    _edit_json(_coco_json(tmp_path), edit)
    index = load_dataset(tmp_path / "ds")
    _find(index.problems, "annotations[0] (id=1)", "is not 4 finite numbers")
    assert len(index.problems) == 1
    by_id = {r.id: r for r in index.images}
    assert by_id[2].areas.tolist() == [25 * 30]  # the huge area is replaced by the box area
    assert (by_id[3].width, by_id[3].height) == (64, 48)  # the huge width falls back to the file header


def test_voc_size_and_box_beyond_float_range(tmp_path):
    make_case(tmp_path, "voc")
    xml = tmp_path / "ds" / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<width>64</width>", "<width>" + "1" * 400 + "</width>")
                   .replace("<xmin>5</xmin>", "<xmin>1e400</xmin>"))
    index = load_dataset(tmp_path / "ds")
    assert (index.images[0].width, index.images[0].height) == (64, 48)
    _find(index.problems, "a.xml: object[0]", "missing or non-numeric <bndbox>")


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("images", "id", [1], "images[1] (id=[1]): image entry needs an integer 'id'"),
    ("images", "id", {"a": 1}, "images[1] (id={'a': 1}): image entry needs an integer 'id'"),
    ("annotations", "image_id", [2], "annotations[1] (id=2): image_id must be integer(s), got [2]"),
    ("annotations", "category_id", {"a": 1}, "annotations[1] (id=2): category_id must be integer(s), got {'a': 1}"),
    ("annotations", "id", [2], "annotations[1] (id=[2]): id must be integer(s), got [2]"),
])
def test_coco_ids_that_are_lists_or_dicts_drop_only_their_entry(tmp_path, section, key, value, message):
    make_case(tmp_path, "coco")
    _edit_json(_coco_json(tmp_path), lambda d: d[section][1].__setitem__(key, value))
    index = load_dataset(tmp_path / "ds")
    p = _find(index.problems, message)
    assert p.file == str(_coco_json(tmp_path))
    assert [r.id for r in index.images] == ([1, 3] if section == "images" else [1, 2, 3])


def test_voc_unknown_xml_encoding_is_a_problem_of_that_file(tmp_path):
    make_case(tmp_path, "voc")
    xml = tmp_path / "ds" / "Annotations" / "b.xml"
    xml.write_bytes(b'<?xml version="1.0" encoding="klingon"?>' + xml.read_bytes())
    index = load_dataset(tmp_path / "ds")
    p = _find(index.problems, "b.xml", "unreadable XML encoding", "unknown encoding: klingon")
    assert p.file == str(xml) and "utf-8" in p.fix
    assert [r.file.stem for r in index.images] == ["a", "c"]


def test_300_character_names_are_problems_in_every_format(tmp_path):
    long = "x" * 300
    make_case(tmp_path / "coco", "coco")
    _edit_json(_coco_json(tmp_path / "coco"), lambda d: d["images"][0].__setitem__("file_name", long + ".jpg"))
    _find(load_dataset(tmp_path / "coco" / "ds").problems, "images[0] (id=1)", "name too long")
    make_case(tmp_path / "voc", "voc")
    (tmp_path / "voc" / "ds" / "ImageSets" / "Main" / "train.txt").write_text(f"a\n{long}\n")
    _find(load_dataset(tmp_path / "voc" / "ds").problems, "annotation file has a name too long")
    entry = make_case(tmp_path / "yolo", "yolo")
    (tmp_path / "yolo" / "ds" / "list.txt").write_text(f"images/train/a.jpg\n{long}.jpg\n")
    entry.write_text("train: list.txt\nnames: [cat, dog]\n")
    index = load_dataset(entry)
    _find(index.problems, "list.txt: line 2", "name too long")
    assert len(index.images) == 1
    entry.write_text(f"train: {long}\nnames: [cat, dog]\n")
    _find(load_dataset(entry).problems, "data.yaml: train", "split path", "name too long")


def test_symlink_loop_is_a_problem_not_a_crash(tmp_path):
    make_case(tmp_path, "coco")
    img = tmp_path / "ds" / "images" / "train" / "a.jpg"
    img.unlink()
    os.symlink(img.with_name("loop.jpg"), img)
    os.symlink(img, img.with_name("loop.jpg"))
    problems = check_dataset(tmp_path / "ds")
    _find(problems, "images[0] (id=1)", "image file 'a.jpg' is a symlink loop")
    entry = make_case(tmp_path / "y", "yolo")
    img = tmp_path / "y" / "ds" / "images" / "train" / "a.jpg"
    img.unlink()
    os.symlink(img, img)
    _find(check_dataset(entry), "a.jpg", "symlink loop")


def test_deeply_nested_json_is_one_dataset_error(tmp_path):
    make_case(tmp_path, "coco")
    path = _coco_json(tmp_path)
    path.write_text(path.read_text()[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DatasetError, match="nested too deeply") as e:
        load_dataset(tmp_path / "ds")
    assert e.value.file == str(path)
    problems = check_dataset(tmp_path / "ds")
    assert len(problems) == 1 and problems[0].file == str(path) and "nested too deeply" in problems[0].message


@pytest.mark.parametrize("value", ["5", "[1, 2]", "{a: 1}"])
def test_yaml_path_that_is_not_a_string_is_one_dataset_error(tmp_path, value):
    entry = make_case(tmp_path, "yolo")
    entry.write_text(f"path: {value}\ntrain: images/train\nnames: [cat, dog]\n")
    with pytest.raises(DatasetError, match="'path' must be a string") as e:
        load_dataset(entry)
    assert e.value.file == str(entry) and "\n" not in str(e.value)


def test_label_file_not_utf8_drops_that_image_not_the_split(tmp_path):
    entry = make_case(tmp_path, "yolo")
    label = tmp_path / "ds" / "labels" / "train" / "b.txt"
    label.write_bytes(b"0 0.5 0.5 \xff\xfe 0.2\n")
    index = load_dataset(entry)
    p = _find(index.problems, "label file is not UTF-8 text (byte 0xff at offset 10)")
    assert p.file == str(label)
    assert [r.file.stem for r in index.images] == ["a", "c"]


def test_problem_text_is_always_one_line():
    assert str(Problem("f.xml", "object[0]", "unknown class 'a\nb'", "fix\r\nit")) == \
        "f.xml: object[0]: unknown class 'a\\nb' (fix: fix\\r\\nit)"


# ---- 3: image bombs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_png_bomb_is_refused_from_its_header(tmp_path, fmt):
    entry = make_case(tmp_path, fmt)
    folder = "JPEGImages" if fmt == "voc" else "images/train"
    (tmp_path / "ds" / folder / "b.png").write_bytes(bomb_png(60000, 60000))
    problems = check_dataset(entry)
    _find(problems, "b.png", "is 60000x60000 (3600 megapixels), over the limit of 50 megapixels",
          f"raise the limit with {MAX_PIXELS_ENV}")
    assert len(problems) == 1
    assert [r.file.stem for r in load_dataset(entry).images] == ["a", "c"]


def test_pixel_limit_is_raised_by_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((48, 64, 3), np.uint8))
    monkeypatch.setenv(MAX_PIXELS_ENV, "3000")
    with pytest.raises(Exception, match=r"is 64x48 \(0 megapixels\), over the limit of 0.003 megapixels"):
        probe_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "3072")
    assert probe_image(path) == (64, 48)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match="EDGEDET_MAX_IMAGE_PIXELS='lots' is not a positive integer"):
        probe_image(path)


def test_loader_drops_a_bomb_and_a_cv2_error_instead_of_ending_the_epoch(tmp_path, caplog):
    from edgedet.data import DetectionDataset

    entry = make_case(tmp_path, "coco")
    index = load_dataset(entry)
    (tmp_path / "ds" / "images" / "train" / "b.png").write_bytes(bomb_png(60000, 60000))  # after reading
    ds = DetectionDataset(index, 64, train=True)
    with caplog.at_level(logging.WARNING):
        items = [ds[i] for i in range(len(ds))]
    assert [it["image_id"] for it in items] == [1, 3, 3]
    assert ds.bad == {1} and ds.substituted == 1
    assert "b.png is 60000x60000 (3600 megapixels), over the limit" in caplog.text


def test_header_parsers_agree_with_opencv(tmp_path):
    img = np.zeros((37, 91, 3), np.uint8)
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tif", ".ppm", ".gif"):
        path = tmp_path / f"x{ext}"
        if ext == ".gif":
            from PIL import Image

            Image.fromarray(img).save(path)
        else:
            assert cv2.imwrite(str(path), img)
        assert probe_image(path) == (91, 37), ext
    jpg = (tmp_path / "x.jpg").read_bytes()
    comments = b"".join(b"\xff\xfe" + (65000).to_bytes(2, "big") + b"c" * 64998 for _ in range(3))
    (tmp_path / "big_app.jpg").write_bytes(jpg[:2] + comments + jpg[2:])  # frame header ~195 KB into the file
    assert probe_image(tmp_path / "big_app.jpg") == (91, 37)
    assert cv2.imread(str(tmp_path / "big_app.jpg")).shape == (37, 91, 3)


# ---- 4: paths leaving the dataset root ---------------------------------------------------------------------------------

def test_voc_id_escaping_the_root_is_not_read(tmp_path):
    make_case(tmp_path, "voc")
    split = tmp_path / "ds" / "ImageSets" / "Main" / "train.txt"
    split.write_text("a\n\n../../outside/secret\n")
    problems = check_dataset(tmp_path / "ds")
    p = _find(problems, "train.txt: line 3", "image id '../../outside/secret' escapes the dataset root")
    assert p.file == str(split)
    assert not any(SECRET in str(q) for q in problems)
    assert SECRET not in load_dataset(tmp_path / "ds").class_names


def test_yolo_split_dir_and_symlinks_outside_the_root_are_problems(tmp_path):
    entry = make_case(tmp_path, "yolo")
    ds, out = tmp_path / "ds", tmp_path / "outside"
    (ds / "images" / "train" / "a.jpg").unlink()
    os.symlink(out / "secret.jpg", ds / "images" / "train" / "a.jpg")
    (ds / "labels" / "train" / "b.txt").unlink()
    os.symlink(out / "secret.txt", ds / "labels" / "train" / "b.txt")
    os.symlink(out / "images", ds / "images" / "val")
    entry.write_text("train: images/train\nval: [images/val, ../outside/images]\nnames: [cat, dog]\n")
    train = load_dataset(entry, "train")
    _find(train.problems, "images/train/a.jpg", "escapes the dataset root")
    _find(train.problems, "labels/train/b.txt", "label file escapes the dataset root")
    assert [r.file.stem for r in train.images] == ["c"]
    val = load_dataset(entry, "val")
    assert "'path:' in data.yaml" in _find(val.problems, "data.yaml: val[0]", "split path", "escapes the dataset root").fix
    _find(val.problems, "data.yaml: val[1]", "escapes the dataset root")
    assert val.images == []
    assert all(r.file.resolve().is_relative_to(ds.resolve()) for r in train.images)


# ---- 5: FIFOs --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_fifo_named_like_an_image_is_refused_not_opened(tmp_path, fmt):
    entry = make_case(tmp_path, fmt)
    folder = "JPEGImages" if fmt == "voc" else "images/train"
    fifo = tmp_path / "ds" / folder / "c.jpg"
    fifo.unlink()
    os.mkfifo(fifo)
    problems = _within(20, check_dataset, entry)
    _find(problems, "c.jpg", "is a FIFO, not a regular file")
    index = _within(20, load_dataset, entry)
    assert [r.file.stem for r in index.images] == ["a", "b"]


def test_fifo_annotation_files_are_named(tmp_path):
    make_case(tmp_path, "voc")
    xml = tmp_path / "ds" / "Annotations" / "b.xml"
    xml.unlink()
    os.mkfifo(xml)
    _find(_within(20, check_dataset, tmp_path / "ds"), "b.xml", "annotation file is a FIFO")
    entry = make_case(tmp_path / "y", "yolo")
    label = tmp_path / "y" / "ds" / "labels" / "train" / "a.txt"
    label.unlink()
    os.mkfifo(label)
    _find(_within(20, check_dataset, entry), "a.txt", "label file is a FIFO")


# ---- 6: truncated images -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_half_truncated_jpeg_is_reported(tmp_path, fmt):
    entry = make_case(tmp_path, fmt)
    folder = "JPEGImages" if fmt == "voc" else "images/train"
    path = tmp_path / "ds" / folder / "a.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    problems = check_dataset(entry)
    p = _find(problems, "a.jpg", "JPEG ends before its end-of-image marker (file truncated)")
    assert len(problems) == 1 and p.entry == "image id=1"


def test_truncation_of_each_format(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    for ext in (".jpg", ".png", ".bmp", ".webp"):
        ok, buf = cv2.imencode(ext, img)
        data = buf.tobytes()
        assert truncation(data) is None, ext
        assert truncation(data + b"\x00" * 10) is None, ext  # padding after the end is not truncation
        assert "truncated" in truncation(data[: len(data) * 2 // 3]), ext
    progressive = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert truncation(progressive) is None
    assert "truncated" in truncation(progressive[:-2])


# ---- 12: conversion, data.yaml, import structure ---------------------------------------------------------------------

def test_coco_to_yolo_counts_crowd_boxes_and_writes_path(tmp_path, caplog):
    make_case(tmp_path, "coco")
    _edit_json(_coco_json(tmp_path), lambda d: [a.__setitem__("iscrowd", 1) for a in d["annotations"][:2]])
    with caplog.at_level(logging.WARNING):
        out = convert(tmp_path / "ds", tmp_path / "yolo", "yolo")
    assert "2 crowd/ignore box(es) in 2 image(s) left out" in caplog.text
    assert str(tmp_path / "yolo" / "labels" / "train") in caplog.text
    assert yaml.safe_load(out.read_text())["path"] == str((tmp_path / "yolo").resolve())
    assert sum(len(r.boxes) for r in load_dataset(out).images) == 1


def test_readers_import_no_writer_or_format_module():
    """coco/voc/yolo once imported convert.place_images, and convert/formats import them: a circle."""
    for name in ("coco", "voc", "yolo", "index", "files", "imagefile"):
        tree = ast.parse((DATA_DIR / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not imported & {"edgedet.data.convert", "edgedet.data.formats", "edgedet.data.check"}, name
