"""``edgedet bench --device-binary`` on this host and through tests/bench/fake_adb, a STAND-IN for `adb`.

The binaries are STAND-INS too (tests/bench/fake_benchmark_model, tests/bench/fake_benchmark_bin): shell scripts
that take the real tools' flags and print the real tools' output format with made-up timings. No real
benchmark_model or benchmark_bin could be had here, so these tests check the protocol (what is pushed, the command
line, taskset, parsing, clean-up, the error lines), never a tool's or a phone's behaviour. The emulated ARM64 board
runs the same stand-ins over ssh in test_ssh_board.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from edgedet.bench.adb import AdbTarget
from edgedet.bench.device_binary import Device, check_binary_arch, elf_machine, identify_binary, run_device_binary, tool_command
from edgedet.bench.report import typical_ms
from edgedet.bench.result import read_jsonl
from edgedet.bench.targets import BenchError, HostTarget
from edgedet.cli import main

HERE = Path(__file__).parent
FAKE_MODEL, FAKE_BIN, FAKE_ADB = HERE / "fake_benchmark_model", HERE / "fake_benchmark_bin", HERE / "fake_adb"


def _dressed(tiny_onnx: Path, dst: Path, fmt: str, model_file: str, content: bytes | None = None) -> Path:
    """The tiny ONNX export dressed as another format: the stand-ins read only the file's presence and size."""
    dst.mkdir()
    meta = json.loads((tiny_onnx / "edgedet.json").read_text())
    model = dst / model_file
    if content is None:
        shutil.copy(tiny_onnx / meta["model_file"], model)
    else:
        model.write_bytes(content)
    meta.update(format=fmt, model_file=model_file)
    (dst / "edgedet.json").write_text(json.dumps(meta))
    return dst


@pytest.fixture
def tflite_like(tiny_onnx, tmp_path) -> Path:
    return _dressed(tiny_onnx, tmp_path / "tflite_fp32", "tflite", "model.tflite")


@pytest.fixture
def host_tmp(tmp_path, monkeypatch) -> Path:
    """The host target's temp dir ($TMPDIR, as the probe reads it), to see what is left there."""
    d = tmp_path / "device_tmp"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    return d


def test_host_records_from_benchmark_model(tflite_like, host_tmp, tmp_path, capsys):
    out, report = tmp_path / "r.jsonl", tmp_path / "report"
    assert main(["bench", str(tflite_like), "--device-binary", str(FAKE_MODEL), "--threads", "1,2", "--warmup", "3",
                 "--runs", "7", "--cores", "1", "--out", str(out), "--report", str(report), "--quiet"]) == 0
    r1, r2 = read_jsonl(out)
    assert [(r.threads, r.latency.runs, r.warmup) for r in (r1, r2)] == [(1, 7, 3), (2, 7, 3)]
    # the stand-in's timings (10 ms / threads) as it prints them, in ms; what it does not print is None
    assert (r2.latency.mean_ms, r2.latency.min_ms, r2.latency.max_ms, r2.latency.std_ms) == (5.00025, 4.9, 5.4, 0.12)
    assert r2.latency.p50_ms is None and r2.peak_rss_mb is None
    assert (r2.init_ms, r2.first_ms, r2.tool_mem_init_mb, r2.tool_mem_overall_mb) == (12.345, 15.0, 3.5, 11.25)
    assert (r1.runner, r1.format, r1.runtime, r1.target, r1.core_mask, r1.emulated) == \
        ("benchmark_model", "tflite", "litert", "host", "0", False)
    assert r1.runner_sha256 == hashlib.sha256(FAKE_MODEL.read_bytes()).hexdigest()
    assert r1.input_size == (96, 96) and r1.model_size_mb > 0.1 and r1.arch
    assert "| benchmark_model |" in capsys.readouterr().out
    assert not list(host_tmp.iterdir())  # the binary and the model were removed
    # no p50 from the tool: the plot shows its mean, the table leaves p50 empty
    assert typical_ms(r2) == 5.00025 and {p.name for p in report.iterdir()} == {"bench_report.md",
                                                                                "latency_vs_threads.png"}
    assert "| tflite_fp32 | tflite | fp32 | 96x96 | 2 |  |  | 5.00 | 12 | 15.0 |" in (report / "bench_report.md").read_text()


