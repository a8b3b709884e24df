"""Small building blocks shared by backbones, necks and heads: conv-BN-act, LiteConv, modulated deformable conv."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchvision.ops import deform_conv2d

__all__ = ["ConvNormAct", "DecomposedHardswish", "DepthwiseDeconv2x", "LiteConv", "ModulatedDeformConv2d",
           "DepthwiseDeconv2xPhases", "conv3x3", "decompose_hardswish", "fold_deconv_bn", "fuse_phase_activations",
           "interleave_phases2x", "scaled_channels"]


def scaled_channels(channels: int, width: float, minimum: int = 8) -> int:
    """``channels * width`` rounded, at least ``minimum``: the one rule for reduced-width models."""
    return max(minimum, round(channels * width))


class ConvNormAct(nn.Sequential):
    """``Conv2d(bias=False) -> BatchNorm2d -> act`` (``act=None`` leaves the activation out)."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)
        self.out_channels = cout


class DepthwiseDeconv2x(nn.ConvTranspose2d):
    """Depthwise ``ConvTranspose2d(C, C, 4, stride=2, padding=1, groups=C)``, computed as four 2x2 phase convolutions.

    Same parameters (``weight`` ``[C, 1, 4, 4]``, optional ``bias``) and the same function as the transposed
    convolution, so checkpoints load either way. Output pixel ``(2i + a, 2j + b)`` only sees the kernel taps
    ``w[3 - a - 2r, 3 - b - 2c]`` (r, c in {0, 1}) over input pixels ``(i - 1 + a + r, j - 1 + b + c)``: per phase
    ``(a, b)`` one depthwise 2x2 convolution over a shifted crop of the input padded by 1, then the four phases
    interleaved. Why: converters lower a grouped transposed convolution badly (litert-torch emits one
    TRANSPOSE_CONV per channel, 84 for PAFNet-lite's neck; Paddle-Lite's x86 target has no kernel for it), while a
    depthwise convolution is a native op in every runtime. Exact to float rounding (tested).

    The interleave is written channels-last (each phase permuted to ``[N, H, W, C]``, concat on C + reshape
    interleaves columns, concat on W + reshape interleaves rows, one permute back): in TFLite, whose tensors are
    NHWC, the permutes cancel the converter's own layout transposes and the deconvolutions leave no TRANSPOSE (the
    NCHW stack + reshape cost 6 TRANSPOSE and 4 RESHAPE per layer, about 1.5 ms of LiteRT's time for PAFNet-lite
    at 320 px: ``benchmarks/latency_profile``).
    """

    PHASE_TAPS = ((3, 1), (2, 0))  # PHASE_TAPS[a][r] = 3 - a - 2r

    def __init__(self, channels: int, bias: bool = False) -> None:
        super().__init__(channels, channels, 4, 2, 1, groups=channels, bias=bias)

    def phase_weight(self, a: int, b: int) -> Tensor:
        """``[C, 1, 2, 2]`` depthwise kernel of output phase ``(a, b)``."""
        rows, cols = self.PHASE_TAPS[a], self.PHASE_TAPS[b]
        w = self.weight
        return torch.stack([torch.stack([w[:, :, r, c] for c in cols], -1) for r in rows], -2)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None:
            raise ValueError("DepthwiseDeconv2x always doubles the input size; output_size is not supported")
        groups = x.shape[1]
        return interleave_phases2x(
            x, lambda crop, a, b: nn.functional.conv2d(crop, self.phase_weight(a, b), self.bias, groups=groups))


