"""QAT end to end on a tiny trained PAFNet-lite (width 0.25, 96 px): weights change, the int8 TFLite / ONNX files load
through edgedet.runtime and predict, their edgedet.json matches PTQ's, the float-op lists are right, bad inputs
give one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgedet.cli import main
from edgedet.engine.checkpoint import load_checkpoint
from edgedet.engine.trainer import Trainer
from edgedet.export.quantize import QATSchedule, quantize
from tests.conftest import tiny_config

pytest.importorskip("litert_torch")
pytestmark = pytest.mark.slow

HEAD_CONVS = ("hm_out", "box_out")  # the final 1x1 convs: float on purpose (edgedet.export.tflite docstring)


@pytest.fixture(scope="module")
def ckpt(tiny_synth, tmp_path_factory):
    run = tmp_path_factory.mktemp("qat_train")
    Trainer(tiny_config(tiny_synth, epochs=1, max_iters=3), run, progress=False).fit()
    return run / "weights" / "last.pt"


@pytest.fixture(scope="module")
def qat_run(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("qat_out")
    res = quantize(ckpt, out_dir=out, qat=True, schedule=QATSchedule(epochs=1, max_iters=3, batch=4,
                                                                        freeze_bn_after=1, freeze_observers_after=2),
                   calib_n=8, progress=False, log_file=out / "export.log")
    return res, {r.format: r for r in res.exports}


@pytest.fixture(scope="module")
def ptq_run(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("ptq_out")
    res = quantize(ckpt, out_dir=out, qat=False, calib_n=8, progress=False, log_file=out / "export.log")
    return {r.format: r for r in res.exports}


def test_qat_fine_tunes_the_weights_and_freezes_on_schedule(ckpt, qat_run):
    res, _ = qat_run
    before = load_checkpoint(ckpt)["model"]
    after = res.fine_tuned.state_dict()
    conv = "backbone.stem.0.weight" if "backbone.stem.0.weight" in before else next(
        k for k in before if k.startswith("backbone") and k.endswith("weight") and before[k].ndim == 4)
    assert not torch.equal(before[conv], after[conv])
    assert res.settings["iterations"] == 3 and len(res.training) == 1
    assert res.training[0]["bn_frozen"] and res.training[0]["observers_frozen"]
    assert np.isfinite(res.training[0]["loss_hm"]) and np.isfinite(res.training[0]["loss_box"])


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_qat_exports_load_through_the_runtime_and_predict(qat_run, tiny_synth, fmt):
    import cv2

    from edgedet import runtime

    _, by_fmt = qat_run
    predictor = runtime.load(by_fmt[fmt].dir)
    image = cv2.imread(str(next((tiny_synth / "images" / "val").glob("*.jpg"))))
    det = predictor.predict(image, score_thr=0.0)
    assert det.boxes.shape == (len(det.scores), 4) and len(det.scores) > 0
    assert (det.boxes[:, 2] <= image.shape[1] + 1e-3).all() and (det.boxes[:, 0] >= 0).all()
    assert by_fmt[fmt].parity["passed"]  # outputs present, right shapes, finite


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_qat_metadata_matches_ptq(qat_run, ptq_run, fmt):
    qat = json.loads((qat_run[1][fmt].dir / "edgedet.json").read_text())
    ptq = json.loads((ptq_run[fmt].dir / "edgedet.json").read_text())
    assert set(qat) == set(ptq)
    differ = {k for k in qat if qat[k] != ptq[k]}
    assert differ <= {"extra", "calibration", "created"}, differ
    assert qat["decode"] == ptq["decode"] and qat["precision"] == "int8"  # dedup_iou: plateau duplicates removed
    assert qat["extra"]["qat"]["method"] == "qat" and "qat" not in ptq["extra"]
    assert qat["extra"]["int8"]["weights"] == ptq["extra"]["int8"]["weights"]


def test_onnx_int8_float_convs_are_the_head_tail(qat_run, ptq_run):
    for by_fmt in (qat_run[1], ptq_run):
        f = by_fmt["onnx"].metadata["extra"]["float_ops"]
        assert len(f["convs"]) == 2 and all(any(h in c for h in HEAD_CONVS) for c in f["convs"]), f["convs"]
        assert f["convs_outside_tail"] == []
        assert f["by_type"]["Sigmoid"] == 1 and f["by_type"]["TopK"] == 1
        assert "BatchNormalization" not in f["by_type"]  # the neck deconvs' BNs are folded before the ONNX export


def test_tflite_int8_head_convs_stay_float(qat_run, ptq_run):
    for by_fmt in (qat_run[1], ptq_run):
        f = by_fmt["tflite"].metadata["extra"]["float_ops"]
        tail = [c for c in f["convs"] if c not in f["convs_outside_tail"]]
        assert len(tail) == 2, tail  # the heatmap and box 1x1 convs: no conv below them
        assert f["by_type"]["LOGISTIC"] == 1 and f["by_type"]["TOPK_V2"] == 1
    # PTQ's tensor names keep the module path (the QAT graph's, converted twice, do not)
    ptq_convs = ptq_run["tflite"].metadata["extra"]["float_ops"]["convs"]
    assert len(ptq_convs) == 2 and all(any(h in c for h in HEAD_CONVS) for c in ptq_convs), ptq_convs


def test_tflite_int8_has_no_float_conv_outside_the_tail(qat_run, ptq_run):
    """Issue 14: the phase convs of the neck's deconvs shared one bias and 9 of 12 stayed float (split_deconv_phases)."""
    for by_fmt in (qat_run[1], ptq_run):
        assert by_fmt["tflite"].metadata["extra"]["float_ops"]["convs_outside_tail"] == []


