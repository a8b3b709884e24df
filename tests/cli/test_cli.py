import subprocess
import sys
from pathlib import Path

import pytest

from edgedet.cli import main


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
        if cmd != "quickstart":
            assert "--threads" in res.stdout, cmd


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


# ------------------------------------------------------------------------------------------------ resume
TINY = ["--width", "0.25", "--imgsz", "96", "--batch", "4", "--device", "cpu", "--quiet",
        "--set", "train.max_iters=1", "--set", "data.workers=0", "--set", "train.eval_interval=0"]


@pytest.fixture(scope="module")
def interrupted_run(tiny_synth, tmp_path_factory):
    """A CLI run of 2 epochs whose last.pt is rewound to epoch 1, as if killed after its first epoch."""
    from edgedet.engine.checkpoint import load_checkpoint, save_checkpoint

    project = tmp_path_factory.mktemp("proj")
    assert main(["train", "--data", str(tiny_synth), "--epochs", "2", "--project", str(project), *TINY]) == 0
    run = project / "train/pafnet_lite_mbv3"
    state = load_checkpoint(run / "weights/last.pt")
    state["epoch"] = 1
    save_checkpoint(state, run / "weights/last.pt")
    lines = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join(lines[:2]) + "\n")
    return run


@pytest.fixture
def run_copy(interrupted_run, tmp_path):
    import shutil

    return Path(shutil.copytree(interrupted_run, tmp_path / "run"))


def test_resume_needs_only_the_checkpoint_and_continues_the_saved_run(run_copy, tiny_synth, monkeypatch, tmp_path):
    from edgedet.engine.checkpoint import load_checkpoint

    monkeypatch.chdir(tmp_path)  # nothing is re-resolved from the working directory
    config = (run_copy / "config.yaml").read_text()
    assert main(["train", "--resume", str(run_copy / "weights/last.pt"), "--quiet"]) == 0
    assert (run_copy / "config.yaml").read_text() == config  # not the zoo YAML's 140 epochs at 320 px
    state = load_checkpoint(run_copy / "weights/last.pt")
    assert state["epoch"] == 2
    assert state["config"]["model"]["imgsz"] == 96 and state["config"]["train"]["batch"] == 4
    assert [line.split(",")[0] for line in (run_copy / "metrics.csv").read_text().splitlines()] == ["epoch", "1", "2"]
    assert not (tmp_path / "runs").exists()


def test_resume_accepts_agreeing_model_data_and_device(run_copy, tiny_synth):
    assert main(["train", "--model", "pafnet_lite_mbv3", "--data", str(tiny_synth), "--device", "cpu", "--threads",
                 "1", "--resume", str(run_copy / "weights/last.pt"), "--quiet"]) == 0


