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
