"""`edgedet distill` end to end on tiny models: run directory, exact resume, export parity, bad input."""

import csv
import json

import numpy as np
import pytest
import torch

from edgedet.cli import main
from edgedet.distill import Distiller
from edgedet.engine.checkpoint import load_checkpoint, save_checkpoint
from edgedet.engine.trainer import Trainer
from edgedet.models.zoo import pafnet_lite_mbv3
from tests.conftest import tiny_config

TINY = ["--width", "0.25", "--imgsz", "96", "--batch", "4", "--device", "cpu", "--quiet", "--set", "data.workers=0",
        "--set", "train.max_iters=2", "--set", "train.warmup_iters=1"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return tmp_path_factory.mktemp("distill_proj")


def _teacher(project, data, model):
    run = project / "train-teacher" / model
    if not run.exists():
        assert main(["train-teacher", "--model", model, "--data", str(data), "--epochs", "1", "--project", str(project),
                     "--name", model, *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def distilled(tiny_synth, project):
    teacher = _teacher(project, tiny_synth, "pafnet_lite_mbv3")
    assert main(["distill", "--teacher", str(teacher), "--data", str(tiny_synth), "--epochs", "2", "--project",
                 str(project), "--name", "student", "--set", "train.ema=true", *TINY]) == 0
    return project / "distill" / "student"


def test_run_directory_has_train_outputs_kd_columns_and_teacher_ap(distilled):
    for name in ("config.yaml", "metrics.csv", "weights/last.pt", "weights/best.pt", "losses.png", "samples.png",
                 "report.md", "teacher.json"):
        assert (distilled / name).is_file(), name
    rows = list(csv.DictReader(open(distilled / "metrics.csv")))
    assert len(rows) == 2
    for key in ("loss_hm", "loss_box", "loss_kd_hm", "loss_kd_box", "loss_kd_feat", "teacher_ms"):
        assert key in rows[0], key
    assert float(rows[1]["loss_kd_feat"]) > 0 and float(rows[1]["teacher_ms"]) > 0
    record = json.loads((distilled / "teacher.json").read_text())
    assert record["terms"] == ["loss_kd_hm", "loss_kd_box", "loss_kd_feat"] and 0 <= record["teacher_AP"] <= 1
    assert "teacher AP on the same val set" in (distilled / "report.md").read_text()


def test_checkpoint_holds_exactly_the_deployable_student(distilled):
    state = load_checkpoint(distilled / "weights/best.pt")
    plain = pafnet_lite_mbv3(state["config"]["model"]["num_classes"], width=0.25).state_dict()
    assert set(state["model"]) == set(plain) and set(state["ema"]) == set(plain)
    assert state["train_only"] and all("adapters" in k for k in state["train_only"])
    assert state["config"]["distill"]["teacher"]


def test_distilled_checkpoint_exports_and_predicts_like_torch(distilled, tiny_synth, tmp_path):
    import cv2

    from edgedet.deploy.preprocess import boxes_to_original, preprocess_bgr
    from edgedet.engine.checkpoint import load_detector
    from edgedet.runtime import load

    ckpt = tmp_path / "best.pt"
    state = load_checkpoint(distilled / "weights/best.pt")
    gen = torch.Generator().manual_seed(0)
    for key in ("model", "ema"):  # a few iterations leave a flat heatmap: give the head distinct outputs
        for k, v in state[key].items():
            if k.startswith("head.") and v.dtype.is_floating_point and v.ndim == 4:
                v.add_(torch.randn(v.shape, generator=gen) * 0.3)
    save_checkpoint(state, ckpt)
    out = tmp_path / "exp"
    assert main(["export", str(ckpt), "--format", "onnx", "--precision", "fp32", "--out", str(out)]) == 0
    assert json.loads((out / "onnx_fp32/parity.json").read_text())["passed"] is True
    image = cv2.imread(str(sorted((tiny_synth / "images" / "val").iterdir())[0]))
    dets = load(out / "onnx_fp32").predict(image, score_thr=0.001)
    model, _ = load_detector(ckpt)
    x, meta = preprocess_bgr(image, 96)
    ref = model.predict(torch.from_numpy(x), score_thr=0.001)[0]
    assert len(dets.scores) == len(ref["scores"]) > 0
    # near-flat heatmaps give scores equal to 1e-8: two such detections may come out in either order, so both
    # sides are compared in one order (label, then box, rounded to 0.1 px)
    ref_boxes = boxes_to_original(ref["boxes"].numpy(), meta)

    def order(labels, boxes):
        r = np.round(np.asarray(boxes, np.float64), 1)
        return np.lexsort((r[:, 3], r[:, 2], r[:, 1], r[:, 0], np.asarray(labels)))

    a, b = order(dets.labels, dets.boxes), order(ref["labels"].numpy(), ref_boxes)
    np.testing.assert_array_equal(dets.labels[a], ref["labels"].numpy()[b])
    np.testing.assert_allclose(dets.scores[a], ref["scores"].numpy()[b], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(dets.boxes[a], ref_boxes[b], atol=1e-2, rtol=1e-4)


def test_resume_gives_identical_weights_and_finds_the_teacher(tiny_synth, project, tmp_path):
    teacher = _teacher(project, tiny_synth, "pafnet_lite_mbv3")

    def cfg():
        c = tiny_config(tiny_synth, ema=True, eval_interval=0)
        c.distill.teacher = str(teacher)
        return c

    full = cfg()
    Trainer(full, tmp_path / "a", progress=False, hook=Distiller(full.distill)).fit()
    part = cfg()
    Trainer(part, tmp_path / "b", progress=False, hook=Distiller(part.distill)).fit(stop_at=1)
    assert main(["distill", "--resume", str(tmp_path / "b/weights/last.pt"), "--quiet"]) == 0
    a, b = load_checkpoint(tmp_path / "a/weights/last.pt"), load_checkpoint(tmp_path / "b/weights/last.pt")
    for key in ("model", "ema", "train_only", "ema_train_only"):
        assert a[key].keys() == b[key].keys() and a[key], key
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)


def test_anchor_teacher_auto_picks_output_and_feature_terms(tiny_synth, project):
    teacher = _teacher(project, tiny_synth, "retinanet_r18_fpn")
    assert main(["distill", "--teacher", str(teacher / "weights/last.pt"), "--data", str(tiny_synth), "--epochs", "1",
                 "--project", str(project), "--name", "from_retina", *TINY]) == 0
    row = next(csv.DictReader(open(project / "distill/from_retina/metrics.csv")))
    assert "loss_kd_out" in row and "loss_kd_feat" in row and "loss_kd_hm" not in row


def test_ablation_switches_a_term_off_by_weight(tiny_synth, project):
    teacher = _teacher(project, tiny_synth, "pafnet_lite_mbv3")
    assert main(["distill", "--teacher", str(teacher), "--data", str(tiny_synth), "--epochs", "1", "--project",
                 str(project), "--name", "no_box", "--set", "distill.box_weight=0", *TINY]) == 0
    row = next(csv.DictReader(open(project / "distill/no_box/metrics.csv")))
    assert "loss_kd_hm" in row and "loss_kd_box" not in row


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_input_one_clear_line_each(tiny_synth, project, tmp_path, capsys):
    teacher = _teacher(project, tiny_synth, "pafnet_lite_mbv3")
    base = ["distill", "--data", str(tiny_synth), "--project", str(tmp_path), *TINY]
    state = load_checkpoint(teacher / "weights/last.pt")
    names = list(state["class_names"])

    other = dict(state, class_names=[n + "_x" for n in names])
    save_checkpoint(other, tmp_path / "other.pt")
    err = _error(capsys, base + ["--teacher", str(tmp_path / "other.pt")])
    assert str(other["class_names"]) in err and str(names) in err

    torch.save({"weights": torch.zeros(2)}, tmp_path / "junk.pt")
    assert "is not a detector checkpoint" in _error(capsys, base + ["--teacher", str(tmp_path / "junk.pt")])

    err = _error(capsys, base + ["--teacher", str(teacher), "--imgsz", "64"])
    assert "input size 96" in err and "64" in err

    normed = dict(state, normalization={"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]})
    save_checkpoint(normed, tmp_path / "normed.pt")
    assert "normalised" in _error(capsys, base + ["--teacher", str(tmp_path / "normed.pt")])

    assert "Unknown model 'pafnet_lite_mbv9'" in _error(capsys, base + ["--teacher", str(teacher), "--model",
                                                                         "pafnet_lite_mbv9"])
    assert "must be a PAFNet" in _error(capsys, base + ["--teacher", str(teacher), "--model", "retinanet_r18_fpn"])
    assert "distill.kd" in _error(capsys, base + ["--teacher", str(teacher), "--kd", "hm,logits"])
    assert "needs --teacher" in _error(capsys, base)
    assert "no such checkpoint" in _error(capsys, base + ["--teacher", str(tmp_path / "missing")])


def test_anchor_teacher_refuses_heatmap_terms(tiny_synth, project, tmp_path, capsys):
    teacher = _teacher(project, tiny_synth, "retinanet_r18_fpn")
    err = _error(capsys, ["distill", "--teacher", str(teacher), "--data", str(tiny_synth), "--kd", "hm,feat",
                          "--project", str(tmp_path), *TINY])
    assert "need a PAFNet teacher" in err


def test_train_refuses_a_distill_config(tiny_synth, tmp_path, capsys):
    err = _error(capsys, ["train", "--data", str(tiny_synth), "--project", str(tmp_path), "--set",
                          "distill.teacher=x.pt", *TINY])
    assert "edgedet distill" in err
