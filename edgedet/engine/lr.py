"""Learning-rate schedule: linear warmup, then multi-step or cosine, as a pure function of the iteration."""

from __future__ import annotations

import math

from edgedet.config.schema import TrainConfig


def scaled_lr(cfg: TrainConfig) -> float:
    """Base lr scaled linearly with the total batch size (``lr`` is quoted for ``lr_batch`` images)."""
    return cfg.lr * cfg.batch / cfg.lr_batch


def lr_at(cfg: TrainConfig, it: int, total_iters: int) -> float:
    """Learning rate at iteration ``it`` (0-based) of ``total_iters``."""
    base = scaled_lr(cfg)
    if cfg.schedule == "step":
        factor = 1.0
        for m in cfg.milestones:
            if it >= int(m * total_iters):
                factor *= cfg.gamma
    elif cfg.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * min(it, total_iters) / max(total_iters, 1)))
        factor = 0.01 + 0.99 * factor
    else:
        raise ValueError(f"train.schedule must be 'step' or 'cosine', got {cfg.schedule!r}")
    warm = min(cfg.warmup_iters, max(total_iters // 2, 1))
    if it < warm:
        alpha = it / warm
        factor *= cfg.warmup_ratio * (1 - alpha) + alpha
    return base * factor
