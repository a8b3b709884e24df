"""Converter output goes to a log file (C-level writes and subprocesses included); the CLI shows a line per pair."""

import os
import subprocess
import sys

import pytest

from edgedet.cli import main
from edgedet.export import api
from edgedet.export.console import converter_output_to, log_tail


def test_fd_level_output_and_subprocesses_go_to_the_log(tmp_path, capfd):
    log = tmp_path / "export.log"
    with converter_output_to(log):
        print("python print")
        os.write(1, b"C-level stdout\n")
        os.write(2, b"C-level stderr\n")
        subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"],
                       check=True)
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n" and err == ""
    assert log.read_text().splitlines() == ["python print", "C-level stdout", "C-level stderr", "child out", "child err"]
    assert log_tail(log, 2) == "child out\nchild err"
    with converter_output_to(None):
        os.write(1, b"verbose\n")
    assert capfd.readouterr().out == "verbose\n"


def test_a_successful_export_prints_one_line_per_pair(tmp_path):
    out = tmp_path / "exp"
    proc = subprocess.run([sys.executable, "-m", "edgedet.cli", "export", "--model", "pafnet_lite_mbv3", "--num-classes",
                           "3", "--imgsz", "64", "--format", "onnx,paddle", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 5, lines  # header, onnx fp32, paddle fp32, where the log is, the next command
    assert lines[0].split()[:3] == ["format", "precision", "time"]
    assert lines[1].split()[:2] == ["onnx", "fp32"] and lines[2].split()[:2] == ["paddle", "fp32"]
    assert [ln.split()[4] for ln in lines[1:3]] == ["pass", "pass"]
    assert lines[3] == f"converter output: {out / 'export.log'}" and lines[4].startswith("Next: edgedet eval")
    assert len(proc.stderr.strip().splitlines()) <= 1, proc.stderr  # at most the CPU plan line
    assert (out / "export.log").is_file()


def test_a_failing_converter_shows_the_tail_of_its_log(tmp_path, monkeypatch, capsys):
    def noisy_failure(ctx):
        os.system("echo converter noise line; echo the real reason >&2")
        raise RuntimeError("conversion failed")

    monkeypatch.setitem(api.FORMAT_EXPORTERS, "onnx", noisy_failure)
    out = tmp_path / "exp"
    with pytest.raises(RuntimeError, match="conversion failed"):
        main(["export", "--model", "pafnet_lite_mbv3", "--num-classes", "2", "--imgsz", "64", "--out", str(out)])
    err = capsys.readouterr().err
    assert f"the converter's last lines (all of them: {out / 'export.log'})" in err
    assert err.rstrip().endswith("converter noise line\nthe real reason")
