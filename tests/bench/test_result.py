"""edgedet.bench.result: the JSONL record (flat keys, round trip, errors) and the host measurement."""

from __future__ import annotations

import json
import sys

import pytest

from edgedet.bench import BenchmarkResult, LatencyStats, append_jsonl, measure, read_jsonl

LAT = LatencyStats(mean_ms=3.25, std_ms=0.5, min_ms=2.75, p50_ms=3.0, p95_ms=4.0, p99_ms=4.5, max_ms=5.0, runs=50)


def _result(**kw) -> BenchmarkResult:
    base = dict(model="runs/export/onnx_int8", target="adb:R58M", device="Qualcomm SM8150", os="Android 14",
                runtime="litert", runtime_version="2.3.0", delegate="xnnpack", threads=4, precision="int8",
                input_size=(192, 320), warmup=5, latency=LAT, init_ms=41.5, first_ms=12.25, peak_rss_mb=88.5,
                model_size_mb=1.55, emulated=False, ap=0.2284)
    return BenchmarkResult(**{**base, **kw})


def test_to_json_is_one_flat_line_in_field_order():
    line = _result().to_json()
    assert "\n" not in line
    assert json.loads(line) == {
        "model": "runs/export/onnx_int8", "target": "adb:R58M", "device": "Qualcomm SM8150", "os": "Android 14",
        "runtime": "litert", "runtime_version": "2.3.0", "delegate": "xnnpack", "threads": 4, "precision": "int8",
        "input_size": [192, 320], "warmup": 5, "mean_ms": 3.25, "std_ms": 0.5, "min_ms": 2.75, "p50_ms": 3.0,
        "p95_ms": 4.0, "p99_ms": 4.5, "max_ms": 5.0, "runs": 50, "init_ms": 41.5, "first_ms": 12.25,
        "peak_rss_mb": 88.5, "model_size_mb": 1.55, "emulated": False, "ap": 0.2284, "format": None, "arch": None,
        "core_mask": None, "load_avg_1min": None, "cpu_temp_c": None, "simd": None, "ap_host": None, "ap_delta": None,
        "parity_max_abs_diff": None, "parity_input_max_abs_diff": None, "parity_detections": None, "runner": None,
        "runner_sha256": None, "tool_mem_init_mb": None, "tool_mem_overall_mb": None}
    assert list(json.loads(line))[:3] == ["model", "target", "device"]


def test_json_round_trip_with_and_without_optional_fields():
    full = _result()
    assert BenchmarkResult.from_json(full.to_json()) == full
    bare = BenchmarkResult(model="m", target="host", device="AMD EPYC", os="Linux 6.8", runtime="onnxruntime",
                           runtime_version=None, delegate=None, threads=1, precision="fp32", input_size=[320, 320],
                           warmup=0, latency=LAT)
    assert bare.input_size == (320, 320)  # a JSON list becomes the tuple again
    back = BenchmarkResult.from_json(bare.to_json())
    assert back == bare and back.ap is None and back.emulated is False
    # a device binary's record: no percentiles, the tool and its hash, its memory lines
    tool_lat = LatencyStats(mean_ms=5.0, std_ms=None, min_ms=4.9, p50_ms=None, p95_ms=None, p99_ms=None, max_ms=5.4,
                            runs=7)
    tool = _result(latency=tool_lat, peak_rss_mb=None, runner="benchmark_model", runner_sha256="ab" * 32,
                   tool_mem_init_mb=3.5, tool_mem_overall_mb=11.25)
    assert BenchmarkResult.from_json(tool.to_json()) == tool
    assert json.loads(tool.to_json())["p50_ms"] is None


def test_append_and_read_jsonl(tmp_path):
    path = tmp_path / "bench.jsonl"
    a, b = _result(threads=1), _result(threads=2, emulated=True)
    append_jsonl(path, [a])
    append_jsonl(path, [b])
    assert len(path.read_text().splitlines()) == 2
    assert read_jsonl(path) == [a, b]


def test_from_dict_rejects_unknown_and_missing_keys():
    d = _result().to_dict()
    with pytest.raises(ValueError, match="unknown benchmark result keys \\['soc'\\]"):
        BenchmarkResult.from_dict({**d, "soc": "SM8150"})
    with pytest.raises(ValueError, match="latency keys \\['p99_ms'\\]"):
        BenchmarkResult.from_dict({k: v for k, v in d.items() if k != "p99_ms"})
    with pytest.raises(ValueError, match="target"):
        BenchmarkResult.from_dict({k: v for k, v in d.items() if k != "target"})


@pytest.mark.parametrize("kw, what", [({"threads": 0}, "threads"), ({"warmup": -1}, "warmup"),
                                      ({"input_size": (320,)}, "input_size"), ({"input_size": (320, 0)}, "input_size")])
def test_invalid_fields_raise(kw, what):
    with pytest.raises(ValueError, match=what):
        _result(**kw)


def test_measure_splits_load_first_call_warmup_and_runs():
    now = [0.0]
    calls = []

    def load():
        now[0] += 0.5
        steps = iter([0.25, 1.0, 1.0, 0.125, 0.125, 0.0625])  # first call, 2 warmup, 3 timed (seconds)

        def run(x):
            calls.append(x)
            now[0] += next(steps)
        return run

    m = measure(load, "x", warmup=2, runs=3, clock=lambda: now[0])
    assert (m.init_ms, m.first_ms, m.warmup) == (500.0, 250.0, 2)
    assert m.latency == LatencyStats(mean_ms=312.5 / 3, std_ms=pytest.approx(36.0843918, rel=1e-6), min_ms=62.5,
                                     p50_ms=125.0, p95_ms=125.0, p99_ms=125.0, max_ms=125.0, runs=3)
    assert calls == ["x"] * 6
    if sys.platform.startswith("linux"):
        assert m.peak_rss_mb > 0
