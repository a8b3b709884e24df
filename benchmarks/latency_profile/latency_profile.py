"""Where PAFNet-lite's time goes vs YOLO11n at 320 px, 1 thread, on onnxruntime and LiteRT; model-only and end to end.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/latency_profile/latency_profile.py \\
        --yolo-onnx /tmp/yolo11n/yolo11n.onnx --yolo-tflite /tmp/yolo11n/yolo11n.tflite [--runs 50] [--out runs/latency_profile]

PAFNet-lite: ``pafnet_lite_mbv3(80)`` at width 1.0, random init (seed 0; latency does not depend on the weights),
exported fp32 by :func:`edgedet.export.api.export` (the shipped export path, parity checked). YOLO11n: the files
built as ``benchmarks/export_table/export_table.py``'s docstring says (random init from ``yolo11n.yaml``).

* MACs per convolution class of each ONNX file (``macs_m``: dense 1x1, dense kxk, depthwise, MatMul).
* onnxruntime per op: ``SessionOptions.enable_profiling``, 1 thread, ``--profile-runs`` calls; kernel time summed
  per op type (after ORT's fusions: ``Conv`` includes fused activations, ``QuickGelu`` is YOLO's x*sigmoid(x)),
  divided by the number of calls.
* LiteRT has no op profiler in Python (ai-edge-litert 2.3), so: the op census of the file
  (``Interpreter._get_ops_details``), the XNNPACK partition count (DELEGATE nodes after ``allocate_tensors``), and
  time by section from cut sub-models: backbone, + neck, + head (raw outputs), + decode (the full export graph),
  each exported by the same converters and timed in the same loop; a section's cost is the difference.
* One interleaved loop (:func:`edgedet.bench.time_interleaved`: ``--warmup`` rounds, then ``--runs`` rounds, every
  entry once per round in a fresh random order) times model-only calls of both models on both runtimes, the cut
  sub-models, and end-to-end calls on a 640x480 BGR image: PAFNet-lite ``edgedet.runtime.load(dir).predict``
  (preprocess + model + threshold/dedupe); YOLO11n the same preprocessing (letterbox, pad 114, /255) + model +
  its decode (best class, score threshold, per-class NMS at IoU 0.7, ultralytics' defaults) in numpy. Both
  models are random-init, so few or no boxes pass the 0.25 threshold: NMS is nearly free here (a trained YOLO11n
  sends candidates into it; PAFNet-lite needs none).

Writes ``--json`` (default benchmarks/latency_profile/latency_profile.json) and prints markdown tables.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgedet.bench import latency_stats, machine_info, time_interleaved

IMAGE_HW = (480, 640)
SECTIONS = ("backbone", "neck", "head")


def ort_session(path: Path, profile: bool = False) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()  # as edgedet.runtime.onnxrt
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "latency_profile_ort")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_op_profile(path: Path, runs: int) -> dict[str, Any]:
    """Kernel ms per call by op type (after ORT's graph optimisations) and the model_run median."""
    sess = ort_session(path, profile=True)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    for _ in range(runs):
        sess.run(None, {inp.name: x})
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    per_op: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    conv_ms: collections.Counter = collections.Counter()
    conv_macs: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
            count[e["args"]["op_name"]] += 1 / runs
            if e["args"]["op_name"] == "Conv":  # ORT's (NCHWc) Conv, activation fused: time and MACs per class
                kind, macs = _conv_class(e["args"])
                conv_ms[kind] += e["dur"] / 1e3 / runs
                conv_macs[kind] += macs / runs
    model_runs = [e["dur"] / 1e3 for e in events if e.get("name") == "model_run"]
    total = sum(per_op.values())
    ops = {k: {"ms": round(v, 3), "share": round(v / total, 3), "nodes": round(count[k])} for k, v in per_op.most_common()}
    # MACs as ORT runs them: its NCHWc kernels pad channels to the vector block (e.g. 72 -> 80, 200 -> 208)
    convs = {k: {"ms": round(v, 3), "executed_mmacs": round(conv_macs[k] / 1e6, 1),
                 "gmacs_per_s": round(conv_macs[k] / v / 1e6, 1)} for k, v in conv_ms.most_common()}
    return {"model_run_p50_ms": round(float(np.median(model_runs)), 2), "kernel_ms": round(total, 2), "ops": ops,
            "conv_classes": convs}


def conv_class(cin: int, weight: list[int], out: list[int]) -> tuple[str, int]:
    """``(class, MACs)`` of one convolution: ``cin`` input channels, weight ``[Cout, Cin/g, kh, kw]``, output
    ``[N, Cout, H, W]``. Depthwise: one input channel per group (of several)."""
    kind = "depthwise" if weight[1] == 1 and cin > 1 else ("dense 1x1" if weight[2:] == [1, 1] else "dense kxk")
    return kind, int(np.prod(out[1:])) * int(np.prod(weight[1:]))


def _conv_class(args: dict[str, Any]) -> tuple[str, int]:
    """:func:`conv_class` of one Conv in onnxruntime's profile, from its input / output shapes."""
    x, w = (next(iter(t.values())) for t in args["input_type_shape"][:2])
    return conv_class(x[1], w, next(iter(args["output_type_shape"][0].values())))


def onnx_macs(path: Path) -> dict[str, float]:
    """Multiply-accumulates per convolution class of an ONNX file, in millions (shapes from ONNX shape inference):
    dense 1x1, dense kxk, depthwise (one input channel per group), MatMul/Gemm; ``total_g`` in GMACs."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    dims.update({t.name: list(t.dims) for t in model.graph.initializer})
    macs: collections.Counter = collections.Counter()
    for node in model.graph.node:
        if node.op_type == "Conv":
            kind, n = conv_class(dims[node.input[0]][1], dims[node.input[1]], dims[node.output[0]])
            macs[kind] += n
        elif node.op_type in ("MatMul", "Gemm"):
            a, b = dims[node.input[0]], dims[node.input[1]]
            macs["matmul"] += int(np.prod(a)) * b[-1]
    out_m = {k: round(v / 1e6, 1) for k, v in sorted(macs.items())}
    return {**out_m, "total_g": round(sum(macs.values()) / 1e9, 3)}


def tflite_census(path: Path) -> dict[str, Any]:
    """Op counts of the file and the XNNPACK partitions LiteRT makes of it (1 thread)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    ops = collections.Counter(o["op_name"] for o in interp._get_ops_details())
    partitions = ops.pop("DELEGATE", 0)
    return {"ops": dict(ops.most_common()), "n_ops": sum(ops.values()), "xnnpack_partitions": partitions}


def tflite_runner(path: Path) -> tuple[Any, np.ndarray]:
    from edgedet.runtime.litert import SIGNATURE, interpreter_class

    runner = interpreter_class()[0](model_path=str(path), num_threads=1).get_signature_runner(SIGNATURE)
    name, detail = next(iter(runner.get_input_details().items()))
    x = np.random.default_rng(0).standard_normal(detail["shape"]).astype(np.float32)
    return (lambda a: runner(**{name: a})), x


def onnx_runner(path: Path) -> tuple[Any, np.ndarray]:
    sess = ort_session(path)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    return (lambda a: sess.run(None, {inp.name: a})), x


def export_sections(model: Any, imgsz: int, out: Path) -> dict[str, Path]:
    """Cut sub-models (backbone; + neck; + head, raw outputs) as fp32 ONNX and TFLite, by the export converters."""
    import torch

    from edgedet.export.onnx_file import export_onnx_file
    from edgedet.export.tflite import convert_fp32

    class Cut(torch.nn.Module):
        def __init__(self, upto: str) -> None:
            super().__init__()
            self.m, self.upto = model, upto

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            feats = self.m.backbone(x)
            if self.upto == "backbone":
                return tuple(feats)
            y = self.m.neck(feats)
            return (y,) if self.upto == "neck" else self.m.head(y)

    x = np.random.default_rng(0).standard_normal((1, 3, imgsz, imgsz)).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for upto, n_out in zip(SECTIONS, (4, 1, 2)):
        names = [f"out{i}" for i in range(n_out)]
        files[f"{upto}.onnx"] = export_onnx_file(Cut(upto).eval(), x, out / f"{upto}.onnx", output_names=names)
        files[f"{upto}.tflite"] = convert_fp32(Cut(upto).eval(), x, names, out / f"{upto}.tflite")
    return files


def yolo_e2e(run: Any, nhwc: bool, imgsz: int, score_thr: float, iou_thr: float = 0.7) -> Any:
    """BGR image -> YOLO11n detections: letterbox (pad 114, /255), model, best class, threshold, per-class NMS."""
    from edgedet.deploy.preprocess import PreprocessSpec, boxes_to_original, preprocess_bgr
    from edgedet.runtime.nms import batched_nms_xyxy

    spec = PreprocessSpec(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), pad_value=114)

    def predict(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, info = preprocess_bgr(image, imgsz, spec)
        out = run(np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if nhwc else x)
        pred = np.asarray(next(iter(out.values())) if isinstance(out, dict) else out[0])[0].T  # [N, 4 + C]
        scores_all = pred[:, 4:]
        labels = scores_all.argmax(1)
        scores = scores_all[np.arange(len(pred)), labels]
        keep = scores > score_thr
        cxcywh, scores, labels = pred[keep, :4], scores[keep], labels[keep]
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1)
        kept = batched_nms_xyxy(boxes, scores, labels, iou_thr, max_det=300)
        return boxes_to_original(boxes[kept], info), scores[kept], labels[kept]
    return predict


