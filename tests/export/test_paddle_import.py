"""``edgedet import-paddle`` on a PaddleDetection-layout model built here (tests/export/paddle_det_models.py).

No PaddleDetection release model can be fetched on this machine (PyPI is the only registry reached), so the model
is a tiny network ending in ``multiclass_nms3`` saved with ``paddle.jit.save``. The imported export's detections
must equal Paddle Inference's own (PaddleDetection's preprocessing, the real ``im_shape`` / ``scale_factor``) on
non-square images: same count, labels and order, scores within 1e-5, boxes within 1e-3 px. Then eval, bench,
predict and demo take it, and bad inputs are one line each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedet.cli import main

pytestmark = pytest.mark.optional
pytest.importorskip("paddle")
pytest.importorskip("paddle2onnx")

from edgedet.export.paddle_import import PaddleImportError, import_paddle  # noqa: E402
from tests.export.paddle_det_models import NMS, paddle_inference_detections, write_infer_cfg, write_paddle_model  # noqa: E402

SCORE_THR = NMS["score_threshold"]


def _class_names(tiny_synth: Path) -> list[str]:
    coco = json.loads((tiny_synth / "annotations" / "instances_val.json").read_text())
    return [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]


@pytest.fixture(scope="module")
def paddle_model(tiny_synth, tmp_path_factory) -> Path:
    """The tiny model with the dataset's 13 class names, so that `edgedet eval` can score it."""
    return write_paddle_model(tmp_path_factory.mktemp("paddle") / "picodet_tiny", _class_names(tiny_synth))


@pytest.fixture(scope="module")
def imported(paddle_model, tmp_path_factory) -> Path:
    return import_paddle(paddle_model, tmp_path_factory.mktemp("imported") / "onnx")


def _images(tiny_synth: Path) -> list[np.ndarray]:
    """Non-square views of two synth images (so x and y scale differently), and one square one."""
    a, b = (cv2.imread(str(p)) for p in sorted((tiny_synth / "images" / "val").glob("*.jpg"))[:2])
    return [cv2.resize(a, (150, 90)), b[10:80, :], a]


def test_detections_equal_paddle_inference(paddle_model, imported, tiny_synth):
    from edgedet.runtime import load

    predictor = load(imported)
    for image in _images(tiny_synth):
        ref = paddle_inference_detections(paddle_model, image)
        ref = ref[(ref[:, 0] >= 0) & (ref[:, 1] > SCORE_THR)]
        ref = ref[np.argsort(-ref[:, 1], kind="stable")]
        dets = predictor.predict(image, score_thr=SCORE_THR)
        assert len(ref) >= 5, "the test model should detect several boxes"
        assert len(dets) == len(ref)
        np.testing.assert_array_equal(dets.labels, ref[:, 0].astype(np.int64))
        np.testing.assert_allclose(dets.scores, ref[:, 1], atol=1e-5)
        np.testing.assert_allclose(dets.boxes, ref[:, 2:], atol=1e-3)
        assert dets.boxes[:, 2].max() <= image.shape[1] and dets.boxes[:, 3].max() <= image.shape[0]


def test_metadata_of_the_import(imported, tiny_synth):
    meta = json.loads((imported / "edgedet.json").read_text())
    assert meta["preprocess"] == {"color": "rgb", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                                  "std": [0.229, 0.224, 0.225], "resize": "stretch", "interp": "cubic"}
    assert meta["class_names"] == _class_names(tiny_synth) and meta["input"]["size"] == 64
    assert meta["input"]["name"] == "image"
    assert meta["decode"]["type"] == "detections_in_model"
    assert (meta["decode"]["im_shape_input"], meta["decode"]["scale_factor_input"]) == ("im_shape", "scale_factor")
    assert meta["outputs"][0]["shape"] == [NMS["keep_top_k"], 6] and meta["extra"]["paddle2onnx"] == "1.3.1"
    parity = json.loads((imported / "parity.json").read_text())
    assert parity["rows_onnx"] == parity["rows_paddle"] > 0 and parity["max_abs_diff"] < 1e-3


