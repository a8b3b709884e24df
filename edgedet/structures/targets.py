"""The per-image training targets every detector, criterion and target builder takes."""

from __future__ import annotations

from torch import Tensor

__all__ = ["Targets"]

Targets = list[dict[str, Tensor]]
"""Per image: ``boxes`` Float[N, 4] xyxy in model-input pixels, ``labels`` Long[N] in ``[0, num_classes)``;
optionally ``boxes_ignore`` Float[I, 4] xyxy regions whose priors are ignored (dense detectors) and ``weights``
Float[N] per-box loss weights (CutMix's mixing ratio; PAFNet's TTF criterion applies them, the others take every
box at full weight)."""
