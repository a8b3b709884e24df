"""The benchmark result record (one JSON object per run, appended to a JSONL file) and a host measurement.

The record is the contract between whatever measures (the Python worker on a host or an ssh board, the Android
app, a device's own benchmark binary) and whatever reports (tables, plots): a measurement fills it, ``to_json``
writes one line, ``from_json`` reads it back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edgedet.bench.timing import Clock, LatencyStats, latency_stats, peak_rss_mb, time_calls

_LATENCY_KEYS = tuple(f.name for f in fields(LatencyStats))


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark run of one model file on one target with one runtime setting.

    Args:
        model: what ran: the export directory or model file, as the caller names it.
        target: ``host``, ``ssh://user@host[:port]`` or ``adb[:serial]``.
        device: device model / SoC (on a host: the CPU model).
        os: operating system and version, e.g. ``Linux 6.8.0`` or ``Android 14``.
        runtime: ``onnxruntime``, ``litert``, ``paddle``, ``paddle-lite`` or ``pytorch``.
        runtime_version: the runtime's version, None if unknown.
        delegate: ``xnnpack``, ``nnapi``, ``gpu``, ...; None for the runtime's default CPU path.
        threads: intra-op threads the runtime was given.
        precision: ``fp32``, ``fp16`` or ``int8``.
        input_size: (height, width) of the model input in pixels.
        warmup: untimed calls between the first call and the timed ones.
        latency: statistics of the timed calls (their count is ``latency.runs``).
        init_ms: loading the model file until it can run; first_ms: the first call (lazy initialisation).
        peak_rss_mb: the process's peak resident memory after the runs.
        model_size_mb: size of the file(s) that ship.
        emulated: measured on an emulated board: never to be quoted as device speed.
        ap: COCO AP@[.5:.95] (mAP) measured through this runtime on this target, when measured (from the
            detections the target produced, scored on the host by pycocotools).
        format: the export format (``onnx``, ``tflite``, ``paddle``, ``paddle-lite``).
        arch: the target's machine architecture (``x86_64``, ``aarch64``).
        core_mask: the cores the run was pinned to, comma-separated indices.
        load_avg_1min: the target's load average when the model was loaded (None where it has none).
        cpu_temp_c: the target's hottest thermal zone after the runs (None where it exposes none).
        simd: the vector / int8 dot-product features the target's CPU reports
            (:data:`edgedet.bench.machine.SIMD_FEATURES`, e.g. ``asimd asimdhp asimddp`` on a Cortex-A76); they
            decide which int8 kernels run. None when unknown (records written before the field).
        ap_host: the host's AP for the same export file on the same images; ap_delta = ap - ap_host.
        parity_max_abs_diff: max |target - host| over the raw outputs for the host's preprocessed tensor of the first
            accuracy image (the runtime alone; None: not compared).
        parity_input_max_abs_diff: max |target - host| over that image's preprocessed tensor (the device's
            OpenCV decode + letterbox against the host's).
        parity_detections: "same" when every image gave the same detections (labels equal, boxes and scores within
            1e-3) on the target and the host, else how many images differed.
        runner: what measured: ``edgedet-worker`` (the Python worker), ``demo-app`` (the Android app's benchmark
            mode), ``benchmark_model`` (TFLite's binary) or ``benchmark_bin`` (Paddle-Lite's), given with
            ``--device-binary``; None in records written before the field existed.
        runner_sha256: sha256 of the ``--device-binary`` file that ran (None for the worker and the app).
        tool_mem_init_mb, tool_mem_overall_mb: ``benchmark_model``'s own memory lines, how much the process's memory
            grew from the tool's start to the end of initialisation and to the end of the runs (the tool calls them
            approximate; not a peak RSS, so ``peak_rss_mb`` stays None for it).
    """

    model: str
    target: str
    device: str
    os: str
    runtime: str
    runtime_version: str | None
    delegate: str | None
    threads: int
    precision: str
    input_size: tuple[int, int]
    warmup: int
    latency: LatencyStats
    init_ms: float | None = None
    first_ms: float | None = None
    peak_rss_mb: float | None = None
    model_size_mb: float | None = None
    emulated: bool = False
    ap: float | None = None
    format: str | None = None
    arch: str | None = None
    core_mask: str | None = None
    load_avg_1min: float | None = None
    cpu_temp_c: float | None = None
    simd: str | None = None
    ap_host: float | None = None
    ap_delta: float | None = None
    parity_max_abs_diff: float | None = None
    parity_input_max_abs_diff: float | None = None
    parity_detections: str | None = None
    runner: str | None = None
    runner_sha256: str | None = None
    tool_mem_init_mb: float | None = None
    tool_mem_overall_mb: float | None = None

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        size = tuple(self.input_size)
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ValueError(f"input_size must be (height, width) in pixels, got {self.input_size!r}")
        object.__setattr__(self, "input_size", size)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: the latency statistics sit beside the other fields (``runs``, ``mean_ms``, ...)."""
        d: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "latency":
                d.update(value.as_dict(ndigits=None))
            else:
                d[f.name] = list(value) if f.name == "input_size" else value
        return d

    def to_json(self) -> str:
        """One line of JSON (a JSONL record), keys in field order."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkResult:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ValueError."""
        names = {f.name for f in fields(cls)} - {"latency"}
        known = names | set(_LATENCY_KEYS)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown benchmark result keys {unknown}; known: {sorted(known)}")
        missing = sorted(k for k in _LATENCY_KEYS if k not in d)
        if missing:
            raise ValueError(f"benchmark result lacks latency keys {missing}")
        latency = LatencyStats(**{k: d[k] for k in _LATENCY_KEYS})
        kw = {k: v for k, v in d.items() if k in names}
        if "input_size" in kw:
            kw["input_size"] = tuple(kw["input_size"])
        try:
            return cls(latency=latency, **kw)
        except TypeError as e:  # a required field absent
            raise ValueError(f"incomplete benchmark result: {e}") from None

    @classmethod
    def from_json(cls, line: str) -> BenchmarkResult:
        return cls.from_dict(json.loads(line))


