"""Exponential moving average of model weights."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """EMA of parameters and buffers: ``ema = d * ema + (1 - d) * model``.

    The decay ramps up as ``decay * (1 - exp(-updates / ramp))`` so early, noisy weights fade fast.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9998, ramp: int = 2000):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.ramp = ramp
        self.updates = 0

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        msd = model.state_dict()
        ema_f, model_f = [], []
        for k, v in self.module.state_dict().items():
            if v.dtype.is_floating_point:
                ema_f.append(v)
                model_f.append(msd[k].detach())
            else:
                v.copy_(msd[k])
        if ema_f:  # one fused kernel per dtype/device group, not two per tensor (hundreds of launches on a GPU)
            torch._foreach_lerp_(ema_f, model_f, 1 - d)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = updates
