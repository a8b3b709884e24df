"""The adb target against tests/bench/fake_adb, a STAND-IN for `adb` (no phone or emulator is reachable here).

These tests check that `edgedet bench --target adb` drives the demo app's benchmark protocol
(android_demo/bench_adb.sh): push, `am start` with the extras, poll, pull, parse. They say nothing about a phone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgedet.bench.adb import AdbTarget
from edgedet.bench.targets import BenchError

FAKE_ADB = Path(__file__).with_name("fake_adb")


@pytest.fixture
def tflite_like(tiny_onnx, tmp_path) -> Path:
    """The tiny ONNX export dressed as a TFLite one: the stand-in reads edgedet.json only, never the model."""
    d = tmp_path / "tflite_fp32"
    d.mkdir()
    meta = json.loads((tiny_onnx / "edgedet.json").read_text())
    shutil.copy(tiny_onnx / meta["model_file"], d / "model.tflite")
    meta.update(format="tflite", model_file="model.tflite")
    (d / "edgedet.json").write_text(json.dumps(meta))
    return d


def _target(tmp_path, monkeypatch, mode="ok", spec="adb:FAKE123") -> AdbTarget:
    monkeypatch.setenv("FAKE_ADB_ROOT", str(tmp_path / "phone_root"))
    monkeypatch.setenv("FAKE_ADB_MODE", mode)
    return AdbTarget(spec, adb=str(FAKE_ADB), poll_s=0.01, timeout_s=30)


def test_adb_protocol_records(tflite_like, tmp_path, monkeypatch):
    records = _target(tmp_path, monkeypatch).benchmark([tflite_like], threads=(1, 4), warmup=3, runs=7)
    assert [(r.threads, r.latency.runs, r.warmup, r.target) for r in records] == \
        [(1, 7, 3, "adb:FAKE123"), (4, 7, 3, "adb:FAKE123")]
    assert records[1].latency.p50_ms == pytest.approx(2.5) and records[0].model == str(tflite_like)
    assert records[0].runner == "demo-app"
    calls = [json.loads(line) for line in (tmp_path / "phone_root" / "calls.log").read_text().splitlines()]
    assert all(c[:2] == ["-s", "FAKE123"] for c in calls)
    start = next(c for c in calls if c[2:5] == ["shell", "am", "start"])
    assert start[start.index("-n") + 1] == "io.edgedet.demo/.BenchmarkActivity"
    for extra, value in (("threads", "1"), ("warmup", "3"), ("runs", "7")):
        assert start[start.index(extra) + 1] == value
    assert not (tmp_path / "phone_root" / "phone" / "sdcard/Android/data/io.edgedet.demo/files/models/edgedet-bench-0").exists()


@pytest.mark.parametrize("mode, message", [
    ("no-device", "adb devices"), ("no-app", "adb install the demo APK"), ("app-error", "bad model")])
def test_adb_errors_name_the_fix(tflite_like, tmp_path, monkeypatch, mode, message):
    with pytest.raises(BenchError, match=message):
        _target(tmp_path, monkeypatch, mode).benchmark([tflite_like], threads=(1,), warmup=0, runs=1)


def test_adb_refuses_non_tflite(tiny_onnx, tmp_path, monkeypatch):
    with pytest.raises(BenchError, match="--format tflite"):
        _target(tmp_path, monkeypatch).benchmark([tiny_onnx], threads=(1,), warmup=0, runs=1)
