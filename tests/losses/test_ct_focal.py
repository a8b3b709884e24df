import math

import pytest
import torch

from edgedet.losses.ct_focal import CTFocalLoss, ct_focal_loss


def test_hand_values():
    # one peak with p = 0.5, one negative with target 0.5 and p = 0.5, one plain negative with p = 0.5
    logits = torch.zeros(3)
    target = torch.tensor([1.0, 0.5, 0.0])
    per = ct_focal_loss(logits, target, reduction="none")
    log2 = math.log(2)
    expected = torch.tensor([0.25 * log2, 0.0625 * 0.25 * log2, 0.25 * log2])
    torch.testing.assert_close(per, expected)
    torch.testing.assert_close(ct_focal_loss(logits, target), expected.sum() / 1)  # one peak
    torch.testing.assert_close(ct_focal_loss(logits, target, reduction="sum"), expected.sum())


def test_normalised_by_number_of_peaks_and_no_peaks():
    logits = torch.full((2, 1, 4, 4), -2.0)
    target = torch.zeros(2, 1, 4, 4)
    no_peak = ct_focal_loss(logits, target)
    torch.testing.assert_close(no_peak, ct_focal_loss(logits, target, reduction="sum"))  # divided by max(0, 1)
    target[0, 0, 1, 1] = 1
    target[1, 0, 2, 2] = 1
    torch.testing.assert_close(ct_focal_loss(logits, target), ct_focal_loss(logits, target, reduction="sum") / 2)


def test_extreme_logits_finite_and_module():
    logits = torch.tensor([100.0, -100.0, 100.0, -100.0], requires_grad=True)
    target = torch.tensor([1.0, 1.0, 0.0, 0.0])
    loss = ct_focal_loss(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert loss.item() > 50  # the confidently wrong peak and negative dominate
    torch.testing.assert_close(CTFocalLoss(loss_weight=2.0)(logits, target), 2 * loss)
    with pytest.raises(ValueError):
        ct_focal_loss(logits, target[:2])


def test_peak_terms_take_their_weight():
    # as test_hand_values, the peak weighted 0.4 (a CutMix box): .4 * .25 ln 2; negatives keep their terms, and
    # 'mean' still divides by the number of peaks (1), not by their weights
    logits, target = torch.zeros(3), torch.tensor([1.0, 0.5, 0.0])
    log2 = math.log(2)
    per = ct_focal_loss(logits, target, reduction="none", pos_weight=torch.tensor([0.4, 9.0, 9.0]))
    torch.testing.assert_close(per, torch.tensor([0.1 * log2, 0.015625 * log2, 0.25 * log2]))
    torch.testing.assert_close(ct_focal_loss(logits, target, pos_weight=torch.tensor([0.4, 9.0, 9.0])), per.sum())
