"""The trainer's one seam: a :class:`TrainerHook` adds work around the detector's own step without a second trainer.

Distillation (:class:`edgedet.distill.hook.Distiller`) is the hook that exists: it adds loss terms with trainable
adapters to the student's criterion, runs the frozen teacher on every batch, and reports the teacher's cost and AP.
Everything else (AMP, EMA, clip, warmup, NaN guard, DDP, exact resume) stays the trainer's.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from edgedet.structures.targets import Targets

__all__ = ["TrainerHook", "split_train_only"]


class TrainerHook:
    """No-op base; override what the add-on needs. Called on every rank; ``trainer`` is the
    :class:`edgedet.engine.trainer.Trainer` (not imported here: the trainer imports this module)."""

    def attach(self, trainer: Any) -> None:
        """After the model is built, before the optimizer, the EMA and any resume: add modules to the model here
        (their parameters train, are averaged under DDP and resume exactly)."""

    def train_only_prefixes(self) -> tuple[str, ...]:
        """``state_dict`` key prefixes of modules that exist only in training: checkpoints keep them apart under
        ``train_only`` so that ``model``/``ema`` hold exactly the deployable detector."""
        return ()

    def before_step(self, images: Tensor, targets: Targets, iteration: int) -> None:
        """Before the model's forward on this (augmented, normalised) batch."""

    def epoch_stats(self) -> dict[str, float]:
        """Extra ``metrics.csv`` columns for the epoch that just ended (rank 0)."""
        return {}

    def finish(self, trainer: Any, metrics: dict[str, Any]) -> None:
        """After the report is written (rank 0)."""


def split_train_only(state: dict[str, Tensor], prefixes: tuple[str, ...]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(deployable, train_only)``: ``state`` split by key prefix."""
    train_only = {k: v for k, v in state.items() if k.startswith(prefixes)} if prefixes else {}
    return {k: v for k, v in state.items() if k not in train_only}, train_only


def load_split_state(module: nn.Module, deployable: dict[str, Tensor], train_only: dict[str, Tensor] | None) -> None:
    """Load what :func:`split_train_only` split (strict over the union)."""
    module.load_state_dict({**deployable, **(train_only or {})})
