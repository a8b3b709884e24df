"""Configuration: dataclass schemas and YAML I/O."""

from edgedet.config.io import ConfigError, apply_overrides, dump_yaml, load_yaml, resolve
from edgedet.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig

__all__ = [
    "ConfigError", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig",
    "apply_overrides", "dump_yaml", "load_yaml", "resolve",
]
