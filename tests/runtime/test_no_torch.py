"""edgedet.runtime never imports torch: import it, and load + predict an exported model, with torch blocked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import edgedet.runtime
from edgedet.export.api import export
from tests.runtime.tiny_models import CLASS_NAMES, IMGSZ, image_files, tiny_pafnet_lite

RUNTIME_DIR = Path(edgedet.runtime.__file__).parent


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
                          cwd=Path(edgedet.runtime.__file__).parents[2])


def test_import_does_not_load_torch():
    r = _run("import edgedet.runtime, edgedet.runtime.onnxrt, edgedet.runtime.decode, edgedet.runtime.nms, sys; "
             "assert 'torch' not in sys.modules, 'torch was imported'; print('ok')")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_no_module_under_runtime_imports_torch():
    offenders = []
    for path in RUNTIME_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("torch", "torchvision")]
    assert not offenders


def test_load_and_predict_with_torch_blocked(tiny_synth, tmp_path):
    model = tiny_pafnet_lite(image_files(tiny_synth / "images" / "train", 8))
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=IMGSZ, out_dir=tmp_path,
                    class_names=CLASS_NAMES, model_name="tiny")
    image = image_files(tiny_synth / "images" / "val", 1)[0]
    code = (
        "import sys; sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
        "import cv2, edgedet.runtime as rt\n"
        f"d = rt.load({str(res.dir)!r}, threads=1).predict(cv2.imread({str(image)!r}), score_thr=0.2)\n"
        "print(len(d), d.boxes.shape, d.labels.dtype)\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert int(out[0]) > 0 and out[-1] == "int64", r.stdout
