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
        self._pairs: tuple | None = None  # (model, (ema floats, model floats), (ema others, model others))

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        if self._pairs is None or self._pairs[0] is not model:  # the tensors of both models, matched once
            msd, floats, others = model.state_dict(), ([], []), ([], [])
            for k, v in self.module.state_dict().items():
                pair = floats if v.dtype.is_floating_point else others
                pair[0].append(v)
                pair[1].append(msd[k].detach())
            self._pairs = (model, floats, others)
        _, (ema_f, model_f), (ema_o, model_o) = self._pairs
        if ema_f:  # one fused kernel per dtype/device group, not two per tensor (hundreds of launches on a GPU)
            torch._foreach_lerp_(ema_f, model_f, 1 - d)
        if ema_o:
            torch._foreach_copy_(ema_o, model_o)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = updates
