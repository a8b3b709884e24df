"""TFLite (LiteRT) fp32 / fp16 / int8 of a tiny real PAFNet-lite: export, run through edgedet.runtime, compare.

Tolerances: fp32 is gated by the parity check (1e-4 abs or rel, identical detections). fp16 (fp16 weights) and
int8 (PT2E full-integer, float tail) are sanity-checked with parity.json's figures on 4 images: the share of
PyTorch's detections above 0.05 that pair with a runtime detection (same label, IoU >= 0.5) and the largest
score difference over the aligned top-k: fp16 >= 90% and < 0.1 (measured 95%, 0.056: XNNPACK computes fp16
models in fp16 where the CPU can); int8 >= 50% and < 0.25 (measured 74%, 0.15 on this random-weight model,
which int8 suits worse than a trained one).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections import Counter

import pytest
import torch

from edgedet.deploy.schema import read_metadata
from edgedet.export.tflite import float_tail, tflite_layout
from edgedet.models.layers import DepthwiseDeconv2x, fold_deconv_bn
from tests.export.topk_compare import assert_fp32_parity
from tests.runtime.tiny_models import IMGSZ, export_tiny_pafnet_lite, image_files

pytestmark = [pytest.mark.optional, pytest.mark.slow]


@pytest.fixture(scope="module")
def exported(tiny_synth, tmp_path_factory):
    model, results = export_tiny_pafnet_lite(tiny_synth, tmp_path_factory.mktemp("tflite_export"), ["tflite"],
                                             ["fp32", "fp16", "int8"], calib_images=tiny_synth / "images" / "train",
                                             calib_n=16)
    return model, {r.precision: r for r in results}, tiny_synth


def _paired(det: dict) -> float:
    """Share of PyTorch's detections that the runtime reproduces (parity.json's greedy pairing)."""
    return det["matched"] / max(det["torch"], 1)


def test_directories_and_nhwc_metadata(exported):
    _, res, _ = exported
    for prec, r in res.items():
        assert sorted(p.name for p in r.dir.iterdir()) == sorted(
            ["edgedet.json", "parity.json", f"pafnet_lite_mbv3_{prec}.tflite"])
        meta = read_metadata(r.dir)
        assert meta["format"] == "tflite" and meta["precision"] == prec
        assert meta["input"]["layout"] == "NHWC" and meta["input"]["shape"] == [1, IMGSZ, IMGSZ, 3]
        assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "labels"]
    assert res["int8"].metadata["extra"]["input_dtype"] == "int8"
    assert res["fp32"].metadata["extra"]["input_dtype"] == "float32"
    assert res["int8"].metadata["calibration"]["n_images"] == 16
    sizes = {p: r.model_path.stat().st_size for p, r in res.items()}
    assert sizes["fp16"] < 0.8 * sizes["fp32"] and sizes["int8"] < 0.6 * sizes["fp32"]


def test_neck_deconvs_become_depthwise_convs(exported):
    """LiteUpsample's depthwise transposed convs (DepthwiseDeconv2x) reach the file as native depthwise convs:
    litert-torch lowers an nn.ConvTranspose2d with groups into one TRANSPOSE_CONV per channel instead. The
    channels-last phase interleave and decode (``tflite_layout``) leave no TRANSPOSE in the fp32 file (an NCHW
    interleave costs 6 per deconv, a class-major decode 3), at most 15 in int8: PT2E's quantize/dequantize pairs
    between the permutes keep 6, and the int8 form (``int8_tflite_form``: the activation per phase, hard-swish
    decomposed) 3 more per deconv, all inside XNNPACK (the form still runs 0.58x the time of the one with 6:
    ``benchmarks/quantization/README.md``)."""
    from ai_edge_litert.interpreter import Interpreter

    for prec in ("fp32", "int8"):
        ops = Counter(d["op_name"] for d in Interpreter(model_path=str(exported[1][prec].model_path))._get_ops_details())
        assert ops["TRANSPOSE_CONV"] == 0 and ops["DEPTHWISE_CONV_2D"] > 0, (prec, ops)
        assert ops["TRANSPOSE"] <= {"fp32": 0, "int8": 15}[prec], (prec, ops["TRANSPOSE"])


def test_tflite_layout_leaves_the_model_class_major(exported):
    """The channels-last decode is the TFLite file's only: the model (and so ONNX / Paddle, which x2paddle needs
    class-major) keeps its decoder as it was."""
    model = exported[0]
    assert model.decoder.channels_last is False
    assert tflite_layout(copy.deepcopy(model)).decoder.channels_last is True


def test_fp32_parity(exported, tiny_synth):
    assert_fp32_parity(exported[0], exported[1]["fp32"], image_files(tiny_synth / "images" / "val", 8))


def test_fp16_detections_close(exported):
    p = exported[1]["fp16"].parity
    assert _paired(p["detections"]) >= 0.9, p["detections"]
    assert p["outputs"]["scores"]["max_abs_diff"] < 0.1
    assert p["passed"]  # finite, right shapes


def test_int8_detections_sane_and_graph_quantized(exported):
    res = exported[1]["int8"]
    p = res.parity
    assert _paired(p["detections"]) >= 0.5, p["detections"]
    assert p["outputs"]["scores"]["max_abs_diff"] < 0.25 and p["passed"]
    graph = res.metadata["extra"]["graph"]
    assert graph["int8_ops"] > graph["float_ops"], graph
    assert graph["ops"]["LOGISTIC"] == 1 and graph["ops"]["TOPK_V2"] == 1
    tail = res.metadata["extra"]["int8"]["float_tail_ops"]
    assert {"sigmoid", "topk", "conv2d", "relu"} <= set(tail)
    assert res.metadata["extra"]["float_ops"]["convs_outside_tail"] == []  # the neck's phase convs too (issue 14)
    # a dequantize -> float op -> quantize island is a wasted round trip; this model has a handful (the ADDs
    # that sum the float transposed-conv branch into the int8 neck): keep it from growing
    assert sum(graph["roundtrips"].values()) <= 12, graph["roundtrips"]


def _xnnpack_partitions(path):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(str(path), num_threads=1)  # default delegates: XNNPACK, as edgedet.runtime loads it
    interp.allocate_tensors()
    return sum(op["op_name"] == "DELEGATE" for op in interp._get_ops_details())


def test_int8_stays_inside_xnnpack_as_fp32_does(exported):
    """int8_tflite_form: no int8 HARD_SWISH and no lone int8 RELU6, which LiteRT 2.3's XNNPACK delegate does not
    take: the int8 file breaks into no more partitions than the fp32 one (the decode's ops, outside in both)."""
    res = exported[1]
    ops = res["int8"].metadata["extra"]["graph"]["ops"]
    assert "HARD_SWISH" not in ops and "RELU6" not in ops, ops
    assert _xnnpack_partitions(res["int8"].model_path) == _xnnpack_partitions(res["fp32"].model_path)


def test_runtime_loads_without_torch(exported):
    _, res, data = exported
    image = image_files(data / "images" / "val", 1)[0]
    code = ("import sys; sys.modules['torch'] = None\n"
            "import cv2, edgedet.runtime as rt\n"
            f"p = rt.load({str(res['int8'].dir)!r}, threads=1)\n"
            f"d = p.predict(cv2.imread({str(image)!r}), score_thr=0.1)\n"
            "print(type(p.backend).__name__, p.backend.package, len(d))\n")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    name, package, n = r.stdout.split()
    assert name == "LiteRTBackend" and package == "ai-edge-litert" and int(n) > 0


def test_float_tail_is_everything_after_the_last_convs():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1),
                              torch.nn.Sigmoid())
    gm = torch.export.export(net, (torch.randn(1, 3, 8, 8),)).module()
    tail = {n.name for n in float_tail(gm) if n.op == "call_function"}
    assert "sigmoid" in tail and "conv2d_1" in tail
    assert "conv2d" not in tail and "relu" not in tail


@pytest.mark.parametrize("deconv", [lambda: torch.nn.ConvTranspose2d(6, 6, 4, 2, 1, groups=6, bias=False),
                                    lambda: DepthwiseDeconv2x(6)], ids=["conv_transpose", "phase_form"])
def test_fold_deconv_bn_is_exact(deconv):
    torch.manual_seed(0)
    seq = torch.nn.Sequential(deconv(), torch.nn.BatchNorm2d(6))
    kind = type(seq[0])
    seq[1].running_mean.normal_()
    seq[1].running_var.uniform_(0.5, 2.0)
    seq[1].weight.data.normal_()
    seq.eval()
    x = torch.randn(2, 6, 5, 7)
    ref = seq(x)
    folded = fold_deconv_bn(seq)
    assert isinstance(folded[1], torch.nn.Identity) and type(folded[0]) is kind  # the phase form stays a phase form
    torch.testing.assert_close(folded(x), ref, atol=1e-5, rtol=1e-5)
