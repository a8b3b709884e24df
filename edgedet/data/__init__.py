"""Datasets: COCO / YOLO / VOC readers and writers, the built-in synthetic dataset, checks, statistics,
augmentations and the torch Dataset / DataLoader.

``torch`` is imported only when :class:`DetectionDataset`, :func:`collate_detection` or
:func:`build_dataloader` is first used, so the readers work in a torch-free install.
"""

from __future__ import annotations

from edgedet.data.check import CheckReport, SplitSummary, check_dataset, check_dataset_report
from edgedet.data.convert import convert
from edgedet.data.files import DatasetError
from edgedet.data.formats import available_splits, detect_format, load_dataset
from edgedet.data.index import DatasetIndex, ImageRecord, Problem
from edgedet.data.stats import dataset_stats, format_stats_table
from edgedet.data.synth import CLASS_NAMES as SYNTH_CLASS_NAMES
from edgedet.data.synth import default_synth_root, ensure_synth, generate_synth

_TORCH_NAMES = ("DetectionDataset", "collate_detection", "build_dataloader", "normalize_batch", "rescale_batch")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from edgedet.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'edgedet.data' has no attribute '{name}'")


__all__ = [
    "SYNTH_CLASS_NAMES",
    "CheckReport",
    "SplitSummary",
    "DatasetError",
    "DatasetIndex",
    "DetectionDataset",
    "ImageRecord",
    "Problem",
    "available_splits",
    "check_dataset_report",
    "build_dataloader",
    "check_dataset",
    "collate_detection",
    "convert",
    "dataset_stats",
    "default_synth_root",
    "detect_format",
    "ensure_synth",
    "format_stats_table",
    "generate_synth",
    "load_dataset",
    "normalize_batch",
    "rescale_batch",
]
