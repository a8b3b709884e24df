"""`--target ssh://` against the emulated ARM64 board of benchmarks/device/arm64_board.sh, for real.

The board is a Debian arm64 root under qemu-user with its own sshd on 127.0.0.1. `make test` brings it up before
pytest (`benchmarks/device/arm64_board.sh up`: ~8 minutes the first time on a machine, mmdebstrap under emulation,
then cached in ~/.cache/edgedet/arm64-root; seconds after that) and stops it afterwards; when that fails it says
why in one line and passes the reason in $EDGEDET_ARM64_BOARD_ERROR, and these tests SKIP with it. Run alone, they
start a cached board themselves and skip when there is none. They need root (chroot, mounts). Emulated latency is
never checked: only that the records say emulated, and parity with the host (the value of the board).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgedet.bench.result import read_jsonl
from edgedet.cli import main

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "device" / "arm64_board.sh"
CACHE = Path(os.environ.get("EDGEDET_CACHE", Path.home() / ".cache" / "edgedet"))
ROOT = Path(os.environ.get("EDGEDET_ARM64_ROOT", CACHE / "arm64-root"))
KEY = CACHE / "arm64-key"
PORT = os.environ.get("EDGEDET_ARM64_PORT", "2222")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def board():
    if os.environ.get("EDGEDET_ARM64_BOARD_ERROR"):  # make test tried to bring it up and could not
        pytest.skip(f"the emulated ARM64 board did not come up: {os.environ['EDGEDET_ARM64_BOARD_ERROR']}")
    if not (ROOT / ".edgedet-built").is_file():
        pytest.skip(f"no cached ARM64 board root at {ROOT}: build it once with `{SCRIPT} up` (~8 min), then rerun")
    if os.geteuid() != 0:
        pytest.skip("the emulated ARM64 board needs root (chroot, mounts, binfmt)")
    was_up = subprocess.run([str(SCRIPT), "status"], capture_output=True).returncode == 0
    proc = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{SCRIPT} up failed: {proc.stderr.strip().splitlines()[-1:]}")
    yield f"ssh://root@127.0.0.1:{PORT}"
    if not was_up:  # leave a board someone else started running
        subprocess.run([str(SCRIPT), "down"], capture_output=True, timeout=120)


def test_arm_parity_and_accuracy(board, tiny_onnx, synth3, tmp_path):
    out = tmp_path / "arm.jsonl"
    rc = main(["bench", str(tiny_onnx), "--target", board, "--ssh-key", str(KEY), "--threads", "1",
               "--warmup", "0", "--runs", "2", "--accuracy", "--data", str(synth3), "--val-images", "2",
               "--out", str(out), "--quiet"])
    assert rc == 0
    (r,) = read_jsonl(out)
    assert r.emulated is True and r.arch == "aarch64" and r.target == board
    assert r.simd == "asimd asimdhp asimddp"  # from the board's Cortex-A76 /proc/cpuinfo (arm64_board.sh)
    assert r.runtime == "onnxruntime" and r.runtime_version
    # fp32 rule: the ARM build of the runtime gives the host's outputs within 1e-4, and the same detections
    assert r.parity_max_abs_diff <= 1e-4 and r.parity_detections == "same"
    assert r.parity_input_max_abs_diff is not None  # the 96 px images need no resize: the same tensor here
    assert r.ap == pytest.approx(r.ap_host, abs=1e-9) and r.ap_delta == pytest.approx(0.0, abs=1e-9)


def test_nothing_left_on_the_board(board, tiny_onnx, tmp_path):
    assert main(["bench", str(tiny_onnx), "--target", board, "--ssh-key", str(KEY), "--warmup", "0", "--runs", "1",
                 "--out", str(tmp_path / "r.jsonl"), "--quiet"]) == 0
    assert not list((ROOT / "tmp").glob("edgedet-bench-*"))


def test_refused_key_is_one_line(board, tiny_onnx, tmp_path, capsys):
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    assert main(["bench", str(tiny_onnx), "--target", board, "--ssh-key", str(wrong), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "refused the key" in err and "ssh-copy-id" in err


def test_missing_runtime_prints_the_pip_command(board, tiny_onnx, tmp_path, capsys):
    # an export for a runtime the board lacks (no aarch64 Paddle-Lite wheel exists on PyPI)
    d = tmp_path / "paddle_lite_like"
    shutil.copytree(tiny_onnx, d)
    meta = json.loads((d / "edgedet.json").read_text())
    (d / "edgedet.json").write_text(json.dumps(dict(meta, format="paddle-lite")))
    assert main(["bench", str(d), "--target", board, "--ssh-key", str(KEY), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "(aarch64, Python 3.11" in err and "lacks paddlelite" in err
    assert "PyPI has no aarch64 paddlelite wheel" in err


def test_no_python_or_numpy_on_the_board_is_one_line(board, tiny_onnx):
    from edgedet.bench.targets import BenchError, SshTarget

    no_python = SshTarget(board, key=str(KEY), python="python3.99")
    with pytest.raises(BenchError, match=r"no python3.99 on .*apt-get install python3"):
        no_python.prepare([tiny_onnx], [])
    # the board's wheels live in /opt/site: without it on the path, numpy, OpenCV and onnxruntime are missing
    bare = SshTarget(board, key=str(KEY), python="env PYTHONPATH= python3")
    with pytest.raises(BenchError, match=r"lacks numpy, opencv-python-headless, onnxruntime: run `python3 -m pip "
                                         r"install numpy opencv-python-headless onnxruntime` on the device"):
        bare.prepare([tiny_onnx], [])
    for t in (no_python, bare):
        t.close()


def test_worker_killed_on_the_board_is_one_line(board, tiny_onnx):
    from edgedet.bench.runner import BenchSettings, run_on_target
    from edgedet.bench.targets import BenchError, SshTarget

    class KilledOnBoard(SshTarget):
        """Runs a worker that SIGKILLs itself on the board, as the OOM killer would, through the real ssh path."""

        def spawn(self, model, threads, cores):
            self.python = "sh -c 'kill -9 $$' --"  # the worker's arguments follow, unused
            return super().spawn(model, threads, cores)
    target = KilledOnBoard(board, key=str(KEY))
    with pytest.raises(BenchError, match=r"killed on ssh://.*out of memory\?\); try fewer --threads"):
        run_on_target(target, [tiny_onnx], BenchSettings(warmup=0, runs=1), progress=False)
    assert not list((ROOT / "tmp").glob("edgedet-bench-*"))  # cleaned up after the failure too


FAKE_MODEL = Path(__file__).with_name("fake_benchmark_model")  # STAND-INS, see test_device_binary.py
FAKE_BIN = Path(__file__).with_name("fake_benchmark_bin")


def _dressed(tiny_onnx: Path, dst: Path, fmt: str, model_file: str) -> Path:
    shutil.copytree(tiny_onnx, dst)
    meta = json.loads((dst / "edgedet.json").read_text())
    shutil.copy(dst / meta["model_file"], dst / model_file)
    (dst / "edgedet.json").write_text(json.dumps(dict(meta, format=fmt, model_file=model_file)))
    return dst


def test_device_binary_stand_ins_run_on_the_board(board, tiny_onnx, tmp_path):
    """The board's own sh (dash, aarch64 under qemu) runs the stand-in binaries pinned by taskset, over ssh."""
    out = tmp_path / "r.jsonl"
    tfl = _dressed(tiny_onnx, tmp_path / "tflite_fp32", "tflite", "model.tflite")
    assert main(["bench", str(tfl), "--target", board, "--ssh-key", str(KEY), "--device-binary", str(FAKE_MODEL),
                 "--threads", "2", "--warmup", "1", "--runs", "4", "--cores", "1", "--out", str(out), "--quiet"]) == 0
    nb = _dressed(tiny_onnx, tmp_path / "paddle_lite_fp32", "paddle-lite", "model.nb")
    assert main(["bench", str(nb), "--target", board, "--ssh-key", str(KEY), "--device-binary", str(FAKE_BIN),
                 "--warmup", "0", "--runs", "3", "--out", str(out), "--quiet"]) == 0
    r, b = read_jsonl(out)
    assert (r.runner, r.arch, r.emulated, r.core_mask, r.threads, r.latency.runs, r.warmup) == \
        ("benchmark_model", "aarch64", True, "0", 2, 4, 1)
    assert r.latency.mean_ms == 5.00025 and r.first_ms == 15.0 and r.os.startswith("Linux")
    assert (b.runner, b.arch, b.latency.runs, b.runtime_version) == ("benchmark_bin", "aarch64", 3, "v0.0.0-stand-in")
    assert not list((ROOT / "tmp").glob("edgedet-bench-*"))


def test_x86_binary_is_refused_by_the_arm_board_before_sending(board, tiny_onnx, tmp_path, capsys):
    from edgedet.bench.device_binary import elf_machine

    # a real executable of this host (its `true`) that also carries benchmark_model's flag names
    host_true = Path(shutil.which("true")).read_bytes()
    if elf_machine(host_true[:64]) not in ("x86_64", "i386"):
        pytest.skip("this host is not x86: its binaries are not foreign to the ARM board")
    x86 = tmp_path / "benchmark_model"
    x86.write_bytes(host_true + b"\0num_runs\0warmup_runs\0")
    tfl = _dressed(tiny_onnx, tmp_path / "tflite_fp32", "tflite", "model.tflite")
    assert main(["bench", str(tfl), "--target", board, "--ssh-key", str(KEY), "--device-binary", str(x86),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"is built for {elf_machine(host_true[:64])} and {board} is aarch64" in err
    assert not list((ROOT / "tmp").glob("edgedet-bench-*"))
