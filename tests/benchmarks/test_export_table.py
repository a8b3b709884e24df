"""benchmarks/export_table/export_table.py: the int8 verdict, the table, the format x precision pairs.

Its timing and statistics are edgedet.bench's, tested in tests/bench/.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "export_table" / "export_table.py"
_spec = importlib.util.spec_from_file_location("export_table", _PATH)
et = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(et)


def _row(fmt, prec, ap, **kw):
    return {"format": fmt, "precision": prec, "AP": ap, "AP50": ap + 0.1, "size_mb": 1.0, "max_abs_diff": 1e-6,
            "parity": "report only" if prec != "fp32" else "pass", **kw}


def test_int8_verdict_uses_absolute_ap_points():
    rows = [_row("onnx", "fp32", 0.300), _row("onnx", "int8", 0.2905),  # -0.95 AP: within
            _row("tflite", "fp32", 0.300), _row("tflite", "int8", 0.2895),  # -1.05 AP: not within
            _row("paddle", "fp32", 0.300),  # no int8: no verdict
            {"format": "tflite", "precision": "fp16", "error": "toolchain missing"}]
    v = et.int8_verdicts(rows)
    assert set(v) == {"onnx", "tflite"}
    assert v["onnx"]["within_1AP"] is True and v["onnx"]["delta_AP"] == pytest.approx(-0.0095)
    assert v["tflite"]["within_1AP"] is False and v["tflite"]["delta_AP"] == pytest.approx(-0.0105)
    assert et.int8_verdicts([_row("onnx", "fp32", 0.3), _row("onnx", "int8", 0.3105)])["onnx"]["within_1AP"] is False


def test_int8_verdict_skips_a_failed_int8_export():
    rows = [_row("onnx", "fp32", 0.3), {"format": "onnx", "precision": "int8", "error": "boom"}]
    assert et.int8_verdicts(rows) == {}


def test_markdown_table_rows_and_missing_values():
    ref = {"format": "pytorch", "precision": "fp32", "AP": 0.25, "AP50": 0.5, "size_mb": 13.6, "max_abs_diff": None,
           "parity": "n/a (reference)", "latency": {"1": {"p50_ms": 40.04}}}
    rows = [_row("onnx", "int8", 0.24321, latency={"1": {"p50_ms": 12.34}, "2": {"p50_ms": 8.0}}),
            {"format": "paddle-lite", "precision": "fp32", "error": "no toolchain"}]
    lines = et.markdown_table(ref, rows).splitlines()
    assert len(lines) == 5 and all(line.count("|") == 10 for line in lines)
    assert lines[2] == "| pytorch | fp32 | 0.2500 | 0.5000 | 13.60 | 40.0 | n/a | n/a | n/a (reference) |"
    assert lines[3] == "| onnx | int8 | 0.2432 | 0.3432 | 1.00 | 12.3 | 8.0 | 1.00e-06 | report only |"
    recorded = {**rows[0], "parity_passed": True}  # a result file written before parity verdicts
    del recorded["parity"]
    assert et.markdown_table(ref, [recorded]).splitlines()[3].endswith("| 1.00e-06 | True |")
    assert lines[4].startswith("| paddle-lite | fp32 | failed: no toolchain |")


def test_pairs_filter_and_errors():
    assert et._pairs(["paddle", "onnx"], ["int8", "fp32"]) == [("paddle", "fp32"), ("onnx", "fp32"), ("onnx", "int8")]
    with pytest.raises(ValueError, match="unknown formats"):
        et._pairs(["caffe"], None)
    with pytest.raises(ValueError, match="no supported pair"):
        et._pairs(["paddle"], ["int8"])
