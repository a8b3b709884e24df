"""What a device's own benchmark binary prints, read into the figures of a benchmark record.

Two tools, in the formats their sources print (checked against TensorFlow's and Paddle-Lite's sources):

* TFLite's ``benchmark_model`` (``tensorflow/lite/tools/benchmark``) logs, one per line and, in recent releases,
  with an ``INFO: `` prefix: a ``count=...`` line after the warm-up runs and one after the timed runs, in one of three
  forms (``count=0``; ``count=N curr=X`` when every run took the same time, with ``(all same)`` for N > 1;
  ``count=N first=F curr=C min=m max=M avg=A std=S``), microseconds, ``std`` the population standard deviation
  truncated to whole microseconds; then ``Inference timings in us: Init: I, First inference: F, Warmup (avg): W,
  Inference (avg): A``; then, where the platform reports memory, ``Peak memory footprint (MB): init=X
  overall=Y`` (older releases) or ``Memory footprint delta from the start of the tool (MB): init=X overall=Y``.
  A failed run ends with ``ERROR: Benchmarking failed.`` and exit status 1.
* Paddle-Lite's ``benchmark_bin`` from ``lite/api/tools/benchmark`` (the current tool, since 2021) prints a
  ``======= Perf Info =======`` block, milliseconds: ``init  = X``, ``first = X`` (the first call, warm-up included), ``min``,
  ``max``, ``avg`` (over the ``repeats`` timed calls), after ``benchmark_bin version: vX`` and ``repeats: N``.
  The older ``lite/api/benchmark.cc`` (flag ``--optimized_model_path``) logs ``repeats: N`` and
  ``latency(ms): A`` and appends ``<name> min = m max = M average = A`` to its ``--result_path`` file, which the
  runner prints after it.

Nothing a tool does not print is filled in: no percentiles from either, no ``std`` from ``benchmark_bin``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgedet.bench.targets import BenchError
from edgedet.bench.timing import LatencyStats

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|-?nan|-?inf"  # what a C++ stream prints for a double
_PREFIX = r"^(?:INFO: )?"

COUNT_LINE = "count=N first=F curr=C min=m max=M avg=A std=S"
TIMINGS_LINE = "Inference timings in us: Init: I, First inference: F, Warmup (avg): W, Inference (avg): A"
PERF_BLOCK = "Time(unit: ms): init = X / first = X / min = X / max = X / avg = X"
OLD_BIN_LINE = "latency(ms): A (and '<name> min = m max = M average = A' from --result_path)"


class ToolOutputError(BenchError):
    """The binary exited 0 but its output lacks a line this module reads; the message names the line."""


@dataclass(frozen=True)
class ToolTimings:
    """What one run of a benchmark binary reported.

    Args:
        latency: the timed runs (milliseconds); figures the tool does not print are None.
        init_ms: loading the model until it can run; first_ms: the first call (None when the tool made none
            before the timed runs and does not report one).
        warmup_runs: warm-up calls the tool says it made (None when it does not say).
        version: the tool's version where it prints one.
        mem_init_mb, mem_overall_mb: ``benchmark_model``'s memory growth figures (see
            :class:`~edgedet.bench.result.BenchmarkResult`).
    """

    latency: LatencyStats
    init_ms: float | None
    first_ms: float | None
    warmup_runs: int | None = None
    version: str | None = None
    mem_init_mb: float | None = None
    mem_overall_mb: float | None = None


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def _stat(line: str) -> dict[str, float] | None:
    """The numbers of one ``count=...`` line (``count``, and ``first curr min max avg std`` where printed)."""
    m = re.search(_PREFIX + r"count=(\d+)(.*)$", line.strip())
    if not m:
        return None
    out = {"count": float(m.group(1))}
    out.update({k: float(v) for k, v in re.findall(r"(\w+)=(" + _NUMBER + ")", m.group(2))})
    if "(all same)" in m.group(2) or (out["count"] >= 1 and "min" not in out and "curr" in out):
        # every run took curr microseconds
        out.update(first=out["curr"], min=out["curr"], max=out["curr"], avg=out["curr"], std=0.0)
    return out


def parse_benchmark_model(text: str) -> ToolTimings:
    """Read the output (stdout and stderr together) of TFLite's ``benchmark_model``.

    Raises:
        ToolOutputError: a line this needs is missing; the message names it.
    """
    lines = text.splitlines()
    at = next((i for i, ln in enumerate(lines) if "Inference timings in us:" in ln), None)
    if at is None:
        raise ToolOutputError(f"benchmark_model printed no '{TIMINGS_LINE}' line; its last lines: {_last_lines(text)}")
    timings = dict(re.findall(r"(Init|First inference|Warmup \(avg\)|Inference \(avg\)): (" + _NUMBER + ")", lines[at]))
    if "Init" not in timings:
        raise ToolOutputError(f"benchmark_model's timings line does not read as '{TIMINGS_LINE}': {lines[at].strip()}")
    stats = [s for s in (_stat(ln) for ln in lines[:at]) if s is not None]
    if len(stats) < 2 or stats[-1]["count"] < 1 or "avg" not in stats[-1]:
        raise ToolOutputError(f"benchmark_model printed no '{COUNT_LINE}' line for its timed runs before "
                              f"'Inference timings in us'; its last lines: {_last_lines(text)}")
    warm, timed = stats[-2], stats[-1]
    latency = LatencyStats(mean_ms=timed["avg"] / 1e3, std_ms=timed["std"] / 1e3 if "std" in timed else None,
                           min_ms=timed["min"] / 1e3, p50_ms=None, p95_ms=None, p99_ms=None,
                           max_ms=timed["max"] / 1e3, runs=int(timed["count"]))
    mem = re.search(r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): init=("
                    + _NUMBER + r") overall=(" + _NUMBER + ")", text)
    # "First inference" is the first warm-up call; with no warm-up call the tool prints a 0 that measured nothing
    first = timings.get("First inference") if warm["count"] >= 1 else None
    return ToolTimings(latency=latency, init_ms=float(timings["Init"]) / 1e3,
                       first_ms=None if first is None else float(first) / 1e3, warmup_runs=int(warm["count"]),
                       mem_init_mb=float(mem.group(1)) if mem else None,
                       mem_overall_mb=float(mem.group(2)) if mem else None)


def parse_benchmark_bin(text: str) -> ToolTimings:
    """Read the output of Paddle-Lite's ``benchmark_bin`` (either generation, see the module docstring).

    Raises:
        ToolOutputError: a line this needs is missing; the message names it.
    """
    repeats = re.search(r"^\s*(?:\[[^\]]*\]\s*)?repeats: (\d+)", text, re.M)
    version = re.search(r"benchmark_bin version: (\S+)", text)
    if "Perf Info" in text:
        # the Time block only: a "Memory Usage" block (--enable_memory_profile) has an "init = " line too
        times = text.partition("Time(unit: ms):")[2].partition("Memory Usage")[0]
        perf = dict(re.findall(r"^(init|first|min|max|avg)\s*=\s*(" + _NUMBER + ")", times, re.M))
        missing = [k for k in ("init", "first", "min", "max", "avg") if k not in perf]
        if missing or not repeats:
            what = f"'{missing[0]} = X'" if missing else "'repeats: N'"
            raise ToolOutputError(f"benchmark_bin's Perf Info lacks the {what} line (expected '{PERF_BLOCK}'); its "
                                  f"last lines: {_last_lines(text)}")
        latency = LatencyStats(mean_ms=float(perf["avg"]), std_ms=None, min_ms=float(perf["min"]), p50_ms=None,
                               p95_ms=None, p99_ms=None, max_ms=float(perf["max"]), runs=int(repeats.group(1)))
        return ToolTimings(latency=latency, init_ms=float(perf["init"]), first_ms=float(perf["first"]),
                           version=version.group(1) if version else None)
    avg = re.search(r"latency\(ms\): (" + _NUMBER + ")", text)
    result = re.search(r"min = (" + _NUMBER + r")\s+max = (" + _NUMBER + r")\s+average = (" + _NUMBER + ")", text)
    if not avg or not result or not repeats:
        raise ToolOutputError(f"benchmark_bin printed neither a '======= Perf Info =======' block ('{PERF_BLOCK}') "
                              f"nor '{OLD_BIN_LINE}'; its last lines: {_last_lines(text)}")
    latency = LatencyStats(mean_ms=float(avg.group(1)), std_ms=None, min_ms=float(result.group(1)), p50_ms=None,
                           p95_ms=None, p99_ms=None, max_ms=float(result.group(2)), runs=int(repeats.group(1)))
    return ToolTimings(latency=latency, init_ms=None, first_ms=None)
