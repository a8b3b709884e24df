import math

import pytest
import torch

from edgedet.losses import QualityFocalLoss, VarifocalLoss, quality_focal_loss, varifocal_loss

LN2 = math.log(2)


def test_qfl_hand_values():
    x = torch.zeros(2, 2)
    labels = torch.tensor([0, 2])  # second sample background (label == num_classes)
    scores = torch.tensor([0.8, 0.3])
    # sigma = .5, BCE = ln2 for any target: class 0 (y=.8): ln2 * .3^2; class 1 (y=0): ln2 * .5^2
    expected = torch.tensor([LN2 * (0.09 + 0.25), LN2 * 0.5])
    torch.testing.assert_close(quality_focal_loss(x, labels, scores, reduction="none"), expected)
    torch.testing.assert_close(quality_focal_loss(x, labels, scores, reduction="mean"), expected.mean())
    assert float(QualityFocalLoss(reduction="sum")(x, labels, scores)) == pytest.approx(float(expected.sum()))


def test_qfl_perfect_prediction_is_zero_and_gradient_flows():
    y = 0.7
    x = torch.tensor([[math.log(y / (1 - y)), -30.0]], requires_grad=True)
    loss = quality_focal_loss(x, torch.tensor([0]), torch.tensor([y]), reduction="sum")
    assert float(loss) < 1e-10
    z = torch.tensor([[0.0, 0.0]], requires_grad=True)
    quality_focal_loss(z, torch.tensor([0]), torch.tensor([y]), reduction="sum").backward()
    assert z.grad[0, 0] < 0 and z.grad[0, 1] > 0  # push the positive class up, the other down


def test_vfl_hand_values():
    x = torch.tensor([[0.0, 0.0]])
    q = torch.tensor([[0.7, 0.0]])
    # positive: BCE(.5, .7) = ln2, weight q = .7; negative: ln2 * .75 * .5^2
    torch.testing.assert_close(varifocal_loss(x, q, reduction="none"), torch.tensor([[0.7 * LN2, 0.1875 * LN2]]))
    assert float(VarifocalLoss(reduction="sum")(x, q)) == pytest.approx((0.7 + 0.1875) * LN2, rel=1e-6)


@pytest.mark.parametrize("which", ["qfl", "vfl"])
def test_extreme_logits_finite(which):
    x = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    if which == "qfl":
        loss = quality_focal_loss(x, torch.tensor([0, 1]), torch.tensor([1.0, 0.5]), reduction="none")
    else:
        loss = varifocal_loss(x, torch.tensor([[1.0, 0.0], [0.0, 0.5]]), reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
    assert float(loss.sum()) > 1000  # the second sample is confidently wrong somewhere
