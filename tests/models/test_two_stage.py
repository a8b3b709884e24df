import numpy as np
import pytest
import torch

from edgedet.export.calib import load_calibration_images
from edgedet.models.heads.rpn import generate_proposals, sort_ascending
from edgedet.models.zoo import PRESETS
from edgedet.runtime.decode import decode_outputs
from edgedet.structures.coders import DeltaXYWHCoder
from tests.runtime.tiny_models import image_files, tiny_faster_rcnn

torch.set_num_threads(1)

TARGETS = [
    {"boxes": torch.tensor([[10.0, 12, 50, 60], [40, 40, 90, 80]]), "labels": torch.tensor([1, 2])},
    {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
]


def _tiny():
    torch.manual_seed(0)
    return PRESETS["libra_faster_rcnn_r18_fpn"](3, width=0.25, imgsz=96).train()


def test_forward_loss_backward_predict():
    model = _tiny()
    out = model(torch.randn(2, 3, 96, 96))
    assert out[0].shape == (2, 3 * (576 + 144 + 36 + 9 + 4), 1) and out[1].shape[-1] == 4
    assert [o.shape[-1] for o in out[2:]] == [24, 12, 6, 3]
    losses = model.loss(out, TARGETS)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_box", "loss_cls", "loss_box"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses["loss_box"].detach()) > 0 and float(losses["loss_rpn_box"].detach()) > 0
    sum(losses.values()).backward()
    assert model.roi_head.reg_out.weight.grad.abs().sum() > 0 and model.rpn.cls_out.weight.grad.abs().sum() > 0
    model.eval()
    dets = model.predict(torch.randn(2, 3, 96, 96), score_thr=0.0)
    assert len(dets) == 2 and dets[0]["boxes"].shape[1] == 4 and dets[0]["boxes"].shape[0] <= 100


def test_rcnn_targets_include_gt_as_proposals():
    model = _tiny()
    t = model.rcnn_criterion.sample([torch.zeros(0, 4), torch.zeros(0, 4)], TARGETS, model.rcnn_coder)
    rois, labels, deltas, pos = t.rois, t.labels, t.deltas, t.pos
    # no proposals: the two GT boxes are the only candidates, both positive with zero deltas
    torch.testing.assert_close(rois[0], TARGETS[0]["boxes"])
    assert labels.tolist() == [1, 2] and pos.tolist() == [True, True]
    torch.testing.assert_close(deltas, torch.zeros(2, 4), atol=1e-6, rtol=0)
    assert rois[1].shape == (0, 4)


def test_generate_proposals_hand_case():
    priors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 11, 10], [50, 50, 60, 60]])
    obj = torch.tensor([5.0, 4.0, 3.0])
    boxes, scores = generate_proposals(obj, torch.zeros(3, 4), priors, [3], DeltaXYWHCoder(), (100, 100),
                                       nms_iou=0.7, max_num=10)
    # prior 1 overlaps prior 0 with IoU 10/11 > 0.7 -> suppressed
    torch.testing.assert_close(boxes, priors[[0, 2]])
    torch.testing.assert_close(scores, torch.tensor([5.0, 3.0]).sigmoid())


def test_sort_ascending_is_a_sort():
    idx = torch.stack([torch.randperm(5000, generator=torch.Generator().manual_seed(i))[:700] for i in range(2)])
    assert torch.equal(sort_ascending(idx), idx.sort(1).values)
    assert sort_ascending(torch.tensor([[7, 3, 5]])).tolist() == [[3, 5, 7]]


@pytest.fixture(scope="module")
def tiny_graph_outputs(tiny_synth):
    model = tiny_faster_rcnn(image_files(tiny_synth / "images" / "train", 8))
    x = torch.from_numpy(load_calibration_images(image_files(tiny_synth / "images" / "val", 2), 2, 128))
    with torch.no_grad():
        outputs = model(x)
        graph = [t.numpy() for t in model.export_graph()(x)]
    return model, x, outputs, graph


def test_export_graph_is_the_pre_nms_half_of_postprocess(tiny_graph_outputs):
    model, x, outputs, (props, obj, cls, deltas) = tiny_graph_outputs
    counts = model.decode_spec().level_counts
    assert counts == [300, 300, 192, 48, 12]  # min(rpn_nms_pre_test = 300, anchors) on 32, 16, 8, 4, 2 px maps
    n = sum(counts)
    assert props.shape == (2, n, 4) and obj.shape == (2, n) and cls.shape == (2, n, 4) and deltas.shape == (2, n, 12)
    priors, nlp, image_size = model._priors(outputs[2])
    for b in range(2):
        start, row = 0, 0
        for k, p in zip(counts, nlp):
            logits = outputs[0][b, start:start + p, 0]
            top = logits.topk(k).indices.sort().values  # the graph keeps the top-k in anchor order
            np.testing.assert_array_equal(obj[b, row:row + k], logits[top].numpy())
            ref = model.rpn_coder.decode(priors[start + top], outputs[1][b, start + top], max_shape=image_size)
            np.testing.assert_allclose(props[b, row:row + k], ref.numpy(), atol=1e-5)
            start, row = start + p, row + k
        # the R-CNN head on the graph's proposals, pooled by torchvision: the graph's rows
        with torch.no_grad():
            feats = [f[b:b + 1] for f in outputs[2:]]
            ref_cls, ref_deltas = model.roi_head(feats, [torch.from_numpy(props[b])], image_size)
        np.testing.assert_allclose(cls[b], ref_cls.numpy(), atol=1e-5)
        np.testing.assert_allclose(deltas[b], ref_deltas.numpy(), atol=1e-5)


@pytest.mark.parametrize("thr", [0.05, 0.3])
def test_runtime_decode_of_the_export_graph_equals_postprocess(tiny_graph_outputs, thr):
    model, x, outputs, graph = tiny_graph_outputs
    dets = decode_outputs(graph, model.decode_spec(), thr, 128)
    ref = model.postprocess(outputs, score_thr=thr)
    for (boxes, scores, labels), r in zip(dets, ref):
        assert len(scores) == len(r["scores"]) >= 20
        np.testing.assert_allclose(scores, r["scores"].numpy(), atol=1e-5)
        np.testing.assert_array_equal(labels, r["labels"].numpy())
        np.testing.assert_allclose(boxes, r["boxes"].numpy(), atol=1e-3)
    assert len(dets[0][1]) < 100 if thr == 0.3 else len(dets[0][1]) == 100  # max_det reached at 0.05 only


def test_decode_spec_and_export_pairs():
    model = _tiny().eval()
    spec = model.decode_spec()
    assert spec.type == "two_stage" and spec.outputs == ["proposals", "objectness", "cls_logits", "box_deltas"]
    assert spec.level_counts == [1000, 432, 108, 27, 12]  # 96 px: 24x24x3 anchors on P2 exceed 1000
    assert spec.stds == [0.1, 0.1, 0.2, 0.2] and spec.num_classes == 3 and spec.rpn_max_test == 1000
    assert model.export_precisions()["tflite"] == ("fp32", "fp16")
