import json

import cv2
import numpy as np

from edgedet.data import SYNTH_CLASS_NAMES, dataset_stats, ensure_synth, generate_synth, load_dataset
from edgedet.data.synth import STAMP, render_image


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path):
    a = _files(generate_synth(tmp_path / "a", n_train=12, n_val=8, imgsz=160, seed=3, workers=1))
    b = _files(generate_synth(tmp_path / "b", n_train=12, n_val=8, imgsz=160, seed=3, workers=1))
    c = _files(generate_synth(tmp_path / "c", n_train=12, n_val=8, imgsz=160, seed=4, workers=1))
    assert len(a) == 20 + 2
    assert a == b
    assert a["images/train/000000.jpg"] != c["images/train/000000.jpg"]


def test_worker_processes_do_not_change_bytes(tmp_path):
    one = generate_synth(tmp_path / "one", n_train=101, n_val=0, imgsz=64, seed=1, workers=1)
    two = generate_synth(tmp_path / "two", n_train=101, n_val=0, imgsz=64, seed=1, workers=2)
    assert _files(one) == _files(two)


def test_layout_classes_and_size_classes_in_both_splits(synth_root):
    data = json.loads((synth_root / "annotations" / "instances_val.json").read_text())
    assert [c["name"] for c in data["categories"]] == SYNTH_CLASS_NAMES
    assert len(SYNTH_CLASS_NAMES) == 13
    for split in ("train", "val"):
        stats = dataset_stats(synth_root, split)
        assert stats["problems"] == 0
        assert stats["images"] == (24 if split == "train" else 12)
        assert min(stats["size"].values()) > 0, stats["size"]
        assert stats["boxes_per_image"]["mean"] >= 2


def test_boxes_are_inside_and_cover_a_distinct_object():
    img, objects = render_image(seed=0, split="train", index=5, size=320)
    assert img.shape == (320, 320, 3) and img.dtype == np.uint8
    assert objects
    for o in objects:
        x, y, w, h = o["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 320 and y + h <= 320
        assert 0 < o["area"] <= w * h
        # the visible mask fills a good part of a tight box; a loose box would make this ratio small
        assert o["area"] / (w * h) > 0.15


def test_images_decode_and_match_annotated_size(synth_root):
    index = load_dataset(synth_root, "train")
    assert index.class_names == SYNTH_CLASS_NAMES
    assert index.cat_ids == list(range(1, 14))
    for rec in index.images[:5]:
        assert cv2.imread(str(rec.file)).shape == (rec.height, rec.width, 3)


def test_ensure_synth_reuses_and_regenerates(tmp_path):
    root = ensure_synth(tmp_path / "s", n_train=4, n_val=2, imgsz=96, seed=0, workers=1)
    stamp = root / STAMP
    first = stamp.stat().st_mtime_ns
    assert ensure_synth(root, n_train=4, n_val=2, imgsz=96, seed=0) == root
    assert stamp.stat().st_mtime_ns == first
    ensure_synth(root, n_train=3, n_val=2, imgsz=96, seed=0, workers=1)
    assert json.loads(stamp.read_text())["n_train"] == 3
    assert sorted(p.name for p in (root / "images" / "train").iterdir()) == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert len(load_dataset(root, "train").images) == 3
