"""Which kernels run an fp32 / int8 export pair on this host and on the emulated ARM64 board; host latency.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/device/op_coverage.py EXPORT_DIR... \\
        [--target ssh://root@127.0.0.1:2222 --ssh-key ~/.cache/edgedet/arm64-key] [--runs 100] \\
        [--json benchmarks/device/op_coverage.json]

Each export file is probed in a fresh process (this file run with ``--probe FILE``; on the board with the board's
``python3``, which needs only numpy and the runtime, no edgedet), so that the runtime's own stderr is captured:

* TFLite: the interpreter as ``edgedet.runtime`` creates it (default delegates: XNNPACK, 1 thread). After
  ``allocate_tensors`` the op list (``Interpreter._get_ops_details``; ai-edge-litert 2.3 has no public one) holds the
  file's M ops followed by one DELEGATE node per XNNPACK partition (K). An op belongs to a partition when it is
  reached walking back from the DELEGATE node's outputs without crossing its inputs; N = the ops in some partition,
  the others run on LiteRT's builtin kernels and are listed by type. LiteRT's own "Replacing N out of M node(s)
  with delegate ... yielding K partitions" line is checked against this when it is printed (ai-edge-litert 2.3's
  Python build logs only "Created TensorFlow Lite XNNPACK delegate for CPU.": that line is below its log level).
* ONNX: onnxruntime with ``SessionOptions.enable_profiling`` (1 thread, all graph optimisations, as
  ``edgedet.runtime``) and one run; the profile names, for every node that ran, its kernel (the op type after
  onnxruntime's fusions: a QDQ group fused into an integer kernel shows as ``QLinearConv``, a float conv as
  ``Conv`` / ``FusedConv`` / ``NchwcConv``) and its execution provider. Chosen over the verbose session log
  because it is the same JSON on both machines and names kernels after fusion, not only placements.

On the host only: the float ops the int8 files keep (:func:`edgedet.quant.float_ops`, a property of the file, not
of the machine), and model-only latency at 1 thread: :func:`edgedet.bench.time_interleaved` (every file once per
round, in a fresh random order) on a fixed random input, p50 = median of ``--runs`` calls. The board's timings are
not taken: emulation is 200-800x slower than a device.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

# onnxruntime kernels that compute in integer (after its QDQ fusions) and float convolution kernels
INT_KERNEL = re.compile(r"^(Nhwc)?QLinear|Integer$")
FLOAT_CONV_KERNELS = frozenset({"Conv", "FusedConv", "NchwcConv", "NhwcFusedConv", "ConvTranspose"})
REPLACING = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, yielding (\d+) partitions")


# ------------------------------------------------------------------------------------------- probe (runs anywhere)
def delegated_ops(ops: list[dict]) -> dict[int, int]:
    """Which graph op each DELEGATE node took: ``{index in the non-DELEGATE ops: partition}``.

    Args:
        ops: ``Interpreter._get_ops_details()`` after ``allocate_tensors`` (``op_name``, ``inputs``, ``outputs``:
            tensor indices, -1 for an absent optional input); the DELEGATE nodes follow the file's ops.
    An op is in a partition when it is reached walking back from the DELEGATE node's outputs without crossing
    its inputs (every tensor a partition reads from outside it is an input of its DELEGATE node).
    """
    graph = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): k for k, op in enumerate(graph) for t in op["outputs"] if int(t) >= 0}
    owner: dict[int, int] = {}
    for p, d in enumerate(op for op in ops if op["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            k = producer.get(t)
            if t in boundary or k is None or k in owner:
                continue
            owner[k] = p
            stack.extend(int(i) for i in graph[k]["inputs"] if int(i) >= 0)
    return owner


def probe_tflite(path: str) -> dict[str, Any]:
    """XNNPACK coverage of a ``.tflite``: M ops, N delegated, K partitions, ops left outside by type and dtype."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # a board with the older wheel only
        from tflite_runtime.interpreter import Interpreter
    import numpy as np

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    ops = interp._get_ops_details()
    dtype = {t["index"]: np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
    graph = [op for op in ops if op["op_name"] != "DELEGATE"]
    owner = delegated_ops(ops)
    # "HARD_SWISH int8": the type and the dtype of the op's first output (quantized and float kernels differ)
    outside = [f"{op['op_name']} {dtype.get(int(op['outputs'][0]), '?')}" for k, op in enumerate(graph) if k not in owner]
    return {"ops": len(graph), "delegated": len(owner), "partitions": len(ops) - len(graph),
            "ops_by_type": dict(collections.Counter(op["op_name"] for op in graph).most_common()),
            "outside_by_type": dict(collections.Counter(outside).most_common())}


def probe_onnx(path: str) -> dict[str, Any]:
    """Kernel and execution provider of every node onnxruntime ran once (profile), counted by kernel."""
    import tempfile

    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "op_coverage_ort")
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    sess.run(None, {inp.name: np.random.default_rng(0).random(inp.shape, dtype=np.float32)})
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    nodes = {e["name"][: -len("_kernel_time")]: (e["args"]["op_name"], e["args"].get("provider", "?"))
             for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")}
    kernels = collections.Counter(op for op, _ in nodes.values())
    return {"nodes": len(nodes), "providers": dict(collections.Counter(p for _, p in nodes.values())),
            "kernels": dict(kernels.most_common()),
            "integer_kernels": sum(n for op, n in kernels.items() if INT_KERNEL.search(op)),
            "float_conv_kernels": sum(n for op, n in kernels.items() if op in FLOAT_CONV_KERNELS),
            "qdq_kernels": kernels["QuantizeLinear"] + kernels["DequantizeLinear"]}


def probe(path: str) -> dict[str, Any]:
    import platform

    result = probe_tflite(path) if path.endswith(".tflite") else probe_onnx(path)
    if path.endswith(".onnx"):
        import onnxruntime
        version = onnxruntime.__version__
    else:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version
        try:
            version = dist_version("ai-edge-litert")
        except PackageNotFoundError:
            version = dist_version("tflite-runtime")
    return {"arch": platform.machine(), "runtime_version": version, **result}


# ------------------------------------------------------------------------------------------- driver (host)
def read_probe(proc: subprocess.CompletedProcess, where: str, path: str) -> dict[str, Any]:
    """A probe's stdout JSON + what the runtime printed to stderr (LiteRT's delegate lines)."""
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"probe of {path} failed on {where} (exit {proc.returncode}): {err.strip()[-800:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["stderr_delegate_lines"] = [ln.strip() for ln in err.splitlines() if "delegate" in ln.lower()]
    m = REPLACING.search(err)
    if m:  # LiteRT's own count, when it prints it, must be the one read from the graph
        n, total, parts = int(m[1]), int(m[2]), int(m[4])
        result["litert_log"] = {"delegated": n, "ops": total, "partitions": parts,
                                "agrees": (n, total, parts) == (result["delegated"], result["ops"], result["partitions"])}
    return result


def model_files(dirs: list[Path]) -> list[Path]:
    files = [f for d in dirs for f in sorted(d.iterdir()) if f.suffix in (".onnx", ".tflite")]
    if not files:
        raise SystemExit(f"no .onnx or .tflite file in {', '.join(map(str, dirs))}: pass `edgedet export` folders")
    return files


def probe_host(files: list[Path]) -> dict[str, dict]:
    return {f.name: read_probe(subprocess.run([sys.executable, __file__, "--probe", str(f)], capture_output=True),
                               "host", str(f)) for f in files}


def probe_board(files: list[Path], target: str, key: str | None) -> dict[str, dict]:
    from edgedet.bench.targets import SshTarget

    board = SshTarget(target, key=key)
    try:
        remote = board.shell("mktemp -d /tmp/op_coverage.XXXXXX").strip().splitlines()[-1]
        board.push(Path(__file__), f"{remote}/op_coverage.py")
        results = {}
        for f in files:
            board.push(f, f"{remote}/{f.name}")
            proc = board.run(f"cd {remote} && python3 op_coverage.py --probe {f.name}", timeout=1800)
            results[f.name] = read_probe(proc, target, f.name)
        board.run(f"rm -rf {remote}")
        return results
    finally:
        board.close()


def host_latency(files: list[Path], warmup: int, runs: int) -> dict[str, dict]:
    """Model-only p50/p95 at 1 thread, every file once per round (interleaved)."""
    import numpy as np

    from edgedet.bench import latency_stats, time_interleaved
    from edgedet.runtime.litert import SIGNATURE, interpreter_class, quantize_input

    calls = {}
    for f in files:
        if f.suffix == ".onnx":
            import onnxruntime as ort
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
            sess = ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"])
            name, shape = sess.get_inputs()[0].name, sess.get_inputs()[0].shape
            calls[f.name] = ((lambda a, s=sess, n=name: s.run(None, {n: a})),
                             np.random.default_rng(0).random(shape, dtype=np.float32))
        else:
            runner = interpreter_class()[0](model_path=str(f), num_threads=1).get_signature_runner(SIGNATURE)
            name, detail = next(iter(runner.get_input_details().items()))
            x = np.random.default_rng(0).random(detail["shape"], dtype=np.float32)
            # quantized outside the timed call: an int8 export's interface takes int8
            calls[f.name] = ((lambda a, r=runner, n=name: r(**{n: a})), quantize_input(x, detail))
    samples = time_interleaved(calls, warmup=warmup, runs=runs)
    return {k: {"p50_ms": round(s.p50_ms, 3), "p95_ms": round(s.p95_ms, 3), "runs": runs}
            for k, s in ((k, latency_stats(v)) for k, v in samples.items())}


def markdown(result: dict) -> str:
    rows = ["| file | machine | runtime | coverage | TFLite: left outside XNNPACK; ONNX: conv kernels | host p50 ms (1 thread) |",
            "|---|---|---|---|---|---|"]
    for name, lat in result["host_latency"].items():
        for machine in ("host", "board"):
            r = result.get(machine, {}).get(name)
            if r is None:
                continue
            if name.endswith(".tflite"):
                cover = f"XNNPACK {r['delegated']}/{r['ops']} ops, {r['partitions']} partitions"
                rest = ", ".join(f"{k} {v}" for k, v in r["outside_by_type"].items()) or "none"
            else:
                cover = (f"{r['integer_kernels']} integer kernels, {r['float_conv_kernels']} float convs, "
                         f"{r['qdq_kernels']} Q/DQ; {', '.join(r['providers'])}")
                rest = ", ".join(f"{k} {v}" for k, v in r["kernels"].items() if "Conv" in k)  # the rest: JSON
            p50 = f"{lat['p50_ms']:.2f}" if machine == "host" else "(emulated: not a figure)"
            rows.append(f"| {name} | {r['arch']} | {r['runtime_version']} | {cover} | {rest} | {p50} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("exports", nargs="*", type=Path, help="`edgedet export` folders (onnx_fp32, tflite_int8, ...)")
    ap.add_argument("--probe", help=argparse.SUPPRESS)  # internal: probe one file in this process, print JSON
    ap.add_argument("--target", help="ssh://user@host:port of the (emulated) ARM board; omit for host only")
    ap.add_argument("--ssh-key")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--json", type=Path, default=Path(__file__).with_name("op_coverage.json"))
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return {}
    from edgedet.bench import machine_info
    from edgedet.quant.float_ops import float_ops

    files = model_files(args.exports)
    result: dict[str, Any] = {"machine": machine_info(("onnxruntime", "ai-edge-litert")),
                              "files": [str(f) for f in files]}
    result["float_ops"] = {f.name: {k: v for k, v in float_ops(f).items() if k != "ops"}
                           for f in files if "int8" in f.name}
    result["host"] = probe_host(files)
    if args.target:
        result["board"] = probe_board(files, args.target, args.ssh_key)
        result["board_note"] = "qemu-user emulated aarch64 (cortex-a76); coverage only, no timings"
    result["host_latency"] = host_latency(files, args.warmup, args.runs)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
