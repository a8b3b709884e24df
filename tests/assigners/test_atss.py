import pytest
import torch

from edgedet.assigners import ATSSAssigner, DynamicATSSAssigner
from edgedet.assigners.base import smallest_k_indices
from edgedet.structures.priors import AnchorGenerator, atss_anchors
from tests.assigners._reference import atss_reference

# 4x4 grid, stride 8, 16 px square anchors centred at 4, 12, 20, 28; prior index = y * 4 + x
PRIORS = AnchorGenerator((8,), octave_base_scale=2, scales_per_octave=1, ratios=(1.0,)).grid_priors([(4, 4)])[0]
GT = torch.tensor([[4.0, 4, 16, 16]])  # centre (10, 10)
LAB = torch.tensor([3])


def test_hand_case_threshold():
    # nearest 4 centres: 5 (12,12), 1 (12,4), 4 (4,12), 0 (4,4); IoUs 0.5625, 0.3158, 0.3158, 0.1905
    # mean + std = 0.3462 + 0.1559 = 0.502 -> only prior 5
    r = ATSSAssigner(4).assign(PRIORS, [16], GT, LAB)
    assert r.gt_inds.nonzero().flatten().tolist() == [5]
    assert r.labels[5] == 3 and (r.labels >= 0).sum() == 1
    assert float(r.max_overlaps[5]) == 0.5625 and float(r.max_overlaps.sum()) == 0.5625


def test_distance_ties_take_lower_index_and_equal_ious_all_pass():
    gt = torch.tensor([[0.0, 0, 16, 16]])  # centre (8, 8): priors 0, 1, 4, 5 are equally near
    r = ATSSAssigner(2).assign(PRIORS, [16], gt, LAB)  # k=2 -> 0 and 1; equal IoUs, std 0 -> both positive
    assert r.gt_inds.nonzero().flatten().tolist() == [0, 1]
    r = ATSSAssigner(4).assign(PRIORS, [16], gt, LAB)
    assert r.gt_inds.nonzero().flatten().tolist() == [0, 1, 4, 5]


def test_centre_must_be_strictly_inside():
    gt = torch.tensor([[4.0, 4, 12, 12]])  # candidate centres lie on its corners
    assert ATSSAssigner(4).assign(PRIORS, [16], gt, LAB).gt_inds.tolist() == [0] * 16


def test_k_larger_than_level_and_empty_level():
    priors = torch.cat([PRIORS, torch.tensor([[-20.0, -20, 40, 40]])])
    r = ATSSAssigner(9).assign(priors, [16, 0, 1], GT, LAB)  # level 1 empty, level 2 has 1 < 9 priors
    assert r.gt_inds.shape == (17,)
    assert r.gt_inds.nonzero().flatten().tolist() == [5]


def test_single_candidate_has_zero_std():
    r = ATSSAssigner(1).assign(PRIORS, [16], GT, LAB)
    assert r.gt_inds.nonzero().flatten().tolist() == [5]


def test_conflict_goes_to_higher_iou_then_lower_gt_index():
    gts = torch.tensor([[4.0, 4, 16, 16], [4.0, 4, 16, 16]])
    r = ATSSAssigner(4).assign(PRIORS, [16], gts, torch.tensor([1, 2]))
    assert r.gt_inds[5] == 1 and r.labels[5] == 1
    gts = torch.tensor([[4.0, 4, 16, 16], [6.0, 6, 18, 18]])  # prior 5 [4,4,20,20]: IoU .5625 vs .5625?
    r = ATSSAssigner(4).assign(PRIORS, [16], gts, torch.tensor([1, 2]))
    # IoU(prior 5, gt1) = 144 / 256 = 0.5625 too (tie) -> lower index; shift gt1 to be better:
    gts = torch.tensor([[4.0, 4, 16, 16], [4.0, 4, 20, 20]])
    r = ATSSAssigner(4).assign(PRIORS, [16], gts, torch.tensor([1, 2]))
    assert r.gt_inds[5] == 2


def test_ignore_region_excludes_priors():
    ign = torch.tensor([[4.0, 4, 20, 20]])  # covers prior 5 fully, its neighbours by 0.5 (not > 0.5)
    r = ATSSAssigner(4, ignore_iof_thr=0.5).assign(PRIORS, [16], GT, LAB, gt_boxes_ignore=ign)
    assert r.gt_inds[5] == -1 and (r.gt_inds == -1).sum() == 1
    assert r.gt_inds.nonzero().flatten().tolist() == [5]  # the only non-zero is the ignored one