class DepthwiseDeconv2xPhases(nn.Module):
    """:class:`DepthwiseDeconv2x` as four depthwise 2x2 ``nn.Conv2d``, each with its own kernel and bias: the same
    function, in the form PT2E quantizes.

    Why: litert-torch's PT2E quantizer leaves float every convolution whose bias node another convolution already
    uses (an int8 bias is quantized with its own convolution's input and weight scales), and the four phase
    convolutions of :class:`DepthwiseDeconv2x` share its ``bias``: 3 of the 4 stayed float. Here each phase holds a
    copy. The phase kernels are parameters too, so the file stores them as they are, not as slices of the 4x4 kernel.
    Training checkpoints keep the :class:`DepthwiseDeconv2x` form; the PT2E exporters swap this one in
    (:func:`edgedet.export.tflite.split_deconv_phases`).

    Attributes:
        phases: ``phases[2 * a + b]`` is output phase ``(a, b)``: ``Conv2d(C, C, 2, groups=C)``, weight ``[C, 1, 2, 2]``.
    """

    def __init__(self, channels: int, bias: bool = True) -> None:
        super().__init__()
        self.phases = nn.ModuleList([nn.Conv2d(channels, channels, 2, groups=channels, bias=bias) for _ in range(4)])
        self.act: nn.Module = nn.Identity()  # an element-wise activation applied per phase (fuse_phase_activations)

    @classmethod
    def from_deconv(cls, deconv: DepthwiseDeconv2x) -> DepthwiseDeconv2xPhases:
        """The phase form of ``deconv`` (exact: the 16 taps of its 4x4 kernel split into the four 2x2 kernels)."""
        out = cls(deconv.out_channels, bias=deconv.bias is not None).to(deconv.weight)  # its dtype and device
        with torch.no_grad():
            for a, b in itertools.product((0, 1), (0, 1)):
                conv = out.phases[2 * a + b]
                conv.weight.copy_(deconv.phase_weight(a, b))
                if deconv.bias is not None:
                    conv.bias.copy_(deconv.bias)
        return out.train(deconv.training)

    def forward(self, x: Tensor) -> Tensor:
        return interleave_phases2x(x, lambda crop, a, b: self.act(self.phases[2 * a + b](crop)))


def fuse_phase_activations(module: nn.Module) -> nn.Module:
    """Move each ``ReLU6`` / ``ReLU`` that follows a :class:`DepthwiseDeconv2xPhases` in an ``nn.Sequential``
    (``Identity`` layers between them allowed, as :func:`fold_deconv_bn` leaves them) into it, applied to each phase
    before the interleave (in place). The same function, since the interleave only moves values; but in an int8 TFLite file the
    activation then fuses into each phase convolution, where after the interleave's CONCATENATION it was an int8
    RELU6 of its own, which LiteRT 2.3's XNNPACK delegate does not take (a partition break each time).
    """
    for child in module.children():
        fuse_phase_activations(child)
    if not isinstance(module, nn.Sequential):
        return module
    layers = list(module)
    for i, layer in enumerate(layers):
        if not isinstance(layer, DepthwiseDeconv2xPhases) or not isinstance(layer.act, nn.Identity):
            continue
        j = i + 1
        while j < len(layers) and type(layers[j]) is nn.Identity:
            j += 1
        if j < len(layers) and type(layers[j]) in (nn.ReLU6, nn.ReLU):
            layer.act, module[j] = layers[j], nn.Identity()
    return module


class DecomposedHardswish(nn.Module):
    """``x * hardsigmoid(x)``: hard-swish as the ADD / MUL arithmetic litert-torch lowers a hard-sigmoid to, times
    ``x``, the form an int8 TFLite file runs inside XNNPACK. LiteRT 2.3's XNNPACK delegate takes no int8
    HARD_SWISH, so every MobileNetV3 activation was a partition break. (Written ``x * clamp(x + 3, 0, 6) / 6``
    the int8 file gained 89 TRANSPOSE: the converter's layout pass does not see through it.) Equal to
    ``nn.Hardswish`` up to float rounding."""

    def forward(self, x: Tensor) -> Tensor:
        return x * nn.functional.hardsigmoid(x)


def decompose_hardswish(module: nn.Module, undo: bool = False) -> nn.Module:
    """Replace every ``nn.Hardswish`` in ``module`` (in place) by :class:`DecomposedHardswish`; ``undo``: the
    reverse (neither holds parameters)."""
    old, new = (DecomposedHardswish, nn.Hardswish) if undo else (nn.Hardswish, DecomposedHardswish)
    for name, child in module.named_children():
        if type(child) is old:
            setattr(module, name, new())
        else:
            decompose_hardswish(child, undo)
    return module


