"""The detector protocol every model in the zoo follows.

Two graphs over one set of weights:

* ``forward(images)`` returns the raw head outputs: what :meth:`Detector.loss` trains on and
  :meth:`Detector.postprocess` decodes.
* ``export_graph()`` returns the exact module that export traces: ``forward`` plus the part of the decode a model
  runs in the graph, where it has one (PAFNet: sigmoid, peak test, top-k and box decoding; the two-stage detector:
  proposals and the R-CNN head on them). The default is ``self``: raw outputs, decoded by the runtime.
  :meth:`Detector.decode_spec` says how the torch-free runtime turns *that* graph's outputs into detections.

Loss and post-processing are separate methods; no module asks whether it is being exported.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgedet.deploy.decode_spec import DecodeSpec
from edgedet.deploy.thresholds import PREDICT_SCORE_THR
from edgedet.structures.targets import Targets

Detections = list[dict[str, Tensor]]
"""Per image: ``boxes`` Float[K, 4] xyxy in model-input pixels, ``scores`` Float[K], ``labels`` Long[K]."""


class Detector(nn.Module):
    """Base class: subclasses set ``num_classes`` and implement ``forward``, ``loss`` and ``postprocess``."""

    num_classes: int

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """Raw head outputs for normalised ``images`` Float[B, 3, H, W] (training and :meth:`postprocess`)."""
        raise NotImplementedError

    def loss(self, outputs: tuple[Tensor, ...], targets: Targets) -> dict[str, Tensor]:
        """Returns a dict of scalar ``loss_*`` tensors; the trainer sums them."""
        raise NotImplementedError

    def postprocess(self, outputs: tuple[Tensor, ...], score_thr: float) -> Detections:
        """``forward`` outputs -> detections per image scoring above ``score_thr`` (callers pass it: evaluation
        its own, :data:`edgedet.deploy.thresholds.EVAL_SCORE_THR`)."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: Tensor, score_thr: float = PREDICT_SCORE_THR) -> Detections:
        """``postprocess(forward(images))`` in eval mode semantics (callers set ``.eval()``).

        ``score_thr`` defaults to :data:`edgedet.deploy.thresholds.PREDICT_SCORE_THR`, as the runtime's
        ``Predictor.predict`` does; evaluation passes its own threshold explicitly.
        """
        return self.postprocess(self(images), score_thr=score_thr)

    def export_graph(self) -> nn.Module:
        """The exact module export traces: ``forward`` plus any in-graph decode (module docstring).

        Default: ``self`` (raw outputs; the runtime decodes them). Overrides return a wrapper that shares this
        model's weights and starts in its train/eval mode.
        """
        return self

    def export_precisions(self) -> dict[str, tuple[str, ...]] | None:
        """Format -> precisions this model can be exported to, where narrower than what the formats support
        (``edgedet.export.api.SUPPORTED_PRECISIONS``); None = no narrower."""
        return None

    def decode_spec(self) -> DecodeSpec:
        """How ``edgedet.runtime`` turns the outputs of :meth:`export_graph` into detections: a typed spec of
        :mod:`edgedet.deploy.decode_spec`, written to ``edgedet.json["decode"]`` by export."""
        raise NotImplementedError
