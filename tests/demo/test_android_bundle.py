"""`edgedet export --android ASSETS_DIR`: the TFLite export's two files land in ASSETS_DIR/model/, where the app's
ModelFiles reads a bundled model (android_demo/app/src/main/java/io/edgedet/demo/ModelFiles.java, ASSET_DIR)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgedet.cli import main
from edgedet.export.cli import ANDROID_MODEL_DIR, bundle_for_android

REPO = Path(__file__).resolve().parents[2]


def _fake_tflite_export(onnx_dir: Path, out: Path) -> Path:
    """The ONNX export's metadata relabelled as a TFLite export with a placeholder model file: the bundling copies
    files and never opens the model."""
    out.mkdir()
    meta = json.loads((onnx_dir / "edgedet.json").read_text())
    meta.update(format="tflite", model_file="m_fp32.tflite")
    (out / "edgedet.json").write_text(json.dumps(meta))
    (out / "m_fp32.tflite").write_bytes(b"TFL3 placeholder")
    (out / "parity.json").write_text("{}")
    return out


def test_the_app_reads_the_same_folder():
    java = (REPO / "android_demo/app/src/main/java/io/edgedet/demo/ModelFiles.java").read_text()
    assert re.search(rf'ASSET_DIR = "{ANDROID_MODEL_DIR}"', java)


def test_bundle_copies_two_files_and_replaces_an_old_bundle(tiny_export, tmp_path):
    export_dir = _fake_tflite_export(tiny_export[1], tmp_path / "tflite_fp32")
    assets = tmp_path / "assets"
    (assets / "model").mkdir(parents=True)
    (assets / "model" / "README.md").write_text("kept")
    (assets / "model" / "old_int8.tflite").write_bytes(b"old")
    target = bundle_for_android(export_dir, assets)
    assert target == assets / "model"
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "edgedet.json", "m_fp32.tflite"]
    assert (target / "m_fp32.tflite").read_bytes() == b"TFL3 placeholder"
    assert json.loads((target / "edgedet.json").read_text())["model_file"] == "m_fp32.tflite"


def test_bundle_refuses_a_non_tflite_export(tiny_export, tmp_path):
    with pytest.raises(ValueError, match="runs TFLite models"):
        bundle_for_android(tiny_export[1], tmp_path)
    assert not (tmp_path / "model").exists()


def test_android_without_tflite_fails_before_exporting(tmp_path, capsys):
    assert main(["export", "--model", "pafnet_lite_mbv3", "--format", "onnx", "--android", str(tmp_path),
                 "--out", str(tmp_path / "never")]) == 2
    assert "add tflite to --format" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
