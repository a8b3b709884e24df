"""edgedet.bench.timing: statistics of known durations, timed loops on a fake clock, peak RSS units."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from edgedet.bench import LatencyStats, latency_stats, peak_rss_mb, time_calls, time_interleaved
from edgedet.bench.timing import ru_maxrss_to_mb


class FakeClock:
    """Seconds that move only when a timed function says so; every duration below is a power of two (exact)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stats_of_1_to_40_ms():
    s = latency_stats([float(v) for v in range(40, 0, -1)])  # order must not matter
    assert (s.mean_ms, s.min_ms, s.p50_ms, s.max_ms, s.runs) == (20.5, 1.0, 20.5, 40.0, 40)
    assert s.p95_ms == 39.0  # sorted index floor(0.95 * 40) = 38, the rule of the recorded figures
    assert s.p99_ms == 40.0  # index 39
    assert s.std_ms == pytest.approx(math.sqrt(40 * 41 / 12), rel=1e-12)  # sample std of 1..n: sqrt(n(n+1)/12)


def test_upper_percentiles_at_100_and_20_samples():
    s = latency_stats([float(v) for v in range(1, 101)])
    assert (s.p50_ms, s.p95_ms, s.p99_ms) == (50.5, 96.0, 100.0)
    s = latency_stats([float(v) for v in range(1, 21)])
    assert (s.p50_ms, s.p95_ms, s.p99_ms) == (10.5, 20.0, 20.0)


def test_stats_odd_count_and_single_sample():
    s = latency_stats([5.0, 1.0, 3.0])
    assert s == LatencyStats(mean_ms=3.0, std_ms=2.0, min_ms=1.0, p50_ms=3.0, p95_ms=5.0, p99_ms=5.0, max_ms=5.0, runs=3)
    one = latency_stats([7.5])
    assert one == LatencyStats(mean_ms=7.5, std_ms=0.0, min_ms=7.5, p50_ms=7.5, p95_ms=7.5, p99_ms=7.5, max_ms=7.5, runs=1)


@pytest.mark.parametrize("bad", [[], [1.0, -0.5], [1.0, float("nan")], [float("inf")]])
def test_stats_reject_empty_negative_and_non_finite(bad):
    with pytest.raises(ValueError):
        latency_stats(bad)


def test_as_dict_rounds_milliseconds_not_runs():
    s = LatencyStats(mean_ms=1.23456, std_ms=0.005, min_ms=1.0, p50_ms=1.2, p95_ms=2.345678, p99_ms=3.0, max_ms=3.0, runs=7)
    assert s.as_dict() == {"mean_ms": 1.23, "std_ms": 0.01, "min_ms": 1.0, "p50_ms": 1.2, "p95_ms": 2.35, "p99_ms": 3.0,
                           "max_ms": 3.0, "runs": 7}
    assert s.as_dict(ndigits=None)["mean_ms"] == 1.23456
    # a device tool's summary without percentiles or std keeps them absent, rounded or not
    tool = LatencyStats(mean_ms=5.00025, std_ms=None, min_ms=4.9, p50_ms=None, p95_ms=None, p99_ms=None, max_ms=5.4,
                        runs=7)
    assert tool.as_dict() == {"mean_ms": 5.0, "std_ms": None, "min_ms": 4.9, "p50_ms": None, "p95_ms": None,
                              "p99_ms": None, "max_ms": 5.4, "runs": 7}


def test_time_calls_times_only_the_runs_after_warmup():
    clock = FakeClock()
    steps = iter([8.0, 8.0, 0.5, 0.25, 0.125])  # two slow warmup calls, then three timed ones (seconds)
    seen = []

    def fn(x):
        seen.append(x)
        clock.now += next(steps)

    assert time_calls(fn, "img", warmup=2, runs=3, clock=clock) == [500.0, 250.0, 125.0]
    assert seen == ["img"] * 5


def test_time_calls_rejects_zero_runs():
    with pytest.raises(ValueError, match="runs >= 1"):
        time_calls(lambda x: x, 0, warmup=0, runs=0)


def test_time_interleaved_attributes_each_duration_to_its_entry():
    clock = FakeClock()
    calls = []

    def make(name, seconds):
        def fn(x):
            calls.append((name, x))
            clock.now += seconds
        return fn

    fns = {"a": (make("a", 0.5), 0), "b": (make("b", 0.25), 1), "c": (make("c", 0.125), 2)}
    times = time_interleaved(fns, warmup=2, runs=30, clock=clock)
    assert times == {"a": [500.0] * 30, "b": [250.0] * 30, "c": [125.0] * 30}
    assert all(x == "abc".index(n) for n, x in calls)  # each entry gets its own fixed input
    assert [n for n, _ in calls[:6]] == list("abcabc")  # warmup rounds in insertion order
    timed = [n for n, _ in calls[6:]]
    assert all(sorted(timed[i:i + 3]) == list("abc") for i in range(0, 90, 3))  # every entry once per round
    assert {timed[i] for i in range(0, 90, 3)} == {"a", "b", "c"}  # the order changes between rounds


def test_time_interleaved_order_is_seeded():
    def order(seed):
        calls = []
        fns = {n: (lambda x, n=n: calls.append(n), None) for n in "abcd"}
        time_interleaved(fns, warmup=0, runs=10, seed=seed)
        return calls

    assert order(0) == order(0)
    assert order(0) != order(1)


def test_ru_maxrss_units():
    assert ru_maxrss_to_mb(2048, "linux") == 2.0  # KiB
    assert ru_maxrss_to_mb(3 * 2**20, "darwin") == 3.0  # bytes


def _proc_status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(key)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_rss_is_the_kernels_high_water_mark_and_sees_an_allocation():
    rss_before = _proc_status_mb("VmRSS")
    block = b"\x01" * (64 * 2**20)  # 64 MiB, every page written
    hwm_lo = _proc_status_mb("VmHWM")
    peak = peak_rss_mb()
    hwm_hi = _proc_status_mb("VmHWM")
    # getrusage reads the kernel's approximate per-CPU RSS counters, /proc the summed exact ones: a few pages apart
    assert hwm_lo - 4 <= peak <= hwm_hi + 4
    assert peak >= rss_before + 60
    del block
