"""``edgedet export``: checkpoint (or fresh zoo model) -> one directory per format x precision."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ANDROID_MODEL_DIR = "model"  # android_demo/app/.../ModelFiles.ASSET_DIR: the app reads assets/model/edgedet.json


def _calibration_files(calib: str) -> list[Path]:
    """Training-split images of a dataset (any supported format), or the images under a plain folder."""
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth

    path = Path(calib) if calib else ensure_synth()
    try:
        index = load_dataset(path, "train")
    except (ValueError, FileNotFoundError):
        return [path]  # a plain image folder: edgedet.export.calib searches it
    return [rec.file for rec in index.images]


def load_for_export(args: argparse.Namespace):
    """Returns ``(model, class_names, model_name, imgsz, source_ckpt)``."""
    if args.weights:
        from edgedet.engine.checkpoint import load_detector

        model, state = load_detector(args.weights, "cpu")
        imgsz = args.imgsz or state["config"]["model"]["imgsz"]
        return model, state["class_names"], state["model_name"], imgsz, Path(args.weights)
    if args.model:
        import torch

        from edgedet.config import resolve
        from edgedet.models.zoo import build_model

        cfg = resolve(args.model)
        cfg.model.num_classes = args.num_classes
        torch.manual_seed(0)
        model = build_model(cfg.model).eval()
        names = [f"class{i}" for i in range(args.num_classes)]
        return model, names, cfg.model.name, args.imgsz or cfg.model.imgsz, None
    raise ValueError("export needs a checkpoint (edgedet export best.pt ...) or --model NAME for a fresh model")


def bundle_for_android(export_dir: Path, assets_dir: str | Path) -> Path:
    """Copy a TFLite export's ``edgedet.json`` and model file to ``assets_dir/model/``, where the Android demo app
    looks for a bundled model; an earlier bundle's files there are removed first (its README stays).

    Returns:
        the ``model`` directory written.
    """
    from edgedet.deploy.schema import METADATA_FILE, read_metadata

    meta = read_metadata(export_dir)
    if meta["format"] != "tflite":
        raise ValueError(f"the Android app runs TFLite models; {export_dir} is a {meta['format']} export")
    target = Path(assets_dir) / ANDROID_MODEL_DIR
    target.mkdir(parents=True, exist_ok=True)
    for old in [*target.glob("*.tflite"), target / METADATA_FILE]:
        old.unlink(missing_ok=True)
    for name in (METADATA_FILE, meta["model_file"]):
        shutil.copy2(export_dir / name, target / name)
    return target


def run_export(args: argparse.Namespace) -> int:
    from edgedet.engine.trainer import unique_run_dir
    from edgedet.export.api import check_pairs, export
    from edgedet.export.console import log_tail

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    check_pairs(formats, precisions)  # fail before any slow work
    if args.android and "tflite" not in formats:
        raise ValueError("--android bundles a TFLite model into the app: add tflite to --format")
    model, names, model_name, imgsz, src = load_for_export(args)
    check_pairs(formats, precisions, model)  # some models export to fewer pairs (two-stage: no tflite int8)
    calib = _calibration_files(args.calib) if "int8" in precisions else None
    out = Path(args.out) if args.out else unique_run_dir("runs", "export", model_name)
    out.mkdir(parents=True, exist_ok=True)
    log = None if getattr(args, "verbose", False) else out / "export.log"
    print(f"{'format':<12}{'precision':<10}{'time s':>7}{'size MB':>9}  {'parity':<8}{'max |diff|':>11}  path", flush=True)
    try:
        results = export(model, formats=formats, precisions=precisions, imgsz=imgsz, out_dir=out, class_names=names,
                         model_name=model_name, calib_images=calib, calib_n=args.calib_n, source_ckpt=src,
                         log_file=log, use_cache=not args.no_cache, on_pair_done=_print_pair)
    except Exception:
        if log is not None and log_tail(log):
            print(f"the converter's last lines (all of them: {log}):\n{log_tail(log)}", file=sys.stderr, flush=True)
        raise
    if log is not None:
        print(f"converter output: {log}")
    if args.android:
        bundled = next(r for r in results if r.format == "tflite")  # the first precision asked for
        target = bundle_for_android(bundled.dir, args.android)
        print(f"bundled {bundled.format} {bundled.precision} for the Android app: {target} (rebuild the APK)")
    print(f"Next: edgedet eval {results[0].dir} --data DATA")
    return 0 if all(r.parity.get("passed", True) or r.precision != "fp32" for r in results) else 1


def _print_pair(r, seconds: float) -> None:
    size = sum(f.stat().st_size for f in r.dir.iterdir() if f.is_file() and f.suffix not in (".json",)) / 1e6
    ok = {"pass": "pass", "FAIL": "FAIL"}.get(r.parity.get("verdict"), "report")  # int8/fp16: not gated
    diff = r.parity.get("max_abs_diff", float("nan"))
    cached = "  (cached conversion)" if r.cached else ""
    print(f"{r.format:<12}{r.precision:<10}{seconds:>7.1f}{size:>9.2f}  {ok:<8}{diff:>11.2e}  {r.model_path}{cached}",
          flush=True)
