"""edgedet.json: build / write / read round trip and the errors a broken or foreign file gives."""

from __future__ import annotations

import copy
import json

import pytest

from edgedet import __version__
from edgedet.deploy.preprocess import DEFAULT_PREPROCESS, MEAN, PAD_VALUE, STD, PreprocessSpec
from edgedet.deploy.schema import (
    METADATA_FILE,
    build_metadata,
    file_sha256,
    metadata_from_json_string,
    read_metadata,
    write_metadata,
)

OUTPUTS = [{"name": "boxes", "shape": [1, 100, 4], "dtype": "float32"},
           {"name": "scores", "shape": [1, 100], "dtype": "float32"},
           {"name": "labels", "shape": [1, 100], "dtype": "float32"}]


def _meta(tmp_path, **kw):
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"abc")
    args = {"model_name": "pafnet_lite_mbv3", "class_names": ["a", "b", "c"], "imgsz": 320, "fmt": "onnx",
            "precision": "int8", "model_file": "m.onnx", "outputs": OUTPUTS,
            "decode": {"type": "topk_boxes"},
            "calibration": {"n_images": 200, "source": "data/", "method": "percentile"}, "source_ckpt": ckpt}
    args.update(kw)
    return build_metadata(**args)


def test_build_fills_every_contract_field(tmp_path):
    meta = _meta(tmp_path)
    assert meta["edgedet_version"] == __version__ and meta["schema_version"] == 1
    assert meta["num_classes"] == 3 and meta["class_names"] == ["a", "b", "c"]
    assert meta["input"] == {"name": "images", "size": 320, "layout": "NCHW", "shape": [1, 3, 320, 320],
                             "dtype": "float32"}
    assert meta["preprocess"] == {"color": "rgb", "scale": 1 / 255, "mean": list(MEAN), "std": list(STD),
                                  "letterbox": {"centred": True, "pad_value": PAD_VALUE}}
    # sha256("abc")
    assert meta["source_checkpoint"] == {
        "name": "w.pt", "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    assert meta["calibration"]["n_images"] == 200
    assert meta["decode"] == {"type": "topk_boxes", "outputs": ["boxes", "scores", "labels"], "dedup_iou": 0.7}
    nhwc = _meta(tmp_path, layout="NHWC", fmt="tflite")
    assert nhwc["input"]["shape"] == [1, 320, 320, 3] and nhwc["input"]["layout"] == "NHWC"


def test_other_preprocessing_round_trips(tmp_path):
    # an imported model's rule (edgedet import-paddle): stretched, cubic, its own numbers; no letterbox block
    spec = PreprocessSpec(resize="stretch", interp="cubic", scale=1.0, mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4))
    meta = _meta(tmp_path, preprocess=spec)
    assert meta["preprocess"] == {"color": "rgb", "scale": 1.0, "mean": [123.7, 116.3, 103.5],
                                  "std": [58.4, 57.1, 57.4], "resize": "stretch", "interp": "cubic"}
    write_metadata(tmp_path, meta)
    assert PreprocessSpec.from_block(read_metadata(tmp_path)["preprocess"]) == spec
    assert PreprocessSpec.from_block(_meta(tmp_path)["preprocess"]) == DEFAULT_PREPROCESS


def test_write_read_round_trip(tmp_path):
    meta = _meta(tmp_path)
    path = write_metadata(tmp_path, meta)
    assert path == tmp_path / METADATA_FILE
    assert read_metadata(tmp_path) == meta
    assert read_metadata(path) == meta
    assert metadata_from_json_string(json.dumps(meta), source="x") == meta
    assert file_sha256(path) == file_sha256(path) and len(file_sha256(path)) == 64


def _write_raw(tmp_path, meta):
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta))
    return tmp_path


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.pop("class_names"), r"missing key\(s\) \['class_names'\]"),
    (lambda m: m.update(num_classes=5), "3 class_names but num_classes = 5"),
    (lambda m: m["decode"].update(num_classes=4), "decode.num_classes = 4"),
    (lambda m: m.update(class_names=[]), "non-empty list"),
    (lambda m: m.update(precision="int4"), "precision 'int4' is not one of"),
    (lambda m: m.update(format="coreml"), "format 'coreml' is not one of"),
    (lambda m: m["input"].update(layout="CHW"), "layout 'CHW'"),
    (lambda m: m["input"].update(shape=[1, 3, 640, 640]), "does not match size 320"),
    (lambda m: m["preprocess"].update(std=[0.2, 0.0, 0.2]), r"preprocess.std must be positive"),
    (lambda m: m["preprocess"].update(mean=[0.5, 0.5]), r"preprocess.mean must be 3 finite numbers"),
    (lambda m: m["preprocess"]["letterbox"].update(centred=False), r"preprocess.letterbox .* \(edgedet\.deploy\.preprocess\)"),
    (lambda m: m["preprocess"]["letterbox"].update(pad_value=300), "preprocess.letterbox.pad_value must be in 0..255"),
    (lambda m: m["preprocess"].update(color="bgr"), "preprocess.color"),
    (lambda m: m["preprocess"].update(resize="crop"), "preprocess.resize 'crop' is not one of"),
    (lambda m: m["preprocess"].update(interp="bicubic"), "preprocess.interp 'bicubic' is not one of"),
    (lambda m: m["preprocess"].update(pad=4), "preprocess.pad is not a field"),
    (lambda m: m.update(schema_version=99), "newer than this edgedet"),
    (lambda m: m.update(outputs=[]), "outputs is empty"),
    (lambda m: m["decode"].pop("type"), "decode.type is missing"),
    (lambda m: m["decode"].update(dedup_iou="high"), r"edgedet.json: decode.dedup_iou must be float, got 'high'"),
    (lambda m: m.update(num_classes="3"), "'num_classes' must be int"),
])
def test_read_rejects_inconsistent_metadata(tmp_path, mutate, message):
    meta = copy.deepcopy(_meta(tmp_path))
    mutate(meta)
    with pytest.raises(ValueError, match=message):
        read_metadata(_write_raw(tmp_path, meta))


def test_read_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no edgedet.json .* `edgedet export`"):
        read_metadata(tmp_path)
    (tmp_path / METADATA_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=f"{tmp_path}.*not valid JSON"):
        read_metadata(tmp_path)
    (tmp_path / METADATA_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_metadata(tmp_path)


def test_build_validates_its_own_output(tmp_path):
    with pytest.raises(ValueError, match="precision 'fp8'"):
        _meta(tmp_path, precision="fp8")
