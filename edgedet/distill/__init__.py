"""Knowledge distillation into PAFNet-lite: KD terms on the student's criterion, a frozen teacher run by a trainer
hook (:class:`~edgedet.distill.hook.Distiller`), feature taps and training-only adapters."""

from edgedet.distill.hook import Distiller

__all__ = ["Distiller"]
