import math

import torch

from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.models.criteria.ttf import TTFCriterion, ags_box_weights, grid_centres

torch.set_num_threads(1)

TARGETS = [
    {"boxes": torch.tensor([[10.0, 12, 50, 60], [60, 20, 90, 40]]), "labels": torch.tensor([0, 2])},
    {"boxes": torch.tensor([[30.0, 30, 70, 80]]), "labels": torch.tensor([1])},
]


def test_ags_keeps_object_totals_and_favours_high_heatmap():
    t = TTFTargetBuilder(3)(TARGETS, (24, 24))
    logits = torch.full((2, 3, 24, 24), -4.0)
    logits[0, 0, 9, 6] = 4.0  # a confident cell off-centre inside the first object
    w = ags_box_weights(logits, t["box_weight"], t["owner"])
    for b in range(2):
        for k in t["owner"][b].unique().tolist():
            if k >= 0:
                m = t["owner"][b] == k
                torch.testing.assert_close(w[b][m].sum(), t["box_weight"][b][m].sum())
    assert w[0, 9, 6] > t["box_weight"][0, 9, 6]
    assert (w[t["owner"] < 0] == 0).all()


def test_ags_softmax_runs_over_the_logits_hand_values():
    # one image, 1 x 5 cells: object 0 owns cells 0-1 (target weights 1, 1), object 1 cells 2-3 (.5, 1.5), cell 4
    # is background. Two classes; AGS takes the larger logit of each cell
    box_weight = torch.tensor([[[1.0, 1.0, 0.5, 1.5, 0.0]]])
    owner = torch.tensor([[[0, 0, 1, 1, -1]]])
    ln3 = math.log(3.0)
    logits = torch.tensor([[[[0.0, ln3, 2.0, 2.0, 9.0]], [[-5.0, -1.0, -3.0, -3.0, -9.0]]]])  # [1, 2, 1, 5]
    w = ags_box_weights(logits, box_weight, owner)
    # object 0: g * exp(a) = 1 * 1, 1 * 3 -> shares 1/4, 3/4 of its total 2: .5, 1.5. (A softmax over the
    # probabilities .5, .75 would give 2 * e^.5 / (e^.5 + e^.75) = .8756 and 1.1244.) Object 1: equal logits keep
    # its weights .5, 1.5; background stays 0
    torch.testing.assert_close(w, torch.tensor([[[0.5, 1.5, 0.5, 1.5, 0.0]]]))
    # softmax is shift-invariant, and huge logits do not overflow
    torch.testing.assert_close(ags_box_weights(logits + 200.0, box_weight, owner), w)


def test_ags_switch_decides_the_box_weights():
    builder = TTFTargetBuilder(3)
    t = builder(TARGETS, (24, 24))
    hm = torch.full((2, 3, 24, 24), -4.0)
    hm[0, 0, 9, 6] = 4.0  # a confident cell inside the first object pulls box weight towards it
    ltrb = torch.full((2, 4, 24, 24), 8.0)
    on = TTFCriterion(target_builder=builder, ags=True).compute((hm, ltrb), TARGETS)[1].box_weight
    off = TTFCriterion(target_builder=builder, ags=False).compute((hm, ltrb), TARGETS)[1].box_weight
    torch.testing.assert_close(off, t["box_weight"])  # off: the TTF target weights as they are
    torch.testing.assert_close(on, ags_box_weights(hm, t["box_weight"], t["owner"]))
    # the cell holds g exp(8) of its object's softmax mass against g exp(0) elsewhere: nearly all of the weight
    owned = t["owner"][0] == t["owner"][0, 9, 6]
    assert float(on[0, 9, 6]) > 0.99 * float(t["box_weight"][0][owned].sum())


def test_grid_centres():
    c = grid_centres(2, 3, 4)
    assert c.shape == (2, 3, 2)
    torch.testing.assert_close(c[1, 2], torch.tensor([10.0, 6.0]))


def test_perfect_boxes_give_zero_box_loss_and_weights_scale():
    builder = TTFTargetBuilder(3)
    t = builder(TARGETS, (24, 24))
    centres = grid_centres(24, 24, 4)[None]  # [1, H, W, 2]
    tgt = t["box_target"]
    ltrb = torch.cat((centres - tgt[..., :2], tgt[..., 2:] - centres), -1).permute(0, 3, 1, 2).clamp(min=0)
    hm = torch.full((2, 3, 24, 24), -4.0)
    base = TTFCriterion(target_builder=builder, ags=False)((hm, ltrb), TARGETS)
    assert float(base["loss_box"]) < 1e-5 and float(base["loss_hm"]) > 0
    heavy = TTFCriterion(target_builder=builder, ags=False, hm_weight=2.0)((hm, ltrb), TARGETS)
    torch.testing.assert_close(heavy["loss_hm"], 2 * base["loss_hm"])


def test_cutmix_weights_scale_the_peak_terms_of_the_heatmap_loss():
    builder = TTFTargetBuilder(3)
    hm = torch.zeros(2, 3, 24, 24)  # p = .5 everywhere: a peak's term is .25 ln 2
    ltrb = torch.full((2, 4, 24, 24), 8.0)
    plain = TTFCriterion(target_builder=builder, ags=False)((hm, ltrb), TARGETS)
    weighted = [{**TARGETS[0], "weights": torch.tensor([0.5, 1.0])}, TARGETS[1]]
    mixed = TTFCriterion(target_builder=builder, ags=False)((hm, ltrb), weighted)
    # 3 peaks in the batch; the first box's peak term drops to half: .5 * .25 ln 2 / 3 less (the difference of two
    # float32 sums over 3456 cells: relative tolerance 1e-3)
    torch.testing.assert_close(plain["loss_hm"] - mixed["loss_hm"], torch.tensor(0.5 * 0.25 * math.log(2) / 3),
                               rtol=1e-3, atol=0.0)
