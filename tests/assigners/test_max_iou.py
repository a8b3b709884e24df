import torch

from edgedet.assigners import MaxIoUAssigner
from edgedet.structures.boxes import pairwise_box_iou_xyxy
from tests.assigners._reference import max_iou_reference

G = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
L = torch.tensor([3, 7])
P = torch.tensor([
    [0.0, 0, 10, 10],  # IoU 1 with g0 -> positive
    [0, 0, 10, 5],  # IoU 0.5 -> positive (>=)
    [0, 0, 10, 4.5],  # IoU 0.45 -> ignored
    [100, 100, 110, 110],  # no overlap -> negative
    [20, 20, 26, 26],  # IoU 0.36 with g1: below 0.4, but g1's best -> low-quality positive
    [24, 24, 30, 30],  # ties p4 as g1's best -> also low-quality positive
])


def _rand_boxes(n, gen, scale=200.0):
    xy = torch.rand(n, 2, generator=gen) * scale
    return torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 60 + 2], 1)


def test_hand_case_exact():
    r = MaxIoUAssigner(0.5, 0.4).assign(P, None, G, L)
    assert r.gt_inds.tolist() == [1, 1, -1, 0, 2, 2]
    assert r.labels.tolist() == [3, 3, -1, -1, 7, 7]
    torch.testing.assert_close(r.max_overlaps, torch.tensor([1.0, 0.5, 0.45, 0.0, 0.36, 0.36]))
    assert r.pos_inds.tolist() == [0, 1, 4, 5] and r.neg_inds.tolist() == [3]


def test_low_quality_switches():
    assert MaxIoUAssigner(0.5, 0.4, match_low_quality=False).assign(P, None, G, L).gt_inds.tolist() == [1, 1, -1, 0, 0, 0]
    assert MaxIoUAssigner(0.5, 0.4, min_pos_iou=0.4).assign(P, None, G, L).gt_inds.tolist() == [1, 1, -1, 0, 0, 0]
    # neg range (lo, hi): IoU 0 is below lo -> ignored
    assert MaxIoUAssigner(0.5, (0.1, 0.4)).assign(P, None, G, L).gt_inds.tolist() == [1, 1, -1, -1, 2, 2]


def test_gt_with_no_overlap_matches_nothing():
    gts = torch.tensor([[0.0, 0, 10, 10], [500, 500, 510, 510]])
    r = MaxIoUAssigner(0.5, 0.4).assign(P, None, gts, L)
    assert r.gt_inds.tolist() == [1, 1, -1, 0, 0, 0]


def test_tie_between_gts_goes_to_lower_index():
    gts = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10]])
    r = MaxIoUAssigner(0.5, 0.4).assign(P[:4], None, gts, torch.tensor([1, 2]))
    assert r.gt_inds.tolist() == [1, 1, -1, 0]
    assert r.labels.tolist() == [1, 1, -1, -1]


def test_low_quality_conflict_goes_to_higher_iou():
    priors = torch.tensor([[0.0, 0, 10, 10]])
    gts = torch.tensor([[0.0, 0, 10, 30], [0.0, 0, 10, 20]])  # IoU 1/3 and 1/2, prior is the best of both
    r = MaxIoUAssigner(0.7, 0.3).assign(priors, None, gts, torch.tensor([0, 1]))
    assert r.gt_inds.tolist() == [2]


def test_ignore_regions():
    ign = torch.tensor([[0.0, 0, 10, 10]])
    r = MaxIoUAssigner(0.5, 0.4, ignore_iof_thr=0.5).assign(P, None, G, L, gt_boxes_ignore=ign)
    assert r.gt_inds.tolist() == [-1, -1, -1, 0, 2, 2]
    assert r.max_overlaps[:3].tolist() == [0.0, 0.0, 0.0]
    # disabled by default even when ignore boxes are passed
    assert MaxIoUAssigner(0.5, 0.4).assign(P, None, G, L, gt_boxes_ignore=ign).gt_inds.tolist() == [1, 1, -1, 0, 2, 2]


def test_no_gt_and_no_priors():
    r = MaxIoUAssigner(0.5, 0.4).assign(P, None, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert r.gt_inds.tolist() == [0] * 6 and r.labels.tolist() == [-1] * 6
    r = MaxIoUAssigner(0.5, 0.4).assign(torch.zeros(0, 4), None, G, L)
    assert r.gt_inds.shape == (0,) and r.max_overlaps.shape == (0,)


def test_chunked_equals_full_and_reference():
    gen = torch.Generator().manual_seed(0)
    priors, gts = _rand_boxes(300, gen), _rand_boxes(23, gen)
    labels = torch.randint(0, 5, (23,), generator=gen)
    full = MaxIoUAssigner(0.5, 0.4, max_chunk_elems=None).assign(priors, None, gts, labels)
    for chunk in (1, 7 * 300, 300 * 5 + 11):
        part = MaxIoUAssigner(0.5, 0.4, max_chunk_elems=chunk).assign(priors, None, gts, labels)
        assert torch.equal(part.gt_inds, full.gt_inds) and torch.equal(part.max_overlaps, full.max_overlaps)
    assert torch.equal(full.gt_inds, max_iou_reference(priors, gts, 0.5, 0.4))
    assert (full.gt_inds > 0).sum() > 10


def test_pairwise_iou_matches_torchvision():
    gen = torch.Generator().manual_seed(1)
    a, b = _rand_boxes(40, gen), _rand_boxes(30, gen)
    from torchvision.ops import box_iou
    torch.testing.assert_close(pairwise_box_iou_xyxy(a, b), box_iou(a, b))
