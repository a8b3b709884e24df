"""`edgedet predict` end to end on a tiny ONNX export and on its checkpoint twin: annotated files, COCO JSON,
YOLO txt, counts, videos, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedet.cli import main
from edgedet.demo.checkpoint import CheckpointPredictor
from edgedet.runtime import load
from tests.demo.conftest import read_video, separated_threshold, threshold_keeping, write_video
from tests.runtime.tiny_models import CLASS_NAMES, IMGSZ

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def images(tmp_path_factory, demo_frame):
    """Two PNG images (lossless, so drawn colours can be checked exactly) and a file that is not an image."""
    folder = tmp_path_factory.mktemp("images")
    cv2.imwrite(str(folder / "000007.png"), demo_frame)
    cv2.imwrite(str(folder / "flipped.png"), demo_frame[:, ::-1])
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_images_json_txt_and_counts(tiny_export, images, tmp_path, capsys, caplog):
    _, export_dir = tiny_export
    frame = cv2.imread(str(images / "000007.png"))
    all_dets = load(export_dir).predict(frame, score_thr=0.05)
    thr = threshold_keeping(all_dets.scores, 3)
    out = tmp_path / "out"
    rc = main(["predict", str(images), "--model", str(export_dir), "--score-thr", str(thr), "--save", str(out),
               "--save-json", "--save-txt", "--quiet"])
    assert rc == 0
    text = capsys.readouterr()
    assert "broken.jpg: not a readable image" in caplog.text  # the unreadable file is named, the rest goes on
    assert "1 unreadable file(s) skipped" in text.out
    assert sorted(p.name for p in out.iterdir()) == ["000007.png", "flipped.png", "labels", "predictions.json"]

    want = load(export_dir).predict(frame, score_thr=thr)
    assert len(want) == 3
    records = [r for r in json.loads((out / "predictions.json").read_text()) if r["file_name"] == "000007.png"]
    assert [r["image_id"] for r in records] == [7] * 3
    assert [r["category_id"] for r in records] == want.labels.tolist()
    assert [r["category_name"] for r in records] == [CLASS_NAMES[k] for k in want.labels]
    x0, y0, x1, y1 = want.boxes[0].tolist()
    assert records[0]["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=1e-3)
    assert records[0]["score"] == pytest.approx(float(want.scores[0]), abs=1e-5)

    lines = (out / "labels" / "000007.txt").read_text().splitlines()
    cls, cx, cy, w, h = lines[0].split()
    assert int(cls) == want.labels[0] and float(cx) == pytest.approx((x0 + x1) / 2 / frame.shape[1], abs=1e-5)
    assert float(h) == pytest.approx((y1 - y0) / frame.shape[0], abs=1e-5)

    drawn = cv2.imread(str(out / "000007.png"))
    np.testing.assert_array_equal(drawn, want.draw(frame))  # the same drawing as Detections.draw
    assert (drawn != frame).any(axis=-1).sum() > 100

    flipped = load(export_dir).predict(np.ascontiguousarray(frame[:, ::-1]), score_thr=thr)
    counts = Counter(want.class_names() + flipped.class_names())
    per_class = ", ".join(f"{n} {c}" for n, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    assert f"2 image(s): {sum(counts.values())} detection(s) ({per_class})" in text.out


def test_glob_and_video(tiny_export, images, demo_frame, tmp_path, capsys):
    _, export_dir = tiny_export
    video = write_video(tmp_path / "clip.mp4", demo_frame, 6)
    assert main(["predict", str(images / "*.png"), "--model", str(export_dir), "--save", str(tmp_path / "g"),
                 "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["000007.png", "flipped.png"]
    assert main(["predict", str(video), "--model", str(export_dir), "--save", str(tmp_path / "v"), "--save-json",
                 "--quiet"]) == 0
    frames = read_video(tmp_path / "v" / "clip.mp4")
    assert len(frames) == 6 and frames[0].shape == demo_frame.shape
    records = json.loads((tmp_path / "v" / "predictions.json").read_text())
    assert sorted({r["frame"] for r in records}) == list(range(6))
    assert "6 video frame(s)" in capsys.readouterr().out


def test_checkpoint_and_export_predict_alike(tiny_export, demo_frame):
    """A checkpoint goes through PyTorch, its export through edgedet.runtime: same detections, same drawing."""
    model, export_dir = tiny_export
    thr, k = separated_threshold(load(export_dir).predict(demo_frame, score_thr=0.05).scores)
    by_torch = CheckpointPredictor(model, CLASS_NAMES, IMGSZ).predict(demo_frame, score_thr=thr)
    by_runtime = load(export_dir).predict(demo_frame, score_thr=thr)
    assert len(by_torch) == len(by_runtime) == k
    np.testing.assert_allclose(by_torch.boxes, by_runtime.boxes, atol=1e-2)
    np.testing.assert_array_equal(by_torch.labels, by_runtime.labels)
    assert by_torch.names == by_runtime.names == CLASS_NAMES
    assert set(by_torch.timings_ms) == set(by_runtime.timings_ms) == {"preprocess", "inference", "decode"}
    assert all(v > 0 for v in by_runtime.timings_ms.values())


def test_checkpoint_through_the_cli(tiny_export, images, demo_frame, tmp_path):
    import torch

    from edgedet.config.io import to_dict
    from edgedet.config.schema import ModelConfig, RunConfig

    model, export_dir = tiny_export
    ckpt = tmp_path / "best.pt"
    cfg = RunConfig(model=ModelConfig(name="pafnet_lite_mbv3", num_classes=3, width=0.25, imgsz=IMGSZ))
    torch.save({"model": model.state_dict(), "config": to_dict(cfg), "model_name": "pafnet_lite_mbv3",
                "class_names": CLASS_NAMES}, ckpt)
    thr, _ = separated_threshold(load(export_dir).predict(demo_frame, score_thr=0.05).scores)
    for name, weights in (("t", ckpt), ("r", export_dir)):
        assert main(["predict", str(images / "000007.png"), "--model", str(weights), "--save", str(tmp_path / name),
                     "--device", "cpu", "--score-thr", str(thr), "--quiet"]) == 0
    by_torch, by_runtime = (cv2.imread(str(tmp_path / n / "000007.png")).astype(int) for n in "tr")
    assert (by_runtime != demo_frame).any(axis=-1).sum() > 100
    assert (by_torch != by_runtime).any(axis=-1).sum() < 10  # at most a rounding at a box corner


@pytest.mark.parametrize("argv, message", [
    (["predict", "missing.jpg", "--model", "EXPORT"], "missing.jpg does not exist"),
    (["predict", "IMAGES/*.gif", "--model", "EXPORT"], "matches no images"),
    (["predict", "IMAGES", "--model", "nowhere"], "--model nowhere does not exist"),
    (["predict", "IMAGES", "--model", "EXPORT", "--score-thr", "1.5"], "--score-thr must be in [0, 1)"),
])
def test_one_line_errors(argv, message, tiny_export, images, capsys):
    argv = [a.replace("EXPORT", str(tiny_export[1])).replace("IMAGES", str(images)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgedet: error:") and message in err and "\n" not in err


def test_export_path_needs_no_torch(tiny_export, images, tmp_path):
    """`edgedet predict` on an export runs where torch is absent (a runtime-only install)."""
    code = ("import sys; sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
            "from edgedet.cli import main\n"
            f"sys.exit(main(['predict', {str(images / '000007.png')!r}, '--model', {str(tiny_export[1])!r}, "
            f"'--save', {str(tmp_path / 'o')!r}, '--save-json', '--quiet']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "000007.png").is_file() and (tmp_path / "o" / "predictions.json").is_file()


@pytest.mark.parametrize("cmd", ["predict", "demo"])
def test_help_explains_options(cmd):
    r = subprocess.run([sys.executable, "-m", "edgedet.cli", cmd, "--help"], cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--model" in r.stdout and "--score-thr" in r.stdout and "default" in r.stdout
    assert ("--save-json" in r.stdout) == (cmd == "predict") and ("--headless" in r.stdout) == (cmd == "demo")
