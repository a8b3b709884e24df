import pytest
import torch
from torchvision.ops import generalized_box_iou_loss

from edgedet.losses.giou import GIoULoss, giou_loss


def _random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    wh = torch.rand(n, 2, generator=g) * 30 + 0.5
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_matches_torchvision(reduction):
    a, b = _random_boxes(64, 0), _random_boxes(64, 1)
    ours = giou_loss(a, b, reduction=reduction)
    ref = generalized_box_iou_loss(a, b, reduction=reduction, eps=1e-7)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_hand_values():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1]])
    b = torch.tensor([[0.0, 0, 2, 2], [1, 0, 3, 2], [2, 0, 3, 1]])
    # identical -> 0; half overlap iou=2/6, enclose=6 -> 1-1/3; disjoint: iou 0, enclose 3, union 2 -> 1+1/3
    expected = torch.tensor([0.0, 2 / 3, 4 / 3])
    torch.testing.assert_close(giou_loss(a, b, reduction="none"), expected, atol=1e-5, rtol=0)


def test_weight_and_module_and_empty():
    a, b = _random_boxes(8, 2), _random_boxes(8, 3)
    w = torch.arange(8, dtype=torch.float32)
    torch.testing.assert_close(giou_loss(a, b, w, reduction="sum"), (giou_loss(a, b, reduction="none") * w).sum())
    torch.testing.assert_close(GIoULoss(loss_weight=5.0)(a, b), 5 * giou_loss(a, b))
    empty = torch.zeros(0, 4)
    assert giou_loss(empty, empty).item() == 0.0
    with pytest.raises(ValueError):
        giou_loss(a, b[:4])
    with pytest.raises(ValueError):
        giou_loss(a, b, reduction="avg")


def test_gradient_finite_for_degenerate_boxes():
    a = torch.tensor([[1.0, 1, 1, 1]], requires_grad=True)
    b = torch.tensor([[1.0, 1, 1, 1]])
    giou_loss(a, b).backward()
    assert torch.isfinite(a.grad).all()
