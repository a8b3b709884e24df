import json

import cv2
import numpy as np
import pytest

from edgedet.data import check_dataset, load_dataset


def _write_jpg(path, w=64, h=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))


@pytest.fixture
def broken_coco(tmp_path):
    """A COCO directory with one of each problem the reader and the checker must find."""
    root = tmp_path / "ds"
    imgs = root / "images" / "train"
    for name in ("ok.jpg", "dup.jpg", "wrongsize.jpg"):
        _write_jpg(imgs / name)
    (imgs / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    _write_jpg(root / "images" / "x.jpg")  # exists, but '../x.jpg' still escapes images/train
    _write_jpg(tmp_path / "outside.jpg")
    images = [
        {"id": 1, "file_name": "ok.jpg", "width": 64, "height": 48},
        {"id": 2, "file_name": "missing.jpg", "width": 64, "height": 48},
        {"id": 3, "file_name": "corrupt.jpg", "width": 64, "height": 48},
        {"id": 1, "file_name": "dup.jpg", "width": 64, "height": 48},
        {"id": 5, "file_name": "../../../outside.jpg", "width": 64, "height": 48},
        {"id": 6, "file_name": "wrongsize.jpg", "width": 640, "height": 480},
    ]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [10, 10, 0, 20], "iscrowd": 0},
        {"id": 3, "image_id": 1, "category_id": 7, "bbox": [100, 100, 20, 20], "iscrowd": 0},
        {"id": 4, "image_id": 1, "category_id": 99, "bbox": [5, 5, 10, 10], "iscrowd": 0},
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 0},
        {"id": 6, "image_id": 1, "category_id": 7, "bbox": [50, 30, 30, 30], "iscrowd": 0},
        {"id": 7, "image_id": 42, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 0},
    ]
    (root / "annotations").mkdir(parents=True)
    data = {"images": images, "annotations": anns, "categories": [{"id": 7, "name": "thing"}]}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    return root


def _find(problems, *needles):
    hits = [p for p in problems if all(n in str(p) for n in needles)]
    assert hits, f"no problem with {needles} in:\n" + "\n".join(map(str, problems))
    return hits[0]


def test_loader_records_and_drops_bad_entries(broken_coco):
    index = load_dataset(broken_coco, "train")
    assert [r.id for r in index.images] == [1, 3, 6]  # missing, duplicate and escaping images dropped
    ok = index.images[0]
    # kept: the good box and the clipped one that overshoots the 64x48 image; dropped: zero width, outside,
    # unknown category, duplicate annotation id
    np.testing.assert_array_equal(ok.boxes, [[10, 10, 30, 30], [50, 30, 64, 48]])
    ann_file = str(broken_coco / "annotations" / "instances_train.json")
    assert all(p.file == ann_file for p in index.problems)
    assert len(index.problems) == 9


def test_check_names_file_and_entry_for_every_problem(broken_coco):
    problems = check_dataset(broken_coco)
    ann = "instances_train.json"
    _find(problems, ann, "images[1] (id=2)", "not found", "missing.jpg")
    _find(problems, ann, "images[3] (id=1)", "duplicate image id 1")
    _find(problems, ann, "images[4] (id=5)", "escapes the dataset root")
    _find(problems, ann, "annotations[1] (id=2)", "width 0")
    _find(problems, ann, "annotations[2] (id=3)", "outside the 64x48 image")
    _find(problems, ann, "annotations[3] (id=4)", "unknown category_id 99")
    _find(problems, ann, "annotations[4] (id=1)", "duplicate annotation id 1")
    _find(problems, ann, "annotations[5] (id=6)", "clipped")
    _find(problems, ann, "annotations[6] (id=7)", "image_id 42 is not in 'images'")
    _find(problems, "corrupt.jpg", "image id=3", "cannot be read: its image header is damaged")
    _find(problems, "wrongsize.jpg", "64x48 but the annotations say 640x480")
    assert len(problems) == 11
    assert all(p.fix for p in problems)
    assert str(problems[0]).count("(fix: ") == 1


def test_escaping_path_even_when_the_file_exists(tmp_path):
    root = tmp_path / "ds"
    _write_jpg(tmp_path / "x.jpg")
    (root / "annotations").mkdir(parents=True)
    data = {"images": [{"id": 1, "file_name": "../x.jpg", "width": 64, "height": 48}], "annotations": [],
            "categories": [{"id": 1, "name": "a"}]}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    _find(check_dataset(root), "images[0] (id=1)", "'../x.jpg' escapes")


def test_yolo_problems_name_label_file_and_line(tmp_path):
    root = tmp_path / "y"
    _write_jpg(root / "images" / "train" / "a.jpg", 100, 100)
    (root / "images" / "train" / "b.jpg").write_bytes(b"garbage")
    lab = root / "labels" / "train"
    lab.mkdir(parents=True)
    (lab / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.2\n0 x 0.5 0.2 0.2\n0 2.5 2.5 0.1 0.1\n")
    (root / "data.yaml").write_text("train: images/train\nnames: [a, b]\n")
    problems = check_dataset(root / "data.yaml")
    _find(problems, "a.txt: line 2", "unknown class 5")
    _find(problems, "a.txt: line 3", "width 0")
    _find(problems, "a.txt: line 4", "not numbers")
    _find(problems, "a.txt: line 5", "outside")
    _find(problems, "b.jpg", "cannot be read")
    assert len(problems) == 5
    assert len(load_dataset(root / "data.yaml").images[0].boxes) == 1


def test_voc_problems(tmp_path):
    root = tmp_path / "voc"
    _write_jpg(root / "JPEGImages" / "a.jpg", 100, 80)
    (root / "Annotations").mkdir()
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>100</width><height>80</height></size>"
        "<object><name>cat</name><bndbox><xmin>11</xmin><ymin>21</ymin><xmax>30</xmax><ymax>40</ymax></bndbox>"
        "</object><object><name>cow</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
        "</bndbox></object></annotation>")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    (root / "classes.txt").write_text("cat\ndog\n")
    problems = check_dataset(root)
    _find(problems, "a.xml: object[1]", "unknown class 'cow'")
    _find(problems, "b.xml", "annotation file not found")
    assert len(problems) == 2
    rec = load_dataset(root).images[0]
    np.testing.assert_array_equal(rec.boxes, [[10, 20, 30, 40]])  # 1-based inclusive -> 0-based xyxy


def test_unreadable_split_is_one_problem(tmp_path):
    root = tmp_path / "ds"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text("{oops")
    problems = check_dataset(root)
    assert len(problems) == 1 and "invalid JSON" in problems[0].message