def build_entries(args: argparse.Namespace, work: Path) -> tuple[dict[str, tuple], dict[str, Any]]:
    import torch

    from edgedet import runtime
    from edgedet.deploy.thresholds import PREDICT_SCORE_THR
    from edgedet.export.api import export
    from edgedet.models.zoo import pafnet_lite_mbv3

    torch.manual_seed(0)
    model = pafnet_lite_mbv3(80).eval()
    res = export(model, formats=["onnx", "tflite"], precisions=["fp32"], imgsz=args.imgsz, out_dir=work / "pafnet",
                 class_names=[str(i) for i in range(80)], model_name="pafnet_lite_mbv3", use_cache=False)
    dirs = {r.format: r for r in res}
    files = {"pafnet.onnx": dirs["onnx"].model_path, "pafnet.tflite": dirs["tflite"].model_path,
             "yolo11n.onnx": Path(args.yolo_onnx), "yolo11n.tflite": Path(args.yolo_tflite)}
    sections = export_sections(model, args.imgsz, work / "sections")
    facts = {"parity": {f: dirs[f].parity["verdict"] for f in dirs},
             "ort_profile": {k: ort_op_profile(files[k], args.profile_runs) for k in ("pafnet.onnx", "yolo11n.onnx")},
             "tflite_census": {k: tflite_census(files[k]) for k in ("pafnet.tflite", "yolo11n.tflite")},
             "macs_m": {k: onnx_macs(files[k]) for k in ("pafnet.onnx", "yolo11n.onnx")}}
    image = np.random.default_rng(0).integers(0, 256, (*IMAGE_HW, 3), dtype=np.uint8)
    entries: dict[str, tuple] = {}
    for name, path in {**files, **{f"pafnet_{k}": v for k, v in sections.items()}}.items():
        entries[name] = (onnx_runner if str(path).endswith(".onnx") else tflite_runner)(path)
    for fmt in ("onnx", "tflite"):
        pred = runtime.load(dirs[fmt].dir, threads=1)
        entries[f"e2e pafnet.{fmt}"] = (lambda im, p=pred: p.predict(im, PREDICT_SCORE_THR), image)
        run, example = entries[f"yolo11n.{fmt}"]  # ultralytics' TFLite file takes NCHW, as its ONNX does
        entries[f"e2e yolo11n.{fmt}"] = (yolo_e2e(run, example.shape[-1] == 3, args.imgsz, PREDICT_SCORE_THR), image)
    return entries, facts


