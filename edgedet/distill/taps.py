"""Feature taps: forward hooks that keep a detector's neck maps by stride, without touching the model's code.

- PAFNet / PAFNet-lite (:class:`~edgedet.models.necks.ttf.TTFNeck`): the fused maps after each upsample stage,
  i.e. the inputs of the 2nd and 3rd upsample (strides 16 and 8) and the neck's output (stride 4).
- Anchor-based detectors (dense and two-stage): the neck's pyramid, one map per prior stride (P3..P7, P2..P6).

A tap records only while its model is training or while :attr:`FeatureTaps.probing`: an EMA copy or an
evaluation pass never writes into it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from edgedet.models.base import Detector
from edgedet.models.dense import DenseDetector
from edgedet.models.necks.ttf import TTFNeck
from edgedet.models.pafnet import PAFNet
from edgedet.models.two_stage import TwoStageDetector

__all__ = ["FeatureTaps", "neck_strides"]


def neck_strides(model: Detector) -> list[int]:
    """The strides of the maps :class:`FeatureTaps` records for ``model``, finest first."""
    if isinstance(model, PAFNet):
        return [4, 8, 16]
    if isinstance(model, DenseDetector):
        return list(model.prior_generator.strides)
    if isinstance(model, TwoStageDetector):
        return list(model.rpn_priors.strides)
    raise ValueError(f"no feature taps for {type(model).__name__}: a PAFNet, dense or two-stage detector is needed")


class FeatureTaps:
    """Hooks on ``model``'s neck; after a forward, :attr:`maps` holds stride -> Float[B, C, H, W].

    Args:
        model: a zoo detector (see :func:`neck_strides`).
        always: record in eval mode too (a frozen teacher runs in eval mode).
    """

    def __init__(self, model: Detector, *, always: bool = False) -> None:
        self.maps: dict[int, Tensor] = {}
        self.always, self.probing = always, False
        self._model = model
        self._handles = []
        strides = neck_strides(model)
        neck = model.neck
        if isinstance(model, PAFNet):
            if not isinstance(neck, TTFNeck):
                raise ValueError(f"PAFNet taps need a TTFNeck, got {type(neck).__name__}")
            self._handles.append(neck.upsamples[1].register_forward_pre_hook(self._pre_hook(16)))
            self._handles.append(neck.upsamples[2].register_forward_pre_hook(self._pre_hook(8)))
            self._handles.append(neck.register_forward_hook(self._out_hook([4])))
        else:
            self._handles.append(neck.register_forward_hook(self._out_hook(strides)))

    def _recording(self, module: nn.Module) -> bool:
        # the hooked module's own mode: an EMA copy shares these hooks but runs in eval mode
        return self.always or self.probing or module.training

    def _pre_hook(self, stride: int) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            if self._recording(module):
                self.maps[stride] = args[0]
        return hook

    def _out_hook(self, strides: list[int]) -> Callable:
        def hook(module: nn.Module, _args: tuple, out) -> None:
            if self._recording(module):
                outs = [out] if isinstance(out, Tensor) else list(out)
                self.maps.update(zip(strides, outs))
        return hook

    @torch.no_grad()
    def channels(self, imgsz: int) -> dict[int, int]:
        """Stride -> channels, from one forward of a blank ``imgsz`` image in eval mode (no state changes)."""
        was = self._model.training
        self._model.eval()
        self.probing = True
        try:
            device = next(self._model.parameters()).device
            self._model(torch.zeros(1, 3, imgsz, imgsz, device=device))
            return {s: int(m.shape[1]) for s, m in self.maps.items()}
        finally:
            self.probing = False
            self.maps.clear()
            self._model.train(was)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __deepcopy__(self, memo: dict) -> FeatureTaps:
        return self  # an EMA deep copy of the student shares the taps (it never records: it is in eval mode)
