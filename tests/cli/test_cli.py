import subprocess
import sys

import pytest

from edgedet.cli import NOT_YET, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "edgedet.cli", *args], capture_output=True, text=True, timeout=600)


def test_help_lists_every_design_command():
    out = run_cli("--help").stdout
    for cmd in ("data", "train", "train-teacher", "distill", "eval", "export", "bench", "predict", "demo",
                "quickstart", "config"):
        assert cmd in out, cmd


def test_every_subcommand_help_explains_options():
    for cmd in ("train", "eval", "export", "quickstart"):
        res = run_cli(cmd, "--help")
        assert res.returncode == 0
        assert "--" in res.stdout and "default" in res.stdout, cmd


@pytest.mark.parametrize("cmd", sorted(NOT_YET))
def test_unbuilt_commands_say_so(cmd, capsys):
    assert main([cmd]) == 2
    assert "not built yet" in capsys.readouterr().err


def test_unknown_command_suggests(capsys):
    assert main(["trian"]) == 2
    assert "Did you mean 'train'" in capsys.readouterr().err


def test_config_show_resolves_overrides(capsys):
    assert main(["config", "show", "pafnet_lite_mbv3", "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "epochs: 3" in out and "name: pafnet_lite_mbv3" in out


def test_bad_override_is_an_error_not_a_traceback():
    res = run_cli("config", "show", "pafnet_lite_mbv3", "--set", "train.epoch=3")
    assert res.returncode == 2
    assert "Did you mean 'epochs'" in res.stderr and "Traceback" not in res.stderr


def test_data_check_reports_and_exits_nonzero(tmp_path):
    import json

    import cv2
    import numpy as np

    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images/a.jpg"), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "images/b.jpg").write_bytes(b"not a jpeg")
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 32},
                     {"id": 2, "file_name": "b.jpg", "width": 32, "height": 32}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 5], "area": 0, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "x"}]}
    (tmp_path / "instances_train.json").write_text(json.dumps(gt))
    res = run_cli("data", "check", str(tmp_path / "instances_train.json"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "b.jpg" in res.stdout and "Traceback" not in res.stderr
    assert "2 problem(s)" in res.stdout


def test_train_then_eval_then_resume_cli(tiny_synth, tmp_path):
    common = ["--data", str(tiny_synth), "--width", "0.25", "--imgsz", "96", "--batch", "4", "--device", "cpu",
              "--project", str(tmp_path), "--quiet", "--set", "train.max_iters=2", "--set", "data.workers=0"]
    assert main(["train", "--epochs", "1", *common]) == 0
    ckpt = tmp_path / "train/pafnet_lite_mbv3/weights/last.pt"
    assert ckpt.is_file()
    assert main(["eval", str(ckpt), "--data", str(tiny_synth), "--out", str(tmp_path / "m.json")]) == 0
    import json

    m = json.loads((tmp_path / "m.json").read_text())
    assert set(m) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
                      "per_class"}
    # a second run gets a new directory, not an overwrite
    assert main(["train", "--epochs", "1", *common]) == 0
    assert (tmp_path / "train/pafnet_lite_mbv32/weights/last.pt").is_file()


def test_diverged_training_is_one_line_not_a_traceback(tiny_synth, tmp_path, capsys, monkeypatch):
    """A NaN streak ends `edgedet train` with exit 2 and the trainer's advice, not a traceback."""
    import torch

    from edgedet.models import pafnet

    monkeypatch.setattr(pafnet.PAFNet, "loss", lambda self, outputs, targets: {
        "loss_hm": outputs[0].sum() * float("nan"), "loss_box": torch.zeros(())})
    rc = main(["train", "--data", str(tiny_synth), "--width", "0.25", "--imgsz", "96", "--batch", "4", "--epochs", "1",
               "--device", "cpu", "--project", str(tmp_path), "--quiet", "--set", "train.nan_patience=2",
               "--set", "data.workers=0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "non-finite losses in a row" in err and "train.lr" in err
