"""Our COCO evaluation must give pycocotools' own numbers, exactly."""

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from edgedet.cli import main
from edgedet.engine.evaluator import STAT_KEYS, coco_evaluate, load_results_file


def make_gt_and_dets(seed=0, n_images=12):
    rng = np.random.default_rng(seed)
    cats = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 9, "name": "bird"}]
    images, anns, dets = [], [], []
    for i in range(n_images):
        images.append({"id": 100 + i, "file_name": f"{i}.jpg", "width": 320, "height": 240})
        for _ in range(rng.integers(1, 6)):
            w, h = rng.uniform(8, 150, size=2)
            x, y = rng.uniform(0, 320 - w), rng.uniform(0, 240 - h)
            cat = int(rng.choice([3, 7, 9]))
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": cat, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
            if rng.random() < 0.85:  # a jittered true positive
                j = rng.normal(0, 4, size=4)
                dets.append({"image_id": 100 + i, "category_id": cat, "bbox": [x + j[0], y + j[1], w + j[2], h + j[3]],
                             "score": float(rng.uniform(0.3, 1))})
        for _ in range(2):  # false positives
            dets.append({"image_id": 100 + i, "category_id": int(rng.choice([3, 7, 9])),
                         "bbox": [float(v) for v in rng.uniform(0, 100, size=4)], "score": float(rng.uniform(0, 0.6))})
    return {"images": images, "annotations": anns, "categories": cats}, dets


def pycocotools_reference(gt, dets, tmp_path, cat_ids=None):
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "gt.json"))
        ev = COCOeval(coco, coco.loadRes(str(tmp_path / "dt.json")), "bbox")
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_stats_equal_pycocotools(tmp_path):
    gt, dets = make_gt_and_dets()
    ours = coco_evaluate(gt, dets)
    ref = pycocotools_reference(gt, dets, tmp_path)
    assert 0.2 < ours["AP"] < 0.95
    for k, v in zip(STAT_KEYS, ref):
        assert ours[k] == v, k


def test_per_class_equal_single_class_eval(tmp_path):
    gt, dets = make_gt_and_dets(seed=1)
    ours = coco_evaluate(gt, dets)
    for cat in gt["categories"]:
        ref = pycocotools_reference(gt, dets, tmp_path, cat_ids=[cat["id"]])
        assert ours["per_class"][cat["name"]] == pytest.approx(ref[0], abs=1e-12)


def test_perfect_detections_score_one():
    gt, _ = make_gt_and_dets(seed=2)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in gt["annotations"]]
    assert coco_evaluate(gt, dets)["AP"] == pytest.approx(1.0)


def test_no_detections_is_zero_and_unknown_ids_rejected():
    gt, _ = make_gt_and_dets(seed=3)
    assert coco_evaluate(gt, [])["AP"] == 0.0
    with pytest.raises(ValueError, match="image_id 5"):
        coco_evaluate(gt, [{"image_id": 5, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(ValueError, match="category_id 4"):
        coco_evaluate(gt, [{"image_id": 100, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 1}])


def test_results_file_validation(tmp_path):
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="JSON list"):
        load_results_file(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text('[{"image_id": 1}]')
    with pytest.raises(ValueError, match="entry 0 lacks"):
        load_results_file(tmp_path / "bad2.json")


def test_cli_eval_detections_out_json(tmp_path):
    """`edgedet eval --data COCO.json --detections results.json --out m.json` == pycocotools."""
    gt, dets = make_gt_and_dets(seed=4)
    import cv2

    for im in gt["images"]:  # file names are relative to the JSON's directory
        cv2.imwrite(str(tmp_path / im["file_name"]), np.zeros((240, 320, 3), np.uint8))
    gt_path = tmp_path / "instances_val.json"
    gt_path.write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(dets))
    rc = main(["eval", "--data", str(gt_path), "--detections", str(tmp_path / "res.json"),
               "--out", str(tmp_path / "m.json")])
    assert rc == 0
    out = json.loads((tmp_path / "m.json").read_text())
    ref = pycocotools_reference(gt, dets, tmp_path)
    assert [out[k] for k in STAT_KEYS] == list(ref)
    assert set(out["per_class"]) == {"cat", "dog", "bird"}
