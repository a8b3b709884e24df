"""The detector protocol every model in the zoo follows.

``forward(images)`` is exactly the graph that gets exported (raw head tensors). Loss and post-processing are
separate methods; no module asks whether it is being exported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from edgedet.structures.targets import Targets

Detections = list[dict[str, Tensor]]
"""Per image: ``boxes`` Float[K, 4] xyxy in model-input pixels, ``scores`` Float[K], ``labels`` Long[K]."""


class Detector(nn.Module):
    """Base class: subclasses set ``num_classes`` and implement ``forward``, ``loss`` and ``postprocess``."""

    num_classes: int

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:  # images: [B, 3, H, W] normalised
        raise NotImplementedError

    def loss(self, outputs: tuple[Tensor, ...], targets: Targets) -> dict[str, Tensor]:
        """Returns a dict of scalar ``loss_*`` tensors; the trainer sums them."""
        raise NotImplementedError

    def postprocess(self, outputs: tuple[Tensor, ...], score_thr: float = 0.01) -> Detections:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: Tensor, score_thr: float = 0.01) -> Detections:
        """``postprocess(forward(images))`` in eval mode semantics (callers set ``.eval()``)."""
        return self.postprocess(self(images), score_thr=score_thr)

    def export_graph(self) -> nn.Module:
        """The module that export traces. Default: ``self`` (raw outputs; the runtime decodes)."""
        return self

    def export_precisions(self) -> dict[str, tuple[str, ...]] | None:
        """Format -> precisions this model can be exported to, where narrower than what the formats support
        (``edgedet.export.api.SUPPORTED_PRECISIONS``); None = no narrower."""
        return None

    def decode_spec(self) -> dict[str, Any]:
        """How ``edgedet.runtime`` turns the exported outputs into detections (written to ``edgedet.json``)."""
        raise NotImplementedError
