import pytest
import torch

from edgedet.models.backbones.mobilenet_v3 import MobileNetV3

torch.set_num_threads(1)


@pytest.mark.parametrize(
    "arch,channels", [("large", [72, 240, 672, 960]), ("small", [72, 96, 288, 576])]
)
def test_taps_full_width(arch, channels):
    net = MobileNetV3(arch, width=1.0).eval()
    assert net.out_channels == channels
    with torch.no_grad():
        feats = net(torch.zeros(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(c, 64 // s, 64 // s) for c, s in zip(channels, (4, 8, 16, 32))]
    # the s32 tap is the 1x1 hard-swish conv (160 -> 960 for large)
    last = net.stages[-1][-1]
    assert isinstance(last[2], torch.nn.Hardswish) and last[0].kernel_size == (1, 1)


def test_width_and_split_is_exact():
    from torchvision.models import mobilenet_v3_large

    torch.manual_seed(0)
    ref = mobilenet_v3_large(weights=None, width_mult=0.5).eval()
    net = MobileNetV3("large", width=0.5).eval()
    assert net.out_channels == [40, 120, 336, 480]
    # same parameters in the same order -> the split network computes exactly torchvision's features
    ref_params = [p for n, p in ref.named_parameters() if n.startswith("features")]
    for mine, theirs in zip(net.parameters(), ref_params, strict=True):
        mine.data.copy_(theirs.data)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x)[-1], ref.features(x))
    with pytest.raises(ValueError):
        MobileNetV3("medium")
