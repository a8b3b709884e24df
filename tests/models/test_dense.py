import pytest
import torch

from edgedet.assigners import ATSSAssigner, MaxIoUAssigner
from edgedet.config import resolve
from edgedet.deploy.decode_spec import AnchorDeltasSpec
from edgedet.models.criteria.dense_losses import BalancedL1BoxLoss, L1BoxLoss, SmoothL1BoxLoss, VarifocalClassification
from edgedet.models.zoo import PRESETS, build_model
from edgedet.structures.priors import feat_sizes_for_input

torch.set_num_threads(1)

TARGETS = [
    {"boxes": torch.tensor([[10.0, 12, 50, 60], [40, 30, 60, 62]]), "labels": torch.tensor([1, 2])},
    {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},  # an image with no object
]
R18 = [n for n in PRESETS if n.endswith("_r18_fpn") and "faster_rcnn" not in n]


def _tiny(name, assigner=""):
    torch.manual_seed(0)
    return PRESETS[name](3, width=0.25, imgsz=64, assigner=assigner).train()


@pytest.mark.parametrize("name", R18)
def test_forward_loss_backward_with_empty_image(name):
    model = _tiny(name)
    out = model(torch.randn(2, 3, 64, 64))
    a = model.prior_generator.num_base_priors
    num_priors = a * (64 + 16 + 4 + 1 + 1)
    assert out[0].shape == (2, num_priors, 3) and out[1].shape == (2, num_priors, 4)
    losses = model.loss(out, TARGETS)
    expected = {"loss_cls", "loss_box"} | ({"loss_quality"} if "atss" in name else set())
    assert set(losses) == expected
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    assert float(losses["loss_box"].detach()) > 0 and float(losses["loss_cls"].detach()) > 0
    sum(losses.values()).backward()
    head_grads = [p.grad for p in model.head.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
    assert any(float(g.abs().sum()) > 0 for g in head_grads)


@pytest.mark.parametrize("assigner", ["max_iou", "atss", "dynamic_atss", "noisy_anchor"])
def test_any_assigner_on_retinanet_and_atss(assigner):
    for name in ("retinanet_r18_fpn", "atss_r18_fpn"):
        model = _tiny(name, assigner)
        losses = model.loss(model(torch.randn(2, 3, 64, 64)), TARGETS)
        assert all(torch.isfinite(v) for v in losses.values())
    with pytest.raises(ValueError, match="Unknown assigner"):
        _tiny("retinanet_r18_fpn", "hungarian")


def test_all_empty_batch_gives_zero_box_loss():
    model = _tiny("atss_r18_fpn")
    losses = model.loss(model(torch.randn(2, 3, 64, 64)), [TARGETS[1], TARGETS[1]])
    assert float(losses["loss_box"].detach()) == 0.0 and float(losses["loss_quality"].detach()) == 0.0
    assert float(losses["loss_cls"].detach()) > 0
    sum(losses.values()).backward()


@pytest.mark.parametrize("name", ["retinanet_r18_fpn", "atss_r18_fpn"])
def test_perfect_outputs_give_zero_box_loss_and_decode_to_gt(name):
    """Outputs built from the assignment itself: a correct target/coder/decode chain returns the GT boxes."""
    model = _tiny(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    priors, nlp = model.priors(out[0].shape[1], torch.device("cpu"))
    pos, _ = model.criterion.assign(out, TARGETS[:1], priors, nlp, model.coder)
    cls = torch.full_like(out[0], -20.0)
    cls[pos.b, pos.p, pos.labels] = 20.0
    reg = torch.zeros_like(out[1])
    reg[pos.b, pos.p] = model.coder.encode(priors[pos.p], pos.boxes)
    perfect = (cls, reg) + ((torch.full_like(out[2], 20.0),) if len(out) > 2 else ())
    model.train()
    if name == "retinanet_r18_fpn":  # smooth L1 on deltas: exactly 0; focal: ~0
        losses = model.loss(perfect, TARGETS[:1])
        assert float(losses["loss_box"].detach()) < 1e-5 and float(losses["loss_cls"].detach()) < 1e-5
    dets = model.postprocess(perfect, score_thr=0.5)[0]
    order = dets["labels"].argsort()
    torch.testing.assert_close(dets["boxes"][order], TARGETS[0]["boxes"], atol=1e-3, rtol=0)
    assert dets["labels"][order].tolist() == [1, 2]


def test_postprocess_limits_and_predict():
    model = _tiny("retinanet_r18_fpn").eval()
    model.test_cfg.max_det = 7
    dets = model.predict(torch.randn(2, 3, 64, 64), score_thr=0.0)
    assert len(dets) == 2 and all(d["boxes"].shape == (7, 4) for d in dets)
    assert all(bool((d["scores"][:-1] >= d["scores"][1:]).all()) for d in dets)
    assert all(float(d["boxes"].min()) >= 0 and float(d["boxes"].max()) <= 64 for d in dets)


def test_dynamic_atss_scores_sqrt_cls_iou_where_cls_passes():
    model = _tiny("dynamic_atss_r18_fpn").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    logit = lambda p: float(torch.logit(torch.tensor(p, dtype=torch.float64)))  # noqa: E731
    cls = torch.full_like(out[0], -30.0)
    qual = torch.full_like(out[2], -30.0)
    # three stride-8 priors (centres 0: (4, 4), 27: (28, 28), 63: (60, 60); 64 px anchors), class 1
    for prior, c, q in ((0, 0.16, 0.25), (27, 0.64, 0.81), (63, 0.04, 0.81)):
        cls[0, prior, 1], qual[0, prior, 0] = logit(c), logit(q)
    dets = model.postprocess((cls, torch.zeros_like(out[1]), qual), score_thr=0.05)[0]
    # the class probability must pass .05 (.16 and .64 do, .04 does not); score sqrt(c q): sqrt(.5184) = .72 and
    # sqrt(.04) = .2 (c * q = .04 alone would fail the threshold; prior 63's sqrt(.0324) = .18 would pass)
    torch.testing.assert_close(dets["scores"], torch.tensor([0.72, 0.2]))
    assert dets["labels"].tolist() == [1, 1]
    # zero deltas decode to the anchors, clipped to the 64 px input: [-4, -4, 60, 60] and [-28, -28, 36, 36]
    # (IoU .36 < .5: NMS keeps both)
    torch.testing.assert_close(dets["boxes"], torch.tensor([[0.0, 0, 60, 60], [0, 0, 36, 36]]))


def test_dynamic_atss_pred_iou_ratio_from_config():
    cfg = resolve("dynamic_atss_r18_fpn", ["model.num_classes=3", "model.width=0.25", "model.imgsz=64"])
    assert cfg.model.pred_iou_ratio == 0.5  # the paper's IoU_pred + IoU_anchor
    cfg = resolve("dynamic_atss_r18_fpn", ["model.num_classes=3", "model.width=0.25", "model.imgsz=64",
                                           "model.pred_iou_ratio=0"])
    assert build_model(cfg.model).criterion.assigner.pred_iou_ratio == 0.0
    with pytest.raises(ValueError, match=r"model.pred_iou_ratio=1.5 is not allowed: it must be \[0, 1\]"):
        resolve("dynamic_atss_r18_fpn", ["model.pred_iou_ratio=1.5"])


def test_feature_sizes_inferred_without_forward():
    model = _tiny("retinanet_r18_fpn")
    n = sum(model.prior_generator.num_level_priors(feat_sizes_for_input(96, 96, model.prior_generator.strides)))
    assert model.feat_sizes(n) == [(12, 12), (6, 6), (3, 3), (2, 2), (1, 1)]
    with pytest.raises(ValueError):
        model.feat_sizes(n + 1)


@pytest.mark.parametrize("name,quality", [("retinanet_r18_fpn", False), ("dynamic_atss_r18_fpn", True)])
def test_decode_spec(name, quality):
    spec = _tiny(name).decode_spec()
    assert spec.type == "anchor_deltas" and spec.num_classes == 3
    assert (spec.quality != "none") is quality and spec.nms_iou == 0.5
    assert spec.outputs == ["cls_logits", "box_deltas"] + (["quality_logits"] if quality else [])
    assert spec.max_det == 100 and spec.nms_pre == 1000
    a = 9 if name.startswith("retina") else 1
    assert sum(h * w for h, w in spec.priors.feat_sizes) == 64 + 16 + 4 + 1 + 1
    assert [len(b) for b in spec.priors.base_anchors] == [a] * 5
    assert spec.stds == ([1.0] * 4 if a == 9 else [0.1, 0.1, 0.2, 0.2])
    import json

    assert AnchorDeltasSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_preset_defaults():
    assert isinstance(_tiny("retinanet_r18_fpn").criterion.assigner, MaxIoUAssigner)
    assert isinstance(_tiny("atss_r18_fpn").criterion.assigner, ATSSAssigner)
    assert isinstance(_tiny("dynamic_atss_vfl_r18_fpn").criterion.cls_loss, VarifocalClassification)
    assert isinstance(_tiny("libra_retinanet_r18_fpn").criterion.box_loss, BalancedL1BoxLoss)


def test_retinanet_box_loss_is_smooth_l1_and_l1_is_selectable_from_config():
    cfg = resolve("retinanet_r18_fpn", ["model.num_classes=3", "model.width=0.25", "model.imgsz=64"])
    assert cfg.model.box_loss == "smooth_l1"  # the YAML names it
    box = build_model(cfg.model).criterion.box_loss
    assert type(box) is SmoothL1BoxLoss and box.beta == 0.11  # the paper's beta
    assert type(_tiny("retinanet_r18_fpn").criterion.box_loss) is SmoothL1BoxLoss  # "" = the preset's own
    cfg = resolve("retinanet_r18_fpn", ["model.num_classes=3", "model.width=0.25", "model.imgsz=64",
                                        "model.box_loss=l1"])
    assert type(build_model(cfg.model).criterion.box_loss) is L1BoxLoss
    with pytest.raises(ValueError, match="Unknown box loss 'l2'. Available: smooth_l1, l1"):
        PRESETS["retinanet_r18_fpn"](3, width=0.25, imgsz=64, box_loss="l2")


def test_r50_parameter_counts_match_published():
    """RetinaNet R50-FPN (80 classes, stem + stage 1 frozen) ~37.7M trainable; ATSS R50 ~32.1M."""
    retina = PRESETS["retinanet_r50_fpn"](80)
    atss = PRESETS["atss_r50_fpn"](80)

    def count(m):
        return sum(p.numel() for p in m.parameters() if p.requires_grad)

    assert abs(count(retina) / 1e6 - 37.7) < 0.1
    assert abs(count(atss) / 1e6 - 32.1) < 0.1
    assert type(retina.backbone).__name__ == "TorchvisionResNet"


ANCHOR_YAMLS = ["retinanet_r50_fpn", "atss_r50_fpn", "dynamic_atss_r50_fpn", "dynamic_atss_vfl_r50_fpn",
                "noisy_anchor_retinanet_r50_fpn", "libra_retinanet_r50_fpn", "libra_faster_rcnn_r50_fpn"]


@pytest.mark.parametrize("name", ANCHOR_YAMLS)
def test_yaml_configs_build_through_the_zoo(name):
    from edgedet.config.io import MODELS_DIR, load_yaml
    from edgedet.models.zoo import PRESETS, build_model

    cfg = load_yaml(MODELS_DIR / f"{name}.yaml")
    assert cfg.model.name == name and name in PRESETS
    cfg.model.num_classes, cfg.model.width = 3, 0.125
    model = build_model(cfg.model).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    assert out[0].shape[0] == 1 and out[1].shape[-1] == 4


@pytest.mark.parametrize("name", ["retinanet_r18_fpn", "noisy_anchor_retinanet_r18_fpn"])
def test_loads_checkpoints_written_before_criteria_were_objects(name: str) -> None:
    """Old dense checkpoints kept the EMA positive count as ``num_pos_ema`` on the detector."""
    model = PRESETS[name](num_classes=3, width=0.25)
    state = model.state_dict()
    moved = state.pop("criterion.normalizer.num_pos_ema", None)
    state["num_pos_ema"] = torch.tensor(42.0)
    model.load_state_dict(state)  # strict: raises on an unexpected or missing key
    if moved is not None:
        assert float(model.criterion.normalizer.num_pos_ema) == 42.0
    else:
        assert name == "retinanet_r18_fpn"
