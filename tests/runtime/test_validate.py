"""The runtime refuses what it cannot run, in one line of its own error classes (edgedet.runtime.validate)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from edgedet.deploy.schema import METADATA_FILE, ONNX_METADATA_KEY
from edgedet.runtime import load
from edgedet.runtime.validate import ModelMetadataError, RuntimeInputError, check_model_io
from tests.runtime.conftest import copy_export


@pytest.fixture(scope="module")
def pred(onnx_export):
    return load(onnx_export, threads=1)


@pytest.fixture(scope="module")
def image(tiny_synth):
    return cv2.imread(str(sorted((tiny_synth / "images" / "val").glob("*"))[0]))


def _edit(directory, **changes) -> dict:
    meta = json.loads((directory / METADATA_FILE).read_text())
    meta.update(changes)
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    return meta


def _strip_embedded(directory) -> None:
    """Remove the metadata copy inside the ONNX file, so only edgedet.json describes it (as for TFLite)."""
    path = next(directory.glob("*.onnx"))
    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    onnx.save(model, str(path))


def _one_line_error(cls, fn, match: str):
    with pytest.raises(cls, match=match) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


# ------------------------------------------------------------------------------------------- predict inputs


@pytest.mark.parametrize(("make", "match"), [
    (lambda im: im.astype(np.float32) / 255, r"dtype float32 \(values 0\.\.1\?\): convert with \(image \* 255\)"),
    (lambda im: im.astype(np.uint16) * 257, r"dtype uint16 \(16-bit\?\): convert with \(image >> 8\)"),
    (lambda im: np.where(im > 100, np.nan, im / 255).astype(np.float32), "NaN/inf"),
    (lambda im: im.astype(np.int64), "dtype int64"),
    (lambda im: im > 0, "dtype bool: a mask is no image"),
    (lambda im: im[:0], r"empty image \(shape \(0, "),
    (lambda im: np.zeros((0,), np.uint8), r"got shape \(0,\)"),
    (lambda im: np.zeros((1, 10000, 3), np.uint8), "too elongated"),
    (lambda im: im[:, :, :2], r"got shape \(\d+, \d+, 2\)"),
    (lambda im: im.tolist(), "got list"),
])
def test_unusable_images_are_refused_in_one_line(pred, image, make, match):
    _one_line_error(RuntimeInputError, lambda: pred.predict(make(image)), match)


def test_score_thr_must_be_a_number_in_0_1(pred, image):
    for bad in (float("nan"), -0.1, 1.5, "0.3", None):
        _one_line_error(RuntimeInputError, lambda b=bad: pred.predict(image, score_thr=b), "score_thr must be")


def test_gray_bgra_and_strided_images_are_converted(pred, image):
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    want = pred.predict(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 0.05)
    assert len(want) > 0
    for variant in (gray, gray[:, :, None]):
        got = pred.predict(variant, 0.05)
        np.testing.assert_array_equal(got.boxes, want.boxes)
    bgra = pred.predict(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), 0.05)
    np.testing.assert_array_equal(bgra.boxes, pred.predict(image, 0.05).boxes)
    flipped = image[::-1, ::2]  # negative and doubled strides
    np.testing.assert_array_equal(pred.predict(flipped, 0.05).boxes,
                                  pred.predict(np.ascontiguousarray(flipped), 0.05).boxes)


# ------------------------------------------------------------------------------------- edgedet.json at load


def test_model_file_must_stay_inside_the_export_directory(onnx_export, tmp_path):
    d = copy_export(onnx_export, tmp_path / "a" / "b" / "export")
    shutil.copyfile(next(d.glob("*.onnx")), tmp_path / "x")  # a loadable file outside the directory
    _edit(d, model_file="../../../x")
    _one_line_error(ModelMetadataError, lambda: load(d), "points outside the export directory")
    _edit(d, model_file=str(tmp_path / "x"))
    _one_line_error(ModelMetadataError, lambda: load(d), "must be a file name relative to the export directory")


def test_edited_class_names_are_caught_by_the_labels_the_file_produces(onnx_export, tmp_path):
    d = copy_export(onnx_export, tmp_path / "export")
    _strip_embedded(d)
    _edit(d, class_names=["a", "b"], num_classes=2)  # the file has 3 classes
    _one_line_error(ModelMetadataError, lambda: load(d), r"produced label 2 but its edgedet.json lists 2 class_names")


def test_edited_input_size_is_caught_at_load(onnx_export, tmp_path):
    d = copy_export(onnx_export, tmp_path / "export")
    _strip_embedded(d)
    meta = _edit(d)
    _edit(d, input={**meta["input"], "size": 128, "shape": [1, 3, 128, 128]})
    _one_line_error(ModelMetadataError, lambda: load(d), r"the file's input is \[1, 3, 96, 96\] but input.shape is "
                                                         r"\[1, 3, 128, 128\]")


def test_output_count_must_match_the_file(onnx_export, tmp_path):
    d = copy_export(onnx_export, tmp_path / "export")
    _strip_embedded(d)
    meta = _edit(d)
    _edit(d, outputs=meta["outputs"][:2])
    _one_line_error(ModelMetadataError, lambda: load(d), "the file has 3 outputs")


def test_onnx_precision_is_read_from_the_file(onnx_export, tmp_path):
    d = copy_export(onnx_export, tmp_path / "export")
    _edit(d, precision="int8")  # an fp32 file under int8 metadata (or the reverse) is another export's file
    _one_line_error(ModelMetadataError, lambda: load(d), "precision is 'int8' but the file is fp32")


@pytest.mark.slow
@pytest.mark.optional
def test_int8_tflite_in_an_fp32_directory_is_refused(tflite_int8_export, tmp_path):
    d = copy_export(tflite_int8_export, tmp_path / "export")
    assert load(d).meta["precision"] == "int8"
    _edit(d, precision="fp32")  # what an int8 file copied over an fp32 export's model file looks like
    _one_line_error(ModelMetadataError, lambda: load(d), "precision is 'fp32' but the file is int8")


@pytest.mark.slow
@pytest.mark.optional
def test_tflite_edited_layout_or_size_is_refused_before_xnnpack(tflite_int8_export, tmp_path):
    d = copy_export(tflite_int8_export, tmp_path / "export")
    meta = _edit(d)
    s = meta["input"]["size"]
    _edit(d, input={**meta["input"], "layout": "NCHW", "shape": [1, 3, s, s]})
    _one_line_error(ModelMetadataError, lambda: load(d), rf"the file's input is \[1, {s}, {s}, 3\]")
    _edit(d, input={**meta["input"], "size": 2 * s, "shape": [1, 2 * s, 2 * s, 3]})
    _one_line_error(ModelMetadataError, lambda: load(d), rf"input.shape is \[1, {2 * s}, {2 * s}, 3\]")


def _dense_meta(num_classes: int, cls_width: int) -> dict:
    """The fields check_decode reads, for an ATSS-like head on a 64 px input (strides 8 and 16: 64 + 16 points)."""
    priors = {"type": "grid_points", "strides": [8, 16], "feat_sizes": [[8, 8], [4, 4]], "center_offset": 0.5}
    return {"input": {"size": 64}, "outputs": [{"name": "cls_logits", "shape": [1, 80, cls_width]},
                                               {"name": "box_deltas", "shape": [1, 80, 4]}],
            "decode": {"type": "anchor_ltrb", "num_classes": num_classes, "priors": priors, "normalizer": "stride",
                       "outputs": ["cls_logits", "box_deltas"], "quality": "none"}}


def test_dense_class_count_must_match_the_class_score_width():
    from edgedet.runtime.validate import check_decode

    check_decode(_dense_meta(12, 12), "edgedet.json")  # consistent: no error
    msg = _one_line_error(ModelMetadataError, lambda: check_decode(_dense_meta(5, 12), "edgedet.json"),
                          r"decode \(anchor_ltrb\) does not fit outputs \[\[1, 80, 12\], \[1, 80, 4\]\]")
    assert "cls output must be [B, 80, 5]" in msg
    bad = _dense_meta(12, 12)
    bad["decode"]["priors"]["feat_sizes"] = [[8, 8], [40000, 40000]]  # absurd grid: refused before allocating it
    _one_line_error(ModelMetadataError, lambda: check_decode(bad, "edgedet.json"), "decode.priors.feat_sizes must be")


def test_side_inputs_named_by_the_decode_are_fed_not_counted_as_images():
    meta = {"precision": "fp32", "input": {"shape": [1, 3, 64, 64], "size": 64, "layout": "NCHW"},
            "outputs": [{"name": "rows", "shape": [20, 6]}, {"name": "counts", "shape": [1]}],
            "decode": {"type": "detections_in_model", "num_classes": 2, "outputs": ["rows", "counts"],
                       "im_shape_input": "im_shape", "scale_factor_input": "scale_factor"}}
    image = {"name": "image", "shape": [None, 3, 64, 64], "dtype": "float32"}
    side = [{"name": n, "shape": [None, 2], "dtype": "float32"} for n in ("im_shape", "scale_factor")]
    outputs = [{"name": "rows", "shape": [None, 6]}, {"name": "counts", "shape": [1]}]
    check_model_io({"inputs": [side[0], image, side[1]], "outputs": outputs}, meta, Path("m.onnx"))
    with pytest.raises(ModelMetadataError, match=r"decode names input\(s\) \['scale_factor'\] that the file does not have"):
        check_model_io({"inputs": [side[0], image], "outputs": outputs}, meta, Path("m.onnx"))
    meta["decode"]["scale_factor_input"] = ""
    with pytest.raises(ModelMetadataError, match=r"2 image inputs \['image', 'scale_factor'\]"):
        check_model_io({"inputs": [side[0], image, side[1]], "outputs": outputs}, meta, Path("m.onnx"))
