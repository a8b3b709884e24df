import math

import pytest
import torch

from edgedet.structures.coders import DeltaXYWHCoder


def test_delta_hand_values_with_stds():
    coder = DeltaXYWHCoder(stds=(0.1, 0.1, 0.2, 0.2))
    prior = torch.tensor([[0.0, 0, 10, 10]])
    gt = torch.tensor([[5.0, 5, 15, 25]])  # centre (10, 15), 10 x 20 vs prior centre (5, 5), 10 x 10
    d = coder.encode(prior, gt)
    torch.testing.assert_close(d, torch.tensor([[5.0, 10.0, 0.0, math.log(2) / 0.2]]))
    torch.testing.assert_close(coder.decode(prior, d), gt)


def test_delta_round_trip_and_means():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(50, 2, generator=g) * 100
    priors = torch.cat([xy, xy + torch.rand(50, 2, generator=g) * 50 + 1], 1)
    xy = torch.rand(50, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + torch.rand(50, 2, generator=g) * 50 + 1], 1)
    coder = DeltaXYWHCoder(means=(0.1, -0.1, 0.0, 0.2), stds=(0.5, 0.5, 1.0, 1.0))
    torch.testing.assert_close(coder.decode(priors, coder.encode(priors, boxes)), boxes, atol=1e-4, rtol=1e-5)


def test_delta_decode_clamps_dw_dh_and_clips():
    coder = DeltaXYWHCoder()
    prior = torch.tensor([[0.0, 0, 10, 10]])
    out = coder.decode(prior, torch.tensor([[0.0, 0, 1e4, -1e4]]))
    assert torch.isfinite(out).all()
    assert float(out[0, 2] - out[0, 0]) == pytest.approx(10 * 1000 / 16, rel=1e-5)
    assert float(out[0, 3] - out[0, 1]) == pytest.approx(10 * 16 / 1000, rel=1e-5)
    clipped = coder.decode(prior, torch.tensor([[0.0, 0, 3.0, 3.0]]), max_shape=(20, 30))
    torch.testing.assert_close(clipped, torch.tensor([[0.0, 0.0, 30.0, 20.0]]))

