import math

import pytest
import torch

from edgedet.models.heads.atss import ATSSHead
from edgedet.models.heads.retina import RetinaHead
from edgedet.models.necks.bfp import BFP
from edgedet.models.necks.fpn import FPN

torch.set_num_threads(1)


def _c2_c5(b=1, side=64):
    return [torch.randn(b, c, side // s, side // s) for c, s in ((8, 4), (16, 8), (32, 16), (64, 32))]


def test_fpn_levels_and_extra_sources():
    feats = _c2_c5()
    out = FPN([8, 16, 32, 64], 24, start_level=1, num_outs=5, extra_from="input")(feats)
    assert [tuple(o.shape[1:]) for o in out] == [(24, 8, 8), (24, 4, 4), (24, 2, 2), (24, 1, 1), (24, 1, 1)]
    fpn = FPN([8, 16, 32, 64], 24, start_level=1, extra_from="input")
    assert fpn.extra[0].in_channels == 64 and fpn.extra[1].in_channels == 24  # P6 from C5, P7 from relu(P6)
    assert FPN([8, 16, 32, 64], 24, extra_from="output").extra[0].in_channels == 24  # P6 from P5
    out = FPN([8, 16, 32, 64], 24, start_level=0, num_outs=5, extra_from="pool")(feats)
    assert [o.shape[-1] for o in out] == [16, 8, 4, 2, 1]
    torch.testing.assert_close(out[4], out[3][..., ::2, ::2])  # P6 = 1x1 stride-2 max-pool of P5


def test_bfp_adds_the_refined_average_to_every_level():
    sizes = [16, 8, 4, 2, 1]
    feats = [torch.full((1, 4, s, s), float(i + 1)) for i, s in enumerate(sizes)]
    out = BFP(channels=4, num_levels=5, refine_level=1)(feats)  # the non-local block starts as the identity
    for i, o in enumerate(out):
        torch.testing.assert_close(o, torch.full_like(feats[i], i + 1 + 3.0))  # mean(1..5) = 3
    bfp = BFP(channels=4, num_levels=5, refine_level=1)
    assert sum(p.numel() for p in bfp.parameters()) == 4 * (4 * 4 + 4)  # only the non-local block


def test_retina_head_init_and_shapes():
    head = RetinaHead(num_classes=5, in_channels=16, feat_channels=16, num_anchors=9, stacked_convs=2)
    cls, reg = head([torch.randn(2, 16, 8, 8), torch.randn(2, 16, 4, 4)])
    assert cls[0].shape == (2, 45, 8, 8) and reg[1].shape == (2, 36, 4, 4)
    assert abs(float(head.cls_out.bias[0].detach()) + math.log(99)) < 1e-6


def test_atss_head_quality_and_scales():
    head = ATSSHead(num_classes=3, in_channels=16, feat_channels=16, num_levels=2, quality="iou")
    cls, reg, q = head([torch.randn(1, 16, 8, 8), torch.randn(1, 16, 4, 4)])
    assert cls[0].shape == (1, 3, 8, 8) and reg[0].shape == (1, 4, 8, 8) and q[1].shape == (1, 1, 4, 4)
    with torch.no_grad():
        head.scales[1].scale.fill_(2.0)
    reg2 = head([torch.zeros(1, 16, 8, 8), torch.ones(1, 16, 4, 4)])[1]
    head.scales[1].scale.data.fill_(1.0)
    reg1 = head([torch.zeros(1, 16, 8, 8), torch.ones(1, 16, 4, 4)])[1]
    torch.testing.assert_close(reg2[1], 2 * reg1[1])
    plain = ATSSHead(num_classes=3, in_channels=16, feat_channels=16, num_levels=2, quality="none")
    assert len(plain([torch.randn(1, 16, 4, 4)] * 2)) == 2


def test_retina_head_gn_keeps_the_signal_the_plain_head_loses():
    """At width 64 the paper's head (std-0.01 convs, no norm) shrinks each conv's output ~4x (sqrt(64*9)*0.01 =
    0.24, halved again by ReLU): after four convs the classifier sees almost nothing, which is why RetinaNet stayed
    at AP ~0 from scratch at reduced width. GroupNorm restores unit scale after every conv."""
    torch.manual_seed(0)
    x = [torch.randn(2, 64, 16, 16)]
    plain = RetinaHead(num_classes=3, in_channels=64, feat_channels=64, num_anchors=9)
    gn = RetinaHead(num_classes=3, in_channels=64, feat_channels=64, num_anchors=9, norm="gn")
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in plain.modules())
    groups = [m for m in gn.cls_tower if isinstance(m, torch.nn.GroupNorm)]
    assert len(groups) == 4 and all(g.num_groups == 32 for g in groups)
    assert all(m.bias is None for m in gn.cls_tower if isinstance(m, torch.nn.Conv2d))
    assert plain.cls_tower(x[0]).std() < 1e-3 < 0.1 < gn.cls_tower(x[0]).std()
    cls, reg = gn(x)
    assert cls[0].shape == (2, 27, 16, 16) and reg[0].shape == (2, 36, 16, 16)
    with pytest.raises(ValueError, match="'' or 'gn'"):
        RetinaHead(num_classes=3, in_channels=64, feat_channels=64, norm="bn")


@pytest.mark.parametrize("name", ["retinanet_r18_fpn", "noisy_anchor_retinanet_r18_fpn", "libra_retinanet_r18_fpn"])
def test_head_norm_config_reaches_every_retina_family_preset(name):
    from edgedet.config import resolve
    from edgedet.models.zoo import build_model

    cfg = resolve(name, ["model.num_classes=3", "model.width=0.25", "model.head_norm=gn"])
    model = build_model(cfg.model)
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.head.cls_tower)
    with pytest.raises(ValueError, match="head_norm"):
        resolve(name, ["model.head_norm=bn"])
