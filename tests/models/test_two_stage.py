import pytest
import torch

from edgedet.models.anchor_zoo import ANCHOR_PRESETS
from edgedet.models.heads.rpn import generate_proposals
from edgedet.structures.coders import DeltaXYWHCoder

torch.set_num_threads(1)

TARGETS = [
    {"boxes": torch.tensor([[10.0, 12, 50, 60], [40, 40, 90, 80]]), "labels": torch.tensor([1, 2])},
    {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
]


def _tiny():
    torch.manual_seed(0)
    return ANCHOR_PRESETS["libra_faster_rcnn_r18_fpn"](3, width=0.25, imgsz=96).train()


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
    with pytest.raises(NotImplementedError):
        model.export_graph()


def test_rcnn_targets_include_gt_as_proposals():
    model = _tiny()
    rois, labels, deltas, pos = model._rcnn_targets([torch.zeros(0, 4), torch.zeros(0, 4)], TARGETS)
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
