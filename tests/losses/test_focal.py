import math

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss as tv_focal

from edgedet.losses import FocalLoss, sigmoid_focal_loss, soft_focal_loss

LN2 = math.log(2)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_matches_torchvision(reduction):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 7, generator=g) * 3
    t = (torch.rand(50, 7, generator=g) > 0.8).float()
    torch.testing.assert_close(sigmoid_focal_loss(x, t, reduction=reduction), tv_focal(x, t, reduction=reduction))


def test_hand_values():
    x = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[1.0, 0.0]])
    # p = .5: positive .25 * .25 * ln2; negative .75 * .25 * ln2
    torch.testing.assert_close(sigmoid_focal_loss(x, t), torch.tensor([[0.0625 * LN2, 0.1875 * LN2]]))
    assert float(FocalLoss(reduction="sum", loss_weight=2.0)(x, t)) == pytest.approx(2 * 0.25 * LN2, rel=1e-6)


def test_soft_focal_hand_value_and_binary_equivalence():
    # s = .6, alpha .5, p = .5: .5*.6*.25*ln2 + .5*.4*.25*ln2 = .125 ln2
    v = soft_focal_loss(torch.tensor([[0.0]]), torch.tensor([[0.6]]), alpha=0.5)
    assert float(v) == pytest.approx(0.125 * LN2, rel=1e-6)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 4, generator=g) * 4
    t = (torch.rand(20, 4, generator=g) > 0.5).float()
    torch.testing.assert_close(soft_focal_loss(x, t, alpha=0.5), sigmoid_focal_loss(x, t, alpha=0.5))


@pytest.mark.parametrize("fn", [sigmoid_focal_loss, soft_focal_loss])
def test_extreme_logits_finite(fn):
    x = torch.tensor([[1e4, -1e4, 1e4, -1e4]], requires_grad=True)
    t = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    loss = fn(x, t, reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
    # confidently wrong costs ~ 1e4 * alpha_t; confidently right ~ 0
    assert float(loss[0, 0].detach()) == 0.0 and float(loss[0, 1].detach()) > 1000
