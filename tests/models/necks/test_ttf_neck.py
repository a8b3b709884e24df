import copy

import pytest
import torch
import torch.nn.functional as F

from edgedet.models.layers import DepthwiseDeconv2x, DepthwiseDeconv2xPhases, LiteConv
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


@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (1, 3, 1, 1), (1, 4, 8, 8)])
def test_depthwise_deconv_phases_equal_conv_transpose(shape):
    """The phase form computes the transposed convolution it replaces, values and gradients (odd and 1x1 inputs too)."""
    torch.manual_seed(0)
    m = DepthwiseDeconv2x(shape[1], bias=True)
    m.bias.data.normal_()
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    m = m.double()
    y = m(x)
    ref = F.conv_transpose2d(x, m.weight, m.bias, stride=2, padding=1, groups=shape[1])
    assert y.shape == ref.shape == (shape[0], shape[1], 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(y, ref, atol=1e-12, rtol=1e-12)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, m.weight, m.bias), g)
    want = torch.autograd.grad(ref, (x, m.weight, m.bias), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_depthwise_deconv_loads_conv_transpose_weights():
    """Same parameter names and shapes as nn.ConvTranspose2d: checkpoints written before the phase form load."""
    old = torch.nn.ConvTranspose2d(8, 8, 4, 2, 1, groups=8, bias=False)
    new = DepthwiseDeconv2x(8)
    new.load_state_dict(old.state_dict())
    x = torch.randn(1, 8, 6, 6)
    torch.testing.assert_close(new(x), old(x), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_depthwise_deconv_split_phases_equal_the_deconv(bias):
    """Four Conv2d with their own 2x2 kernels (the 16 taps, none shared) and bias copies: the same function."""
    torch.manual_seed(0)
    m = DepthwiseDeconv2x(6, bias=bias).double()
    if bias:
        m.bias.data.normal_()
    split = DepthwiseDeconv2xPhases.from_deconv(m)
    kernels = torch.cat([c.weight.flatten(1) for c in split.phases], 1)  # [C, 16]
    assert sorted(kernels[0].tolist()) == sorted(m.weight[0].flatten().tolist())
    if bias:  # four tensors of their own: PT2E quantizes a bias with its one convolution's scales
        assert len({c.bias.data_ptr() for c in split.phases} | {m.bias.data_ptr()}) == 5
    else:
        assert all(c.bias is None for c in split.phases)
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(split(x), m(x), atol=1e-12, rtol=1e-12)


def test_int8_tflite_form_of_the_neck_is_the_same_function():
    """Folded BN, split phases, the ReLU6 moved into each phase and hard-swish decomposed: equal outputs, the
    neck's lone ReLU6 after each deconv gone (in int8 TFLite it was a RELU6 that XNNPACK does not take)."""
    from edgedet.export.tflite import int8_tflite_form

    torch.manual_seed(0)
    neck = ttf_lite_neck([16, 24, 40, 48]).double().eval()
    for m in neck.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    feats = [f.double() for f in _feats([16, 24, 40, 48])]
    want = neck(feats)
    form = int8_tflite_form(copy.deepcopy(neck))
    phases = [m for m in form.modules() if isinstance(m, DepthwiseDeconv2xPhases)]
    assert len(phases) == 3 and all(isinstance(p.act, torch.nn.ReLU6) for p in phases)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for p in phases for m in p.modules())
    torch.testing.assert_close(form(feats), want, atol=1e-10, rtol=1e-10)


def test_decomposed_hardswish_equals_hardswish_and_undoes():
    from edgedet.models.layers import DecomposedHardswish, decompose_hardswish

    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    torch.testing.assert_close(DecomposedHardswish()(x), torch.nn.functional.hardswish(x), atol=1e-12, rtol=0)
    seq = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.Hardswish(), torch.nn.Sequential(torch.nn.Hardswish()))
    decompose_hardswish(seq)
    assert [type(m).__name__ for m in seq.modules()].count("DecomposedHardswish") == 2
    decompose_hardswish(seq, undo=True)
    assert [type(m) for m in seq.modules()].count(torch.nn.Hardswish) == 2