def test_keep_leaves_the_folder(tflite_like, host_tmp):
    run_device_binary(HostTarget(), FAKE_MODEL, [tflite_like], threads=(1,), warmup=0, runs=1, keep=True,
                      progress=False)
    (kept,) = host_tmp.iterdir()
    assert kept.name.startswith("edgedet-bench-") and {p.name for p in kept.iterdir()} == \
        {"benchmark_model", "0_model.tflite"}


def test_host_records_from_benchmark_bin(tiny_onnx, tmp_path, host_tmp):
    nb = _dressed(tiny_onnx, tmp_path / "paddle_lite_fp32", "paddle-lite", "model.nb")
    (r,) = run_device_binary(HostTarget(), FAKE_BIN, [nb], threads=(4,), warmup=2, runs=9, progress=False)
    assert (r.runner, r.runtime, r.runtime_version, r.latency.runs, r.warmup) == \
        ("benchmark_bin", "paddle-lite", "v0.0.0-stand-in", 9, 2)
    assert (r.latency.mean_ms, r.latency.min_ms, r.latency.max_ms, r.init_ms, r.first_ms) == \
        (5.0, 4.5, 7.0, 15.25, 15.0)
    assert r.latency.std_ms is None and r.tool_mem_overall_mb is None


def test_failing_run_shows_its_last_lines_and_cleans_up(tiny_onnx, tmp_path, host_tmp, capsys):
    empty = _dressed(tiny_onnx, tmp_path / "tflite_empty", "tflite", "model.tflite", content=b"")
    assert main(["bench", str(empty), "--device-binary", str(FAKE_MODEL), "--out", str(tmp_path / "r.jsonl"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "benchmark_model exited with status 1 on host (" in err
    assert f"its last lines: INFO: Graph: [{host_tmp}/edgedet-bench-" in err
    assert "| ERROR: Failed to mmap model " in err and err.endswith("| ERROR: Benchmarking failed.")
    assert not list(host_tmp.iterdir())


def test_unreadable_output_names_the_expected_line(tflite_like, host_tmp, monkeypatch):
    monkeypatch.setenv("FAKE_BENCHMARK_MODE", "garbage")  # the host target passes the environment on
    with pytest.raises(BenchError, match=r"could not read benchmark_model's output on host \(.*\): benchmark_model "
                                         r"printed no 'Inference timings in us: Init: I, First inference: F, Warmup "
                                         r"\(avg\): W, Inference \(avg\): A' line; its last lines: hello from"):
        run_device_binary(HostTarget(), FAKE_MODEL, [tflite_like], threads=(1,), warmup=0, runs=1, progress=False)
    assert not list(host_tmp.iterdir())


def test_formats_a_binary_does_not_run_are_one_line(tiny_onnx, tflite_like, tmp_path, capsys):
    assert main(["bench", str(tiny_onnx), "--device-binary", str(FAKE_MODEL), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a onnx export: --device-binary runs a device's own benchmark tool" in err
    assert "benchmark_model runs .tflite (tflite) exports, Paddle-Lite's benchmark_bin .nb (paddle-lite)" in err
    assert main(["bench", str(tflite_like), "--device-binary", str(FAKE_BIN), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not benchmark_model: it has no --num_runs/--warmup_runs flag (it looks like benchmark_bin, which " \
           "runs paddle-lite exports)" in err
    nb = _dressed(tiny_onnx, tmp_path / "nb", "paddle-lite", "model.nb")
    assert main(["bench", str(tflite_like), str(nb), "--device-binary", str(FAKE_MODEL), "--quiet"]) == 2
    assert "runs one tool for every export, and these are ['paddle-lite', 'tflite']" in capsys.readouterr().err
    assert main(["bench", str(tflite_like), "--device-binary", str(FAKE_MODEL), "--accuracy", "--quiet"]) == 2
    assert "--accuracy is not available with --device-binary" in capsys.readouterr().err


def _elf_header(machine: int, little: bool = True) -> bytes:
    order = "<" if little else ">"
    return b"\x7fELF" + bytes([2, 1 if little else 2, 1]) + bytes(9) + struct.pack(order + "HH", 2, machine) + bytes(44)


def test_elf_machine_from_headers():
    assert [elf_machine(_elf_header(m)) for m in (62, 183, 40, 3)] == ["x86_64", "aarch64", "arm", "i386"]
    assert elf_machine(_elf_header(183, little=False)) == "aarch64"
    assert elf_machine(b"#!/bin/sh\n") == "script" and elf_machine(b"PK\x03\x04") is None
    assert elf_machine(Path("/bin/sh").read_bytes()[:64]) in ("x86_64", "aarch64")  # a real one


def test_wrong_architecture_is_refused_before_sending(tmp_path):
    arm = tmp_path / "benchmark_model"
    arm.write_bytes(_elf_header(183) + b"num_runs warmup_runs")
    check_binary_arch(arm, "aarch64", "adb")
    check_binary_arch(arm, "arm64", "adb")
    with pytest.raises(BenchError, match=r"built for aarch64 and adb:X is armv7l \(it would fail with 'Exec format "
                                         r"error'\): use the binary built for armv7l"):
        check_binary_arch(arm, "armv7l", "adb:X")
    text = tmp_path / "notes.txt"
    text.write_text("num_runs warmup_runs")
    with pytest.raises(BenchError, match="neither an ELF executable nor a #! script"):
        check_binary_arch(text, "aarch64", "adb")


def test_identify_binary_by_its_flag_names(tmp_path):
    assert identify_binary(FAKE_MODEL, "tflite") == "benchmark_model"
    assert identify_binary(FAKE_BIN, "paddle-lite") == "benchmark_bin"
    legacy = tmp_path / "benchmark_bin"
    legacy.write_bytes(_elf_header(183) + b"\0optimized_model_path\0repeats\0")
    assert identify_binary(legacy, "paddle-lite") == "benchmark_bin-legacy"
    with pytest.raises(BenchError, match="is not benchmark_bin: it has no --optimized_model_file flag"):
        identify_binary(Path("/bin/sh"), "paddle-lite")


def test_tool_command_lines_use_the_tools_flags():
    assert tool_command("benchmark_model", "/d/0_m.tflite", threads=2, warmup=10, runs=100, input_shape=[1, 96, 96, 3],
                        arch="aarch64", workdir="/d") == [
        "./benchmark_model", "--graph=/d/0_m.tflite", "--num_threads=2", "--warmup_runs=10", "--num_runs=100",
        "--warmup_min_secs=0", "--min_secs=0"]
    assert tool_command("benchmark_bin", "/d/0_m.nb", threads=4, warmup=1, runs=5, input_shape=[1, 3, 320, 320],
                        arch="aarch64", workdir="/d") == [
        "./benchmark_bin", "--optimized_model_file=/d/0_m.nb", "--input_shape=1,3,320,320", "--backend=arm",
        "--threads=4", "--warmup=1", "--repeats=5", "--power_mode=3"]
    legacy = tool_command("benchmark_bin-legacy", "/d/0_m.nb", threads=1, warmup=0, runs=5, input_shape=[1, 3, 8, 8],
                          arch="x86_64", workdir="/d")
    assert legacy[1] == "--optimized_model_path=/d/0_m.nb" and legacy[-1] == "--result_path=/d/result.txt"


def test_probe_of_a_big_little_phone():
    text = "\n".join(["arch=aarch64", "os=Linux 4.14.190", "tmp=/data/local/tmp", "emulated=",
                      *(f"cpu={c} {f}" for c, f in enumerate([1844000] * 4 + [2600000] * 2 + [2860000] * 2)),
                      "android=10", "sdk=29", "model=ELS-NX9", "soc=Kirin990", "cpuinfo=Hardware\t: Kirin990",
                      "cpuinfo=Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp"])
    d = Device.parse(text)
    assert (d.arch, d.os, d.name, d.emulated) == ("aarch64", "Android 10 (API 29)", "ELS-NX9 (Kirin990)", False)
    assert d.simd == "asimd asimdhp asimddp"  # the int8 dot product the A76 cores have
    assert d.groups == {"big": [6, 7], "little": [0, 1, 2, 3], "all": list(range(8))}


# ------------------------------------------------------------------------------------------------ stand-in adb
def _adb(tmp_path, monkeypatch, mode="ok", arch="aarch64") -> AdbTarget:
    monkeypatch.setenv("FAKE_ADB_ROOT", str(tmp_path / "phone_root"))
    monkeypatch.setenv("FAKE_ADB_MODE", mode)
    monkeypatch.setenv("FAKE_ADB_ARCH", arch)
    return AdbTarget("adb:FAKE123", adb=str(FAKE_ADB), timeout_s=60)


def test_adb_pushes_pins_runs_and_cleans_up(tflite_like, tmp_path, monkeypatch):
    records = run_device_binary(_adb(tmp_path, monkeypatch), FAKE_MODEL, [tflite_like], threads=(1, 2), warmup=2,
                                runs=5, cores="1", progress=False)
    r = records[1]
    assert (r.target, r.device, r.os, r.arch, r.threads, r.latency.runs, r.runner) == \
        ("adb:FAKE123", "FAKE phone (stand-in) (FAKE SoC)", "Android 14 (API 34)", "aarch64", 2, 5, "benchmark_model")
    calls = [json.loads(line) for line in (tmp_path / "phone_root" / "calls.log").read_text().splitlines()]
    assert all(c[:2] == ["-s", "FAKE123"] for c in calls)
    pushes = [c[3:] for c in calls if c[2] == "push"]
    workdir = str(Path(pushes[0][1]).parent)
    assert workdir.startswith("/data/local/tmp/edgedet-bench-")
    assert pushes == [[str(FAKE_MODEL), f"{workdir}/benchmark_model"],
                      [str(tflite_like / "model.tflite"), f"{workdir}/0_model.tflite"]]
    runs = [c[3] for c in calls if c[2] == "shell" and "./benchmark_model" in c[3]]
    assert len(runs) == 2 and f"taskset 1 ./benchmark_model --graph={workdir}/0_model.tflite --num_threads=2 " \
        "--warmup_runs=2 --num_runs=5" in runs[1]
    assert ["shell", f"rm -rf {workdir}"] == calls[-1][2:]
    assert not (tmp_path / "phone_root" / "phone" / workdir.lstrip("/")).exists()


def test_adb_refuses_a_binary_for_another_architecture_before_pushing(tflite_like, tmp_path, monkeypatch):
    x86 = tmp_path / "benchmark_model"
    x86.write_bytes(_elf_header(62) + b"num_runs warmup_runs")  # an x86_64 build, the phone is aarch64
    with pytest.raises(BenchError, match=r"built for x86_64 and adb:FAKE123 is aarch64"):
        run_device_binary(_adb(tmp_path, monkeypatch), x86, [tflite_like], threads=(1,), warmup=0, runs=1,
                          progress=False)
    calls = (tmp_path / "phone_root" / "calls.log").read_text()
    assert '"push"' not in calls


def test_adb_without_a_phone_is_one_line(tflite_like, tmp_path, monkeypatch):
    with pytest.raises(BenchError, match=r"no devices/emulators found; connect the phone.*adb devices"):
        run_device_binary(_adb(tmp_path, monkeypatch, mode="no-device"), FAKE_MODEL, [tflite_like], threads=(1,),
                          warmup=0, runs=1, progress=False)
