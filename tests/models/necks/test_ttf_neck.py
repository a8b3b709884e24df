import torch

from edgedet.models.layers import LiteConv
from edgedet.models.necks.ttf import LiteUpsample, ttf_lite_neck, ttf_neck

torch.set_num_threads(1)


def _feats(channels, size=64):
    return [torch.randn(1, c, size // s, size // s) for c, s in zip(channels, (4, 8, 16, 32))]


def test_lite_neck_concat_48_channels():
    neck = ttf_lite_neck([72, 240, 672, 960]).eval()
    assert neck.out_channels == 48
    assert [len(s) for s in neck.shortcuts] == [1, 2, 2]
    assert all(isinstance(m, LiteConv) for s in neck.shortcuts for m in s)
    assert all(isinstance(u, LiteUpsample) for u in neck.upsamples)
    with torch.no_grad():
        out = neck(_feats([72, 240, 672, 960]))
    assert out.shape == (1, 48, 16, 16)


def test_normal_neck_add_64_channels_with_and_without_dcn():
    for dcn in (False, True):
        neck = ttf_neck([16, 32, 64, 128], width=0.25, dcn=dcn).eval()
        assert neck.out_channels == 16
        assert [sum(isinstance(m, torch.nn.Conv2d) for m in s) for s in neck.shortcuts] == [1, 2, 3]
        with torch.no_grad():
            assert neck(_feats([16, 32, 64, 128])).shape == (1, 16, 16, 16)
    assert ttf_neck([256, 512, 1024, 2048]).out_channels == 64


def test_lite_upsample_doubles_resolution():
    up = LiteUpsample(8, 4).eval()
    with torch.no_grad():
        assert up(torch.randn(2, 8, 5, 7)).shape == (2, 4, 10, 14)
