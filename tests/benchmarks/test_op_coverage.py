"""benchmarks/device/op_coverage.py: which ops an XNNPACK partition took, the kernel classes, LiteRT's own line.

The probes themselves need real export files and run in the benchmark (their output is in op_coverage.json).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "device" / "op_coverage.py"
_spec = importlib.util.spec_from_file_location("op_coverage", _PATH)
oc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oc)


def _op(name, inputs, outputs):
    return {"op_name": name, "inputs": inputs, "outputs": outputs}


def test_delegated_ops_stops_at_the_partition_inputs():
    # tensors: 0 input, 1..6 activations, 9 a weight (no producer), -1 an absent bias
    ops = [_op("CONV_2D", [0, 9, -1], [1]),       # 0: partition 0
           _op("HARD_SWISH", [1], [2]),           # 1: left outside (a partition input)
           _op("CONV_2D", [2, 9], [3]),           # 2: partition 1
           _op("ADD", [3, 1], [4]),               # 3: partition 1 (reads 1 across the boundary)
           _op("TOPK_V2", [4], [5]),              # 4: outside, after the last partition
           _op("DELEGATE", [0, 9], [1]),
           _op("DELEGATE", [2, 1, 9], [4])]
    assert oc.delegated_ops(ops) == {0: 0, 2: 1, 3: 1}


def test_delegated_ops_without_delegate_takes_nothing():
    assert oc.delegated_ops([_op("CONV_2D", [0], [1]), _op("TOPK_V2", [1], [2])]) == {}


def test_integer_kernel_names():
    assert [bool(oc.INT_KERNEL.search(k)) for k in
            ("QLinearConv", "NhwcQLinearConv", "ConvInteger", "MatMulInteger", "Conv", "FusedConv", "QuantizeLinear")] \
        == [True, True, True, True, False, False, False]


def test_litert_replacing_line_is_checked_against_the_graph():
    err = b"INFO: Replacing 307 out of 324 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 5 partitions" \
          b" for subgraph 0 (main).\n"
    proc = subprocess.CompletedProcess([], 0, b'{"delegated": 307, "ops": 324, "partitions": 6}\n', err)
    result = oc.read_probe(proc, "host", "m.tflite")
    assert result["litert_log"] == {"delegated": 307, "ops": 324, "partitions": 5, "agrees": False}
    assert result["stderr_delegate_lines"] == [err.decode().strip()]
