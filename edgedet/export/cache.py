"""A cache of converted files, so exporting the same weights again (another precision added, a re-run of a
script, a second `--format` list) skips the converter: the TFLite conversion alone takes about a minute a pair.

An entry is keyed by everything the converted file depends on: the model's weights and buffers, its class, the
format, precision, input size, class names, model name, the source checkpoint, the calibration tensors (int8), the
edgedet version and the source of edgedet itself (a changed exporter never serves an old file). An entry holds the
files an exporter wrote plus ``manifest.json`` with their sha256; a file that no longer matches is a miss. Parity is
checked again on every export, cached or not.

Location: ``$EDGEDET_CACHE/export`` (default ``~/.cache/edgedet/export``); ``EDGEDET_EXPORT_CACHE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedet import __version__
from edgedet.deploy.schema import METADATA_FILE, file_sha256
from edgedet.deploy.toolchain import cache_root

MANIFEST = "manifest.json"


def enabled() -> bool:
    return os.environ.get("EDGEDET_EXPORT_CACHE", "1") not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    return cache_root() / "export"


@lru_cache(maxsize=1)
def _source_digest() -> str:
    """sha256 over the package's own Python files: any code change gives new keys."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_digest(model: torch.nn.Module) -> str:
    """sha256 over the class name and every parameter and buffer (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.hexdigest()


def entry_key(*, model_sha: str, fmt: str, precision: str, imgsz: int, class_names: list[str], model_name: str,
              source_ckpt_sha: str | None, calib: np.ndarray | None) -> str:
    """The cache key of one format x precision of one model."""
    parts: dict[str, Any] = {
        "model": model_sha, "format": fmt, "precision": precision, "imgsz": imgsz, "class_names": class_names,
        "model_name": model_name, "source_ckpt": source_ckpt_sha, "edgedet": __version__, "code": _source_digest(),
        "calib": hashlib.sha256(np.ascontiguousarray(calib).tobytes()).hexdigest() if calib is not None else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def restore(key: str, out_dir: Path) -> dict[str, Any] | None:
    """Copy a cached entry's files into ``out_dir``; returns its metadata, or None on a miss or a damaged entry."""
    entry = cache_dir() / key
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        files = manifest["files"]
        if any(file_sha256(entry / name) != sha for name, sha in files.items()):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for name in files:
        shutil.copy2(entry / name, out_dir / name)
    return json.loads((out_dir / METADATA_FILE).read_text())


def store(key: str, out_dir: Path) -> None:
    """Keep the files of ``out_dir`` (an exporter's output plus edgedet.json) under ``key``; best effort: a cache
    that cannot be written (read-only home, full disk) never fails an export."""
    target = cache_dir() / key
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
        files = {}
        for path in sorted(out_dir.iterdir()):
            if path.is_file() and path.name != "parity.json":
                shutil.copy2(path, tmp / path.name)
                files[path.name] = file_sha256(tmp / path.name)
        (tmp / MANIFEST).write_text(json.dumps({"files": files}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
