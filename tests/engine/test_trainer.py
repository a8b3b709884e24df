import csv

import pytest
import torch

from edgedet.engine.checkpoint import load_checkpoint
from edgedet.engine.trainer import Trainer, TrainingDiverged
from tests.conftest import tiny_config


def _weights(path):
    return load_checkpoint(path)["model"]


def test_run_directory_contents(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth, ema=True)
    metrics = Trainer(cfg, tmp_path / "run", progress=False).fit()
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.csv", "weights/last.pt", "weights/best.pt", "losses.png", "lr.png",
                 "ap.png", "samples.png", "report.md"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["loss_hm"]) > 0 for r in rows)
    assert 0.0 <= metrics["AP"] <= 1.0 and "per_class" in metrics
    state = load_checkpoint(run / "weights/last.pt")
    assert state["epoch"] == 2 and state["ema"] is not None and state["model_name"] == "pafnet_lite_mbv3"
    assert state["class_names"] and len(state["class_names"]) == cfg.model.num_classes


def test_resume_gives_identical_weights(tiny_synth, tmp_path):
    """Train 2 epochs in one go == train 1, stop, resume to 2 (CPU, fixed seed)."""
    full = Trainer(tiny_config(tiny_synth, ema=True), tmp_path / "a", progress=False)
    full.fit()
    part = Trainer(tiny_config(tiny_synth, ema=True), tmp_path / "b", progress=False)
    part.fit(stop_at=1)
    assert load_checkpoint(tmp_path / "b/weights/last.pt")["epoch"] == 1
    resumed = Trainer(tiny_config(tiny_synth, ema=True), tmp_path / "b", resume=tmp_path / "b/weights/last.pt",
                      progress=False)
    resumed.fit()
    a, b = _weights(tmp_path / "a/weights/last.pt"), _weights(tmp_path / "b/weights/last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ea = load_checkpoint(tmp_path / "a/weights/last.pt")["ema"]
    eb = load_checkpoint(tmp_path / "b/weights/last.pt")["ema"]
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    # and training really changed the weights
    init = Trainer(tiny_config(tiny_synth), tmp_path / "c", progress=False).model.state_dict()
    assert any(not torch.equal(init[k], a[k]) for k in a if a[k].dtype.is_floating_point)


class _PoisonedLoss:
    """Fault injection: the real loss, but non-finite on chosen iterations."""

    def __init__(self, model, bad_iters):
        self.real, self.bad, self.calls = model.loss, set(bad_iters), 0

    def __call__(self, outputs, targets):
        out = self.real(outputs, targets)
        self.calls += 1
        if self.calls in self.bad:
            out = {k: v * float("nan") for k, v in out.items()}
        return out


def test_single_nan_step_is_skipped(tiny_synth, tmp_path):
    tr = Trainer(tiny_config(tiny_synth, epochs=1), tmp_path / "r", progress=False)
    tr.model.loss = _PoisonedLoss(tr.model, bad_iters={2})
    tr.fit()
    w = _weights(tmp_path / "r/weights/last.pt")
    assert all(torch.isfinite(v).all() for v in w.values() if v.dtype.is_floating_point)


def test_nan_streak_stops_and_keeps_last_good_checkpoint(tiny_synth, tmp_path):
    tr = Trainer(tiny_config(tiny_synth, epochs=2, nan_patience=2), tmp_path / "r", progress=False)
    tr.model.loss = _PoisonedLoss(tr.model, bad_iters={4, 5, 6})  # epoch 1 has 3 iterations
    with pytest.raises(TrainingDiverged, match="non-finite losses in a row"):
        tr.fit()
    state = load_checkpoint(tmp_path / "r/weights/last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.dtype.is_floating_point)


def test_num_classes_mismatch_is_a_clear_error(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth)
    cfg.model.num_classes = 99
    with pytest.raises(ValueError, match="num_classes=99"):
        Trainer(cfg, tmp_path / "r", progress=False)


def test_training_survives_bad_entries_with_one_counted_warning(tiny_synth, tmp_path, caplog):
    """A corrupt image and a bad box never kill an epoch; the skipped entries are counted in one warning."""
    import json
    import logging
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_synth, data)
    ann_path = data / "annotations/instances_train.json"
    ann = json.loads(ann_path.read_text())
    victim = data / "images/train" / ann["images"][0]["file_name"]
    victim.write_bytes(b"\xff\xd8 truncated jpeg")  # corrupt image: only found when decoded
    ann["annotations"][1]["bbox"][2] = -5  # non-positive width: dropped at load time
    ann_path.write_text(json.dumps(ann))
    cfg = tiny_config(data, epochs=1, max_iters=0)  # full epoch: every image is visited, including the corrupt one
    with caplog.at_level(logging.WARNING):
        Trainer(cfg, tmp_path / "run", progress=False).fit()
    assert (tmp_path / "run/weights/last.pt").is_file()
    text = caplog.text
    assert "Skipping 1 bad dataset entries" in text
    assert "corrupt" in text.lower() or "unreadable" in text.lower()


def test_out_of_range_config_fails_before_the_run_directory(tiny_synth, tmp_path):
    from edgedet.config import ConfigError

    cfg = tiny_config(tiny_synth)
    cfg.train.batch = 0  # would silently make the lr 0
    with pytest.raises(ConfigError, match=r"train.batch=0 is not allowed: it must be >= 1"):
        Trainer(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_untrusted_pretrained_file_is_a_checkpoint_error(tiny_synth, tmp_path):
    from edgedet.engine.checkpoint import CheckpointError
    from tests.engine.test_checkpoint import Evil

    evil = tmp_path / "EVIL.pt"
    torch.save({"model": {}, "payload": Evil()}, evil)
    cfg = tiny_config(tiny_synth)
    cfg.model.pretrained = str(evil)
    with pytest.raises(CheckpointError, match=r"^model.pretrained: Refusing to load .*EVIL.pt"):
        Trainer(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_resume_with_another_config_is_refused_by_name(tiny_synth, tmp_path):
    """A resume whose config differs from the saved one names the fields, instead of a size-mismatch traceback."""
    from edgedet.engine.checkpoint import CheckpointError

    Trainer(tiny_config(tiny_synth, epochs=2), tmp_path / "r", progress=False).fit(stop_at=1)
    other = tiny_config(tiny_synth, epochs=2)
    other.model.width = 0.5
    with pytest.raises(CheckpointError, match=r"different config \(model.width\)"):
        Trainer(other, tmp_path / "r", resume=tmp_path / "r/weights/last.pt", progress=False)
    # where and how fast it runs may change
    same = tiny_config(tiny_synth, epochs=2, threads=1)
    same.data.workers = 1
    tr = Trainer(same, tmp_path / "r", resume=tmp_path / "r/weights/last.pt", progress=False)
    assert tr.start_epoch == 1


def test_resume_config_keeps_the_saved_run_and_names_a_conflicting_flag(tiny_synth, tmp_path):
    from edgedet.config import ConfigError
    from edgedet.engine.trainer import resume_config

    Trainer(tiny_config(tiny_synth, epochs=2), tmp_path / "r", progress=False).fit(stop_at=1)
    ckpt = tmp_path / "r/weights/last.pt"
    cfg, state = resume_config(ckpt, ["train.device=cpu", "train.threads=2", f"data.path={tiny_synth}",
                                      "model.imgsz=96"])
    assert (cfg.model.width, cfg.model.imgsz, cfg.train.epochs, cfg.train.batch) == (0.25, 96, 2, 4)
    assert cfg.train.threads == 2 and state["epoch"] == 1
    with pytest.raises(ConfigError, match=r"^--imgsz 128 conflicts with the run being resumed \(model.imgsz=96 "):
        resume_config(ckpt, ["model.imgsz=128"], ["--imgsz 128"])
    with pytest.raises(ConfigError, match=r"--data /elsewhere conflicts .*\(data.path="):
        resume_config(ckpt, ["data.path=/elsewhere"], ["--data /elsewhere"])


def test_multiscale_batches_follow_the_training_size(tiny_synth, tmp_path, monkeypatch):
    """The YAML's 256-416 range at 320 px becomes 64-128 at 96 px: every batch is trained near --imgsz."""
    from edgedet.config import apply_overrides
    from edgedet.data import dataset

    sizes = []
    real = dataset.rescale_batch

    def record(images, targets, size):
        sizes.append(size)
        return real(images, targets, size)

    monkeypatch.setattr(dataset, "rescale_batch", record)
    cfg = tiny_config(tiny_synth, epochs=1, max_iters=3, eval_interval=0)
    cfg.model.imgsz, cfg.data.multiscale = 320, (256, 416)  # as models/pafnet_lite_mbv3.yaml
    cfg = apply_overrides(cfg, ["model.imgsz=96"])  # what `--imgsz 96` does
    Trainer(cfg, tmp_path / "r", progress=False).fit()
    assert len(sizes) == 3 and set(sizes) <= {64, 96, 128}


def test_each_epoch_loader_knows_its_share_of_training(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth, epochs=6)
    cfg.data.cutmix, cfg.data.cutmix_until = 1.0, 0.5
    cfg.data.gridmask, cfg.data.gridmask_ramp = 0.6, 1.0
    trainer = Trainer(cfg, tmp_path / "r", progress=False)
    # epoch 2 of 6 starts at 1/3 of training: CutMix on, GridMask .6 * 1/3 = .2; epoch 3 starts at 1/2: CutMix off
    two, three = trainer._train_loader(2).dataset, trainer._train_loader(3).dataset
    assert (two.cutmix_p, three.cutmix_p) == (1.0, 0.0)
    assert two.gridmask_p == pytest.approx(0.2) and three.gridmask_p == pytest.approx(0.3)


def test_loader_workers_and_threads_follow_the_cores(tiny_synth, tmp_path, monkeypatch, caplog):
    import logging

    from edgedet.engine import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    cfg = tiny_config(tiny_synth)
    cfg.data.workers = 4
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="edgedet"):
            tr = Trainer(cfg, tmp_path / "r", progress=False)
        assert tr.data_cfg.workers == 1 and torch.get_num_threads() == 1
        assert cfg.data.workers == 4  # the config (and config.yaml) keeps what was asked for
        assert sum("loader worker" in r.getMessage() for r in caplog.records) == 1
    finally:
        torch.set_num_threads(before)


def test_metrics_csv_keeps_an_older_header_on_resume(tiny_synth, tmp_path):
    """A run written before a column existed (iter_ms) gets aligned rows, not shifted ones, after an upgrade."""
    from edgedet.engine.evaluator import STAT_KEYS

    run = tmp_path / "r"
    run.mkdir()
    old = ["epoch", "loss_hm", "loss_box", "lr", *STAT_KEYS, "seconds"]
    (run / "metrics.csv").write_text(",".join(old) + "\n")
    Trainer(tiny_config(tiny_synth, epochs=1), run, progress=False).fit()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert list(rows[0]) == old and rows[0]["epoch"] == "1"
    assert float(rows[0]["loss_hm"]) > 0 and float(rows[0]["seconds"]) > 0 and 0 <= float(rows[0]["AP"]) <= 1


def test_plan_epochs_fits_the_time_left():
    from edgedet.engine.trainer import plan_epochs

    # 100 s limit, 1 epoch done after 12 s (10 s per epoch), validation 5 s: 83 s left -> 8 more epochs
    assert plan_epochs(1, 50, 12.0, 10.0, 5.0, 100.0) == 9
    assert plan_epochs(1, 3, 12.0, 10.0, 5.0, 100.0) == 3  # a limit only shortens: never more epochs than asked
    assert plan_epochs(4, 50, 99.0, 10.0, 5.0, 100.0) == 4  # spent: the epoch just trained is the last
    assert plan_epochs(2, 50, 130.0, 10.0, 0.0, 100.0) == 2  # overrun never plans backwards past what is done
    # a slow first epoch (start-up) planned 3 of 6; the second ran at 10 s: the plan grows back to what was asked
    assert plan_epochs(2, 6, 70.0, 10.0, 5.0, 180.0) == 6


def test_time_limit_ends_the_run_with_a_validated_epoch(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth, epochs=50, eval_interval=0, time_limit=1e-4)  # 6 ms: spent after one epoch
    metrics = Trainer(cfg, tmp_path / "r", progress=False).fit()
    rows = (tmp_path / "r/metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and "AP" in metrics  # header + the one epoch, validated as the last
    state = load_checkpoint(tmp_path / "r/weights/last.pt")
    assert state["epoch"] == 1 and state["config"]["train"]["epochs"] == 1  # the re-planned schedule is saved
    assert (tmp_path / "r/report.md").is_file()


def test_ema_update_is_the_weighted_mean_of_every_float_tensor():
    from edgedet.engine.ema import ModelEMA

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ema = ModelEMA(model, decay=0.9, ramp=1)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].num_batches_tracked += 3
    ema.update(model)
    d = ema.current_decay()
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(ema.module.state_dict()[k], d * before[k] + (1 - d) * v)
        else:
            assert torch.equal(ema.module.state_dict()[k], v)
