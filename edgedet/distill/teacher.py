"""Finding, checking and loading a frozen teacher for a student run."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgedet.deploy.preprocess import MEAN, STD
from edgedet.engine.checkpoint import CheckpointError, checkpoint_config, load_checkpoint, model_state_from_checkpoint
from edgedet.models.base import Detector
from edgedet.models.pafnet import PAFNet

__all__ = ["auto_terms", "load_teacher", "resolve_teacher_path", "teacher_family"]


def resolve_teacher_path(path: str | Path) -> Path:
    """A checkpoint file as given; a run directory -> its ``weights/best.pt`` (else ``weights/last.pt``)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / "weights" / name).is_file():
                return path / "weights" / name
        raise CheckpointError(f"--teacher {path}: a directory without weights/best.pt or weights/last.pt; "
                              "give a run directory of `edgedet train` or a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"--teacher {path}: no such checkpoint file or run directory")
    return path


def teacher_family(model: Detector) -> str:
    """``"pafnet"`` (same family as the student: heatmap and box KD apply) or ``"anchor"`` (any other zoo detector)."""
    return "pafnet" if isinstance(model, PAFNet) else "anchor"


def auto_terms(family: str) -> tuple[str, ...]:
    """The terms ``--kd auto`` picks for a teacher family."""
    return ("hm", "box", "feat") if family == "pafnet" else ("out", "feat")


def load_teacher(path: str | Path, *, class_names: list[str], imgsz: int,
                 device: torch.device) -> tuple[Detector, Path]:
    """Load a teacher frozen, in eval mode, on ``device``, after checking it can teach this student.

    Raises:
        CheckpointError: one line each for a file that is not a detector checkpoint, other class names (both
            lists shown), another input size or another input normalisation.
    """
    from edgedet.models.zoo import build_model

    path = resolve_teacher_path(path)
    state = load_checkpoint(path, map_location="cpu")
    if not isinstance(state.get("config"), dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"--teacher {path} is not a detector checkpoint (no saved config and weights): give "
                              "the weights/best.pt or run directory of `edgedet train` / `edgedet train-teacher`")
    cfg = checkpoint_config(state, path)
    names = state.get("class_names")
    if names is not None and list(names) != list(class_names):
        raise CheckpointError(f"--teacher {path} was trained on classes {list(names)}, but the student's data has "
                              f"{list(class_names)}; distil on the teacher's dataset or train a teacher on this one")
    if cfg.model.imgsz != imgsz:
        raise CheckpointError(f"--teacher {path} was trained at input size {cfg.model.imgsz}, the student at {imgsz}: "
                              f"the teacher sees the student's batch, so use --imgsz {cfg.model.imgsz} or a teacher "
                              f"trained at {imgsz}")
    norm = state.get("normalization")
    if norm is not None and (tuple(norm.get("mean", MEAN)) != MEAN or tuple(norm.get("std", STD)) != STD):
        raise CheckpointError(f"--teacher {path} expects inputs normalised with mean {norm.get('mean')} std "
                              f"{norm.get('std')}, edgedet feeds mean {list(MEAN)} std {list(STD)}: retrain it here")
    cfg.model.pretrained = ""
    try:
        teacher = build_model(cfg.model)
        teacher.load_state_dict(model_state_from_checkpoint(state))
    except (RuntimeError, ValueError) as e:
        detail = [line.strip() for line in str(e).splitlines() if line.strip()][-1]
        raise CheckpointError(f"--teacher {path}: its weights do not fit the {cfg.model.name} its config "
                              f"describes ({detail})") from None
    return freeze(teacher).to(device), path


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode, no gradients: BN statistics and weights never change."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
