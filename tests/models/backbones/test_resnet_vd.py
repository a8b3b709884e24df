import pytest
import torch

from edgedet.models.backbones.resnet_vd import ResNetVd
from edgedet.models.layers import ModulatedDeformConv2d

torch.set_num_threads(1)


@pytest.mark.parametrize("depth,channels", [(18, [8, 16, 32, 64]), (50, [32, 64, 128, 256])])
def test_shapes_and_vd_shortcut(depth, channels):
    net = ResNetVd(depth, width=0.125, dcn=True).eval()
    assert net.out_channels == channels
    with torch.no_grad():
        feats = net(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [(c, 64 // s, 96 // s) for c, s in zip(channels, (4, 8, 16, 32))]
    assert len(net.stem) == 4  # three 3x3 convs + max-pool (deep stem)
    assert isinstance(net.stages[1][0].shortcut[0], torch.nn.AvgPool2d)  # vd: avg-pool downsample
    dcn_stages = [any(isinstance(m, ModulatedDeformConv2d) for m in s.modules()) for s in net.stages]
    assert dcn_stages == [False, True, True, True]


def test_frozen_stages_keep_bn_in_eval():
    net = ResNetVd(18, width=0.125, frozen_stages=1).train()
    assert not net.stem.training and not net.stages[0].training and net.stages[1].training
    assert all(not p.requires_grad for p in net.stages[0].parameters())
    with pytest.raises(ValueError):
        ResNetVd(34)


def test_dcn_starts_as_plain_conv_with_half_mask():
    torch.manual_seed(0)
    dcn = ModulatedDeformConv2d(4, 6, 3, 1, 1)
    x = torch.randn(1, 4, 9, 9)
    ref = torch.nn.functional.conv2d(x, dcn.weight, None, 1, 1)
    torch.testing.assert_close(dcn(x), 0.5 * ref, atol=1e-5, rtol=1e-4)
