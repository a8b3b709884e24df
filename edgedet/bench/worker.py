"""The benchmark worker: one process per (export, threads) on the target, driven over stdin/stdout JSON lines.

Runs on the host (a subprocess) and on ssh targets (shipped in the torch-free archive of
:mod:`edgedet.bench.archive`), with that machine's own python, numpy and runtime::

    python3 -m edgedet.bench.worker --model DIR --threads 2 [--cores big|little|all|MASK]

A separate process per export makes its peak resident memory its own. The protocol, one JSON object per line:

* the worker starts: loads the model (``init_ms``), runs it once (``first_ms``) and answers a ``ready`` line with
  what it knows of the target (CPU, OS, runtime and version, precision, input size, emulated);
* ``{"cmd": "warmup", "n": W}`` -> ``{"done": true}`` after ``W`` untimed calls;
* ``{"cmd": "time", "warmup": W, "runs": R}`` -> ``{"samples_ms": [...]}`` (``R`` timed calls after ``W`` untimed);
* ``{"cmd": "predict", "images": [...], "score_thr": t}`` -> detections per image, and the raw outputs of the
  first image and its preprocessed input (base64 float32) for parity;
* ``{"cmd": "run", "x": {"shape", "b64"}}`` -> the raw outputs for exactly that input (the host's tensor:
  parity of the runtime alone, whatever the device's OpenCV does to the pixels);
* ``{"cmd": "close"}`` -> peak RSS, load average, CPU temperature; then it exits.

A failure answers ``{"error": "...", "kind": "..."}`` and exits 3. Imports only the standard library, numpy,
OpenCV, :mod:`edgedet.deploy`, :mod:`edgedet.runtime` and :mod:`edgedet.bench`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# runtime package per edgedet.json "format": the distribution whose version the record carries
RUNTIME_PACKAGES = {"onnx": ("onnxruntime",), "tflite": ("ai-edge-litert", "tflite-runtime"),
                    "paddle": ("paddlepaddle",), "paddle-lite": ("paddlelite",)}
RUNTIME_NAMES = {"onnx": "onnxruntime", "tflite": "litert", "paddle": "paddle", "paddle-lite": "paddle-lite"}


def _send(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def core_groups(cpufreq_root: Path = Path("/sys/devices/system/cpu")) -> dict[str, list[int]]:
    """``{"big": [...], "little": [...], "all": [...]}`` core indices from each core's maximum frequency.

    Cores at the highest ``cpuinfo_max_freq`` are big, at the lowest little; a machine without cpufreq (a VM, an
    emulated board) or with one kind of core has big == little == all.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    freqs = {}
    for c in cores:
        try:
            freqs[c] = int((cpufreq_root / f"cpu{c}" / "cpufreq" / "cpuinfo_max_freq").read_text())
        except (OSError, ValueError):
            pass
    return split_cores(cores, freqs)


def split_cores(cores: list[int], freqs: dict[int, int]) -> dict[str, list[int]]:
    """:func:`core_groups` from the core indices and their maximum frequencies (as read on any device)."""
    if len(freqs) != len(cores) or len(set(freqs.values())) < 2:
        return {"big": cores, "little": cores, "all": cores}
    hi, lo = max(freqs.values()), min(freqs.values())
    return {"big": [c for c in cores if freqs[c] == hi], "little": [c for c in cores if freqs[c] == lo], "all": cores}


def resolve_cores(spec: str, groups: dict[str, list[int]] | None = None) -> list[int]:
    """Core indices for ``big``, ``little``, ``all`` or a hex mask as taskset takes it (``c0`` = cores 6, 7).

    Args:
        groups: the device's :func:`core_groups` (default: this machine's).
    """
    groups = core_groups() if groups is None else groups
    if spec in groups:
        return groups[spec]
    try:
        mask = int(spec, 16)
    except ValueError:
        raise ValueError(f"--cores {spec!r}: use big, little, all or a hex mask such as f0") from None
    cores = [i for i in range(mask.bit_length()) if mask >> i & 1]
    if not cores or not set(cores) <= set(groups["all"]):
        raise ValueError(f"--cores {spec!r} selects cores {cores}, this device offers {groups['all']}: "
                         "give a mask of those (taskset style, e.g. 3 = cores 0 and 1)")
    return cores


def hottest_zone_c(millidegrees: list[str]) -> float | None:
    """The hottest of Linux thermal-zone readings (millidegrees C, as text) in degrees C; None when none parses."""
    temps = [int(v) / 1000.0 for v in (t.strip() for t in millidegrees) if v.lstrip("-").isdigit()]
    return max(temps) if temps else None


def cpu_temperature_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    """The hottest thermal zone in degrees C, None where the device exposes none."""
    readings = []
    for zone in sorted(root.glob("thermal_zone*/temp")):
        try:
            readings.append(zone.read_text())
        except OSError:
            pass
    return hottest_zone_c(readings)


