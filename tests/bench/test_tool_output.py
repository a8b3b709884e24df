"""The readers of benchmark_model's and benchmark_bin's output, on samples in the formats their sources print
(tensorflow/lite/tools/benchmark: benchmark_model.cc, logging.h, stats_calculator.h; Paddle-Lite
lite/api/tools/benchmark/benchmark.cc and the older lite/api/benchmark.cc). The numbers are made up; the line
formats, prefixes, spacing and number formats are the tools'."""

from __future__ import annotations

import pytest

from edgedet.bench.device_binary import describe_failure
from edgedet.bench.tool_output import ToolOutputError, parse_benchmark_bin, parse_benchmark_model

NOTE = ("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual "
        "memory footprint of the model at runtime. Take the information at your discretion.")


def _setw(value: str) -> str:
    """A benchmark_bin Perf Info value: std::left << std::setw(12), so padded with spaces to 12 characters."""
    return value.ljust(12)


# older releases logged without a prefix and printed the growth of peak RSS as "Peak memory footprint"
MODEL_OLD = f"""STARTING!
Log parameter values verbosely: [0]
Num threads: [4]
Graph: [/data/local/tmp/edgedet-bench-0a1b2c3d/0_model.tflite]
#threads used for CPU inference: [4]
Loaded model /data/local/tmp/edgedet-bench-0a1b2c3d/0_model.tflite
INFO: Initialized TensorFlow Lite runtime.
The input model file size (MB): 1.41872
Initialized session in 3.217ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=21 first=61209 curr=23384 min=23117 max=61209 avg=25219.7 std=8127

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=23522 curr=23471 min=23002 max=24937 avg=23618.4 std=387

Inference timings in us: Init: 3217, First inference: 61209, Warmup (avg): 25219.7, Inference (avg): 23618.4
{NOTE}
Peak memory footprint (MB): init=2.98828 overall=17.0234
"""

# current releases: "INFO: " on every line, one warm-up run ("all same" form), a slow model whose average the
# stream prints in scientific notation, op profiling on (its "Timings (microseconds): count=" lines must not be
# taken for the run statistics), the newer memory line and the periodic peak line
MODEL_NEW = f"""INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [3]
INFO: Num threads: [1]
INFO: Min warmup runs: [1]
INFO: Graph: [/tmp/edgedet-bench-9f8e7d6c/0_model.tflite]
INFO: Enable op profiling: [1]
INFO: Loaded model /tmp/edgedet-bench-9f8e7d6c/0_model.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: The input model file size (MB): 23.1
INFO: Initialized session in 412.5ms.
INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=1534211

INFO: Running benchmark for at least 3 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=3 first=1254000 curr=1230001 min=1230001 max=1254000 avg=1.23457e+06 std=11264

INFO: Profiling Info for Benchmark Initialization:
Timings (microseconds): count=1 curr=411890
Memory (bytes): count=0
INFO: Inference timings in us: Init: 412500, First inference: 1534211, Warmup (avg): 1.53421e+06, Inference (avg): 1.23457e+06
INFO: {NOTE}
INFO: Memory footprint delta from the start of the tool (MB): init=31.25 overall=58.5
INFO: Overall peak memory footprint (MB) via periodic monitoring: 92.1
"""

# --warmup 0: the warm-up stats are empty, "First inference" is the 0 of an empty Stat and its average a NaN;
# every timed run took the same time
MODEL_NO_WARMUP = """INFO: STARTING!
INFO: Running benchmark for at least 0 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=0

INFO: Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=5 curr=2000(all same)

INFO: Inference timings in us: Init: 1500, First inference: 0, Warmup (avg): -nan, Inference (avg): 2000
"""

MODEL_FAILED = """INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/edgedet-bench-0a1b2c3d/0_model.tflite]
ERROR: Failed to mmap model /data/local/tmp/edgedet-bench-0a1b2c3d/0_model.tflite
ERROR: Benchmarking failed.
"""

BIN_NEW = "\n".join([
    "", "======= Model Info =======", "optimized_model_file: /data/local/tmp/edgedet-bench-0a1b2c3d/0_model.nb",
    "input_data_path: All 1.f", "input_shape: 1,3,320,320", "output tensor num: 1", "--- output tensor 0 ---",
    "output shape(NCHW): {1, 100, 4}", "output tensor 0 elem num: 400", "output tensor 0 mean value: 117.3",
    "output tensor 0 standard deviation: 80.1", "",
    "======= Runtime Info =======", "benchmark_bin version: v2.13-rc", "threads: 2", "power_mode: 3", "warmup: 10",
    "repeats: 100", "result_path: ", "",
    "======= Backend Info =======", "backend: arm", "cpu precision: fp32", "",
    "======= Perf Info =======", "Time(unit: ms):", f"init  = {_setw('41.837')}", f"first = {_setw('58.102')}",
    f"min   = {_setw('25.004')}", f"max   = {_setw('31.976')}", f"avg   = {_setw('26.118')}", "",
    "Memory Usage(unit: MB):", f"init  = {_setw('18.250')}", f"peak  = {_setw('36.500')}", "", ""])

# the older lite/api/benchmark.cc: glog lines, min/max only in the --result_path file (printed by the runner after the run)
BIN_LEGACY = """raw_input_shapes: 1,3,320,320
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:274 Run] --------Summary information--------
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:275 Run] model_path: /data/local/tmp/edgedet-bench-0a1b2c3d/0_model.nb
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:278 Run] threads: 1
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:279 Run] power_mode: 3
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:282 Run] warmup: 10
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:283 Run] repeats: 100
[I  6/15 10:23:41.542 ...lite/api/benchmark.cc:285 Run] latency(ms): 71.2043
0_model                       min = 69.48200    max = 80.13100    average = 71.20430
"""

