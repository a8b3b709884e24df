"""ONNX round trip of tiny anchor-based zoo detectors (ATSS with a centerness branch, Dynamic ATSS with an IoU
branch): parity, and predict scoring as the PyTorch post-processing does."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
import torch

from edgedet.config.schema import ModelConfig
from edgedet.deploy.preprocess import boxes_to_original, preprocess_bgr
from edgedet.export.api import export
from edgedet.models.zoo import build_model
from edgedet.runtime import load
from tests.runtime.tiny_models import CLASS_NAMES, image_files

IMGSZ = 128


@pytest.fixture(scope="module")
def exported(tiny_synth, tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="atss_r18_fpn", num_classes=3, width=0.25, imgsz=IMGSZ)).eval()
    with torch.no_grad():  # spread the class scores: a fresh head scores every anchor 0.01
        model.head.cls_out.weight.normal_(0.0, 0.1)
        model.head.cls_out.bias.fill_(-1.5)
    results = export(model, formats=["onnx"], precisions=["fp32", "int8"], imgsz=IMGSZ,
                     out_dir=tmp_path_factory.mktemp("dense"), class_names=CLASS_NAMES, model_name="atss_r18_fpn",
                     calib_images=tiny_synth / "images" / "train", calib_n=8,
                     parity_images=image_files(tiny_synth / "images" / "val", 3))
    return model, {r.precision: r for r in results}, tiny_synth


def test_fp32_parity_and_outputs(exported):
    _, res, _ = exported
    p, meta = res["fp32"].parity, res["fp32"].metadata
    assert [o["name"] for o in meta["outputs"]] == ["cls_logits", "box_deltas", "quality_logits"]
    assert meta["decode"]["type"] == "anchor_deltas"
    assert p["passed"] and p["max_abs_diff"] < 1e-4
    assert p["detections"]["torch"] >= 10 and p["detections_match"]


def _assert_predict_matches_postprocess(model, export_dir, data, score_thr):
    image = cv2.resize(cv2.imread(str(image_files(data / "images" / "val", 1)[0])), (160, 120))
    dets = load(export_dir, threads=1).predict(image, score_thr=score_thr)
    x, info = preprocess_bgr(image, IMGSZ)
    with torch.no_grad():
        ref = model.postprocess(model(torch.from_numpy(x)), score_thr=score_thr)[0]
    assert len(dets) >= 5 and len(dets) == len(ref["scores"])
    order = np.lexsort((dets.boxes[:, 0], dets.labels, -np.round(dets.scores, 5)))
    ref_order = np.lexsort((ref["boxes"][:, 0].numpy(), ref["labels"].numpy(), -np.round(ref["scores"].numpy(), 5)))
    np.testing.assert_allclose(dets.scores[order], ref["scores"].numpy()[ref_order], atol=1e-5)
    np.testing.assert_array_equal(dets.labels[order], ref["labels"].numpy()[ref_order])
    np.testing.assert_allclose(dets.boxes[order], boxes_to_original(ref["boxes"].numpy(), info)[ref_order],
                               atol=1e-2)


def test_predict_matches_postprocess_in_original_pixels(exported):
    model, res, data = exported
    _assert_predict_matches_postprocess(model, res["fp32"].dir, data, 0.15)


def test_dynamic_atss_export_scores_sqrt_cls_iou_like_pytorch(tiny_synth, tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="dynamic_atss_r18_fpn", num_classes=3, width=0.25, imgsz=IMGSZ)).eval()
    with torch.no_grad():
        model.head.cls_out.weight.normal_(0.0, 0.1)
        model.head.cls_out.bias.fill_(-1.5)
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=IMGSZ, out_dir=tmp_path,
                    class_names=CLASS_NAMES, model_name="dynamic_atss_r18_fpn",
                    parity_images=image_files(tiny_synth / "images" / "val", 2))
    assert res.metadata["decode"]["quality"] == "iou" and res.parity["passed"], res.parity
    # the runtime's decode (sqrt(cls * iou) where cls passes, edgedet.deploy.decode_spec.dense_scores) gives the
    # detections of the PyTorch post-processing; the formula itself is pinned in tests/deploy and tests/runtime
    _assert_predict_matches_postprocess(model, res.dir, tiny_synth, 0.15)


def test_int8_keeps_the_head_outputs_float(exported):
    _, res, _ = exported
    m = onnx.load(str(res["int8"].model_path))
    inits = {t.name: t for t in m.graph.initializer}
    producers = {o: n for n in m.graph.node for o in n.output}
    out_convs = [n for n in m.graph.node if n.op_type == "Conv" and "_out" in n.name]
    assert len(out_convs) == 15  # cls / reg / quality convs on 5 levels
    for conv in out_convs:
        w = conv.input[1]
        assert w in inits and inits[w].data_type == onnx.TensorProto.FLOAT, conv.name
    quantized = [n for n in m.graph.node if n.op_type == "Conv" and n.input[1] in producers
                 and producers[n.input[1]].op_type == "DequantizeLinear"]
    assert len(quantized) > 20
    d = res["int8"].parity["detections"]
    assert res["int8"].parity["passed"] and d["matched"] >= 0.5 * d["torch"] > 0


def test_export_size_other_than_the_training_size(tiny_synth, tmp_path):
    """`edgedet export --imgsz` may differ from the size a model was trained at: the decode spec (anchor grid)
    follows the export size, so parity holds and the priors match the exported outputs."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="atss_r18_fpn", num_classes=3, width=0.25, imgsz=2 * IMGSZ)).eval()
    with torch.no_grad():
        model.head.cls_out.bias.fill_(-1.5)
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=IMGSZ, out_dir=tmp_path,
                    class_names=CLASS_NAMES, model_name="atss_r18_fpn",
                    parity_images=image_files(tiny_synth / "images" / "val", 1))
    sizes = res.metadata["decode"]["priors"]["feat_sizes"]
    assert sizes[0] == [IMGSZ // 8, IMGSZ // 8] and model.imgsz == IMGSZ
    assert res.parity["passed"], res.parity
