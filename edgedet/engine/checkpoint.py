"""Checkpoints: written atomically, read without unpickling code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it. A file that needs arbitrary unpickling (code objects, custom classes) is refused: loading such a file
could run code from whoever wrote it.
"""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, untrusted or incompatible."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically: temp file in the same directory, fsync, rename.

    A kill at any moment leaves either the previous file or the new one, never a partial file. A kill can leave
    the temp file (``.last.pt.<pid>.<random>.tmp``) behind; the next save of ``path`` removes those whose
    writer is no longer running.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def remove_stale_temps(path: Path, legacy_age_s: float = 3600.0) -> list[Path]:
    """Delete temp files that killed writers of ``path`` left behind; returns the deleted paths.

    A temp file names its writer's pid; it is stale when that process is gone (a live writer, e.g. another run
    saving to the same file, is left alone). Temp files from before the pid was in the name are stale after
    ``legacy_age_s`` seconds.
    """
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        field = tmp.name[len(path.name) + 2:].split(".")[0]
        if field.isdigit() and len(field) < 10:
            stale = not _process_alive(int(field))
        else:
            try:
                stale = time.time() - tmp.stat().st_mtime > legacy_age_s
            except FileNotFoundError:
                continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own writes clean up after themselves; one left behind is from a dead namesake
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: missing file, corrupt file, or a file holding pickled code or classes.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"Refusing to load {path}: it holds pickled Python objects, not just tensors ({str(e).splitlines()[0]}). "
            "Loading it could execute code. If you trust its author, re-save its state_dict with "
            "torch.save({'model': model.state_dict()}, 'clean.pt') and load that instead."
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"Cannot read checkpoint {path}: {e}. The file may be truncated or not a checkpoint.") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(state).__name__}")
    return state


def model_state_from_checkpoint(state: dict[str, Any], prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """The weights to use for inference: the EMA weights when present, else the trained ones."""
    if prefer_ema and state.get("ema") is not None:
        return state["ema"]
    if "model" in state:
        return state["model"]
    if all(isinstance(v, torch.Tensor) for v in state.values()):
        return state  # a bare state_dict
    raise CheckpointError("Checkpoint has neither 'model' nor 'ema' weights.")


def checkpoint_config(state: dict[str, Any], path: str | Path):
    """The :class:`RunConfig` a training checkpoint was written with (fields added since take their defaults)."""
    from edgedet.config.io import ConfigError, from_dict
    from edgedet.config.schema import RunConfig

    if not isinstance(state.get("config"), dict):
        raise CheckpointError(f"{path} holds no 'config': it was not written by `edgedet train`. "
                              "Export a bare model with `edgedet export --model NAME --num-classes N` instead.")
    try:
        return from_dict(RunConfig, state["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: its saved config does not fit this edgedet version ({e})") from None


def load_detector(path: str | Path, device: str | torch.device = "cpu", prefer_ema: bool = True):
    """Rebuild the detector a training checkpoint describes and load its weights.

    Returns:
        ``(model in eval mode, checkpoint dict)``.
    """
    from edgedet.models.zoo import build_model

    state = load_checkpoint(path, map_location=device)
    cfg = checkpoint_config(state, path)
    cfg.model.pretrained = ""  # the checkpoint's weights replace them; the file may be gone by now
    model = build_model(cfg.model)
    model.load_state_dict(model_state_from_checkpoint(state, prefer_ema))
    return model.to(device).eval(), state