def process_peak_rss_mb(status: Path = Path("/proc/self/status")) -> float | None:
    """This process's own peak RSS in MB: ``VmHWM`` where Linux has it, else ``getrusage``.

    ``getrusage``'s ``ru_maxrss`` survives ``execve``, so a worker started from a big parent (a test runner that
    imported torch) would report the parent's peak; ``VmHWM`` belongs to the worker's own address space.
    """
    from edgedet.bench.timing import peak_rss_mb

    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return peak_rss_mb()


def is_emulated() -> bool:
    """True under qemu-user as benchmarks/device/arm64_board.sh starts it (QEMU_CPU set for every session)."""
    return bool(os.environ.get("QEMU_CPU") or os.environ.get("EDGEDET_EMULATED"))


def _runtime_version(fmt: str) -> tuple[str, str | None]:
    from edgedet.bench.machine import package_version

    for dist in RUNTIME_PACKAGES.get(fmt, ()):
        version = package_version(dist)
        if version:
            name = RUNTIME_NAMES[fmt] if dist != "tflite-runtime" else "tflite-runtime"
            return name, version
    return RUNTIME_NAMES.get(fmt, fmt), None


def _encode(a) -> dict[str, Any]:
    import numpy as np

    a = np.ascontiguousarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(d: dict[str, Any]):
    import numpy as np

    return np.frombuffer(base64.b64decode(d["b64"]), np.float32).reshape(d["shape"])


def _predict(predictor, images: list[str], score_thr: float) -> dict[str, Any]:
    import cv2

    dets, raw = [], None
    for path in images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            dets.append(None)
            continue
        d = predictor.predict(image, score_thr=score_thr)
        dets.append({"boxes": d.boxes.astype(float).round(4).tolist(), "scores": d.scores.astype(float).tolist(),
                     "labels": d.labels.astype(int).tolist()})
        if raw is None:
            x = predictor.preprocess(image)[0]
            raw, first_input = [_encode(o) for o in predictor.run(x)], _encode(x)
    return {"detections": dets, "raw_first": raw, "input_first": first_input if raw is not None else None}


def serve(model: str, threads: int, cores: str) -> None:
    """Load ``model``, answer ``ready``, then serve commands from stdin until ``close`` or end of input."""
    from edgedet import runtime
    from edgedet.bench.machine import cpu_model, load_average_1min, simd_features
    from edgedet.bench.timing import time_calls

    chosen = resolve_cores(cores)
    if hasattr(os, "sched_setaffinity") and cores != "all":
        os.sched_setaffinity(0, chosen)
    load_avg = load_average_1min()
    t0 = time.perf_counter()
    predictor = runtime.load(model, threads=threads)
    t1 = time.perf_counter()
    import numpy as np

    x = predictor.preprocess(np.full((predictor.imgsz, predictor.imgsz, 3), 114, np.uint8))[0]
    predictor.run(x)
    t2 = time.perf_counter()
    fmt = predictor.meta.get("format", "onnx")
    name, version = _runtime_version(fmt)
    _send({"ready": True, "init_ms": (t1 - t0) * 1e3, "first_ms": (t2 - t1) * 1e3, "format": fmt,
           "precision": predictor.meta.get("precision", "fp32"), "input_size": [predictor.imgsz, predictor.imgsz],
           "runtime": name, "runtime_version": version, "device": cpu_model(), "arch": platform.machine(),
           "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
           "cores": os.cpu_count(), "core_mask": ",".join(map(str, chosen)), "emulated": is_emulated(),
           "load_avg_1min": load_avg, "cpu_temp_c": cpu_temperature_c(), "simd": simd_features()})
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        if cmd == "warmup":
            for _ in range(int(msg["n"])):
                predictor.run(x)
            _send({"done": True})
        elif cmd == "time":
            _send({"samples_ms": time_calls(predictor.run, x, warmup=int(msg.get("warmup", 0)),
                                            runs=int(msg["runs"]))})
        elif cmd == "predict":
            _send(_predict(predictor, list(msg["images"]), float(msg["score_thr"])))
        elif cmd == "run":
            _send({"outputs": [_encode(o) for o in predictor.run(_decode(msg["x"]))]})
        elif cmd == "close":
            break
        else:
            _send({"error": f"unknown worker command {cmd!r}", "kind": "protocol"})
    _send({"closed": True, "peak_rss_mb": process_peak_rss_mb(), "load_avg_1min": load_average_1min(),
           "cpu_temp_c": cpu_temperature_c()})


def _error_kind(e: BaseException) -> str:
    if isinstance(e, ImportError):
        return "missing-module"
    if isinstance(e, MemoryError):
        return "memory"
    if isinstance(e, OSError) and getattr(e, "errno", None) == 28:
        return "disk-full"
    return type(e).__name__


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgedet.bench.worker", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="export directory on this machine")
    p.add_argument("--threads", type=int, required=True, help="runtime intra-op threads")
    p.add_argument("--cores", default="all", help="big, little, all or a hex core mask")
    args = p.parse_args(argv)
    try:
        serve(args.model, args.threads, args.cores)
    except Exception as e:  # noqa: BLE001 - the driver turns it into one line with the fix
        missing = getattr(e, "name", None) if isinstance(e, ImportError) else None
        _send({"error": f"{type(e).__name__}: {e}", "kind": _error_kind(e), "module": missing,
               "arch": platform.machine()})
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
