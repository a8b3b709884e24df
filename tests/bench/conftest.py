"""Tiny exports for the benchmark runner (PAFNet-lite width 0.25 at 96 px, ONNX fp32) and a 3-class dataset that
matches their class names, so ``--accuracy`` can score them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_onnx(tiny_synth, tmp_path_factory) -> Path:
    from tests.runtime.tiny_models import export_tiny_pafnet_lite

    out = tmp_path_factory.mktemp("bench_exports")
    _, results = export_tiny_pafnet_lite(tiny_synth, out, ["onnx"], ["fp32"])
    return Path(results[0].dir)


@pytest.fixture(scope="session")
def synth3(tiny_synth, tmp_path_factory) -> Path:
    """``tiny_synth`` relabelled to the tiny exports' classes: digits -> digit, square, circle (triangles dropped)."""
    from tests.runtime.tiny_models import CLASS_NAMES

    dst = tmp_path_factory.mktemp("synth3") / "synth3"
    shutil.copytree(Path(tiny_synth) / "images", dst / "images")
    (dst / "annotations").mkdir()
    new = {name: i + 1 for i, name in enumerate(CLASS_NAMES)}
    for split in ("train", "val"):
        d = json.loads((Path(tiny_synth) / "annotations" / f"instances_{split}.json").read_text())
        names = {c["id"]: ("digit" if c["name"].isdigit() else c["name"]) for c in d["categories"]}
        d["annotations"] = [dict(a, category_id=new[names[a["category_id"]]]) for a in d["annotations"]
                            if names[a["category_id"]] in new]
        d["categories"] = [{"id": i, "name": n} for n, i in new.items()]
        (dst / "annotations" / f"instances_{split}.json").write_text(json.dumps(d))
    return dst