def test_no_gt_no_priors():
    r = ATSSAssigner().assign(PRIORS, [16], torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert r.gt_inds.tolist() == [0] * 16
    r = ATSSAssigner().assign(torch.zeros(0, 4), [0, 0], GT, LAB)
    assert r.gt_inds.shape == (0,)


def test_smallest_k_tie_rule():
    v = torch.tensor([[3.0, 1, 2, 1, 1, 0], [5, 5, 5, 5, 5, 5]])
    assert smallest_k_indices(v, 3).tolist() == [[1, 3, 5], [0, 1, 2]]


def test_chunked_equals_full_and_reference_on_real_anchors():
    g = atss_anchors()
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    priors = torch.cat(g.grid_priors(sizes))
    nl = g.num_level_priors(sizes)
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(30, 2, generator=gen) * 100 + 3.1
    gts = torch.cat([xy, xy + torch.rand(30, 2, generator=gen) * 80 + 5], 1)
    lab = torch.randint(0, 4, (30,), generator=gen)
    full = ATSSAssigner(9, max_chunk_elems=None).assign(priors, nl, gts, lab)
    for chunk in (1, 100, 1000):
        assert torch.equal(ATSSAssigner(9, max_chunk_elems=chunk).assign(priors, nl, gts, lab).gt_inds, full.gt_inds)
    assert torch.equal(full.gt_inds, atss_reference(priors, nl, gts, 9))
    assert (full.gt_inds > 0).sum() >= 30


def test_dynamic_with_predictions_equal_to_priors_is_atss():
    g = atss_anchors()
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    priors = torch.cat(g.grid_priors(sizes))
    nl = g.num_level_priors(sizes)
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(10, 2, generator=gen) * 100
    gts = torch.cat([xy, xy + torch.rand(10, 2, generator=gen) * 60 + 5], 1)
    lab = torch.zeros(10, dtype=torch.long)
    a = ATSSAssigner(9).assign(priors, nl, gts, lab)
    d = DynamicATSSAssigner(9).assign(priors, nl, gts, lab, pred_boxes=priors.clone())
    assert torch.equal(a.gt_inds, d.gt_inds)


def test_dynamic_hand_case():
    # candidates 0, 1, 4, 5 with anchor IoUs A = .1905, .3158, .3158, .5625 (mean + std = .502)
    pred = PRIORS.clone()
    pred[[0, 5]] = GT[0]  # P = 1, .3158, .3158, 1: mean + std = 1.0528; threshold 1.5548
    r = DynamicATSSAssigner(4).assign(PRIORS, [16], GT, LAB, pred_boxes=pred)  # prior 5: .5625 + 1 = 1.5625 >= 1.5548
    assert r.gt_inds.nonzero().flatten().tolist() == [5]
    pred = PRIORS.clone()
    pred[[0, 1]] = GT[0]  # P = 1, 1, .3158, .5625: threshold 1.5607; best combined 1.3158 -> no positive
    r = DynamicATSSAssigner(4).assign(PRIORS, [16], GT, LAB, pred_boxes=pred)
    assert r.gt_inds.tolist() == [0] * 16


def test_dynamic_pred_iou_ratio_moves_between_atss_and_predicted_iou():
    # predictions 0 and 1 sit on the GT: P = 1, 1, .3158, .5625 (mean + std 1.0587) and A = .1905, .3158, .3158,
    # .5625 (mean + std .5020) for candidates 0, 1, 4, 5. Prior 5 predicts its own anchor, so its combined IoU is
    # .5625 for every ratio r; the threshold is r * 1.0587 + (1 - r) * .5020
    pred = PRIORS.clone()
    pred[[0, 1]] = GT[0]
    positives = {}
    for r in (0.0, 0.1, 0.5, 1.0):
        res = DynamicATSSAssigner(4, pred_iou_ratio=r).assign(PRIORS, [16], GT, LAB, pred_boxes=pred)
        positives[r] = res.gt_inds.nonzero().flatten().tolist()
    # r = 0: .5020 -> plain ATSS (prior 5); r = .1: .5577 <= .5625 -> prior 5; the others (.2714, .3842, .3158)
    # stay below. r = .5 (the paper's sum, halved): .7803 > every combined IoU (.5952, .6579, .3158, .5625);
    # r = 1: 1.0587 > 1
    assert positives == {0.0: [5], 0.1: [5], 0.5: [], 1.0: []}
    assert DynamicATSSAssigner(4).pred_iou_ratio == 0.5
    with pytest.raises(ValueError, match="pred_iou_ratio"):
        DynamicATSSAssigner(4, pred_iou_ratio=1.5)
