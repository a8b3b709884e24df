import pytest

from edgedet.config.schema import TrainConfig
from edgedet.engine.lr import lr_at, scaled_lr


def test_linear_scaling_with_batch():
    assert scaled_lr(TrainConfig(lr=0.015, lr_batch=64, batch=16)) == pytest.approx(0.00375)


def test_warmup_then_steps():
    cfg = TrainConfig(lr=0.1, lr_batch=8, batch=8, warmup_iters=10, warmup_ratio=0.2, milestones=(0.5, 0.75), gamma=0.1)
    assert lr_at(cfg, 0, 100) == pytest.approx(0.02)
    assert lr_at(cfg, 5, 100) == pytest.approx(0.1 * (0.2 * 0.5 + 0.5))
    assert lr_at(cfg, 10, 100) == pytest.approx(0.1)
    assert lr_at(cfg, 49, 100) == pytest.approx(0.1)
    assert lr_at(cfg, 50, 100) == pytest.approx(0.01)
    assert lr_at(cfg, 75, 100) == pytest.approx(0.001)


def test_cosine_decays_to_one_percent():
    cfg = TrainConfig(lr=0.1, lr_batch=8, batch=8, warmup_iters=0, schedule="cosine")
    assert lr_at(cfg, 0, 100) == pytest.approx(0.1)
    assert lr_at(cfg, 50, 100) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert lr_at(cfg, 100, 100) == pytest.approx(0.001)


def test_bad_schedule():
    with pytest.raises(ValueError, match="step' or 'cosine"):
        lr_at(TrainConfig(schedule="poly"), 0, 10)
