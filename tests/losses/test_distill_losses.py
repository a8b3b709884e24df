import math

import pytest
import torch

from edgedet.losses.distill import channel_standardize, heatmap_distill_loss, pkd_loss, soft_quality_focal_loss


def test_heatmap_distill_exact_value():
    # one class, two cells: teacher sig = (0.5, 0.75), student sig = (0.5, 0.5)
    t = torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2)
    s = torch.zeros(1, 1, 1, 2)
    # m = (0.5, 0.75); sum m d^2 = 0.75 * 0.25^2; / sum m = 1.25
    assert heatmap_distill_loss(s, t).item() == pytest.approx(0.75 * 0.0625 / 1.25)
    per_cell = heatmap_distill_loss(s, t, reduction="none")
    assert per_cell.shape == (1, 1, 2) and per_cell[0, 0, 0].item() == 0.0


def test_heatmap_distill_zero_when_equal_and_gradient_to_student_only():
    t = torch.randn(2, 3, 4, 5, requires_grad=True)
    s = t.detach().clone().requires_grad_(True)
    loss = heatmap_distill_loss(s, t)
    assert loss.item() == 0.0
    heatmap_distill_loss(s + 0.5, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad is None


def test_heatmap_distill_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same classes and input size"):
        heatmap_distill_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))


def test_soft_qfl_value_and_zero_at_target():
    logits = torch.zeros(3)
    y = torch.tensor([1.0, 0.5, 0.0])
    loss = soft_quality_focal_loss(logits, y, reduction="none")
    assert loss[0].item() == pytest.approx(0.25 * math.log(2))
    assert loss[1].item() == 0.0
    assert loss[2].item() == pytest.approx(0.25 * math.log(2))


def test_pkd_zero_for_equal_and_affine_maps_two_for_negated():
    t = torch.randn(2, 4, 6, 6)
    assert pkd_loss(t, t).item() == pytest.approx(0.0, abs=1e-10)
    scale = torch.tensor([0.5, 2.0, 3.0, 1.0]).view(1, 4, 1, 1)
    assert pkd_loss(t * scale + 7.0, t).item() == pytest.approx(0.0, abs=1e-6)
    assert pkd_loss(-t, t).item() == pytest.approx(2.0, rel=1e-4)


def test_pkd_resizes_student_and_gradient_to_student_only():
    s = torch.randn(1, 2, 4, 4, requires_grad=True)
    t = torch.randn(1, 2, 8, 8, requires_grad=True)
    pkd_loss(s, t).backward()
    assert s.grad.abs().sum() > 0 and t.grad is None
    with pytest.raises(ValueError, match="adapter"):
        pkd_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4))


def test_channel_standardize_moments():
    z = channel_standardize(torch.randn(2, 3, 5, 7) * 4 + 2)
    assert torch.allclose(z.mean((2, 3)), torch.zeros(2, 3), atol=1e-5)
    assert torch.allclose(z.std((2, 3), unbiased=False), torch.ones(2, 3), atol=1e-4)