def fold_deconv_bn(module: nn.Module) -> nn.Module:
    """Fold every ``BatchNorm2d`` that directly follows a ``ConvTranspose2d`` (or its phase form
    :class:`DepthwiseDeconv2x`, kept as such) in an ``nn.Sequential`` into it (in place; eval semantics).

    Every exporter calls it: torch's ONNX exporter folds a BN only into an ONNX ``Conv`` right before it, and the
    phase form's BN follows its interleave (it stayed a float ``BatchNormalization`` in the int8 ONNX file);
    torchao's PT2E conv-BN fusion builds a wrong bias for grouped transposed convs and finds no conv directly
    before the BN of the phase form.
    """
    for child in module.children():
        fold_deconv_bn(child)
    if not isinstance(module, nn.Sequential):
        return module
    layers = list(module)
    for i, (conv, bn) in enumerate(itertools.pairwise(layers)):
        if not (isinstance(conv, nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d)):
            continue
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)  # [Cout]
        g, cin, cout = conv.groups, conv.in_channels, conv.out_channels
        w = conv.weight.detach().reshape(g, cin // g, cout // g, *conv.kernel_size)
        w = w * scale.reshape(g, 1, cout // g, 1, 1)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
        if isinstance(conv, DepthwiseDeconv2x):
            folded = DepthwiseDeconv2x(cout, bias=True)
        else:
            folded = nn.ConvTranspose2d(cin, cout, conv.kernel_size, conv.stride, conv.padding, conv.output_padding,
                                        groups=g, bias=True, dilation=conv.dilation)
        folded = folded.to(conv.weight)  # its dtype and device
        folded.weight.data.copy_(w.reshape_as(conv.weight))
        folded.bias.data.copy_((bias - bn.running_mean) * scale + bn.bias.detach())
        module[i], module[i + 1] = folded, nn.Identity()
    return module


def interleave_phases2x(x: Tensor, phase_conv: Callable[[Tensor, int, int], Tensor]) -> Tensor:
    """The x2 depthwise deconvolution from its phases (:class:`DepthwiseDeconv2x` docstring).

    Args:
        x: ``[N, C, H, W]``.
        phase_conv: ``(crop [N, C, H + 1, W + 1], a, b) -> [N, C, H, W]``, the 2x2 convolution of output phase
            ``(a, b)`` over its crop of the input padded by 1.

    Returns:
        ``[N, C, 2H, 2W]``, output pixel ``(2i + a, 2j + b)`` from phase ``(a, b)``.
    """
    n, c, h, w = x.shape
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    rows = []
    for a in (0, 1):
        phases = [phase_conv(padded[:, :, a : a + h + 1, b : b + w + 1], a, b).permute(0, 2, 3, 1)
                  for b in (0, 1)]  # 2 x [N, H, W, C]
        rows.append(torch.cat(phases, -1).reshape(n, h, 2 * w, c))  # columns 2j + b
    return torch.cat(rows, 2).reshape(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)  # rows 2i + a; back to NCHW


class LiteConv(nn.Sequential):
    """PAFNet-lite's cheap 5x5 block: dw5x5+BN+ReLU6 -> 1x1+BN(+ReLU6) -> 1x1+BN+ReLU6 -> dw5x5+BN(+ReLU6).

    ``with_act=False`` drops the two bracketed ReLU6 (used for the last layer of a shortcut, which is then fused
    with the upsampled path).
    """

    def __init__(self, cin: int, cout: int, with_act: bool = True) -> None:
        mid_act = nn.ReLU6 if with_act else None
        super().__init__(
            ConvNormAct(cin, cin, 5, groups=cin, act=nn.ReLU6),
            ConvNormAct(cin, cout, 1, act=mid_act),
            ConvNormAct(cout, cout, 1, act=nn.ReLU6),
            ConvNormAct(cout, cout, 5, groups=cout, act=mid_act),
        )
        self.out_channels = cout


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 (Zhu et al., CVPR 2019): a deformable conv whose offsets and modulation masks come from a plain conv.

    The offset/mask conv starts at zero, so at initialisation this is a plain conv with every mask at 0.5.

    Args:
        cin, cout: channels.
        kernel, stride, padding: as for ``nn.Conv2d`` (square).
        bias: learn a bias (``False`` when a BatchNorm follows).
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1, bias: bool = False):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.offset_mask = nn.Conv2d(cin, 3 * kernel * kernel, kernel, stride, padding)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)
        self.out_channels = cout

    def forward(self, x: Tensor) -> Tensor:
        dy_dx_m = self.offset_mask(x)  # [B, 3*k*k, H', W']
        n = dy_dx_m.shape[1] // 3
        offset, mask = dy_dx_m[:, : 2 * n], dy_dx_m[:, 2 * n :].sigmoid()
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, mask=mask)


def conv3x3(cin: int, cout: int, stride: int = 1, dcn: bool = False, bias: bool = False) -> nn.Module:
    """A 3x3 conv, deformable (DCNv2) when ``dcn``."""
    if dcn:
        return ModulatedDeformConv2d(cin, cout, 3, stride, 1, bias=bias)
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
