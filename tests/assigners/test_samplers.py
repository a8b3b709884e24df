import torch

from edgedet.assigners import (
    AssignResult,
    InstanceBalancedPosSampler,
    IoUBalancedNegSampler,
    RandomNegSampler,
    RoISampler,
)


def _result(gt_inds, overlaps):
    gt_inds = torch.tensor(gt_inds)
    return AssignResult(gt_inds, torch.tensor(overlaps), torch.where(gt_inds > 0, 0, -1))


def test_instance_balanced_equal_share_per_gt():
    res = _result([1] * 10 + [2] * 2 + [0] * 5, [0.9] * 12 + [0.1] * 5)
    gen = torch.Generator().manual_seed(0)
    pos = InstanceBalancedPosSampler().sample(res, 6, gen)  # round(6 / 2) + 1 = 4 per GT: 4 from gt 1, both of gt 2
    assert pos.numel() == 6 and len(set(pos.tolist())) == 6
    assert sorted(res.gt_inds[pos].tolist()) == [1, 1, 1, 1, 2, 2]
    # fewer positives than asked: all of them
    assert sorted(InstanceBalancedPosSampler().sample(res, 20, gen).tolist()) == list(range(12))


def test_iou_balanced_negatives_bins():
    # negatives: 30 with IoU .05 (bin 0), 1 with IoU .2 (bin 1: [.133, .267)), 10 with IoU .35/.4 (bin 2)
    ious = [0.05] * 30 + [0.2] + [0.35] * 9 + [0.4]
    res = _result([0] * 41 + [1], ious + [0.8])
    gen = torch.Generator().manual_seed(0)
    neg = IoUBalancedNegSampler(floor_thr=0.0, num_bins=3).sample(res, 6, gen)
    assert neg.numel() == 6 and len(set(neg.tolist())) == 6
    assert 30 in neg.tolist()  # the only bin-1 negative is always drawn
    assert (res.max_overlaps[neg] >= 0.35).sum() >= 2  # 2 from the top bin
    assert 41 not in neg.tolist()  # never a positive
    # uniform draw for comparison almost never picks the lone bin-1 negative
    hits = sum(30 in RandomNegSampler().sample(res, 6, torch.Generator().manual_seed(s)).tolist() for s in range(50))
    assert hits < 25


def test_roi_sampler_budget():
    res = _result([1] * 100 + [0] * 1000, [0.7] * 100 + [0.1] * 1000)
    s = RoISampler(64, 0.25).sample(res, torch.Generator().manual_seed(0))
    assert s.pos_inds.numel() == 16 and s.neg_inds.numel() == 48
    assert torch.all(s.pos_gt_inds == 0) and torch.all(res.gt_inds[s.neg_inds] == 0)
    s = RoISampler(64, 0.25, neg_pos_ub=1.0).sample(_result([1] * 3 + [0] * 100, [0.7] * 3 + [0.1] * 100))
    assert s.pos_inds.numel() == 3 and s.neg_inds.numel() == 3
