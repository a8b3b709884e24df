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
