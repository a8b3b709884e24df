"""What every criterion shares: a dict of ``loss_*`` out, and extra terms added by composition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from edgedet.structures.targets import Targets

__all__ = ["Criterion"]


class Criterion(nn.Module):
    """Base class of the detector criteria.

    Subclasses implement :meth:`compute`, which returns their own ``loss_*`` terms and a *context* (the
    per-batch intermediate results: assignment, targets, normalisers). Each extra term is then called as
    ``term(outputs, targets, context)`` and returns more ``loss_*`` terms: that is how distillation adds losses
    to a detector without touching its criterion. Extra terms are modules, so their parameters (adapters) train
    and are saved with the detector.

    Args:
        extra_terms: modules ``(outputs, targets, context) -> dict[str, Tensor]`` of new ``loss_*`` keys.
    """

    def __init__(self, *, extra_terms: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.extra_terms = nn.ModuleList(extra_terms)

    def compute(self, outputs: tuple[Tensor, ...], targets: Targets, **inputs: Any) -> tuple[dict[str, Tensor], Any]:
        """This criterion's own terms and its context."""
        raise NotImplementedError

    def forward(self, outputs: tuple[Tensor, ...], targets: Targets, **inputs: Any) -> dict[str, Tensor]:
        """``compute`` plus every extra term; returns a dict of scalar ``loss_*`` tensors (the trainer sums them)."""
        losses, context = self.compute(outputs, targets, **inputs)
        for term in self.extra_terms:
            extra = term(outputs, targets, context)
            bad = [k for k in extra if not k.startswith("loss_") or k in losses]
            if bad:
                raise ValueError(f"{type(term).__name__} returned keys {bad}: extra terms add new 'loss_*' keys only")
            losses.update(extra)
        return losses
