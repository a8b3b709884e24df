"""android_demo/bench_adb.sh against a fake adb: the push / am start / poll / pull sequence and the JSONL it keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edgedet.bench.result import BenchmarkResult, read_jsonl
from edgedet.bench.timing import latency_stats

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "android_demo" / "bench_adb.sh"
FAKE_ADB = Path(__file__).with_name("fake_adb.py")


def _run(tmp_path: Path, export_dir: Path, *threads: str, app: str = "ok") -> subprocess.CompletedProcess:
    record = BenchmarkResult(model="m", target="adb", device="Fake Phone (fake-soc)", os="Android 14 (API 34)",
                             runtime="litert", runtime_version="1.4.1", delegate="xnnpack", threads=1, precision="fp32",
                             input_size=(96, 96), warmup=0, latency=latency_stats([5.0, 6.0, 7.0]), init_ms=3.0,
                             first_ms=9.0, peak_rss_mb=80.0, model_size_mb=1.5)
    (tmp_path / "record.json").write_text(record.to_json())
    (tmp_path / "adb").write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_ADB} \"$@\"\n")
    (tmp_path / "adb").chmod(0o755)
    env = {**os.environ, "ADB": str(tmp_path / "adb"), "FAKE_ADB_ROOT": str(tmp_path),
           "FAKE_ADB_RECORD": str(tmp_path / "record.json"), "WARMUP": "3", "RUNS": "20", "TIMEOUT_S": "2",
           "FAKE_ADB_APP": app}
    return subprocess.run(["bash", str(SCRIPT), str(export_dir), str(tmp_path / "bench.jsonl"), *threads],
                          capture_output=True, text=True, env=env, timeout=60)


def _export_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tflite_fp32"
    d.mkdir()
    (d / "edgedet.json").write_text(json.dumps({"model_file": "m.tflite"}))
    (d / "m.tflite").write_bytes(b"TFL3")
    return d


def test_pushes_runs_each_thread_count_and_appends_records(tmp_path):
    proc = _run(tmp_path, _export_dir(tmp_path), "1", "4")
    assert proc.returncode == 0, proc.stderr
    records = read_jsonl(tmp_path / "bench.jsonl")
    assert [r.threads for r in records] == [1, 4]
    remote = "/sdcard/Android/data/io.edgedet.demo/files/models/tflite_fp32"
    assert {r.model for r in records} == {remote} and {r.warmup for r in records} == {3}
    assert (tmp_path / "device" / remote.lstrip("/") / "m.tflite").read_bytes() == b"TFL3"
    calls = (tmp_path / "calls.log").read_text()
    assert "--ei threads 4 --ei warmup 3 --ei runs 20" in calls
    assert "threads=4: Fake Phone (fake-soc) mean 6.0 ms" in proc.stdout


def test_a_failure_or_silence_on_the_device_fails_with_the_reason(tmp_path):
    d = _export_dir(tmp_path)
    proc = _run(tmp_path, d, "2", app="error")
    assert proc.returncode == 1 and "benchmark failed on the device" in proc.stderr and "no model" in proc.stderr
    proc = _run(tmp_path, d, "2", app="hang")
    assert proc.returncode == 1 and "after 2 s" in proc.stderr
    assert not (tmp_path / "bench.jsonl").exists()
