"""Loss criteria: ``criterion(outputs, targets, ...) -> dict of loss_*``, composed of an assigner or target
builder, loss objects and a normaliser, and extensible by composition (``extra_terms``), in the spirit of DETR's
``SetCriterion(matcher=...)``. A detector takes its criterion as ``criterion=`` and calls it from ``loss``."""
