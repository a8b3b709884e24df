import math

import numpy as np
import pytest
import torch
import torchvision

from edgedet.structures.priors import (
    AnchorGenerator,
    atss_anchors,
    feat_sizes_for_input,
    retinanet_anchors,
)


def test_retinanet_base_anchors_sizes_and_order():
    g = retinanet_anchors()
    assert g.num_base_priors == 9
    base = g.base_anchors(0)  # stride 8, octave base 4 -> 32 px
    w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    # ratio-major: ratio 0.5 (h/w) with scales 1, 2^(1/3), 2^(2/3); then ratio 1; then ratio 2
    torch.testing.assert_close(h / w, torch.tensor([0.5] * 3 + [1.0] * 3 + [2.0] * 3))
    sides = torch.tensor([32 * 2 ** (i / 3) for i in range(3)] * 3)
    torch.testing.assert_close((w * h).sqrt(), sides)
    torch.testing.assert_close(base[0], torch.tensor([-16 * math.sqrt(2), -8 * math.sqrt(2), 16 * math.sqrt(2),
                                                      8 * math.sqrt(2)]))
    # P7 largest anchor: 4 * 128 * 2^(2/3)
    assert float(g.base_anchors(4)[4, 2] - g.base_anchors(4)[4, 0]) == pytest.approx(512 * 2 ** (1 / 3), rel=1e-6)


def test_grid_layout_level_y_x_anchor():
    g = retinanet_anchors()
    sizes = feat_sizes_for_input(64, 64, g.strides)
    assert sizes == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    levels = g.grid_priors(sizes)
    assert g.num_level_priors(sizes) == [576, 144, 36, 9, 9] == [len(x) for x in levels]
    a = levels[0][(1 * 8 + 2) * 9 + 4]  # y=1, x=2, anchor 4 (ratio 1, scale 2^(1/3))
    torch.testing.assert_close((a[:2] + a[2:]) / 2, torch.tensor([20.0, 12.0]))
    assert float(a[2] - a[0]) == pytest.approx(32 * 2 ** (1 / 3), rel=1e-6)


def test_atss_one_square_anchor_of_8_strides():
    g = atss_anchors()
    lv = g.grid_priors([(2, 2)] * 5)
    torch.testing.assert_close(lv[0][0], torch.tensor([4 - 32.0, 4 - 32.0, 4 + 32.0, 4 + 32.0]))
    torch.testing.assert_close(lv[1][3], torch.tensor([24 - 64.0, 24 - 64.0, 24 + 64.0, 24 + 64.0]))


def test_feat_sizes_match_resnet_fpn_arithmetic():
    trunk = torchvision.models.resnet18(weights=None).eval()
    x = torch.zeros(1, 3, 100, 75)
    with torch.no_grad():
        x = trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))
        c3 = trunk.layer2(trunk.layer1(x))
        c5 = trunk.layer4(trunk.layer3(c3))
        p6 = torch.nn.Conv2d(512, 1, 3, 2, 1)(c5)
    got = feat_sizes_for_input(100, 75, (8, 32, 64))
    assert got == [tuple(c3.shape[-2:]), tuple(c5.shape[-2:]), tuple(p6.shape[-2:])] == [(13, 10), (4, 3), (2, 2)]
    with pytest.raises(ValueError):
        feat_sizes_for_input(64, 64, (12,))


def test_spec_rebuilds_priors_in_numpy():
    g = retinanet_anchors()
    sizes = feat_sizes_for_input(96, 96, g.strides)
    spec = g.spec(sizes)
    out = []
    for s, (h, w), base in zip(spec["strides"], spec["feat_sizes"], spec["base_anchors"]):
        ys, xs = np.meshgrid((np.arange(h) + spec["center_offset"]) * s, (np.arange(w) + spec["center_offset"]) * s,
                             indexing="ij")
        shifts = np.stack([xs.ravel(), ys.ravel(), xs.ravel(), ys.ravel()], 1)
        out.append((shifts[:, None, :] + np.asarray(base)[None]).reshape(-1, 4))
    np.testing.assert_allclose(np.concatenate(out), torch.cat(g.grid_priors(sizes)).numpy(), atol=1e-4)


def test_feature_sizes_must_match_levels():
    with pytest.raises(ValueError):
        AnchorGenerator((8, 16)).grid_priors([(2, 2)])
