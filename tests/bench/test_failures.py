"""How the runner fails and interleaves, without a device: a killed worker, a full disk, the round order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgedet.bench.runner import BenchSettings, Progress, _timed_rounds, run_on_target
from edgedet.bench.targets import BenchError, HostTarget, SshTarget


class KilledHost(HostTarget):
    """Every worker dies of SIGKILL before answering, as the kernel's OOM killer ends one."""

    def spawn(self, model: str, threads: int, cores: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_worker_is_one_line_with_the_fix(tiny_onnx):
    with pytest.raises(BenchError, match=r"killed on this host \(SIGKILL: out of memory\?\); try fewer --threads"):
        run_on_target(KilledHost(), [tiny_onnx], BenchSettings(warmup=0, runs=1), progress=False)


def test_worker_error_names_the_export(tmp_path, tiny_onnx):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "edgedet.json").write_text((tiny_onnx / "edgedet.json").read_text())
    (broken / Path(next(p.name for p in tiny_onnx.iterdir() if p.suffix == ".onnx"))).write_bytes(b"not onnx")
    with pytest.raises(BenchError, match=f"{broken} on host: "):
        run_on_target(HostTarget(), [broken], BenchSettings(warmup=0, runs=1), progress=False)


def test_full_disk_on_the_board_stops_before_shipping(tiny_onnx, monkeypatch):
    target = SshTarget("ssh://pi@127.0.0.1:1")

    def probe(self, exports):
        self.probe = {"arch": "aarch64", "python": "3.11.2", "free_mb": 0.01, "tmp": "/tmp", "modules": {}}
        return self.probe

    monkeypatch.setattr(SshTarget, "check_device", probe)
    monkeypatch.setattr(SshTarget, "run", lambda *a, **k: pytest.fail("nothing may be sent to a full disk"))
    with pytest.raises(BenchError, match=r"has 0 MB free in /tmp, the benchmark needs \d+ MB: free space there"):
        target.prepare([tiny_onnx], [])


class FakeWorker:
    """Answers ``time`` with its own index, so the call order can be read back."""

    def __init__(self, i: int, log: list[int]):
        self.i, self.log = i, log

    def ask(self, **msg):
        if msg["cmd"] == "time":
            self.log.append(self.i)
            return {"samples_ms": [float(self.i)]}
        return {"done": True}


def test_rounds_interleave_every_export_in_a_fresh_order():
    log: list[int] = []
    workers = [FakeWorker(i, log) for i in range(3)]
    samples = _timed_rounds(workers, BenchSettings(warmup=2, runs=20), np.random.default_rng(0),
                            Progress(0, False), threads=1)
    assert samples == [[0.0] * 20, [1.0] * 20, [2.0] * 20]
    rounds = [tuple(log[k:k + 3]) for k in range(0, 60, 3)]
    assert all(sorted(r) == [0, 1, 2] for r in rounds)  # every export once per round
    assert len(set(rounds)) > 1  # and not always in the same order


def test_x86_paddle_lite_file_refused_for_arm(tmp_path, tiny_onnx):
    import json

    from edgedet.bench.targets import check_architecture, shipped_files

    d = tmp_path / "paddle_lite_fp32"
    d.mkdir()
    meta = json.loads((tiny_onnx / "edgedet.json").read_text())
    meta.update(format="paddle-lite", model_file="model.nb", extra={"x86_model_file": "model_x86.nb"})
    (d / "model.nb").write_bytes(b"arm")
    (d / "model_x86.nb").write_bytes(b"x86")
    (d / "edgedet.json").write_text(json.dumps(meta))
    check_architecture(d, "aarch64")  # the ARM file: fine
    assert [p.name for p in shipped_files(d, "aarch64")] == ["edgedet.json", "model.nb"]
    assert [p.name for p in shipped_files(d, "x86_64")] == ["edgedet.json", "model.nb", "model_x86.nb"]
    (d / "edgedet.json").write_text(json.dumps(dict(meta, model_file="model_x86.nb")))
    with pytest.raises(BenchError, match="optimised for x86 and the device is aarch64"):
        check_architecture(d, "aarch64")