def append_jsonl(path: Path, results: Iterable[BenchmarkResult]) -> None:
    """Append one line per result to ``path`` (created if absent)."""
    with open(path, "a", encoding="utf-8") as f:
        for r in results:
            f.write(r.to_json() + "\n")


def read_jsonl(path: Path) -> list[BenchmarkResult]:
    """Every result in a JSONL file written by :func:`append_jsonl` (blank lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [BenchmarkResult.from_json(line) for line in lines if line.strip()]


@dataclass(frozen=True)
class HostMeasurement:
    """What :func:`measure` times: the parts of a :class:`BenchmarkResult` a measuring process knows."""

    init_ms: float
    first_ms: float
    warmup: int
    latency: LatencyStats
    peak_rss_mb: float | None


def measure(load: Callable[[], Callable[[Any], Any]], x: Any, *, warmup: int, runs: int,
            clock: Clock = time.perf_counter) -> HostMeasurement:
    """Time loading a model, its first call, then ``warmup`` untimed and ``runs`` timed calls on ``x``.

    Args:
        load: builds the callable (e.g. ``lambda: runtime.load(d, threads=1).run``); its duration is ``init_ms``.
        x: the fixed input of every call.
        clock: seconds; injected by tests.
    """
    t0 = clock()
    fn = load()
    t1 = clock()
    fn(x)
    t2 = clock()
    samples = time_calls(fn, x, warmup=warmup, runs=runs, clock=clock)
    return HostMeasurement(init_ms=(t1 - t0) * 1e3, first_ms=(t2 - t1) * 1e3, warmup=warmup,
                           latency=latency_stats(samples), peak_rss_mb=peak_rss_mb())
