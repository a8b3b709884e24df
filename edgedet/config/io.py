"""YAML load/dump of the dataclass schemas, with unknown-key errors and dotted overrides."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from edgedet.config.schema import ConfigError, RunConfig, validate_config

MODELS_DIR = Path(__file__).resolve().parents[1] / "configs"
"""The zoo's YAML configs: package data (``edgedet/configs/``), so an installed wheel has them; the checkout's
top-level ``models/`` is a symlink to this folder, the place users read them."""


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(sorted(choices))}."


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, str):
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return bool(value)
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        args = typing.get_args(tp)
        item_tp = args[0]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, item_tp, where) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(v, t, where) for v, t in zip(value, args))
    if origin in (typing.Union, types.UnionType):
        return value
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys with a suggestion."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(f"Unknown config key '{path}'.{_suggest(key, names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value or {}, path)
        else:
            kwargs[key] = _coerce(value, tp, path)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict (tuples as lists) suitable for YAML."""

    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(dataclasses.asdict(cfg))


def dump_yaml(cfg: Any, path: str | Path | None = None) -> str:
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    if path is not None:
        Path(path).write_text(text)
    return text


def load_yaml(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    try:
        return from_dict(RunConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def available_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


def resolve(name_or_path: str, overrides: list[str] | None = None) -> RunConfig:
    """Load a zoo model config by name (``edgedet/configs/NAME.yaml``, i.e. ``models/NAME.yaml``) or a YAML path,
    then apply ``key=value`` overrides.

    Args:
        name_or_path: zoo name such as ``pafnet_lite_mbv3`` or a path to a YAML file.
        overrides: dotted assignments such as ``train.epochs=3`` or ``model.width=0.25``.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        cfg = load_yaml(path)
    else:
        candidate = MODELS_DIR / f"{name_or_path}.yaml"
        if not candidate.is_file():
            raise ConfigError(f"Unknown model '{name_or_path}'.{_suggest(name_or_path, available_models())}")
        cfg = load_yaml(candidate)
    return apply_overrides(cfg, overrides or [])


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """``cfg`` with dotted ``key=value`` overrides applied, range-checked by :func:`validate_config`.

    An override of ``model.imgsz`` scales ``data.multiscale`` with it (see :func:`scale_multiscale`) unless
    ``data.multiscale`` is overridden too, so that ``--imgsz 128`` trains around 128 px, not the YAML's 320.
    """
    data = to_dict(cfg)
    keys = set()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override '{item}' must look like section.key=value, e.g. train.epochs=3")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ConfigError(f"Unknown config section '{p}' in '{key}'.{_suggest(p, list(node))}")
            node = node[p]
        if parts[-1] not in node:
            raise ConfigError(f"Unknown config key '{key}'.{_suggest(parts[-1], list(node))}")
        parsed = yaml.safe_load(value) if value.strip() else ""
        node[parts[-1]] = parsed if parsed is not None else ""
        keys.add(key.strip())
    out = from_dict(RunConfig, data)
    if "data.multiscale" not in keys and out.model.imgsz != cfg.model.imgsz:
        out.data.multiscale = scale_multiscale(cfg.data.multiscale, cfg.model.imgsz, out.model.imgsz)
    return validate_config(out)


def scale_multiscale(span: tuple[int, int], base: int, imgsz: int) -> tuple[int, int]:
    """A multi-scale range quoted for ``base`` px, scaled by ``imgsz / base`` and rounded to multiples of 32
    (at least 32); ``(0, 0)`` (off) stays off. E.g. ``(256, 416)`` for 320 -> ``(96, 160)`` for 128."""
    if tuple(span) == (0, 0) or base <= 0:
        return tuple(span)
    return tuple(max(32, round(s * imgsz / base / 32) * 32) for s in span)


def changed_keys(a: RunConfig, b: RunConfig) -> list[str]:
    """Dotted keys whose values differ between two configs, in schema order."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    fa, fb = flat(to_dict(a)), flat(to_dict(b))
    return [k for k in fa if fa[k] != fb[k]]
