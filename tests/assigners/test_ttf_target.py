import math

import torch

from edgedet.assigners.ttf_target import TTFTargetBuilder, gaussians_truncated


def _t(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.long)}


def test_peak_is_one_at_centre_cell_and_radius_from_alpha():
    # box 40x80 px centred at (50, 50): feat size 10x20 -> radii floor(5*0.54)=2 (x), floor(10*0.54)=5 (y)
    out = TTFTargetBuilder(2)([_t([[30, 10, 70, 90]], [1])], (32, 32))
    heat = out["heatmap"][0, 1]
    assert heat[12, 12].item() == 1.0  # floor(50 / 4) = 12
    assert (heat == 1).sum().item() == 1
    assert out["heatmap"][0, 0].abs().sum().item() == 0
    rows = (heat[:, 12] > 0).nonzero().flatten().tolist()
    cols = (heat[12, :] > 0).nonzero().flatten().tolist()
    assert rows == list(range(7, 18)) and cols == list(range(10, 15))
    sigma_x = (2 * 2 + 1) / 6
    torch.testing.assert_close(heat[12, 13], torch.tensor(math.exp(-1 / (2 * sigma_x**2))))


def test_small_box_overwrites_large_and_weights_sum_to_log_area():
    big, small = [0, 0, 128, 128], [40, 40, 72, 72]  # small sits on the big one's centre
    out = TTFTargetBuilder(3)([_t([small, big], [2, 0])], (32, 32))  # given small first: order must not matter
    owner, bw, bt = out["owner"][0], out["box_weight"][0], out["box_target"][0]
    assert owner[14, 14].item() == 0 and owner[16, 16].item() == 0  # small box (index 0) owns the overlap
    assert owner[16, 22].item() == 1  # big box elsewhere
    torch.testing.assert_close(bt[14, 14], torch.tensor(small, dtype=torch.float32))
    torch.testing.assert_close(bt[16, 22], torch.tensor(big, dtype=torch.float32))
    # the small box's region is complete, so its weights sum to log(area)
    torch.testing.assert_close(bw[owner == 0].sum(), torch.tensor(math.log(32 * 32)))
    assert 0 < bw[owner == 1].sum().item() < math.log(128 * 128)  # part of the big one was overwritten
    assert (bw[owner < 0] == 0).all() and (bw[owner >= 0] > 0).all()
    # both classes keep their own peak
    assert out["heatmap"][0, 2, 14, 14].item() == 1.0 and out["heatmap"][0, 0, 16, 16].item() == 1.0


def test_image_without_boxes_and_batch_shapes():
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    out = TTFTargetBuilder(4)([empty, _t([[8, 8, 40, 40]], [3])], (16, 20))
    assert out["heatmap"].shape == (2, 4, 16, 20) and out["box_target"].shape == (2, 16, 20, 4)
    assert out["box_weight"].shape == (2, 16, 20) and out["owner"].shape == (2, 16, 20)
    assert out["heatmap"][0].sum() == 0 and out["box_weight"][0].sum() == 0 and (out["owner"][0] == -1).all()
    assert out["heatmap"][1, 3].max() == 1


def test_separable_gaussian_matches_2d_formula():
    g = gaussians_truncated(torch.tensor([[3.0, 4.0]]), torch.tensor([[2.0, 3.0]]), 9, 8)[0]
    ys, xs = torch.meshgrid(torch.arange(9.0), torch.arange(8.0), indexing="ij")
    sx, sy = 5 / 6, 7 / 6
    ref = torch.exp(-((xs - 3) ** 2 / (2 * sx**2) + (ys - 4) ** 2 / (2 * sy**2)))
    ref = ref * ((xs - 3).abs() <= 2) * ((ys - 4).abs() <= 3)
    torch.testing.assert_close(g, ref)


def test_labels_out_of_range_rejected():
    import pytest

    with pytest.raises(ValueError):
        TTFTargetBuilder(2)([_t([[0, 0, 8, 8]], [2])], (8, 8))


def test_box_weights_scale_regression_weights_and_the_peak_term():
    # the two boxes of test_small_box_overwrites_large_and_weights_sum_to_log_area, weighted .25 (small) and .75
    big, small = [0, 0, 128, 128], [40, 40, 72, 72]
    plain = TTFTargetBuilder(3)([_t([small, big], [2, 0])], (32, 32))
    assert "peak_weight" not in plain  # no weights: nothing extra is built
    mixed = {**_t([small, big], [2, 0]), "weights": torch.tensor([0.25, 0.75])}
    out = TTFTargetBuilder(3)([mixed, _t([[8, 8, 40, 40]], [1])], (32, 32))
    owner, bw = out["owner"][0], out["box_weight"][0]
    # the small box's weights sum to .25 * log(32 * 32); the big one's are .75 of what they were
    torch.testing.assert_close(bw[owner == 0].sum(), torch.tensor(0.25 * math.log(32 * 32)))
    torch.testing.assert_close(bw[owner == 1], 0.75 * plain["box_weight"][0][owner == 1])
    torch.testing.assert_close(out["heatmap"][0], plain["heatmap"][0])  # the Gaussians stay as they are
    # peaks: class 2 at (14, 14) carries .25, class 0 at (16, 16) .75; every other cell 1, and 1 throughout the
    # second image, which has no weights
    pw = out["peak_weight"]
    assert pw.shape == (2, 3, 32, 32)
    assert pw[0, 2, 14, 14].item() == 0.25 and pw[0, 0, 16, 16].item() == 0.75
    assert int((pw != 1).sum()) == 2


def test_batch_equals_each_image_alone():
    # the batch is built in one pass over all boxes: it must give each image what that image gives alone
    g = torch.Generator().manual_seed(0)
    builder = TTFTargetBuilder(5, beta=0.3)
    for trial in range(20):
        targets = []
        for _ in range(4):
            n = int(torch.randint(0, 6, (1,), generator=g))
            xy, wh = torch.rand(n, 2, generator=g) * 100, torch.rand(n, 2, generator=g) * 50 + 1
            t = {"boxes": torch.cat([xy, xy + wh], 1), "labels": torch.randint(0, 5, (n,), generator=g)}
            if trial % 2:
                t["scores"], t["weights"] = torch.rand(n, generator=g), torch.rand(n, generator=g)
            targets.append(t)
        batch = builder(targets, (24, 28))
        for i, t in enumerate(targets):
            alone = builder([t], (24, 28))
            for key, value in alone.items():
                torch.testing.assert_close(batch[key][i], value[0], msg=f"trial {trial}, image {i}, {key}")
