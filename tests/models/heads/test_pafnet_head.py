import math

import torch

from edgedet.models.heads.pafnet import PAFNetHead
from edgedet.models.layers import LiteConv, ModulatedDeformConv2d

torch.set_num_threads(1)


def test_head_outputs_and_init():
    head = PAFNetHead(in_channels=48, num_classes=7, hm_planes=48, box_planes=24, lite=True, dcn=False).eval()
    assert sum(isinstance(m, LiteConv) for m in head.modules()) == 4
    with torch.no_grad():
        hm, ltrb = head(torch.randn(2, 48, 10, 12))
    assert hm.shape == (2, 7, 10, 12) and ltrb.shape == (2, 4, 10, 12)
    torch.testing.assert_close(head.hm_out.bias, torch.full((7,), -math.log(99)))
    assert (ltrb >= 0).all()
    torch.testing.assert_close(ltrb.mean(), torch.tensor(16.0), atol=1.0, rtol=0)  # relu(~1) * 16


def test_normal_head_dcn():
    head = PAFNetHead(in_channels=16, num_classes=3, hm_planes=16, box_planes=8, lite=False, dcn=True).eval()
    assert sum(isinstance(m, ModulatedDeformConv2d) for m in head.modules()) == 4
    with torch.no_grad():
        hm, ltrb = head(torch.randn(1, 16, 8, 8))
    assert hm.shape == (1, 3, 8, 8) and ltrb.shape == (1, 4, 8, 8)
