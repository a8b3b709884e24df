import torch

from edgedet.assigners import NoisyAnchorAssigner, TopNAssigner
from edgedet.assigners.noisy_anchor import cleanliness_reweights, cleanliness_soft_labels
from edgedet.structures.priors import AnchorGenerator

PRIORS = AnchorGenerator((8,), octave_base_scale=2, scales_per_octave=1, ratios=(1.0,)).grid_priors([(4, 4)])[0]
GT = torch.tensor([[4.0, 4, 16, 16]])  # IoU: prior 5 .5625; 1, 4 .3158; 0 .1905; 6, 9 .136; 2, 8, 10 > 0


def test_top_n_exact_with_tie_rule():
    assert TopNAssigner(3).assign(PRIORS, None, GT, torch.tensor([2])).gt_inds.nonzero().flatten().tolist() == [1, 4, 5]
    r = TopNAssigner(2).assign(PRIORS, None, GT, torch.tensor([2]))
    assert r.gt_inds.nonzero().flatten().tolist() == [1, 5]  # 1 and 4 tie: lower index
    assert (r.gt_inds == -1).sum() == 0  # no ignore band
    assert r.labels[5] == 2 and float(r.max_overlaps[5]) == 0.5625


def test_top_n_larger_than_priors_and_no_overlap_gt():
    gts = torch.tensor([[4.0, 4, 16, 16], [500, 500, 510, 510]])
    r = TopNAssigner(50).assign(PRIORS, None, gts, torch.tensor([0, 1]))
    assert r.gt_inds.nonzero().flatten().tolist() == [0, 1, 2, 4, 5, 6, 8, 9, 10]  # every prior with IoU > 0
    assert set(r.gt_inds.tolist()) == {0, 1}


def test_top_n_conflict_to_higher_iou_and_chunk_invariance():
    gts = torch.tensor([[4.0, 4, 16, 16], [4.0, 4, 20, 20], [30, 30, 60, 60]])
    full = TopNAssigner(4, max_chunk_elems=None).assign(PRIORS, None, gts, torch.tensor([0, 1, 2]))
    assert full.gt_inds[5] == 2  # IoU 1.0 with gt 1 vs .5625 with gt 0
    for chunk in (1, 16, 40):
        assert torch.equal(TopNAssigner(4, max_chunk_elems=chunk).assign(PRIORS, None, gts, torch.tensor([0, 1, 2])).gt_inds,
                           full.gt_inds)


def test_soft_labels_and_reweights_hand_values():
    loc = torch.tensor([0.2, 0.5, 0.8])
    cls = torch.tensor([0.3, 0.3, 0.9])
    # c = .75 loc / .5 + .25 cls / .5 = .45, .9, 1.65 -> mapped onto [mean(loc) = .5, 1]
    torch.testing.assert_close(cleanliness_soft_labels(loc, cls), torch.tensor([0.5, 0.6875, 1.0]))
    r = cleanliness_reweights(loc, cls)
    torch.testing.assert_close(r, torch.tensor([0.42424, 0.62879, 1.94697]), atol=1e-4, rtol=0)
    assert abs(float(r.mean()) - 1.0) < 1e-6


def test_noisy_anchor_soft_labels_in_range():
    gen = torch.Generator().manual_seed(0)
    gts = torch.tensor([[4.0, 4, 16, 16], [10, 8, 30, 28]])
    pred = PRIORS + torch.randn(16, 4, generator=gen) * 2
    scores = torch.rand(16, 3, generator=gen)
    r = NoisyAnchorAssigner(5).assign(PRIORS, None, gts, torch.tensor([0, 2]), pred_boxes=pred, pred_scores=scores)
    m = r.gt_inds > 0
    assert int(m.sum()) >= 6
    from edgedet.structures.boxes import elementwise_box_iou_xyxy
    loc = elementwise_box_iou_xyxy(pred[m], gts[r.gt_inds[m] - 1])
    s = r.soft_targets[m]
    assert float(s.min()) == float(loc.mean()) or abs(float(s.min() - loc.mean())) < 1e-6
    assert abs(float(s.max()) - 1.0) < 1e-6 and float(s.min()) >= float(loc.mean()) - 1e-6
    assert float(r.soft_targets[~m].abs().sum()) == 0.0
    assert abs(float(r.weights[m].mean()) - 1.0) < 1e-5 and torch.all(r.weights[~m] == 1)


def test_noisy_anchor_no_gt():
    r = NoisyAnchorAssigner().assign(PRIORS, None, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                                     pred_boxes=PRIORS, pred_scores=torch.rand(16, 2))
    assert r.gt_inds.tolist() == [0] * 16 and r.soft_targets.sum() == 0
