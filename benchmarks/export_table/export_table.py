"""Every export of one trained PAFNet-lite: AP through edgedet.runtime, size, host latency, parity; vs YOLO11n.

    .venv/bin/python benchmarks/export_table/export_table.py --ckpt runs/quickstart/pafnet_lite_tiny/train/weights/last.pt \\
        [--data DIR] [--val-images 300] [--calib-n 100] [--formats onnx tflite ...] [--precisions fp32 int8 ...] \\
        [--yolo-onnx /tmp/yolo11n/yolo11n.onnx] [--yolo-tflite /tmp/yolo11n/yolo11n.tflite] [--out runs/export_table]

For each format x precision (default: every pair of ``SUPPORTED_PRECISIONS``; ``--precisions`` filters it):
export with :func:`edgedet.export.api.export` (int8 calibrated on ``--calib-n`` training images; parity on 4 val
images), COCO AP on the first ``--val-images`` val images through :func:`edgedet.export.evaluate.evaluate_export`,
the model file(s) size, the max abs raw-output difference vs PyTorch from ``parity.json``, and host latency of
``runtime.load(dir, threads=t).run`` on a fixed random input at 1 and 2 threads. Reference row: the PyTorch model
(:func:`edgedet.engine.trainer.evaluate_model`; latency of its export graph = network + top-k decode, 1 thread
only, see :func:`time_all`). Every latency entry is timed in one loop: warmup rounds, then ``--runs`` rounds, each
calling every model once, in a fresh seeded random order every round, so background load on a shared machine hits
all of them alike. Paddle-Lite runs in a Python 3.10 child process on x86 hosts (its latency includes the pipe) and
ignores ``threads``.

YOLO11n (ultralytics, random init from its YAML) is built in a separate venv, never in edgedet's (it is not a
dependency). All wheels come from this machine's package mirrors; ``unshare -n`` (root) runs the export with no
network at all, proving nothing is downloaded::

    python3 -m venv /tmp/ulvenv
    /tmp/ulvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics onnx onnxruntime \\
        "litert-torch==0.10.*" "ai-edge-litert==2.3.*" "ai-edge-quantizer==0.10.*"   # last three: TFLite only
    mkdir -p /tmp/yolo11n && cd /tmp/yolo11n
    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/yolo11n/cfg unshare -n /tmp/ulvenv/bin/python -c "
    from ultralytics import YOLO
    m = YOLO('yolo11n.yaml')  # random init, 80 classes
    m.export(format='onnx', imgsz=320, batch=1, opset=17, simplify=False, device='cpu')  # no onnxslim
    m.export(format='litert', imgsz=320, batch=1, device='cpu')  # litert-torch, no TensorFlow"

Lighter alternative (used for the table of the trained checkpoint): ultralytics alone into its own directory,
run by edgedet's interpreter, which already has torch, onnx and litert-torch; edgedet's venv is not modified::

    .venv/bin/pip install --target /tmp/ulpkgs --no-deps ultralytics==8.4.190 psutil polars ultralytics-thop
    cd /tmp/yolo11n && YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/yolo11n/cfg PYTHONPATH=/tmp/ulpkgs unshare -n \
        /path/to/edgedet/.venv/bin/python -c "...the same three lines..."

This writes /tmp/yolo11n/yolo11n.onnx and yolo11n.tflite (raw head ``[1, 84, 2100]``: boxes decoded, no NMS).
They are timed here in edgedet's venv, onnxruntime / LiteRT with the same thread settings as edgedet.runtime,
against PAFNet-lite fp32 re-exported at the YOLO file's input size (a fully convolutional model; only latency
is compared). Ratio = PAFNet-lite median / YOLO11n median.

Writes ``--json`` (default benchmarks/export_table/export_table.json) and ``OUT/export_table.md``, and prints the markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgedet.bench import latency_stats, machine_info, time_interleaved

INT8_TOLERANCE_AP = 0.010  # 1.0 AP point, absolute


def int8_verdicts(rows: list[dict], tol: float = INT8_TOLERANCE_AP) -> dict[str, dict[str, Any]]:
    """Per format with both an fp32 and an int8 row that evaluated: int8 AP - fp32 AP and ``|delta| <= tol``."""
    ap = {(r["format"], r["precision"]): r["AP"] for r in rows if "AP" in r}
    out = {}
    for fmt in dict.fromkeys(r["format"] for r in rows):
        if (fmt, "fp32") in ap and (fmt, "int8") in ap:
            delta = ap[(fmt, "int8")] - ap[(fmt, "fp32")]
            out[fmt] = {"fp32_AP": ap[(fmt, "fp32")], "int8_AP": ap[(fmt, "int8")], "delta_AP": round(delta, 4),
                        "within_1AP": bool(abs(delta) <= tol + 1e-9)}
    return out


def _fmt(v: Any, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _parity_cell(row: dict) -> str:
    """parity.json's verdict (pass / FAIL / report only); results recorded before verdicts existed kept a bool."""
    return str(row.get("parity", row.get("parity_passed", "n/a")))


