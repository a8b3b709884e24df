"""The LiteRT backend's ``tflite_runtime`` fallback, run for real.

tflite-runtime 2.14.0 (its last release) has a cp311 manylinux x86_64 wheel, but its extension is built against
numpy 1.x: beside this project's numpy 2 it imports and then fails on the first interpreter. So the fallback runs in
a separate venv that edgedet.deploy.toolchain builds once under ``$EDGEDET_CACHE`` (default ``~/.cache/edgedet``;
about 10 s here) from this interpreter, with tflite-runtime, numpy < 2, opencv-python-headless < 4.12 (4.12 needs
numpy 2) and pyyaml, and without ai-edge-litert. A tiny fp32 ``.tflite`` export goes through ``edgedet.runtime``
there and here (ai-edge-litert): the same detections, scores within 1e-4 and boxes within 1e-3 px (measured
differences about 1e-5: XNNPACK here, the reference kernels there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedet.deploy.toolchain import CachedVenv, ToolchainError, ensure_venv
from tests.runtime.tiny_models import export_tiny_pafnet_lite, image_files

pytestmark = [pytest.mark.optional, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
PY = f"{sys.version_info.major}{sys.version_info.minor}"
TFLITE_RUNTIME_VENV = CachedVenv(
    f"tflite-runtime-py{PY}",
    ("tflite-runtime==2.14.0", "numpy<2", "opencv-python-headless<4.12", "pyyaml"),
    lambda: Path(sys.executable),
    f"a Python {sys.version_info.major}.{sys.version_info.minor} venv with tflite-runtime and numpy<2",
)
SCORE_THR = 0.1
CHILD = """
import importlib.util, json, sys
import cv2
from edgedet.runtime import load
assert importlib.util.find_spec("ai_edge_litert") is None, "this venv must not have ai-edge-litert"
predictor = load(sys.argv[1], threads=1)
out = {"package": predictor.backend.package, "numpy": __import__("numpy").__version__, "detections": []}
for path in sys.argv[2:]:
    d = predictor.predict(cv2.imread(path), score_thr=float(%r))
    out["detections"].append({"boxes": d.boxes.tolist(), "scores": d.scores.tolist(), "labels": d.labels.tolist()})
print(json.dumps(out))
""" % SCORE_THR


@pytest.fixture(scope="module")
def tflite_runtime_python() -> Path:
    try:
        return ensure_venv(TFLITE_RUNTIME_VENV)
    except ToolchainError as e:
        pytest.skip(f"tflite-runtime 2.14.0 did not install for Python {sys.version.split()[0]} "
                    f"({sys.platform}): {str(e).splitlines()[-1][:300]}")


@pytest.fixture(scope="module")
def tflite_fp32(tiny_synth, tmp_path_factory) -> Path:
    pytest.importorskip("ai_edge_litert")
    _, (res,) = export_tiny_pafnet_lite(tiny_synth, tmp_path_factory.mktemp("tfl_rt"), ["tflite"], ["fp32"])
    return Path(res.dir)


def _run_child(python: Path, export: Path, images: list[Path]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(python), "-c", CHILD, str(export), *map(str, images)], capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fallback_gives_ai_edge_litert_detections(tflite_runtime_python, tflite_fp32, tiny_synth):
    from edgedet.runtime import load

    images = image_files(tiny_synth / "images" / "val", 4)
    child = _run_child(tflite_runtime_python, tflite_fp32, images)
    assert child["package"] == "tflite-runtime" and child["numpy"].startswith("1.")
    predictor = load(tflite_fp32, threads=1)
    assert predictor.backend.package == "ai-edge-litert"
    total = 0
    for path, got in zip(images, child["detections"]):
        want = predictor.predict(cv2.imread(str(path)), score_thr=SCORE_THR)
        assert len(got["scores"]) == len(want)
        np.testing.assert_array_equal(got["labels"], want.labels)
        np.testing.assert_allclose(got["scores"], want.scores, atol=1e-4)
        np.testing.assert_allclose(np.asarray(got["boxes"]).reshape(-1, 4), want.boxes, atol=1e-3)
        total += len(want)
    assert total >= 4, "the tiny model should detect something to compare"


def test_numpy2_beside_tflite_runtime_is_one_clear_error(tflite_runtime_python, tflite_fp32, tmp_path):
    # this environment (numpy 2) with only tflite_runtime importable: the package from the cached venv, and
    # ai_edge_litert blocked
    site = next(tflite_runtime_python.parent.parent.glob("lib/python*/site-packages"))
    (tmp_path / "tflite_runtime").symlink_to(site / "tflite_runtime")
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'ai_edge_litert': raise ImportError('hidden')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from edgedet.runtime import load\n"
            f"load({str(tflite_fp32)!r})\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         check=False)
    assert out.returncode != 0
    assert "ImportError: tflite-runtime is built against numpy 1.x and cannot run beside numpy 2" in out.stderr
