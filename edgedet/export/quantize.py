"""``quantize()``: a trained PAFNet-lite checkpoint -> int8 TFLite and ONNX exports, by QAT or by PTQ.

QAT (:mod:`edgedet.export.qat`) fine-tunes a fake-quantized copy on the checkpoint's training split, then writes the
same export directories, ``edgedet.json`` fields and ``parity.json`` as ``edgedet export --precision int8`` (parity
against the fine-tuned float model). PTQ (``qat=False``) is exactly ``edgedet export --precision int8``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedet.export.api import ExportResult

FORMATS = ("onnx", "tflite")


@dataclass
class QATSchedule:
    """Fine-tuning settings; ``None`` takes the default written beside it.

    ``lr``: a tenth of the checkpoint's batch-scaled ``train.lr`` (cosine to 0). ``freeze_bn_after``: half of the
    iterations. ``freeze_observers_after``: three quarters. ``batch``: the checkpoint's ``train.batch``.
    """

    epochs: int = 1
    max_iters: int = 0  # per epoch; 0 = the whole training split
    lr: float | None = None
    batch: int | None = None
    freeze_bn_after: int | None = None
    freeze_observers_after: int | None = None


@dataclass
class QuantizeResult:
    exports: list[ExportResult]
    training: list[dict[str, Any]] = field(default_factory=list)  # one row per QAT epoch
    settings: dict[str, Any] = field(default_factory=dict)
    # QAT: the float PAFNet with the fine-tuned weights, eval mode; deconv BNs folded, deconvs in the traced
    # DepthwiseDeconv2xPhases form (QAT trains the four phase biases apart, so there is no way back to one bias)
    fine_tuned: Any = None


def load_pafnet_lite(ckpt: str | Path):
    """``(model, state)`` of a ``edgedet train`` PAFNet-lite checkpoint, loaded with ``weights_only=True``.

    Raises:
        CheckpointError: unreadable / untrusted file (:func:`edgedet.engine.checkpoint.load_detector`).
        ValueError: another detector.
    """
    from edgedet.engine.checkpoint import load_detector
    from edgedet.models.pafnet import PAFNet

    model, state = load_detector(ckpt, "cpu")
    name = str(state.get("model_name", ""))
    if not isinstance(model, PAFNet) or not name.startswith("pafnet_lite"):
        raise ValueError(f"{ckpt} is a {name or type(model).__name__} checkpoint; quantize takes a PAFNet-lite one "
                         "(edgedet train --model pafnet_lite_mbv3); other models: edgedet export --precision int8")
    return model, state


def _data(cfg: Any, data: str | None, class_names: list[str]):
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth

    path = data or cfg.data.path or str(ensure_synth())
    if not Path(path).exists():
        raise FileNotFoundError(f"training data {path} not found: pass --data DATA (the checkpoint's own data "
                                "path is used by default)")
    index = load_dataset(path, cfg.data.train_split)
    if cfg.data.max_images:  # the images the checkpoint was trained on, as the trainer chose them
        index.images = index.images[: cfg.data.max_images]
    if list(index.class_names) != list(class_names):
        raise ValueError(f"{path} has classes {index.class_names[:5]}..., the checkpoint {class_names[:5]}...: "
                         "fine-tune on the data the model was trained on (--data)")
    return path, index


def quantize(
    ckpt: str | Path,
    *,
    out_dir: str | Path,
    qat: bool = True,
    schedule: QATSchedule | None = None,
    data: str | None = None,
    overrides: Sequence[str] = (),
    formats: Sequence[str] = FORMATS,
    imgsz: int | None = None,
    calib_n: int = 200,
    progress: bool = True,
    log_file: Path | None = None,
    on_pair_done: Callable[[ExportResult, float], None] | None = None,
) -> QuantizeResult:
    """int8 exports of a PAFNet-lite checkpoint under ``out_dir/<fmt>_int8/`` plus ``out_dir/quantize.json``.

    Args:
        overrides: ``KEY=VALUE`` config overrides of the checkpoint's config (data augmentation, ``train.*``).
        data: training / calibration dataset (default: the checkpoint's).
        imgsz: input size (default: the checkpoint's).
        calib_n: calibration images for the ONNX QDQ activation ranges (and the PTQ TFLite ones).
    """
    from edgedet.config import apply_overrides
    from edgedet.engine.checkpoint import checkpoint_config
    from edgedet.export.api import check_pairs, export

    check_pairs(list(formats), ["int8"])
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"quantize writes {', '.join(FORMATS)}; got '{fmt}'")
    model, state = load_pafnet_lite(ckpt)
    cfg = apply_overrides(checkpoint_config(state, ckpt), list(overrides))
    imgsz = imgsz or cfg.model.imgsz
    names = list(state["class_names"])
    data_path, index = _data(cfg, data, names)
    calib = [rec.file for rec in index.images]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common = dict(formats=list(formats), precisions=["int8"], imgsz=imgsz, out_dir=out_dir, class_names=names,
                  model_name=state["model_name"], calib_images=calib, calib_n=calib_n, source_ckpt=Path(ckpt),
                  log_file=log_file, on_pair_done=on_pair_done)
    if not qat:
        result = QuantizeResult(export(model, **common), settings={"method": "ptq", "data": data_path})
    else:
        result = _quantize_qat(model, cfg, index, data_path, imgsz, schedule or QATSchedule(), progress, common)
    summary = {"checkpoint": str(ckpt), **result.settings, "training": result.training,
               "exports": [{"format": r.format, "dir": str(r.dir), "float_ops": r.metadata["extra"]["float_ops"]["n"],
                            "parity": r.parity.get("summary")} for r in result.exports]}
    (out_dir / "quantize.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result


def _quantize_qat(model, cfg, index, data_path: str, imgsz: int, sched: QATSchedule, progress: bool,
                  common: dict[str, Any]) -> QuantizeResult:
    import dataclasses

    from edgedet.data import build_dataloader
    from edgedet.engine.threads import apply_cpu_plan, plan_cpu
    from edgedet.export.api import _output_names, export
    from edgedet.export.qat import ONNX_ROUTE, fine_tuned_float_model, prepare_qat, qat_tflite_exporter, train_qat

    batch = sched.batch or cfg.train.batch
    if sched.epochs < 1 or batch < 1 or sched.max_iters < 0:
        raise ValueError(f"QAT needs epochs >= 1, batch >= 1 and max_iters >= 0 (got {sched.epochs}, {batch}, "
                         f"{sched.max_iters})")
    per_epoch = max(len(index.images) // batch, 1)
    per_epoch = min(per_epoch, sched.max_iters) if sched.max_iters else per_epoch
    total = per_epoch * sched.epochs
    lr = sched.lr if sched.lr is not None else 0.1 * cfg.train.lr * batch / cfg.train.lr_batch
    bn_after = sched.freeze_bn_after if sched.freeze_bn_after is not None else total // 2
    obs_after = sched.freeze_observers_after if sched.freeze_observers_after is not None else (3 * total) // 4
    cpu = apply_cpu_plan(plan_cpu(cfg.data.workers, cfg.train.threads))
    data_cfg = dataclasses.replace(cfg.data, workers=cpu.workers)
    qat = prepare_qat(model, imgsz, _output_names(model, 3))

    def loader(epoch: int):  # the end of the original schedule's augmentation (progress 1.0: CutMix over)
        return build_dataloader(index, imgsz, True, data_cfg, batch, seed=cfg.train.seed * 1000 + 500 + epoch,
                                progress=1.0)

    rows = train_qat(qat, loader, epochs=sched.epochs, iters_per_epoch=per_epoch, lr=lr,
                     weight_decay=cfg.train.weight_decay, momentum=cfg.train.momentum, freeze_bn_after=bn_after,
                     freeze_observers_after=obs_after, progress=progress)
    settings = {"method": "qat", "data": data_path, "train_images": len(index.images), "epochs": sched.epochs,
                "iters_per_epoch": per_epoch, "iterations": total, "batch": batch, "lr": lr,
                "freeze_bn_after": bn_after, "freeze_observers_after": obs_after, "imgsz": imgsz,
                "onnx_route": ONNX_ROUTE}
    fine_tuned = fine_tuned_float_model(qat)
    exporters = {"tflite": qat_tflite_exporter(qat, settings), "onnx": _onnx_with_notes(settings)}
    return QuantizeResult(export(fine_tuned, use_cache=False, exporters=exporters, **common), rows, settings,
                          fine_tuned)


def _onnx_with_notes(notes: dict[str, Any]):
    """The ONNX exporter (PTQ QDQ on the fine-tuned float weights) with the QAT notes in ``extra["qat"]``."""
    from edgedet.export.onnx_export import export_onnx
    from edgedet.export.onnx_file import embed_metadata

    def export_onnx_qat(ctx):
        artifact = export_onnx(ctx)
        artifact.metadata["extra"]["qat"] = notes
        embed_metadata(ctx.out_dir / artifact.model_file, artifact.metadata)
        return artifact

    return export_onnx_qat
