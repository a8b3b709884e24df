"""`edgedet export` and `edgedet eval EXPORT_DIR` end to end on a tiny trained checkpoint."""

import json

import pytest

from edgedet.cli import main


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_synth, tmp_path_factory):
    project = tmp_path_factory.mktemp("proj")
    assert main(["train", "--data", str(tiny_synth), "--width", "0.25", "--imgsz", "96", "--batch", "4", "--epochs",
                 "1", "--device", "cpu", "--project", str(project), "--quiet", "--set", "train.max_iters=2",
                 "--set", "data.workers=0"]) == 0
    ckpt = project / "train/pafnet_lite_mbv3/weights/last.pt"
    # two CPU iterations leave an almost flat heatmap whose top-k order is decided by float rounding; give the head
    # distinct outputs so parity compares real detections, as a trained model would have
    import torch

    from edgedet.engine.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(ckpt)
    gen = torch.Generator().manual_seed(0)
    for k, v in state["model"].items():
        if k.startswith("head.") and v.dtype.is_floating_point and v.ndim == 4:
            v.add_(torch.randn(v.shape, generator=gen) * 0.3)
    save_checkpoint(state, ckpt)
    return ckpt


def test_export_then_eval_export_equals_torch_eval(tiny_ckpt, tiny_synth, tmp_path):
    out = tmp_path / "exp"
    assert main(["export", str(tiny_ckpt), "--format", "onnx", "--precision", "fp32", "--out", str(out)]) == 0
    parity = json.loads((out / "onnx_fp32/parity.json").read_text())
    assert parity["passed"] is True
    assert main(["eval", str(out / "onnx_fp32"), "--data", str(tiny_synth), "--out", str(tmp_path / "e.json")]) == 0
    assert main(["eval", str(tiny_ckpt), "--data", str(tiny_synth), "--out", str(tmp_path / "t.json")]) == 0
    via_runtime = json.loads((tmp_path / "e.json").read_text())
    via_torch = json.loads((tmp_path / "t.json").read_text())
    # same letterbox, same decode: the runtime's AP equals PyTorch's up to score ties at the threshold
    assert via_runtime["AP50"] == pytest.approx(via_torch["AP50"], abs=0.01)
    assert via_runtime["AR100"] == pytest.approx(via_torch["AR100"], abs=0.01)


def test_export_fresh_model_without_weights(tmp_path):
    out = tmp_path / "fresh"
    assert main(["export", "--model", "pafnet_lite_mbv3", "--num-classes", "4", "--imgsz", "64", "--format", "onnx",
                 "--out", str(out)]) == 0
    meta = json.loads((out / "onnx_fp32/edgedet.json").read_text())
    assert len(meta["class_names"]) == 4 and meta["model_name"] == "pafnet_lite_mbv3"


def test_unsupported_pair_fails_before_work(capsys):
    assert main(["export", "--model", "pafnet_lite_mbv3", "--format", "paddle", "--precision", "int8"]) == 2
    assert "paddle" in capsys.readouterr().err


def test_pair_the_model_cannot_export_fails_before_work(capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["export", "--model", "libra_faster_rcnn_r18_fpn", "--num-classes", "2", "--format", "tflite",
                 "--precision", "int8", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot be exported as tflite int8" in err and "tflite: fp32/fp16, paddle: fp32" in err
    assert not out.exists()


def test_export_needs_weights_or_model(capsys):
    assert main(["export"]) == 2
    assert "--model" in capsys.readouterr().err
