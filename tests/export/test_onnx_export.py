"""ONNX fp32 / fp16 / int8 round trips of a tiny real PAFNet-lite: export, load through edgedet.runtime, compare."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import onnx
import pytest
import torch

from edgedet.deploy.preprocess import boxes_to_original, preprocess_bgr
from edgedet.deploy.schema import ONNX_METADATA_KEY, read_metadata
from edgedet.export.api import export
from edgedet.runtime import load
from edgedet.runtime.nms import box_iou_xyxy
from tests.runtime.tiny_models import CLASS_NAMES, IMGSZ, image_files, tiny_pafnet_lite


@pytest.fixture(scope="module")
def exported(tiny_synth, tmp_path_factory):
    images = image_files(tiny_synth / "images" / "train", 16)
    model = tiny_pafnet_lite(images)
    out = tmp_path_factory.mktemp("onnx_export")
    ckpt = out / "weights.pt"
    torch.save(model.state_dict(), ckpt)
    results = export(
        model, formats=["onnx"], precisions=["fp32", "fp16", "int8"], imgsz=IMGSZ, out_dir=out / "export",
        class_names=CLASS_NAMES, model_name="pafnet_lite_mbv3", calib_images=tiny_synth / "images" / "train",
        calib_n=16, source_ckpt=ckpt, threads=1,
        parity_images=image_files(tiny_synth / "images" / "val", 4),
    )
    return model, {r.precision: r for r in results}, tiny_synth


def test_export_writes_one_directory_per_precision(exported):
    _, res, _ = exported
    for prec, r in res.items():
        assert r.dir.name == f"onnx_{prec}"
        assert sorted(p.name for p in r.dir.iterdir()) == sorted(
            ["edgedet.json", "parity.json", f"pafnet_lite_mbv3_{prec}.onnx"])
        assert read_metadata(r.dir) == r.metadata
        assert json.loads((r.dir / "parity.json").read_text()) == json.loads(json.dumps(r.parity))


def test_fp32_parity_within_1e4_with_real_detections(exported):
    _, res, _ = exported
    p = res["fp32"].parity
    assert p["passed"] and p["gate"] == "fp32 tolerance"
    assert p["max_abs_diff"] < 1e-4
    assert p["detections_match"]
    assert p["detections"]["torch"] >= 10, "the test model must produce detections above 0.05"
    assert p["detections"]["min_iou"] > 0.999
    assert p["topk_unpaired_entries"] == 0


def test_fp32_predict_matches_torch_postprocess_in_original_pixels(exported):
    model, res, data = exported
    pred = load(res["fp32"].dir, threads=1)
    image = cv2.imread(str(image_files(data / "images" / "val", 1)[0]))
    image = cv2.resize(image, (150, 110))  # non-square: exercises the letterbox mapping
    dets = pred.predict(image, score_thr=0.3)
    x, info = preprocess_bgr(image, IMGSZ)
    ref = model.predict(torch.from_numpy(x), score_thr=0.3)[0]
    ref_boxes = boxes_to_original(ref["boxes"].numpy(), info)
    assert len(dets) >= 3
    # every runtime detection is a torch detection (same box, score, label) ...
    iou = box_iou_xyxy(dets.boxes, ref_boxes)
    j = iou.argmax(1)
    assert np.all(iou.max(1) > 0.999)
    np.testing.assert_allclose(dets.scores, ref["scores"].numpy()[j], atol=1e-4)
    np.testing.assert_array_equal(dets.labels, ref["labels"].numpy()[j])
    # ... and every torch detection the runtime dropped is a same-label duplicate (IoU > 0.7) of a kept one
    dropped = np.setdiff1d(np.arange(len(ref_boxes)), j)
    for d in dropped:
        same = dets.labels == int(ref["labels"][d])
        assert same.any() and box_iou_xyxy(ref_boxes[d : d + 1], dets.boxes[same]).max() > 0.7
    assert dets.boxes[:, [0, 2]].max() <= 150 and dets.boxes[:, [1, 3]].max() <= 110
    assert np.all(np.diff(dets.scores) <= 0)


def test_metadata_is_embedded_and_enough_without_edgedet_json(exported, tmp_path):
    _, res, data = exported
    src = res["fp32"].model_path
    props = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    assert json.loads(props[ONNX_METADATA_KEY]) == res["fp32"].metadata
    lone = tmp_path / src.name
    shutil.copyfile(src, lone)
    image = cv2.imread(str(image_files(data / "images" / "val", 1)[0]))
    a, b = load(lone).predict(image, 0.2), load(res["fp32"].dir).predict(image, 0.2)
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert load(lone).class_names == CLASS_NAMES


def test_metadata_contents(exported):
    _, res, _ = exported
    meta = res["int8"].metadata
    assert meta["format"] == "onnx" and meta["precision"] == "int8"
    assert meta["input"] == {"name": "images", "size": IMGSZ, "layout": "NCHW", "shape": [1, 3, IMGSZ, IMGSZ],
                             "dtype": "float32"}
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "labels"]
    assert [o["shape"] for o in meta["outputs"]] == [[1, 100, 4], [1, 100], [1, 100]]
    assert meta["decode"]["type"] == "topk_boxes"
    assert meta["calibration"]["n_images"] == 16 and meta["calibration"]["method"] == "percentile"
    assert res["fp32"].metadata["calibration"] is None
    assert len(meta["source_checkpoint"]["sha256"]) == 64
    assert meta["source_checkpoint"] == res["fp32"].metadata["source_checkpoint"]


def test_fp16_file_is_half_size_with_float32_io_and_close_outputs(exported):
    _, res, _ = exported
    m = onnx.load(str(res["fp16"].model_path))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in m.graph.output)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer)
    ratio = res["fp16"].model_path.stat().st_size / res["fp32"].model_path.stat().st_size
    assert ratio < 0.65
    p = res["fp16"].parity
    assert p["passed"] and p["gate"] == "report only"
    assert p["outputs"]["scores"]["max_abs_diff"] < 0.1
    assert p["detections"]["matched"] >= 0.9 * p["detections"]["torch"]


def test_int8_is_qdq_with_float_tail_and_sane_detections(exported):
    _, res, _ = exported
    m = onnx.load(str(res["int8"].model_path))
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 50
    producers = {o: n for n in m.graph.node for o in n.output}
    inits = {t.name: t for t in m.graph.initializer}
    tail = [n for n in m.graph.node if n.name in ("/model/head/hm_out/Conv", "/model/head/box_out/Conv")]
    assert len(tail) == 2
    for conv in tail:
        weight = conv.input[1]
        assert weight in inits and inits[weight].data_type == onnx.TensorProto.FLOAT, "final 1x1 conv stays float"
    float_nodes = set(res["int8"].metadata["extra"]["int8"]["float_nodes"])
    tail_ops = {n.op_type for n in m.graph.node if n.name in float_nodes}
    assert {"Sigmoid", "TopK", "Conv"} <= tail_ops
    for node in (n for n in m.graph.node if n.name in float_nodes and n.op_type != "Conv"):
        for i in node.input:
            assert i not in producers or producers[i].op_type != "DequantizeLinear", f"{node.name} reads int8"
    quantized_convs = [n for n in m.graph.node if n.op_type == "Conv" and n.input[1] in producers
                       and producers[n.input[1]].op_type == "DequantizeLinear"]
    assert len(quantized_convs) > 40
    p = res["int8"].parity
    d = p["detections"]
    assert p["passed"] and d["torch"] > 0
    assert d["matched"] >= 0.5 * d["torch"] and d["runtime"] <= 1.5 * d["torch"]
    # raw top-k scores, unpaired: entries change places among near-equal scores. 0.28 before the neck deconvs' BNs
    # were folded into them, 0.32 after (283 vs 281 of 385 detections paired; the full-width model's int8 AP is
    # unchanged, benchmarks/quantization/README.md)
    assert p["outputs"]["scores"]["max_abs_diff"] < 0.35
    extra = res["int8"].metadata["extra"]["int8"]
    assert extra["reduce_range"] and extra["per_channel"] and "/model/head/hm_out/Conv" in extra["float_nodes"]


def test_thread_count_reaches_the_session(exported):
    _, res, _ = exported
    for n in (1, 2):
        opts = load(res["fp32"].dir, threads=n).backend.session.get_session_options()
        assert opts.intra_op_num_threads == n
