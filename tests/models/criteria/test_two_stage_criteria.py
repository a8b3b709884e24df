import torch

from edgedet.assigners import MaxIoUAssigner, RoISampler
from edgedet.models.criteria.two_stage import RCNNCriterion, RPNCriterion
from edgedet.structures.coders import DeltaXYWHCoder

torch.set_num_threads(1)

TARGETS = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([1])}]


def test_rcnn_sample_adds_gts_and_perfect_deltas_give_zero_box_loss():
    crit = RCNNCriterion(num_classes=2, assigner=MaxIoUAssigner(0.5, 0.5, match_low_quality=False),
                         sampler=RoISampler(8, 0.5))
    proposals = [torch.tensor([[30.0, 30, 40, 40], [1, 1, 11, 11]])]
    coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
    t = crit.sample(proposals, TARGETS, coder)
    # candidates: two proposals + the GT box; positives (first): proposal 1 (IoU .68) and the GT itself
    assert t.rois[0].shape == (3, 4) and t.pos.tolist() == [True, True, False]
    assert t.labels.tolist() == [1, 1, 2]  # background = num_classes
    reg = torch.zeros(3, 2 * 4)
    reg.view(3, 2, 4)[t.pos, t.labels[t.pos]] = t.deltas[t.pos]
    cls = torch.zeros(3, 3)
    out = crit((cls, reg), TARGETS, roi_targets=t)
    assert float(out["loss_box"]) == 0.0
    torch.testing.assert_close(out["loss_cls"], torch.tensor(3 * 1.0986122886681098 / 3))  # ln 3 per RoI


def test_rpn_counts_sampled_anchors():
    priors = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [30, 30, 40, 40], [50, 50, 60, 60]])
    crit = RPNCriterion(assigner=MaxIoUAssigner(0.7, 0.3), sampler=RoISampler(4, 0.5))
    coder = DeltaXYWHCoder()
    obj, deltas = torch.zeros(1, 4, 1), torch.zeros(1, 4, 4)
    out = crit((obj, deltas), TARGETS, priors=priors, num_level_priors=[4], coder=coder)
    # positive: prior 0 (IoU 1; prior 1 is between 0.3 and 0.7: ignored); negatives: priors 2 and 3
    torch.testing.assert_close(out["loss_rpn_cls"], torch.tensor(0.6931471805599453))
    assert float(out["loss_rpn_box"]) == 0.0