# a required flag missing: benchmark_bin prints its usage and exits 0
BIN_USAGE = "\nNote: \n  If load the optimized model, set --optimized_model_file. \n"


def test_benchmark_model_old_format_without_prefix():
    t = parse_benchmark_model(MODEL_OLD)
    lat = t.latency
    assert (lat.runs, lat.mean_ms, lat.std_ms, lat.min_ms, lat.max_ms) == (50, 23.6184, 0.387, 23.002, 24.937)
    assert lat.p50_ms is lat.p95_ms is lat.p99_ms is None  # the tool prints no percentiles: none invented
    assert (t.init_ms, t.first_ms, t.warmup_runs) == (3.217, 61.209, 21)
    assert (t.mem_init_mb, t.mem_overall_mb) == (2.98828, 17.0234)


def test_benchmark_model_new_format_all_same_warmup_and_scientific_notation():
    t = parse_benchmark_model(MODEL_NEW)
    assert (t.latency.runs, t.latency.mean_ms, t.latency.min_ms, t.latency.max_ms) == (3, 1234.57, 1230.001, 1254.0)
    assert t.latency.std_ms == pytest.approx(11.264)
    assert (t.init_ms, t.first_ms, t.warmup_runs) == (412.5, 1534.211, 1)
    assert (t.mem_init_mb, t.mem_overall_mb) == (31.25, 58.5)  # not the periodic peak line


def test_benchmark_model_without_warmup_has_no_first_call():
    t = parse_benchmark_model(MODEL_NO_WARMUP)
    assert t.first_ms is None and t.warmup_runs == 0  # the printed 0 measured nothing
    assert (t.latency.runs, t.latency.mean_ms, t.latency.min_ms, t.latency.max_ms, t.latency.std_ms) == \
        (5, 2.0, 2.0, 2.0, 0.0)
    assert t.mem_init_mb is None and t.mem_overall_mb is None  # no memory line: None, not 0


def test_benchmark_model_failed_run_names_the_missing_line():
    with pytest.raises(ToolOutputError, match=r"no 'Inference timings in us: Init: I, First inference: F, .*' line; "
                                              r"its last lines: .*Failed to mmap model .* \| ERROR: Benchmarking failed\."):
        parse_benchmark_model(MODEL_FAILED)
    msg = describe_failure("benchmark_model", 1, MODEL_FAILED, "adb:R58M", "aarch64")
    assert msg.startswith("benchmark_model exited with status 1 on adb:R58M; its last lines: ")
    assert msg.endswith("ERROR: Failed to mmap model /data/local/tmp/edgedet-bench-0a1b2c3d/0_model.tflite | "
                        "ERROR: Benchmarking failed.") and "\n" not in msg


def test_benchmark_model_truncated_output_names_the_count_line():
    cut = "\n".join(ln for ln in MODEL_OLD.splitlines() if not ln.startswith("count="))
    with pytest.raises(ToolOutputError, match=r"no 'count=N first=F curr=C min=m max=M avg=A std=S' line"):
        parse_benchmark_model(cut)


def test_benchmark_bin_perf_block_not_the_memory_block():
    t = parse_benchmark_bin(BIN_NEW)
    assert (t.latency.runs, t.latency.mean_ms, t.latency.min_ms, t.latency.max_ms) == (100, 26.118, 25.004, 31.976)
    assert t.latency.std_ms is None and t.latency.p50_ms is None
    assert (t.init_ms, t.first_ms, t.version) == (41.837, 58.102, "v2.13-rc")  # init from Time, not Memory


def test_benchmark_bin_legacy_log_and_result_file():
    t = parse_benchmark_bin(BIN_LEGACY)
    assert (t.latency.runs, t.latency.mean_ms, t.latency.min_ms, t.latency.max_ms) == (100, 71.2043, 69.482, 80.131)
    assert t.init_ms is None and t.first_ms is None  # the old tool does not time them


def test_benchmark_bin_usage_or_cut_output_names_the_expected_lines():
    with pytest.raises(ToolOutputError, match=r"neither a '======= Perf Info =======' block"):
        parse_benchmark_bin(BIN_USAGE)
    with pytest.raises(ToolOutputError, match=r"lacks the 'avg = X' line"):
        parse_benchmark_bin(BIN_NEW.replace("avg   = 26.118", ""))
    assert "init  = 41.837      \n" in BIN_NEW  # the sample keeps the tool's padding


@pytest.mark.parametrize("output, rc", [
    ("sh: 1: ./benchmark_model: Exec format error", 2),  # dash (Debian boards)
    ("/system/bin/sh: ./benchmark_model: not executable: 64-bit ELF file", 126),  # Android's mksh
    ("bash: ./benchmark_model: cannot execute binary file: Exec format error", 126),
])
def test_exec_format_failures_name_the_architecture(output, rc):
    msg = describe_failure("benchmark_model", rc, output, "adb", "armv7l")
    assert msg.startswith("benchmark_model cannot start on adb (armv7l): ") and "built for another architecture" in msg
    assert "use the benchmark_model built for armv7l" in msg


def test_killed_tool_says_so():
    assert "killed on ssh://pi@b (SIGKILL: out of memory?)" in describe_failure("benchmark_bin", 137, "", "ssh://pi@b",
                                                                                "aarch64")