class Payload:
    """A pickled class in a checkpoint: ``weights_only`` refuses it, nothing is executed."""


def _one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("edgedet: error: "), err
    return err


def test_bad_inputs_give_one_line(tmp_path, tiny_synth, capsys):
    assert "not found" in _one_error_line(capsys, ["quantize", str(tmp_path / "missing.pt"), "--qat"])
    torch.save({"model": Payload()}, tmp_path / "evil.pt")
    assert "Refusing to load" in _one_error_line(capsys, ["quantize", str(tmp_path / "evil.pt"), "--qat"])
    run = tmp_path / "retina"
    Trainer(tiny_config(tiny_synth, name="retinanet_r18_fpn", epochs=1, max_iters=1, eval_interval=0), run,
            progress=False).fit()
    err = _one_error_line(capsys, ["quantize", str(run / "weights" / "last.pt"), "--qat"])
    assert "retinanet_r18_fpn checkpoint; quantize takes a PAFNet-lite one" in err


def test_qat_only_flags_without_qat_are_refused(ckpt, capsys):
    assert "add --qat" in _one_error_line(capsys, ["quantize", str(ckpt), "--epochs", "2"])


def test_qat_graph_decodes_channels_last_and_leaves_the_model_class_major():
    """The QAT TFLite file gets the PTQ file's channels-last decode (no heatmap TRANSPOSE); the float model, which
    the QAT ONNX file is exported from, keeps the class-major decoder x2paddle needs. Same detections either way."""
    from edgedet.config.schema import ModelConfig
    from edgedet.export.qat import QATGraph
    from edgedet.models.zoo import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=3, width=0.25)).eval()
    graph = QATGraph(model, ["boxes", "scores", "labels"]).eval()
    assert graph.decoder.channels_last is True and model.decoder.channels_last is False
    x = torch.rand(1, 64, 64, 3)
    with torch.no_grad():
        out = graph(x)
        ref = model.decoder(*model(x.permute(0, 3, 1, 2)))
    torch.testing.assert_close(out["scores"], ref[1], atol=0, rtol=0)
