"""`edgedet bench --target host` end to end on a tiny ONNX export, and the runner's pure pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgedet.bench import machine_info
from edgedet.bench.cli import parse_threads
from edgedet.bench.result import read_jsonl
from edgedet.bench.runner import BenchSettings, compare_detections, max_abs_diff
from edgedet.bench.targets import BenchError, build_archive, parse_ssh_target, pip_command
from edgedet.bench.worker import core_groups, resolve_cores
from edgedet.cli import main


def test_host_bench_end_to_end(tiny_onnx, synth3, tmp_path, capsys):
    out, report = tmp_path / "r.jsonl", tmp_path / "report"
    rc = main(["bench", str(tiny_onnx), str(tiny_onnx), "--threads", "1,2", "--warmup", "1", "--runs", "4",
               "--accuracy", "--data", str(synth3), "--val-images", "3", "--out", str(out), "--report", str(report),
               "--quiet"])
    assert rc == 0
    records = read_jsonl(out)
    assert [(r.threads, r.latency.runs) for r in records] == [(1, 4), (2, 4), (1, 4), (2, 4)]  # per export
    r = records[0]
    assert (r.target, r.format, r.precision, r.input_size, r.runtime, r.emulated) == \
        ("host", "onnx", "fp32", (96, 96), "onnxruntime", False)
    assert r.init_ms > 0 and r.first_ms > 0 and 20 < r.peak_rss_mb < 600 and r.model_size_mb > 0.1
    assert r.runtime_version and r.arch and r.core_mask and r.runner == "edgedet-worker" and r.runner_sha256 is None
    assert r.simd == machine_info()["simd"]  # the worker reports the CPU features that pick the kernels
    # the host is its own reference: AP measured, no difference, identical detections and raw outputs
    assert r.ap is not None and r.ap == r.ap_host and r.ap_delta == 0.0
    assert r.parity_max_abs_diff == 0.0 and r.parity_input_max_abs_diff == 0.0 and r.parity_detections == "same"
    assert {p.name for p in report.iterdir()} == {"bench_report.md", "latency_vs_threads.png", "latency_vs_ap.png"}
    assert "| onnx_fp32 | onnx | fp32 | 96x96 | 2 |" in (report / "bench_report.md").read_text()
    assert "appended 4 record(s)" in capsys.readouterr().out


def test_bench_errors_are_one_line(tmp_path, capsys):
    assert main(["bench", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an export directory" in err and "edgedet export" in err


def test_unreachable_ssh_host_is_one_line(tiny_onnx, capsys):
    # nothing listens on port 1 of the loopback address
    assert main(["bench", str(tiny_onnx), "--target", "ssh://root@127.0.0.1:1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot reach 127.0.0.1:1" in err and "sshd running" in err


def test_parse_threads_and_settings():
    assert parse_threads("1,2,4") == (1, 2, 4)
    for bad in ("0", "a", ""):
        with pytest.raises(BenchError, match="comma list"):
            parse_threads(bad)
    with pytest.raises(ValueError, match="--runs >= 1"):
        BenchSettings(runs=0)


def test_parse_ssh_target():
    assert parse_ssh_target("ssh://pi@10.0.0.2") == ("pi", "10.0.0.2", 22)
    assert parse_ssh_target("ssh://root@127.0.0.1:2222") == ("root", "127.0.0.1", 2222)
    with pytest.raises(BenchError, match="user@host"):
        parse_ssh_target("ssh://10.0.0.2")
    with pytest.raises(BenchError, match="port must be a number"):
        parse_ssh_target("ssh://pi@h:x")


def test_pip_command_names_the_architecture():
    cmd = pip_command(["onnxruntime"], "aarch64", "3.11.2")
    assert "python3 -m pip install onnxruntime" in cmd
    assert "--platform manylinux2014_aarch64 --python-version 3.11" in cmd and "--abi cp311" in cmd
    assert "armv7l" in pip_command(["onnxruntime"], "armv7l", "3.11.2")
    assert "no aarch64 paddlelite wheel" in pip_command(["paddlelite"], "aarch64", "3.11.2")


def test_compare_detections_and_max_abs_diff():
    a = {"boxes": [[0, 0, 10, 10]], "scores": [0.5], "labels": [1]}
    assert compare_detections([a, None], [a, None]) == "same"
    moved = dict(a, boxes=[[0, 0, 10, 10.01]])
    assert compare_detections([a, a], [a, moved]) == "1/2 images differ"
    relabelled = dict(a, labels=[2])
    assert compare_detections([a], [relabelled]) == "1/1 images differ"
    assert max_abs_diff([np.zeros(3, np.float32)], [np.array([0, 0.5, -2], np.float32)]) == 2.0
    assert max_abs_diff([np.zeros(3)], [np.zeros(4)]) == float("inf")
    assert max_abs_diff(None, [np.zeros(3)]) is None


def test_core_masks(tmp_path):
    cores = resolve_cores("all")
    assert resolve_cores("1") == [0]
    if len(cores) >= 2:
        assert resolve_cores("3") == [0, 1]
    with pytest.raises(ValueError, match="hex mask"):
        resolve_cores("fast")
    with pytest.raises(ValueError, match=r"selects cores \[200\], this device offers"):
        resolve_cores(hex(1 << 200))
    # a big.LITTLE phone: cpu0-1 at 1.8 GHz, cpu2-3 at 2.8 GHz (as sysfs shows them)
    for c, f in enumerate([1800000, 1800000, 2800000, 2800000]):
        (tmp_path / f"cpu{c}" / "cpufreq").mkdir(parents=True)
        (tmp_path / f"cpu{c}" / "cpufreq" / "cpuinfo_max_freq").write_text(str(f))
    groups = core_groups(tmp_path)
    if cores == [0, 1, 2, 3]:
        assert groups == {"big": [2, 3], "little": [0, 1], "all": [0, 1, 2, 3]}
    else:  # fewer cores here than the made-up phone: no frequency for some, so no split
        assert groups["big"] == groups["little"] == groups["all"] == cores


def test_archive_ships_torch_free_packages_and_the_export(tiny_onnx, synth3):
    import io
    import tarfile

    image = next((synth3 / "images" / "val").iterdir())
    names = tarfile.open(fileobj=io.BytesIO(build_archive([tiny_onnx], [image]))).getnames()
    assert "lib/edgedet/bench/worker.py" in names and "lib/edgedet/runtime/base.py" in names
    assert not [n for n in names if n.startswith(("lib/edgedet/models", "lib/edgedet/export", "lib/edgedet/engine"))]
    assert {"models/0/edgedet.json", f"models/0/{json.loads((tiny_onnx / 'edgedet.json').read_text())['model_file']}",
            f"images/00000{image.suffix}"} <= set(names)
    assert "models/0/parity.json" not in names