def markdown_table(ref: dict, rows: list[dict], threads: tuple[int, ...] = (1, 2)) -> str:
    """The results table: a PyTorch reference row, then one row per export (failed ones say why)."""
    cols = ["format", "precision", "AP", "AP50", "size MB"] + [f"p50 ms {t}T" for t in threads] + [
        "max abs diff vs torch", "parity"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in [ref, *rows]:
        if "error" in r:
            rest = " | ".join([""] * (len(cols) - 3))
            lines.append(f"| {r['format']} | {r['precision']} | failed: {r['error']} | {rest} |")
            continue
        lat = [_fmt(r.get("latency", {}).get(str(t), {}).get("p50_ms"), ".1f") for t in threads]
        cells = [r["format"], r["precision"], _fmt(r["AP"], ".4f"), _fmt(r["AP50"], ".4f"), _fmt(r["size_mb"], ".2f"),
                 *lat, _fmt(r.get("max_abs_diff"), ".2e"), _parity_cell(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pairs(formats: list[str] | None, precisions: list[str] | None) -> list[tuple[str, str]]:
    from edgedet.export.api import SUPPORTED_PRECISIONS

    formats = formats or list(SUPPORTED_PRECISIONS)
    unknown = [f for f in formats if f not in SUPPORTED_PRECISIONS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; supported: {list(SUPPORTED_PRECISIONS)}")
    pairs = [(f, p) for f in formats for p in SUPPORTED_PRECISIONS[f] if precisions is None or p in precisions]
    if not pairs:
        raise ValueError(f"no supported pair in formats {formats} x precisions {precisions}")
    return pairs


def shipped_size_mb(d: Path, meta: dict) -> float:
    """Size of the file(s) that ship: the model file plus Paddle's params file; not Paddle-Lite's x86 variant."""
    names = [meta["model_file"], meta.get("extra", {}).get("params_file")]
    return sum((d / n).stat().st_size for n in names if n) / 1e6


def export_and_evaluate(model, state, ckpt: Path, pairs, out: Path, val, calib_files, calib_n: int,
                        threads: int) -> list[dict]:
    """One row per pair: export, AP through edgedet.runtime, size, parity (errors recorded, not raised)."""
    from edgedet.export.api import export
    from edgedet.export.evaluate import evaluate_export

    parity_images = [r.file for r in val.images[:4]]
    rows = []
    for fmt, prec in pairs:
        t0 = time.time()
        try:
            (res,) = export(model, formats=[fmt], precisions=[prec], imgsz=state["config"]["model"]["imgsz"],
                            out_dir=out, class_names=state["class_names"], model_name=state["model_name"],
                            calib_images=calib_files if prec == "int8" else None, calib_n=calib_n, source_ckpt=ckpt,
                            threads=threads, parity_images=parity_images)
        except (ImportError, RuntimeError, ValueError, OSError) as e:  # a toolchain missing or failing
            rows.append({"format": fmt, "precision": prec, "error": str(e).splitlines()[0][:200]})
            print(f"{fmt} {prec}: export failed: {rows[-1]['error']}", flush=True)
            continue
        m = evaluate_export(res.dir, val, threads=threads, progress=False)
        rows.append({"format": fmt, "precision": prec, "dir": str(res.dir), "AP": m["AP"], "AP50": m["AP50"],
                     "size_mb": shipped_size_mb(res.dir, res.metadata), "max_abs_diff": res.parity.get("max_abs_diff"),
                     "parity": res.parity.get("verdict"), "export_eval_s": round(time.time() - t0, 1)})
        print(f"{fmt} {prec}: AP {m['AP']:.4f} ({rows[-1]['export_eval_s']} s)", flush=True)
    return rows


def torch_reference(model, state, val, threads: int) -> dict:
    """The PyTorch model's own row: AP on the same val subset, fp32 parameter + buffer size."""
    import torch

    from edgedet.config.io import from_dict
    from edgedet.config.schema import RunConfig
    from edgedet.engine.trainer import evaluate_model

    torch.set_num_threads(threads)
    data_cfg = dataclasses.replace(from_dict(RunConfig, state["config"]).data, workers=0)
    m = evaluate_model(model, val, state["config"]["model"]["imgsz"], torch.device("cpu"), data_cfg, progress=False)
    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]) / 1e6
    return {"format": "pytorch", "precision": "fp32", "AP": m["AP"], "AP50": m["AP50"], "size_mb": size,
            "max_abs_diff": None, "parity": "n/a (reference)"}


def yolo_exports(model, state, out: Path, size: int, want_tflite: bool, threads: int) -> dict[str, Path]:
    """PAFNet-lite fp32 exports at the YOLO file's input size, for the latency comparison only."""
    from edgedet.export.api import export

    fmts = ["onnx"] + (["tflite"] if want_tflite else [])
    res = export(model, formats=fmts, precisions=["fp32"], imgsz=size, out_dir=out / f"yolo_cmp_{size}",
                 class_names=state["class_names"], model_name=state["model_name"], threads=threads)
    return {r.format: r.dir for r in res}


def _onnx_timer(path: Path, threads: int) -> tuple[Callable, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()  # as edgedet.runtime.onnxrt
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    return (lambda a: sess.run(None, {inp.name: a})), x


def _tflite_timer(path: Path, threads: int) -> tuple[Callable, np.ndarray]:
    from edgedet.runtime.litert import SIGNATURE, interpreter_class

    interp = interpreter_class()[0](model_path=str(path), num_threads=threads)  # as edgedet.runtime.litert
    runner = interp.get_signature_runner(SIGNATURE)
    name, detail = next(iter(runner.get_input_details().items()))
    x = np.random.default_rng(0).standard_normal(detail["shape"]).astype(np.float32)
    return (lambda a: runner(**{name: a})), x


def _torch_timer(model, imgsz: int) -> tuple[Callable, np.ndarray]:
    import torch

    graph = model.export_graph().eval()

    def run(x):
        with torch.inference_mode():
            return graph(torch.from_numpy(x))
    return run, np.random.default_rng(0).standard_normal((1, 3, imgsz, imgsz)).astype(np.float32)


def time_all(entries: dict[str, tuple[str, Path, int]], model, imgsz: int, threads_list, warmup: int,
             runs: int) -> dict[str, dict]:
    """Latency of every entry, all in one loop per thread count, plus the PyTorch export graph (``pytorch_fp32``) at
    1 thread only: on the loaded 2-core machine torch's OpenMP pool at 2 threads stalled ~3 s per call (p50; min
    33 ms), timed alone or in the loop, which says nothing about the model (Paddle Inference, also OpenMP, did the
    same and is kept, flagged in benchmarks/README.md).

    Args:
        entries: name -> (kind, path, input size); kind ``edgedet`` (``runtime.load(path, threads=t).run``),
            ``onnx`` or ``tflite`` (a foreign file run raw with the same thread settings as edgedet.runtime).
        model: the torch detector; imgsz: its input size.
    """
    import torch

    from edgedet import runtime

    out: dict[str, dict] = {n: {} for n in [*entries, "pytorch_fp32"]}
    for t in threads_list:
        torch.set_num_threads(t)
        fns = {"pytorch_fp32": _torch_timer(model, imgsz)} if t == 1 else {}
        for name, (kind, path, size) in entries.items():
            if kind == "edgedet":
                x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
                fns[name] = (runtime.load(path, threads=t).run, x)
            else:
                fns[name] = (_onnx_timer if kind == "onnx" else _tflite_timer)(path, t)
        for name, ms in time_interleaved(fns, warmup=warmup, runs=runs).items():
            out[name][str(t)] = latency_stats(ms).as_dict()
        print(f"timed {len(fns)} models at {t} thread(s), load {os.getloadavg()[0]:.1f}", flush=True)
        del fns
    return out


def yolo_ratios(lat: dict[str, dict], size: int, threads_list, have_tflite: bool) -> list[dict]:
    out = []
    for fmt in ["onnx"] + (["tflite"] if have_tflite else []):
        for t in threads_list:
            p, y = lat[f"pafnet_{fmt}_fp32@{size}"][str(t)], lat[f"yolo11n_{fmt}@{size}"][str(t)]
            out.append({"runtime": fmt, "threads": t, "input": size, "pafnet_p50_ms": p["p50_ms"],
                        "yolo11n_p50_ms": y["p50_ms"], "ratio_p50": round(p["p50_ms"] / y["p50_ms"], 2),
                        "ratio_min": round(p["min_ms"] / y["min_ms"], 2)})
    return out


def _yolo_size(path: Path) -> int:
    import onnx

    dims = [d.dim_value for d in onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] != dims[3] or dims[2] <= 0:
        raise ValueError(f"{path}: expected a static square NCHW input, got {dims}")
    return dims[2]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", type=Path, required=True, help="training checkpoint (last.pt / best.pt)")
    ap.add_argument("--data", type=Path, default=None, help="dataset root (default: the built-in synth)")
    ap.add_argument("--val-images", type=int, default=300, help="first N val images (0 = all)")
    ap.add_argument("--calib-n", type=int, default=100)
    ap.add_argument("--formats", nargs="+", default=None)
    ap.add_argument("--precisions", nargs="+", default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="latency thread counts")
    ap.add_argument("--eval-threads", type=int, default=1, help="threads for export, parity and AP evaluation")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--yolo-onnx", type=Path, default=None)
    ap.add_argument("--yolo-tflite", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/export_table"))
    ap.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "export_table.json")
    args = ap.parse_args(argv)
    if args.runs < 30:
        ap.error("--runs must be >= 30")
    if args.yolo_tflite and not args.yolo_onnx:
        ap.error("--yolo-tflite needs --yolo-onnx (its input size is read from the ONNX file)")
    return args


def _latency_entries(rows, yolo_dirs, args, size) -> dict[str, tuple[str, Path, int]]:
    entries = {f"{r['format']}_{r['precision']}": ("edgedet", Path(r["dir"]), r["imgsz"]) for r in rows if "dir" in r}
    if args.yolo_onnx:
        entries[f"pafnet_onnx_fp32@{size}"] = ("edgedet", yolo_dirs["onnx"], size)
        entries[f"yolo11n_onnx@{size}"] = ("onnx", args.yolo_onnx, size)
    if args.yolo_tflite:
        entries[f"pafnet_tflite_fp32@{size}"] = ("edgedet", yolo_dirs["tflite"], size)
        entries[f"yolo11n_tflite@{size}"] = ("tflite", args.yolo_tflite, size)
    return entries


def main(argv=None) -> int:
    args = parse_args(argv)
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth
    from edgedet.engine.checkpoint import load_detector

    info = {"command": "python benchmarks/export_table/export_table.py " + shlex.join(sys.argv[1:] if argv is None else argv),
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(), "load_avg_start": os.getloadavg()}
    pairs = _pairs(args.formats, args.precisions)
    data = args.data or ensure_synth()
    val = load_dataset(data, "val")
    val.images = val.images[: args.val_images] if args.val_images else val.images
    calib = [r.file for r in load_dataset(data, "train").images]
    model, state = load_detector(args.ckpt, "cpu")
    imgsz = state["config"]["model"]["imgsz"]
    ref = torch_reference(model, state, val, args.eval_threads)
    print(f"pytorch: AP {ref['AP']:.4f}", flush=True)
    rows = export_and_evaluate(model, state, args.ckpt, pairs, args.out, val, calib, args.calib_n, args.eval_threads)
    for r in rows:
        r["imgsz"] = imgsz
    size = _yolo_size(args.yolo_onnx) if args.yolo_onnx else imgsz
    yolo_dirs = yolo_exports(model, state, args.out, size, bool(args.yolo_tflite), args.eval_threads) \
        if args.yolo_onnx else {}
    lat = time_all(_latency_entries(rows, yolo_dirs, args, size), model, imgsz, args.threads, args.warmup,
                   args.runs)
    for r in [ref, *rows]:
        r["latency"] = lat.get(f"{r['format']}_{r['precision']}", {})
    result = {**info, "ckpt": str(args.ckpt), "data": str(data), "imgsz": imgsz, "val_images": len(val.images),
              "calib_n": args.calib_n, "runs": args.runs, "warmup": args.warmup, "reference": ref, "exports": rows,
              "int8_vs_fp32": int8_verdicts(rows), "latency_all": lat,
              "yolo11n": yolo_ratios(lat, size, args.threads, bool(args.yolo_tflite)) if args.yolo_onnx else None,
              "load_avg_end": os.getloadavg()}
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = render(result)
    (args.out / "export_table.md").write_text(md + "\n")
    print(md)
    return 0


def render(result: dict) -> str:
    """Markdown: the table, the int8 verdicts, the YOLO11n ratios, command and machine."""
    lines = [markdown_table(result["reference"], result["exports"]), ""]
    for fmt, v in result["int8_vs_fp32"].items():
        lines.append(f"- {fmt}: int8 AP {v['int8_AP']:.4f} vs fp32 {v['fp32_AP']:.4f} (delta {v['delta_AP']:+.4f}): "
                     f"{'within' if v['within_1AP'] else 'NOT within'} 1.0 AP")
    if result.get("yolo11n"):
        lines += ["", "| runtime | threads | input | PAFNet-lite p50 ms | YOLO11n p50 ms | ratio p50 (min) |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {y['runtime']} | {y['threads']} | {y['input']} | {y['pafnet_p50_ms']} | {y['yolo11n_p50_ms']} | "
                  f"{y['ratio_p50']} ({y['ratio_min']}) |" for y in result["yolo11n"]]
    m = result["machine"]
    lines += ["", f"Command: `{result['command']}`. Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python "
              f"{m['python']}, torch {m['torch']}; load average {result['load_avg_start'][0]:.1f} at start, "
              f"{result['load_avg_end'][0]:.1f} at end."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
