"""Two-stage export cost: Libra Faster R-CNN through ONNX Runtime (edgedet.runtime) vs PyTorch, same image.

    .venv/bin/python benchmarks/two_stage/two_stage_latency.py \\
        --ckpt runs/bench_train/libra_faster_rcnn_r18_fpn/Libra/weights/best.pt [--imgsz 320] [--threads 1] [--runs 30]

Without ``--ckpt`` a freshly initialised ``libra_faster_rcnn_r18_fpn`` at ``--width`` is used (the RoI head's cost
is fixed by the proposal count, so weights matter little; a trained model makes the PyTorch NMS realistic).
Both sides run end to end on one validation image of the built-in dataset: letterbox, network, proposals, RoI
head, NMS. PyTorch: ``model.predict`` on the preprocessed input (RPN NMS first, head on <= ``rpn_max_test`` RoIs).
Export: ``runtime.load(dir).predict(image)`` (head on every pre-NMS proposal, NMS in the runtime). Timed
round-robin in a random order every round (:func:`edgedet.bench.time_interleaved`). Writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import torch

from edgedet import runtime
from edgedet.bench import latency_stats, machine_info, time_interleaved
from edgedet.config.schema import ModelConfig
from edgedet.data import SYNTH_CLASS_NAMES, ensure_synth, load_dataset
from edgedet.deploy.preprocess import preprocess_bgr
from edgedet.engine.checkpoint import load_detector
from edgedet.export.api import export
from edgedet.models.zoo import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, default=None)
    ap.add_argument("--width", type=float, default=0.25, help="width of the fresh model (without --ckpt)")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "two_stage_latency.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info()
    if args.ckpt:
        model, state = load_detector(args.ckpt, "cpu")
        names, model_name = state["class_names"], state["model_name"]
    else:
        names, model_name = list(SYNTH_CLASS_NAMES), "libra_faster_rcnn_r18_fpn"
        model = build_model(ModelConfig(name=model_name, num_classes=len(names), width=args.width,
                                        imgsz=args.imgsz)).eval()
    image_file = load_dataset(ensure_synth(), "val").images[0].file
    image = cv2.imread(str(image_file))
    with tempfile.TemporaryDirectory() as out:
        (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=args.imgsz, out_dir=Path(out),
                        class_names=names, model_name=model_name, threads=args.threads, parity_images=[image])
        predictor = runtime.load(res.dir, threads=args.threads)

        def torch_predict(img):
            x, _ = preprocess_bgr(img, args.imgsz)
            with torch.inference_mode():
                return model.predict(torch.from_numpy(x), score_thr=0.05)

        fns = {"pytorch_predict": (torch_predict, image),
               "onnxruntime_export_predict": (lambda img: predictor.predict(img, score_thr=0.05), image)}
        lat = {k: latency_stats(v).as_dict() for k, v in time_interleaved(fns, warmup=args.warmup, runs=args.runs).items()}
        n_rois = int(sum(res.metadata["decode"]["level_counts"]))
    result = {"command": " ".join(["python", *sys.argv]), "machine": info, "threads": args.threads,
              "imgsz": args.imgsz, "ckpt": str(args.ckpt) if args.ckpt else None, "width": None if args.ckpt else args.width,
              "export_rois": n_rois, "pytorch_max_rois": model.cfg.rpn_max_test, "latency_ms": lat,
              "ratio_p50": round(lat["onnxruntime_export_predict"]["p50_ms"] / lat["pytorch_predict"]["p50_ms"], 2),
              "parity_passed": res.parity["passed"], "load_avg_1min_at_end": round(os.getloadavg()[0], 2)}
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("export_rois", "latency_ms", "ratio_p50", "parity_passed")}, indent=2))


if __name__ == "__main__":
    main()