@pytest.mark.parametrize("flags, message", [
    (["--width", "1.0"], "--width 1.0 conflicts with the run being resumed (model.width=0.25 in "),
    (["--imgsz", "320"], "--imgsz 320 conflicts with the run being resumed (model.imgsz=96 in "),
    (["--epochs", "140"], "--epochs 140 conflicts with the run being resumed (train.epochs=2 in "),
    (["--set", "train.lr=0.1"], "--set train.lr=0.1 conflicts with the run being resumed (train.lr=0.015 in "),
    (["--model", "pafnet_r18vd"], "--model pafnet_r18vd conflicts with the run being resumed"),
    (["--data", "/tmp"], "--data /tmp conflicts with the run being resumed (data.path="),
    (["--project", "elsewhere"], "drop --project/--name"),
])
def test_resume_refuses_conflicting_flags_in_one_line(run_copy, flags, message, capsys):
    before = (run_copy / "weights/last.pt").read_bytes()
    assert main(["train", "--resume", str(run_copy / "weights/last.pt"), *flags, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert (run_copy / "weights/last.pt").read_bytes() == before


def test_resume_of_a_finished_run_says_so(run_copy, capsys):
    from edgedet.engine.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(run_copy / "weights/last.pt")
    state["epoch"] = 2
    save_checkpoint(state, run_copy / "weights/last.pt")
    assert main(["train", "--resume", str(run_copy / "weights/last.pt"), "--quiet"]) == 0
    assert "has finished its 2 epoch(s) already; nothing to resume" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ bad values
@pytest.mark.parametrize("flags, message", [
    (["--batch", "0"], "train.batch=0 is not allowed: it must be >= 1"),
    (["--batch", "-4"], "train.batch=-4 is not allowed: it must be >= 1"),
    (["--set", "train.lr=nan"], "train.lr=nan is not allowed: it must be > 0"),
    (["--epochs", "0"], "train.epochs=0 is not allowed: it must be >= 1"),
    (["--imgsz", "100"], "model.imgsz=100 is not allowed: it must be a multiple of 32"),
    (["--imgsz", "0"], "model.imgsz=0 is not allowed: it must be a multiple of 32"),
    (["--device", "gpu"], "train.device='gpu' is not allowed"),
    (["--threads", "-1"], "train.threads=-1 is not allowed: it must be >= 0"),
])
def test_bad_train_values_are_one_line_before_any_run_directory(flags, message, tiny_synth, tmp_path, capsys):
    rc = main(["train", "--data", str(tiny_synth), *TINY, "--project", str(tmp_path / "p"), *flags])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p").exists()


def test_untrusted_pretrained_is_one_line(tiny_synth, tmp_path, capsys):
    import torch

    from tests.engine.test_checkpoint import Evil

    torch.save({"model": {}, "payload": Evil()}, tmp_path / "EVIL.pt")
    rc = main(["train", "--data", str(tiny_synth), *TINY, "--project", str(tmp_path / "p"),
               "--set", f"model.pretrained={tmp_path / 'EVIL.pt'}"])
    err = capsys.readouterr().err
    assert rc == 2 and "model.pretrained: Refusing to load" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("cmd, flags, message", [
    ("eval", ["--imgsz", "100"], "model.imgsz=100 is not allowed"),
    ("eval", ["--device", "gpu"], "train.device='gpu' is not allowed"),
    ("export", ["--imgsz", "0"], "model.imgsz=0 is not allowed"),
    ("export", ["--threads", "-2"], "train.threads=-2 is not allowed"),
])
def test_eval_and_export_check_values_in_the_same_place(interrupted_run, tiny_synth, cmd, flags, message, capsys,
                                                        tmp_path):
    extra = ["--data", str(tiny_synth)] if cmd == "eval" else ["--out", str(tmp_path / "x")]
    assert main([cmd, str(interrupted_run / "weights/last.pt"), *extra, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_eval_on_a_dataset_with_other_classes_is_one_line(interrupted_run, tiny_synth, tmp_path, capsys):
    """13-class checkpoint, 3-class dataset: a clear error, not an IndexError."""
    import json

    (tmp_path / "d3/annotations").mkdir(parents=True)
    (tmp_path / "d3/images").symlink_to(Path(tiny_synth) / "images")
    gt = json.loads((Path(tiny_synth) / "annotations/instances_val.json").read_text())
    keep = {c["id"] for c in gt["categories"][:3]}
    gt["categories"] = gt["categories"][:3]
    gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] in keep]
    (tmp_path / "d3/annotations/instances_val.json").write_text(json.dumps(gt))
    assert main(["eval", str(interrupted_run / "weights/last.pt"), "--data", str(tmp_path / "d3")]) == 2
    err = capsys.readouterr().err
    assert "was trained on 13 classes" in err and "has 3" in err and len(err.strip().splitlines()) == 1


def test_closed_stdout_pipe_exits_quietly(tiny_synth, tmp_path):
    """`edgedet data stats D | head`: the reader goes away; no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "edgedet.cli", "data", "stats", str(tiny_synth), "--png",
                             str(tmp_path / "s.png")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_data_stats_writes_its_png_to_the_current_directory_not_the_dataset(tiny_synth, tmp_path, monkeypatch, capsys):
    before = sorted(p.name for p in Path(tiny_synth).iterdir())
    monkeypatch.chdir(tmp_path)
    assert main(["data", "stats", str(tiny_synth)]) == 0
    assert (tmp_path / "stats_train.png").stat().st_size > 0
    assert sorted(p.name for p in Path(tiny_synth).iterdir()) == before
    assert "histogram: stats_train.png" in capsys.readouterr().out


def test_data_check_on_a_clean_dataset_says_what_it_checked(tiny_synth, capsys):
    """Not just "no problems": the counts per split (what a user compares with what they expect) and the time."""
    import json
    import re

    assert main(["data", "check", str(tiny_synth)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    for split, n in (("train", 24), ("val", 8)):
        gt = json.loads((Path(tiny_synth) / f"annotations/instances_{split}.json").read_text())
        crowd = sum(1 for a in gt["annotations"] if a.get("iscrowd"))
        boxes = len(gt["annotations"]) - crowd
        extra = f" (+{crowd} crowd/ignored)" if crowd else ""
        assert f"checked {split}: {n} images, {boxes} boxes{extra}, {len(gt['categories'])} classes" in out, out
    assert re.fullmatch(r".*: no problems found \(\d+\.\d s\)", out[-1]), out


def _command_paths(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _command_paths(sub, (*path, name))


def test_every_help_leads_with_two_examples_of_its_own_command():
    from edgedet.cli import build_parser

    paths = list(_command_paths(build_parser()))
    assert len(paths) > 15
    for path, sub in paths:
        text = sub.format_help()
        body = text.split("examples:\n", 1)
        assert len(body) == 2 and body[0].startswith("usage: "), (path, text[:300])
        lines = body[1].splitlines()[:2]
        prefix = "  edgedet " + " ".join(path)
        assert all(line == prefix or line.startswith(prefix + " ") for line in lines), (path, lines)


def test_top_level_help_walks_the_path_in_order(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    order = [out.index(f"  edgedet {cmd} ") for cmd in ("data", "train", "eval", "export", "bench", "demo")]
    assert order == sorted(order) and order[0] < out.index("positional arguments")


def test_max_iters_is_a_smoke_run_with_a_scaled_schedule_and_a_summary_line(tiny_synth, tmp_path, capsys):
    import re

    import yaml

    # 24 training images at batch 4: 6 iterations an epoch, so 8 iterations take 2 epochs of 4
    assert main(["train", "--data", str(tiny_synth), "--width", "0.25", "--imgsz", "64", "--batch", "4",
                 "--max-iters", "8", "--project", str(tmp_path), "--quiet", "--set", "data.workers=0"]) == 0
    run = tmp_path / "train/pafnet_lite_mbv3"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["train"]["epochs"], cfg["train"]["max_iters"], cfg["train"]["warmup_iters"]) == (2, 4, 1)
    assert cfg["train"]["eval_interval"] == 0
    assert cfg["data"]["multiscale"] == [0, 0] and cfg["model"]["imgsz"] == 64
    assert len((run / "metrics.csv").read_text().splitlines()) == 3  # header + two epochs
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(rf"done in \dm\d\ds: 8 iterations, best AP \d\.\d{{4}}, run {re.escape(str(run))}; "
                        rf"next: edgedet export {re.escape(str(run / 'weights/best.pt'))} --format onnx .*", last), last
    assert main(["train", "--resume", str(run / "weights/last.pt"), "--max-iters", "2"]) == 2
    assert "drop --max-iters" in capsys.readouterr().err


@pytest.mark.parametrize("n, per_epoch, epochs, cap", [(3, 6, 1, 3), (200, 50, 4, 50), (120, 50, 3, 40), (7, 1, 7, 1)])
def test_max_iters_splits_into_the_fewest_epochs(n, per_epoch, epochs, cap):
    from edgedet.cli import smoke_run_overrides

    got = smoke_run_overrides(n, 500, per_epoch)
    assert got[:2] == [f"train.epochs={epochs}", f"train.max_iters={cap}"] and epochs * cap >= n
    assert got[2] == f"train.warmup_iters={max(1, n // 10)}"