def ratios(lat: dict[str, dict]) -> dict[str, float]:
    p50 = {k: v["p50_ms"] for k, v in lat.items()}
    out = {}
    for fmt in ("onnx", "tflite"):
        out[f"model {fmt}"] = round(p50[f"pafnet.{fmt}"] / p50[f"yolo11n.{fmt}"], 3)
        out[f"e2e {fmt}"] = round(p50[f"e2e pafnet.{fmt}"] / p50[f"e2e yolo11n.{fmt}"], 3)
    out["pafnet tflite / onnx"] = round(p50["pafnet.tflite"] / p50["pafnet.onnx"], 3)
    return out


def sections_ms(lat: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Per runtime: ms of backbone, neck, head, decode from the cut sub-models' medians (differences)."""
    out = {}
    for fmt in ("onnx", "tflite"):
        cum = [lat[f"pafnet_{s}.{fmt}"]["p50_ms"] for s in SECTIONS] + [lat[f"pafnet.{fmt}"]["p50_ms"]]
        out[fmt] = {name: round(b - a, 2) for name, a, b in zip((*SECTIONS, "decode"), [0.0, *cum[:-1]], cum)}
    return out


def markdown(result: dict) -> str:
    lines = ["| model | runtime | op type | ms / call | share | nodes |", "|---|---|---|---:|---:|---:|"]
    for key, prof in result["ort_profile"].items():
        for op, v in list(prof["ops"].items())[:8]:
            lines.append(f"| {key.split('.')[0]} | onnxruntime | {op} | {v['ms']:.2f} | {v['share']:.0%} | {v['nodes']} |")
    lines += ["", "| model | conv class | model MMACs | ORT ms | ORT executed MMACs | GMAC/s |", "|---|---|---:|---:|---:|---:|"]
    for key, prof in result["ort_profile"].items():
        for kind, v in prof["conv_classes"].items():
            model_m = result["macs_m"][key].get(kind, 0.0)
            lines.append(f"| {key.split('.')[0]} | {kind} | {model_m:.1f} | {v['ms']:.2f} | {v['executed_mmacs']:.1f} | "
                         f"{v['gmacs_per_s']:.1f} |")
    lines += ["", "| runtime | backbone | neck | head | decode (ms, differences of cut sub-models) |", "|---|---:|---:|---:|---:|"]
    for fmt, s in result["sections_ms"].items():
        lines.append(f"| {fmt} | " + " | ".join(f"{s[k]:.2f}" for k in (*SECTIONS, "decode")) + " |")
    lines += ["", "| entry | p50 ms | min ms |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['p50_ms']:.2f} | {v['min_ms']:.2f} |" for k, v in result["latency"].items()]
    lines += ["", "| ratio | value |", "|---|---:|"] + [f"| {k} | {v:.3f} |" for k, v in result["ratios"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--yolo-onnx", default="/tmp/yolo11n/yolo11n.onnx")
    ap.add_argument("--yolo-tflite", default="/tmp/yolo11n/yolo11n.tflite")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--profile-runs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path("runs/latency_profile"))
    ap.add_argument("--json", type=Path, default=Path(__file__).with_name("latency_profile.json"))
    args = ap.parse_args(argv)
    for p in (args.yolo_onnx, args.yolo_tflite):
        if not Path(p).is_file():
            raise SystemExit(f"{p} not found: build YOLO11n as benchmarks/export_table/export_table.py's docstring says")
    machine = machine_info(("torch", "onnxruntime", "ai-edge-litert", "litert-torch"))
    entries, facts = build_entries(args, args.out)
    load_before = os.getloadavg()[0]
    samples = time_interleaved(entries, warmup=args.warmup, runs=args.runs)
    lat = {k: latency_stats(v).as_dict() for k, v in samples.items()}
    result = {"command": "python benchmarks/latency_profile/latency_profile.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine, "load_avg_1min_timing_start": round(load_before, 2),
              "load_avg_1min_end": round(os.getloadavg()[0], 2), "imgsz": args.imgsz, "threads": 1,
              "runs": args.runs, "warmup": args.warmup, **facts, "latency": lat, "sections_ms": sections_ms(lat),
              "ratios": ratios(lat)}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
