"""Host timing: warmup then timed calls, latency statistics of the samples, peak resident memory.

Statistics are computed from a plain list of per-call durations in milliseconds, so the same function summarises
host timings here and the durations a device sends back later.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Clock = Callable[[], float]  # seconds, monotonic


@dataclass(frozen=True)
class LatencyStats:
    """Summary of ``runs`` timed calls, in milliseconds.

    ``p50_ms`` is the median (the mean of the two middle samples for an even count). ``p95_ms`` and ``p99_ms`` are
    the sample at sorted index ``floor(q * runs)`` (the last one where that passes the end): the rule every figure
    recorded under benchmarks/ was computed with, kept so that new runs compare with them. ``std_ms`` is the sample
    standard deviation (n - 1), 0.0 for a single run.

    A summary printed by a device's own benchmark binary (:mod:`edgedet.bench.tool_output`) has only what that tool
    prints: the percentiles it does not give are None (TFLite's ``benchmark_model``: no percentiles, a population
    ``std`` in whole microseconds; Paddle-Lite's ``benchmark_bin``: no ``std`` either), never estimated.
    """

    mean_ms: float
    std_ms: float | None
    min_ms: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float
    runs: int

    def as_dict(self, ndigits: int | None = 2) -> dict[str, float | int | None]:
        """The fields as a dict, milliseconds rounded to ``ndigits`` (None: unrounded; absent figures stay None)."""
        d = asdict(self)
        if ndigits is not None:
            d = {k: v if k == "runs" or v is None else round(v, ndigits) for k, v in d.items()}
        return d


def _upper_percentile(ordered: Sequence[float], percent: int) -> float:
    # integer arithmetic: floor(0.95 * n) in floating point agrees for every n tried, but need not in general
    return ordered[min(len(ordered) - 1, len(ordered) * percent // 100)]


def latency_stats(samples_ms: Sequence[float]) -> LatencyStats:
    """Summarise per-call durations.

    Args:
        samples_ms: durations of the timed calls in milliseconds, in any order (warmup calls excluded).

    Raises:
        ValueError: no samples, or a sample that is negative or not finite.
    """
    if len(samples_ms) == 0:
        raise ValueError("latency_stats needs at least one duration; was the timed loop run with runs=0?")
    bad = [v for v in samples_ms if not math.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"durations must be finite and >= 0 ms, got {bad[:3]}")
    s = sorted(float(v) for v in samples_ms)
    return LatencyStats(
        mean_ms=statistics.fmean(s), std_ms=statistics.stdev(s) if len(s) > 1 else 0.0, min_ms=s[0],
        p50_ms=statistics.median(s), p95_ms=_upper_percentile(s, 95), p99_ms=_upper_percentile(s, 99),
        max_ms=s[-1], runs=len(s))


def _check_counts(warmup: int, runs: int) -> None:
    if warmup < 0 or runs < 1:
        raise ValueError(f"need warmup >= 0 and runs >= 1, got warmup={warmup}, runs={runs}")


def time_calls(fn: Callable[[Any], Any], x: Any, *, warmup: int, runs: int,
               clock: Clock = time.perf_counter) -> list[float]:
    """Call ``fn(x)`` ``warmup`` times untimed, then ``runs`` times timed.

    Args:
        fn: the call to time; x: its fixed input.
        clock: seconds; injected by tests.

    Returns:
        ``runs`` durations in milliseconds, in call order.
    """
    _check_counts(warmup, runs)
    for _ in range(warmup):
        fn(x)
    out = []
    for _ in range(runs):
        t0 = clock()
        fn(x)
        out.append((clock() - t0) * 1e3)
    return out


def time_interleaved(fns: dict[str, tuple[Callable[[Any], Any], Any]], *, warmup: int, runs: int, seed: int = 0,
                     clock: Clock = time.perf_counter) -> dict[str, list[float]]:
    """Time several calls round-robin, in a fresh seeded random order every round.

    Interleaving makes background load on a shared machine hit every entry alike, and the changing order keeps
    one entry from always running right after the same other one (warm caches, a thread pool just woken).

    Args:
        fns: name -> (callable, its fixed input).
        warmup: untimed rounds first (every entry once per round, in insertion order); runs: timed rounds.
        seed: seed of the per-round order.
        clock: seconds; injected by tests.

    Returns:
        name -> ``runs`` durations in milliseconds, in round order.
    """
    _check_counts(warmup, runs)
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n][0](fns[n][1])
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(runs):
        for i in rng.permutation(len(names)):
            fn, x = fns[names[i]]
            t0 = clock()
            fn(x)
            times[names[i]].append((clock() - t0) * 1e3)
    return times


def ru_maxrss_to_mb(ru_maxrss: int, platform: str = sys.platform) -> float:
    """``getrusage().ru_maxrss`` in MB (2**20 bytes): Linux reports KiB, macOS bytes."""
    return ru_maxrss / 2**20 if platform == "darwin" else ru_maxrss / 1024


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far, in MB; None where the OS does not report it (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return ru_maxrss_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