def test_batches_run_one_image_at_a_time(imported, tiny_synth):
    from edgedet.runtime import load

    predictor = load(imported)
    xs = [predictor.preprocess(im)[0] for im in _images(tiny_synth)]
    rows, counts = predictor.run(np.concatenate(xs))
    singles = [predictor.run(x) for x in xs]
    np.testing.assert_array_equal(counts, [s[1][0] for s in singles])
    np.testing.assert_array_equal(rows, np.concatenate([s[0] for s in singles]))


def test_eval_bench_predict_and_demo_take_the_import(imported, tiny_synth, tmp_path, capsys):
    assert main(["eval", str(imported), "--data", str(tiny_synth), "--out", str(tmp_path / "m.json")]) == 0
    assert "AP" in json.loads((tmp_path / "m.json").read_text())
    jsonl = tmp_path / "bench.jsonl"
    assert main(["bench", str(imported), "--threads", "1", "--warmup", "1", "--runs", "3", "--accuracy", "--data",
                 str(tiny_synth), "--val-images", "2", "--out", str(jsonl), "--quiet"]) == 0
    record = json.loads(jsonl.read_text().splitlines()[0])
    assert record["format"] == "onnx" and record["input_size"] == [64, 64] and record["ap"] is not None
    assert record["parity_detections"] == "same"
    images = tmp_path / "images"
    images.mkdir()
    for i, image in enumerate(_images(tiny_synth)):
        cv2.imwrite(str(images / f"{i}.png"), image)
    assert main(["predict", str(images), "--model", str(imported), "--save", str(tmp_path / "pred"), "--save-json",
                 "--quiet"]) == 0
    assert len(json.loads((tmp_path / "pred" / "predictions.json").read_text())) > 0
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (150, 90))
    for _ in range(3):
        writer.write(_images(tiny_synth)[0])
    writer.release()
    assert main(["demo", "--model", str(imported), "--source", str(video), "--headless", "--save",
                 str(tmp_path / "out.mp4"), "--max-frames", "3"]) == 0
    assert (tmp_path / "out.mp4").stat().st_size > 0


def _copy_model(paddle_model: Path, dst: Path) -> Path:
    shutil.copytree(paddle_model, dst)
    return dst


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_missing_infer_cfg_is_one_line(paddle_model, tmp_path, capsys):
    model = _copy_model(paddle_model, tmp_path / "m")
    (model / "infer_cfg.yml").unlink()
    err = _one_line_error(["import-paddle", str(model)], capsys)
    assert "has no infer_cfg.yml" in err and "tools/export_model.py" in err


def test_unknown_preprocess_op_is_one_line(paddle_model, tmp_path, capsys):
    model = _copy_model(paddle_model, tmp_path / "m")
    write_infer_cfg(model, ["a"] * 13, [{"type": "LetterBoxResize", "target_size": [64, 64]}, {"type": "Permute"}])
    err = _one_line_error(["import-paddle", str(model)], capsys)
    assert "Preprocess[0] is 'LetterBoxResize', which edgedet cannot reproduce" in err


def test_model_without_nms_is_one_line(tiny_synth, tmp_path, capsys):
    model = write_paddle_model(tmp_path / "no_nms", _class_names(tiny_synth), with_nms=False)
    err = _one_line_error(["import-paddle", str(model), "--out", str(tmp_path / "out")], capsys)
    assert "has no multiclass_nms3 op" in err and "exclude_nms=True" in err
    assert not (tmp_path / "out").exists()


def test_mismatched_label_list_is_refused(paddle_model, tmp_path):
    model = _copy_model(paddle_model, tmp_path / "m")
    write_infer_cfg(model, ["a", "b"])
    with pytest.raises(PaddleImportError, match="scores 13 classes but infer_cfg.yml label_list has 2 names"):
        import_paddle(model, tmp_path / "out")
