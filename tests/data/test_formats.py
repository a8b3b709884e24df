import json

import numpy as np
import pytest
import yaml

from edgedet.data import available_splits, convert, detect_format, load_dataset


def _assert_same(a, b, atol):
    """Same classes and, image by image in order, the same sizes, boxes and labels."""
    assert a.class_names == b.class_names
    assert len(a.images) == len(b.images)
    for ra, rb in zip(a.images, b.images):
        assert ra.file.stem in rb.file.stem and (ra.width, ra.height) == (rb.width, rb.height)
        np.testing.assert_allclose(rb.boxes, ra.boxes, atol=atol)
        np.testing.assert_array_equal(rb.labels, ra.labels)


def _drop_crowd(index):
    for r in index.images:
        keep = ~r.iscrowd
        r.boxes, r.labels, r.iscrowd = r.boxes[keep], r.labels[keep], r.iscrowd[keep]
    return index


def test_coco_dir_reads_and_round_trips_to_coco_dict(synth_root):
    index = load_dataset(synth_root, "val")
    assert detect_format(synth_root)[0] == "coco"
    assert available_splits(synth_root) == ["train", "val"]
    assert index.problems == []
    raw = json.loads((synth_root / "annotations" / "instances_val.json").read_text())
    gt = index.to_coco_dict()
    assert [im["id"] for im in gt["images"]] == [im["id"] for im in raw["images"]]
    assert [im["file_name"] for im in gt["images"]][:2] == ["images/val/000000.jpg", "images/val/000001.jpg"]
    assert gt["categories"] == [{"id": c["id"], "name": c["name"]} for c in raw["categories"]]
    got = sorted((a["image_id"], a["category_id"], a["bbox"], a["iscrowd"]) for a in gt["annotations"])
    want = sorted((a["image_id"], a["category_id"], [float(v) for v in a["bbox"]], a["iscrowd"])
                  for a in raw["annotations"])
    assert got == want and len(got) > 20
    # COCO evaluation sizes objects by 'area' (here the visible mask area, smaller than the box): kept as is
    assert sorted(a["area"] for a in gt["annotations"]) == sorted(float(a["area"]) for a in raw["annotations"])
    assert sum(a["area"] < a["bbox"][2] * a["bbox"][3] for a in gt["annotations"]) > len(gt["annotations"]) / 2


def test_coco_json_file_is_accepted(synth_root):
    index = load_dataset(synth_root / "annotations" / "instances_val.json")
    assert index.split == "val" and len(index.images) == 12
    assert index.images[0].file == (synth_root / "images" / "val" / "000000.jpg").resolve()


def test_coco_to_yolo_to_coco_within_one_pixel(synth_root, tmp_path):
    yaml_path = convert(synth_root, tmp_path / "yolo", "yolo")
    assert yaml_path.name == "data.yaml"
    data = yaml.safe_load(yaml_path.read_text())
    assert data["train"] == "images/train" and data["val"] == "images/val" and len(data["names"]) == 13
    line = next(p for p in sorted((tmp_path / "yolo" / "labels" / "val").glob("*.txt")) if p.read_text())
    assert len(line.read_text().splitlines()[0].split()) == 5
    back = convert(yaml_path, tmp_path / "coco", "coco")
    for split in ("train", "val"):
        orig = _drop_crowd(load_dataset(synth_root, split))  # YOLO cannot hold crowd boxes
        _assert_same(orig, load_dataset(yaml_path, split), atol=1e-3)
        _assert_same(orig, load_dataset(back, split), atol=1.0)


def test_coco_to_voc_to_coco_exact(synth_root, tmp_path):
    root = convert(synth_root, tmp_path / "voc", "voc")
    assert detect_format(root)[0] == "voc" and available_splits(root) == ["train", "val"]
    voc = load_dataset(root, "val")
    orig = load_dataset(synth_root, "val")
    _assert_same(orig, voc, atol=0)
    assert sum(r.iscrowd.sum() for r in voc.images) == sum(r.iscrowd.sum() for r in orig.images)
    _assert_same(orig, load_dataset(convert(root, tmp_path / "coco", "coco"), "val"), atol=0)


def test_voc_classes_from_xml_names_sorted(synth_root, tmp_path):
    root = convert(synth_root, tmp_path / "voc", "voc")
    (root / "classes.txt").unlink()
    index = load_dataset(root, "train")
    assert index.class_names == sorted(index.class_names)
    assert set(index.class_names) <= {str(d) for d in range(10)} | {"circle", "triangle", "square"}


def test_yolo_names_dict_and_polygon_lines(tmp_path):
    src = tmp_path / "ds"
    (src / "images" / "train").mkdir(parents=True)
    (src / "labels" / "train").mkdir(parents=True)
    import cv2

    cv2.imwrite(str(src / "images" / "train" / "a.png"), np.zeros((50, 100, 3), np.uint8))
    (src / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.1 0.2 0.3 0.2 0.2 0.6\n")
    (src / "data.yaml").write_text("train: images/train\nnames: {0: cat, 1: dog}\n")
    index = load_dataset(src, "train")
    assert index.class_names == ["cat", "dog"] and index.problems == []
    rec = index.images[0]
    assert (rec.width, rec.height) == (100, 50)
    np.testing.assert_allclose(rec.boxes, [[40, 15, 60, 35], [10, 10, 30, 30]], atol=1e-4)
    np.testing.assert_array_equal(rec.labels, [1, 0])


def test_unreadable_datasets_raise_clear_errors(synth_root, tmp_path):
    with pytest.raises(ValueError, match="unknown dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"instances_test\.json.*not found.*fix"):
        load_dataset(synth_root, "test")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match=r"bad\.json: invalid JSON at line 1.*fix"):
        load_dataset(bad)
    (tmp_path / "d.yaml").write_text("train: images/train\nnames: [a]\n")
    with pytest.raises(ValueError, match="no 'val' split"):
        load_dataset(tmp_path / "d.yaml", "val")
    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    with pytest.raises(ValueError, match=r"val\.txt: split file not found"):
        load_dataset(voc, "val")


def test_convert_rejects_unknown_format(synth_root, tmp_path):
    with pytest.raises(ValueError, match="unknown output format 'tfrecord'"):
        convert(synth_root, tmp_path / "x", "tfrecord")


def test_yolo_roboflow_layout_with_parent_relative_splits(tmp_path):
    import cv2

    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "labels").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "train" / "images" / "a.jpg"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "train" / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.25\n")
    (tmp_path / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['x']\n")
    index = load_dataset(tmp_path / "data.yaml", "train")
    np.testing.assert_allclose(index.images[0].boxes, [[10, 15, 30, 25]])
    assert index.cat_ids == [1] and index.problems == []
