"""PTQ vs QAT int8 (TFLite and ONNX QDQ) against fp32 for one trained PAFNet-lite checkpoint: AP through
edgedet.runtime on the validation split, host latency, float ops left in each int8 file.

    python benchmarks/quantization/qat_vs_ptq.py --ckpt CKPT [--qat-iters 300] [--batch 8]

Writes benchmarks/quantization/qat_vs_ptq.json (or --out) and prints a markdown table; the command, machine and
date are recorded beside the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def torch_row(model, cfg, val) -> dict:
    """AP of a PyTorch detector on ``val`` through the shared letterbox (1 thread), and its fp32 size."""
    import torch

    from edgedet.engine.trainer import evaluate_model

    torch.set_num_threads(1)
    m = evaluate_model(model, val, cfg.model.imgsz, torch.device("cpu"), dataclasses.replace(cfg.data, workers=0),
                       progress=False)
    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]) / 1e6
    return {"format": "pytorch", "precision": "fp32", "AP": m["AP"], "AP50": m["AP50"], "size_mb": size}


def time_all(dirs: dict[str, Path], model, imgsz: int, warmup: int, runs: int) -> dict[str, dict]:
    """p50 etc. of every export through ``edgedet.runtime`` (``run`` on a preprocessed tensor) and of the PyTorch
    export graph, 1 thread, interleaved rounds (:func:`edgedet.bench.time_interleaved`)."""
    import torch

    from edgedet import runtime
    from edgedet.bench import latency_stats, time_interleaved

    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal((1, 3, imgsz, imgsz)).astype(np.float32)
    graph = model.export_graph().eval()

    def torch_run(a):
        with torch.inference_mode():
            return graph(torch.from_numpy(a))

    fns = {"pytorch_fp32": (torch_run, x), **{n: (runtime.load(d, threads=1).run, x) for n, d in dirs.items()}}
    return {n: {"1": latency_stats(ms).as_dict()} for n, ms in time_interleaved(fns, warmup=warmup, runs=runs).items()}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--render", metavar="JSON", help="only print the table of a recorded result")
    p.add_argument("--ckpt", help="a trained PAFNet-lite checkpoint (e.g. "
                   "/work/main/runs/gpu/pafnet_lite_w1/best.pt when one exists)")
    p.add_argument("--data", default="", help="dataset (default: the checkpoint's)")
    p.add_argument("--qat-iters", type=int, default=300, help="QAT iterations (one epoch capped at this)")
    p.add_argument("--qat-epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=8, help="QAT batch")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the QAT fine-tuning (timing: 1 thread)")
    p.add_argument("--calib-n", type=int, default=200)
    p.add_argument("--val-n", type=int, default=0, help="validation images (default 0: all)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per model")
    p.add_argument("--work", default="runs/bench_quantization", help="where the exports go")
    p.add_argument("--out", default=str(HERE / "qat_vs_ptq.json"))
    return p.parse_args(argv)


def rerender(path: str) -> str:
    """The table of a recorded JSON (``python qat_vs_ptq.py --render qat_vs_ptq.json``)."""
    import json

    return render(json.loads(Path(path).read_text()))


def main(argv=None) -> int:
    import json

    from edgedet.bench import machine_info
    from edgedet.data import load_dataset
    from edgedet.engine.checkpoint import checkpoint_config
    from edgedet.export.api import export
    from edgedet.export.evaluate import evaluate_export
    from edgedet.export.quantize import QATSchedule, load_pafnet_lite, quantize

    args = parse_args(argv)
    if args.render:
        print(rerender(args.render))
        return 0
    if not args.ckpt:
        raise SystemExit("--ckpt CKPT is required (a trained PAFNet-lite checkpoint)")
    t_start = time.time()
    model, state = load_pafnet_lite(args.ckpt)
    cfg = checkpoint_config(state, args.ckpt)
    data = args.data or cfg.data.path
    val = load_dataset(data, cfg.data.val_split)
    if args.val_n:
        val.images = val.images[: args.val_n]
    imgsz = cfg.model.imgsz
    work = Path(args.work)
    result = {"command": "python benchmarks/quantization/qat_vs_ptq.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(), "load_avg_start": os.getloadavg(),
              "checkpoint": str(args.ckpt), "model": {"name": state["model_name"], "width": cfg.model.width,
                                                      "imgsz": imgsz, "train_epochs": cfg.train.epochs},
              "data": data, "val_images": len(val.images), "rows": []}
    rows = result["rows"]
    rows.append({"method": "pytorch", **torch_row(model, cfg, val)})
    print(f"pytorch fp32: AP {rows[-1]['AP']:.4f}", flush=True)

    def add(method: str, res, seconds: float | None = None) -> None:
        m = evaluate_export(res.dir, val, threads=1, progress=False)
        fo = res.metadata["extra"].get("float_ops", {})
        rows.append({"method": method, "format": res.format, "precision": res.precision, "dir": str(res.dir),
                     "AP": m["AP"], "AP50": m["AP50"], "size_mb": res.model_path.stat().st_size / 1e6,
                     "float_ops": fo.get("n"), "float_convs": len(fo.get("convs", [])) if fo else None,
                     "float_convs_outside_tail": len(fo.get("convs_outside_tail", [])) if fo else None,
                     "parity": res.parity.get("summary"), "seconds": seconds})
        print(f"{method} {res.format} {res.precision}: AP {m['AP']:.4f}", flush=True)

    for res in export(model, formats=["onnx", "tflite"], precisions=["fp32"], imgsz=imgsz, out_dir=work / "fp32",
                      class_names=state["class_names"], model_name=state["model_name"], source_ckpt=Path(args.ckpt),
                      use_cache=False):
        add("fp32", res)
    t0 = time.time()
    ptq = quantize(args.ckpt, out_dir=work / "ptq", qat=False, data=args.data or None, calib_n=args.calib_n,
                   progress=False, log_file=work / "ptq.log")
    for res in ptq.exports:
        add("ptq", res, round(time.time() - t0, 1))
    t0 = time.time()
    sched = QATSchedule(epochs=args.qat_epochs, max_iters=args.qat_iters, batch=args.batch)
    qat = quantize(args.ckpt, out_dir=work / "qat", qat=True, schedule=sched, data=args.data or None,
                   calib_n=args.calib_n, overrides=[f"train.threads={args.threads}"], progress=False, log_file=work / "qat.log")
    for res in qat.exports:
        add("qat", res, round(time.time() - t0, 1))
    # the fine-tuned float weights in PyTorch: separates what fine-tuning did from what int8 costs
    rows.append({"method": "qat_float", **torch_row(qat.fine_tuned, cfg, val)})
    print(f"qat fine-tuned float (pytorch): AP {rows[-1]['AP']:.4f}", flush=True)
    result["qat"] = {"settings": {k: v for k, v in qat.settings.items() if k != "onnx_route"},
                     "training": qat.training, "onnx_route": qat.settings["onnx_route"]}
    dirs = {f"{r['method']}_{r['format']}_{r['precision']}": Path(r["dir"]) for r in rows if r.get("dir")}
    result["latency_ms"] = time_all(dirs, model, imgsz, warmup=10, runs=args.runs)
    result["total_s"] = round(time.time() - t_start, 1)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(render(result))
    return 0


def render(result: dict) -> str:
    """Markdown table: AP (and delta vs the fp32 file of the same format), p50 latency at 1 thread, float ops."""
    lat = result["latency_ms"]
    fp32 = {r["format"]: r["AP"] for r in result["rows"] if r.get("precision") == "fp32" and r["method"] == "fp32"}
    lines = ["| method | format | precision | AP | AP vs fp32 file | AP50 | p50 ms (1 thread) | float ops (convs, "
             "outside tail) | size MB |", "|---|---|---|---:|---:|---:|---:|---|---:|"]
    for r in result["rows"]:
        key = f"{r['method']}_{r.get('format')}_{r.get('precision')}"
        ms = (lat.get(key, {}).get("1", {}).get("p50_ms") if r.get("dir")
              else lat["pytorch_fp32"]["1"]["p50_ms"] if r["method"] == "pytorch" else None)
        delta = f"{r['AP'] - fp32[r['format']]:+.4f}" if r.get("format") in fp32 and r["method"] != "fp32" else ""
        fo = f"{r['float_ops']} ({r['float_convs']}, {r['float_convs_outside_tail']})" if r.get("float_ops") else ""
        lines.append(f"| {r['method']} | {r.get('format', 'pytorch')} | {r.get('precision', 'fp32')} | {r['AP']:.4f} | "
                     f"{delta} | {r['AP50']:.4f} | {'' if ms is None else f'{ms:.2f}'} | {fo} | {r['size_mb']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
