"""Bad inputs to export and to edgedet.runtime.load give errors that say what is wrong and how to fix it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from edgedet.deploy.schema import METADATA_FILE
from edgedet.export.api import export
from edgedet.runtime import load
from tests.runtime.tiny_models import CLASS_NAMES, IMGSZ, image_files, tiny_pafnet_lite


@pytest.fixture(scope="module")
def model(tiny_synth):
    return tiny_pafnet_lite(image_files(tiny_synth / "images" / "train", 8))


@pytest.fixture(scope="module")
def fp32_dir(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("errors")
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=IMGSZ, out_dir=out,
                    class_names=CLASS_NAMES, model_name="tiny")
    assert res.parity["passed"]
    return res.dir


@pytest.fixture
def copy_dir(fp32_dir, tmp_path):
    dst = tmp_path / "export"
    shutil.copytree(fp32_dir, dst)
    return dst


def _edit_json(directory, **changes):
    meta = json.loads((directory / METADATA_FILE).read_text())
    meta.update(changes)
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    return meta


def _strip_embedded(path):
    m = onnx.load(str(path))
    del m.metadata_props[:]
    onnx.save(m, str(path))


@pytest.mark.parametrize("formats, precisions, message", [
    (["paddle"], ["int8"], "paddle does not support precision 'int8'; supported: onnx: fp32/fp16/int8"),
    (["onnx"], ["int4"], "onnx does not support precision 'int4'"),
    (["coreml"], ["fp32"], "unknown export format 'coreml'; supported: .*tflite: fp32/fp16/int8"),
    ([], ["fp32"], "at least one format"),
])
def test_unsupported_pairs_name_the_supported_ones(model, tmp_path, formats, precisions, message):
    with pytest.raises(ValueError, match=message):
        export(model, formats=formats, precisions=precisions, imgsz=IMGSZ, out_dir=tmp_path,
               class_names=CLASS_NAMES, model_name="tiny")
    assert not any(tmp_path.iterdir()), "nothing is written before the request is validated"


def test_export_argument_errors(model, tmp_path):
    kw = {"imgsz": IMGSZ, "out_dir": tmp_path, "model_name": "tiny"}
    with pytest.raises(ValueError, match="int8 export needs calibration images"):
        export(model, formats=["onnx"], precisions=["int8"], class_names=CLASS_NAMES, **kw)
    with pytest.raises(ValueError, match="2 class_names for a model with num_classes = 3"):
        export(model, formats=["onnx"], precisions=["fp32"], class_names=["a", "b"], **kw)
    with pytest.raises(ValueError, match="multiple of 32"):
        export(model, formats=["onnx"], precisions=["fp32"], class_names=CLASS_NAMES, **{**kw, "imgsz": 100})


def test_parent_of_several_exports_lists_them(fp32_dir):
    with pytest.raises(FileNotFoundError, match=f"holds several exports; load one of: {fp32_dir}"):
        load(fp32_dir.parent)


def test_missing_edgedet_json(copy_dir, tmp_path):
    (copy_dir / METADATA_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="no edgedet.json"):
        load(copy_dir)
    tfl = tmp_path / "model.tflite"
    tfl.write_bytes(b"TFL3")
    with pytest.raises(FileNotFoundError, match="no edgedet.json next to .*model.tflite: copy it"):
        load(tfl)
    onnx_file = copy_dir / "tiny_fp32.onnx"
    _strip_embedded(onnx_file)
    with pytest.raises(FileNotFoundError, match="no edgedet.json beside it and no embedded edgedet metadata"):
        load(onnx_file)


def test_mismatched_class_count(copy_dir):
    _edit_json(copy_dir, num_classes=4)
    with pytest.raises(ValueError, match="3 class_names but num_classes = 4"):
        load(copy_dir)
    _edit_json(copy_dir, num_classes=2, class_names=["a", "b"])
    with pytest.raises(ValueError, match="disagree on 'class_names'"):
        load(copy_dir)


def test_output_shape_mismatch_between_json_and_file(copy_dir):
    _strip_embedded(copy_dir / "tiny_fp32.onnx")
    meta = json.loads((copy_dir / METADATA_FILE).read_text())
    meta["outputs"][0]["shape"] = [1, 50, 4]
    _edit_json(copy_dir, outputs=meta["outputs"])
    with pytest.raises(ValueError, match=r"output 'boxes' has shape \[1, 100, 4\] in the file but \[1, 50, 4\]"):
        load(copy_dir)


def test_corrupted_and_unsupported_files(copy_dir, tmp_path):
    model_file = copy_dir / "tiny_fp32.onnx"
    model_file.write_bytes(model_file.read_bytes()[:5000])
    with pytest.raises(ValueError, match="onnxruntime cannot load this file .* truncated or not an ONNX model"):
        load(copy_dir)
    pt = tmp_path / "weights.pt"
    pt.write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported model file 'weights.pt'"):
        load(pt)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nope.onnx")


def test_json_must_describe_the_file_it_sits_beside(copy_dir):
    other = copy_dir / "other.onnx"
    shutil.copyfile(copy_dir / "tiny_fp32.onnx", other)
    with pytest.raises(ValueError, match="describes 'tiny_fp32.onnx', not 'other.onnx'"):
        load(other)
    (copy_dir / "tiny_fp32.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="names model_file 'tiny_fp32.onnx'"):
        load(copy_dir)


def test_predictor_input_errors(fp32_dir):
    pred = load(fp32_dir)
    with pytest.raises(ValueError, match=r"\[H, W, 3\] BGR"):  # gray [H, W] is converted since validate.py
        pred.predict(np.zeros((50, 60, 2), np.uint8))
    with pytest.raises(ValueError, match=rf"float32 \[B, 3, {IMGSZ}, {IMGSZ}\]"):
        pred.run(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(ValueError, match="threads must be a positive int"):
        load(fp32_dir, threads=0)
