"""The built wheel, installed with only the ``runtime`` extra in a fresh venv, runs an export without torch.

Builds the wheel from a copy of the package (``pip wheel --no-deps --no-build-isolation``: setuptools comes from
this environment), makes a venv without system site-packages, installs ``edgedet[runtime]`` from the wheel
(numpy, OpenCV, PyYAML, onnxruntime and ai-edge-litert from the configured package index), checks that torch is
absent there, then compares ``edgedet.runtime.load(EXPORT).predict(image)`` with this environment's and lists the
zoo configs with the venv's ``edgedet config list`` (they are package data). Measured 2026-11-29 on the
2-core dev machine with a local package mirror: 30 s for the module (wheel 1 s, venv 4 s, install 8 s, the
tiny dataset, export and predictions the rest).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgedet
from edgedet.config.io import available_models
from edgedet.export.api import export
from edgedet.runtime import load
from tests.runtime.tiny_models import CLASS_NAMES, IMGSZ, image_files, tiny_pafnet_lite

pytestmark = pytest.mark.slow
SOURCE = Path(edgedet.__file__).resolve().parents[1]
THR = 0.2  # low enough that the tiny model detects several objects
PREDICT = """
import json, sys
import cv2
import edgedet, edgedet.runtime
det = edgedet.runtime.load(sys.argv[1], threads=1).predict(cv2.imread(sys.argv[2]), score_thr=float(sys.argv[3]))
print(json.dumps({"edgedet": edgedet.__file__, "boxes": det.boxes.tolist(), "scores": det.scores.tolist(),
                  "labels": det.labels.tolist(), "torch": "torch" in sys.modules}))
"""


def _run(cmd: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the venv must see only its own edgedet
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                         check=False)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A fresh venv with ``edgedet[runtime]`` installed from a wheel of this source tree; returns its python."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(SOURCE / "edgedet", src / "edgedet", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(SOURCE / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root / "dist", src],
         root)
    (wheel,) = (root / "dist").glob("edgedet-*.whl")
    _run([sys.executable, "-m", "venv", root / "venv"], root)
    python = root / "venv" / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", f"{wheel}[runtime]"], root)
    return python


def test_wheel_runtime_predicts_like_the_dev_runtime_without_torch(runtime_venv, tiny_synth, tmp_path):
    missing = subprocess.run([runtime_venv, "-c", "import torch"], capture_output=True, text=True, check=False,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert missing.returncode != 0 and "No module named 'torch'" in missing.stderr
    model = tiny_pafnet_lite(image_files(tiny_synth / "images" / "train", 8))
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=IMGSZ, out_dir=tmp_path / "export",
                    class_names=CLASS_NAMES, model_name="tiny")
    image = image_files(tiny_synth / "images" / "val", 1)[0]
    ref = load(res.dir, threads=1).predict(cv2.imread(str(image)), score_thr=THR)
    script = tmp_path / "predict.py"
    script.write_text(PREDICT)
    got = json.loads(_run([runtime_venv, script, res.dir, image, THR], tmp_path).stdout)
    assert Path(got["edgedet"]).is_relative_to(runtime_venv.parents[1]), got["edgedet"]  # the wheel's, not ours
    assert got["torch"] is False
    assert len(ref) >= 2 and len(got["scores"]) == len(ref)
    np.testing.assert_array_equal(got["labels"], ref.labels)
    np.testing.assert_allclose(got["scores"], ref.scores, atol=1e-5)
    np.testing.assert_allclose(got["boxes"], ref.boxes, atol=1e-3)


def test_wheel_ships_the_zoo_configs(runtime_venv, tmp_path):
    out = _run([runtime_venv.parent / "edgedet", "config", "list"], tmp_path)
    assert out.stdout.split() == available_models() and "pafnet_lite_mbv3" in out.stdout.split()
