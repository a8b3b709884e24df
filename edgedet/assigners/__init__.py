"""Label assigners and samplers: which prior learns from which GT box."""

from edgedet.assigners.atss import ATSSAssigner
from edgedet.assigners.base import Assigner, AssignResult
from edgedet.assigners.dynamic_atss import DynamicATSSAssigner
from edgedet.assigners.max_iou import MaxIoUAssigner
from edgedet.assigners.noisy_anchor import NoisyAnchorAssigner, TopNAssigner
from edgedet.assigners.samplers import (
    InstanceBalancedPosSampler,
    IoUBalancedNegSampler,
    RandomNegSampler,
    RandomPosSampler,
    RoISampler,
    SamplingResult,
)

__all__ = [
    "ATSSAssigner",
    "AssignResult",
    "Assigner",
    "DynamicATSSAssigner",
    "InstanceBalancedPosSampler",
    "IoUBalancedNegSampler",
    "MaxIoUAssigner",
    "NoisyAnchorAssigner",
    "RandomNegSampler",
    "RandomPosSampler",
    "RoISampler",
    "SamplingResult",
    "TopNAssigner",
]
