import math

import pytest
import torch
import torch.nn.functional as F

from edgedet.losses import (
    BalancedL1Loss,
    balanced_l1_loss,
    centerness_target,
    iou_branch_loss,
    l1_loss,
    smooth_l1_loss,
)


def test_balanced_l1_hand_values():
    b = math.exp(3) - 1  # e^(gamma / alpha) - 1 with alpha .5, gamma 1.5
    x = torch.tensor([0.0, 0.5, 2.0])
    got = balanced_l1_loss(x, torch.zeros(3), reduction="none")
    inner = 0.5 / b * (b * 0.5 + 1) * math.log(b * 0.5 + 1) - 0.25
    torch.testing.assert_close(got, torch.tensor([0.0, inner, 1.5 * 2 + 1.5 / b - 0.5]))
    assert inner == pytest.approx(0.4005675, abs=1e-6)  # = integral of its gradient alpha ln(b|x| + 1) over [0, .5]


def test_balanced_l1_continuous_at_beta_and_beta_scaling():
    lo = balanced_l1_loss(torch.tensor([1 - 1e-4]), torch.zeros(1), reduction="sum")
    hi = balanced_l1_loss(torch.tensor([1 + 1e-4]), torch.zeros(1), reduction="sum")
    assert abs(float(hi - lo)) < 1e-3
    # with beta = 1 the gradient inside is alpha ln(b|x| + 1): larger than L1-like alpha for inliers
    x = torch.tensor([0.3], requires_grad=True)
    balanced_l1_loss(x, torch.zeros(1), reduction="sum").backward()
    assert float(x.grad) == pytest.approx(0.5 * math.log((math.exp(3) - 1) * 0.3 + 1), rel=1e-5)
    w = torch.tensor([[2.0], [0.0]])
    v = BalancedL1Loss(reduction="sum")(torch.ones(2, 4), torch.zeros(2, 4), w)
    assert float(v) == pytest.approx(8 * float(balanced_l1_loss(torch.ones(1), torch.zeros(1), reduction="sum")))


def test_balanced_l1_extreme_values_finite_gradients():
    p = torch.tensor([1e4, -1e4, 0.0, 1e-8], requires_grad=True)
    loss = balanced_l1_loss(p, torch.zeros(4), reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(p.grad).all()
    torch.testing.assert_close(p.grad[:2], torch.tensor([1.5, -1.5]))


@pytest.mark.parametrize("beta", [0.0, 0.11, 1.0])
def test_smooth_l1_matches_torch(beta):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 4, generator=g), torch.randn(30, 4, generator=g)
    torch.testing.assert_close(smooth_l1_loss(a, b, beta, "mean"), F.smooth_l1_loss(a, b, beta=beta))
    torch.testing.assert_close(l1_loss(a, b, "none"), (a - b).abs())


def test_iou_branch_and_centerness():
    x = torch.tensor([0.0, 1e4, -1e4], requires_grad=True)
    loss = iou_branch_loss(x, torch.tensor([0.5, 1.0, 1.0]), reduction="none")
    loss.sum().backward()
    torch.testing.assert_close(loss.detach(), torch.tensor([math.log(2), 0.0, 1e4]))
    assert torch.isfinite(x.grad).all()
    c = centerness_target(torch.tensor([[5.0, 5.0], [2.0, 5.0], [20.0, 5.0]]), torch.tensor([[0.0, 0, 10, 10]] * 3))
    torch.testing.assert_close(c, torch.tensor([1.0, math.sqrt(2 / 8), 0.0]))
