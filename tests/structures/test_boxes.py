import torch
from torchvision.ops import box_iou, generalized_box_iou

from edgedet.structures.boxes import (
    box_area_xyxy,
    elementwise_box_giou_xyxy,
    elementwise_box_iou_xyxy,
    pairwise_box_iof_xyxy,
    pairwise_box_iou_xyxy,
)

A = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 25]])
B = torch.tensor([[5.0, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])


def test_hand_values():
    # A0 vs B0: intersection 50, union 150; A0 vs B1: disjoint; A0 vs B2: identical
    iou = pairwise_box_iou_xyxy(A, B)
    torch.testing.assert_close(iou[0], torch.tensor([1 / 3, 0.0, 1.0]))
    torch.testing.assert_close(pairwise_box_iof_xyxy(A, B)[0], torch.tensor([0.5, 0.0, 1.0]))
    torch.testing.assert_close(box_area_xyxy(torch.tensor([[0.0, 0, 2, 3], [5, 5, 4, 9]])), torch.tensor([6.0, 0.0]))
    # disjoint A0, B1: enclosing box 30 x 30 = 900, union 200 -> GIoU = 0 - 700 / 900
    g = elementwise_box_giou_xyxy(A[0], B[1], eps=0.0)
    torch.testing.assert_close(g, torch.tensor(-700 / 900))


def test_pairwise_and_elementwise_agree_with_torchvision():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(30, 2, generator=gen) * 50
    a = torch.cat([xy, xy + torch.rand(30, 2, generator=gen) * 30 + 1], 1)
    xy = torch.rand(30, 2, generator=gen) * 50
    b = torch.cat([xy, xy + torch.rand(30, 2, generator=gen) * 30 + 1], 1)
    torch.testing.assert_close(pairwise_box_iou_xyxy(a, b), box_iou(a, b))
    torch.testing.assert_close(elementwise_box_iou_xyxy(a, b), box_iou(a, b).diagonal())
    torch.testing.assert_close(elementwise_box_giou_xyxy(a, b), generalized_box_iou(a, b).diagonal())
    assert elementwise_box_iou_xyxy(a[:0], b[:0]).shape == (0,) and pairwise_box_iou_xyxy(a, b[:0]).shape == (30, 0)
