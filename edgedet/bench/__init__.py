"""Benchmark helpers shared by benchmarks/ and the on-device runner: timing, statistics, machine, result record.

Imports no torch and no runtime, so a torch-free runtime install (a phone, a board) can time itself with it.
The ``edgedet bench`` runner lives beside them: :mod:`edgedet.bench.worker` (runs on the target),
:mod:`edgedet.bench.targets` (host, ssh), :mod:`edgedet.bench.adb`, :mod:`edgedet.bench.runner` (interleaved
rounds, accuracy, parity), :mod:`edgedet.bench.device_binary` and :mod:`edgedet.bench.tool_output` (a device's own
``benchmark_model`` / ``benchmark_bin`` instead of the worker), :mod:`edgedet.bench.report` and
:mod:`edgedet.bench.cli` (the command's arguments and body).
"""

from edgedet.bench.machine import cpu_model, machine_info, package_version
from edgedet.bench.result import BenchmarkResult, HostMeasurement, append_jsonl, measure, read_jsonl
from edgedet.bench.timing import LatencyStats, latency_stats, peak_rss_mb, time_calls, time_interleaved

__all__ = [
    "BenchmarkResult", "HostMeasurement", "LatencyStats", "append_jsonl", "cpu_model", "latency_stats",
    "machine_info", "measure", "package_version", "peak_rss_mb", "read_jsonl", "time_calls", "time_interleaved",
]
