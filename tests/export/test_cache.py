"""The export cache: a second export of the same weights and settings reuses the converted file, anything that
changes the file misses, a damaged entry is never served, and parity is checked either way."""

import json

import pytest
import torch

from edgedet.config.schema import ModelConfig
from edgedet.deploy.schema import file_sha256
from edgedet.export import cache as export_cache
from edgedet.export.api import export
from edgedet.models.zoo import build_model


@pytest.fixture
def cache_on(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDET_EXPORT_CACHE", "1")
    monkeypatch.setenv("EDGEDET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "export"


def _model(seed: int):
    torch.manual_seed(seed)
    return build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=2, width=0.25)).eval()


def _export(model, out, **kw):
    kw = {"formats": ["onnx"], "precisions": ["fp32"], "imgsz": 64, "class_names": ["a", "b"],
          "model_name": "pafnet_lite_mbv3", **kw}
    return export(model, out_dir=out, **kw)[0]


def test_same_weights_hit_other_weights_size_or_classes_miss(cache_on, tmp_path):
    first = _export(_model(0), tmp_path / "a")
    assert not first.cached and len(list(cache_on.iterdir())) == 1
    again = _export(_model(0), tmp_path / "b")
    assert again.cached and again.parity["verdict"] == "pass"
    assert file_sha256(again.model_path) == file_sha256(first.model_path)
    assert json.loads((tmp_path / "b/onnx_fp32/edgedet.json").read_text()) == first.metadata
    assert not _export(_model(1), tmp_path / "c").cached  # other weights
    assert not _export(_model(0), tmp_path / "d", imgsz=96).cached  # other input size
    assert not _export(_model(0), tmp_path / "e", class_names=["x", "y"]).cached  # other class names
    assert len(list(cache_on.iterdir())) == 4
    assert not _export(_model(0), tmp_path / "f", use_cache=False).cached


def test_a_damaged_entry_is_converted_again(cache_on, tmp_path):
    _export(_model(0), tmp_path / "a")
    (entry,) = cache_on.iterdir()
    (model_file,) = entry.glob("*.onnx")
    model_file.write_bytes(model_file.read_bytes()[:-10])
    redo = _export(_model(0), tmp_path / "b")
    assert not redo.cached and redo.parity["verdict"] == "pass"


def test_turned_off_by_the_environment(cache_on, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDET_EXPORT_CACHE", "0")
    _export(_model(0), tmp_path / "a")
    assert not _export(_model(0), tmp_path / "b").cached and not cache_on.exists()


def test_key_follows_calibration_and_code():
    kw = {"model_sha": "m", "fmt": "onnx", "precision": "int8", "imgsz": 64, "class_names": ["a"],
          "model_name": "x", "source_ckpt_sha": None}
    import numpy as np

    calib = np.zeros((2, 3, 64, 64), np.float32)
    base = export_cache.entry_key(**kw, calib=calib)
    assert base == export_cache.entry_key(**kw, calib=calib.copy())
    calib[0, 0, 0, 0] = 1.0
    assert base != export_cache.entry_key(**kw, calib=calib)
    assert base != export_cache.entry_key(**{**kw, "source_ckpt_sha": "s"}, calib=np.zeros((2, 3, 64, 64), np.float32))


def test_a_code_change_gives_new_keys(monkeypatch):
    kw = {"model_sha": "m", "fmt": "tflite", "precision": "fp32", "imgsz": 64, "class_names": ["a"],
          "model_name": "x", "source_ckpt_sha": None, "calib": None}
    before = export_cache.entry_key(**kw)
    monkeypatch.setattr(export_cache, "_source_digest", lambda: "an edited exporter")
    assert export_cache.entry_key(**kw) != before
