import pytest
import torch

from edgedet.config import load_yaml
from edgedet.config.io import MODELS_DIR
from edgedet.config.schema import ModelConfig
from edgedet.models.pafnet import PAFNet
from edgedet.models.zoo import PRESETS, build_model

torch.set_num_threads(1)


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean 'pafnet_lite_mbv3'"):
        build_model(ModelConfig(name="pafnet_lite_mbv", num_classes=3))


def test_num_classes_required():
    with pytest.raises(ValueError, match="num_classes"):
        build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=0))


def test_config_fields_reach_the_model():
    m = build_model(ModelConfig(name="pafnet_r18vd", num_classes=5, width=0.125, dcn=False, ags=False, frozen_stages=-1))
    assert isinstance(m, PAFNet) and m.num_classes == 5 and m.criterion.ags is False
    assert m.head.hm_out.out_channels == 5
    assert not any("offset_mask" in n for n, _ in m.named_parameters())
    with pytest.warns(UserWarning, match="frozen_stages"):
        frozen = build_model(ModelConfig(name="pafnet_r18vd", num_classes=5, width=0.125, dcn=True, frozen_stages=1))
    assert any("offset_mask" in n for n, _ in frozen.named_parameters())
    assert all(not p.requires_grad for p in frozen.backbone.stem.parameters())
    assert all(not p.requires_grad for p in frozen.backbone.stages[0].parameters())
    assert all(p.requires_grad for p in frozen.backbone.stages[1].parameters())


def test_ags_switch_reaches_the_criterion_from_the_yaml():
    from edgedet.config import resolve

    small = ["model.num_classes=3", "model.width=0.25"]
    assert build_model(resolve("pafnet_lite_mbv3", small).model).criterion.ags is True  # the YAML's default
    assert build_model(resolve("pafnet_lite_mbv3", [*small, "model.ags=false"]).model).criterion.ags is False


def test_full_size_lite_matches_reference_params():
    m = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=80))
    n = sum(p.numel() for p in m.parameters())
    assert 3.3e6 < n < 3.5e6  # reference: about 3.4M


def test_pretrained_round_trip(tmp_path):
    cfg = ModelConfig(name="pafnet_lite_mbv3", num_classes=2, width=0.25)
    torch.manual_seed(0)
    src = build_model(cfg)
    torch.save({"model": src.state_dict()}, tmp_path / "w.pt")
    torch.manual_seed(1)
    cfg.pretrained = str(tmp_path / "w.pt")
    dst = build_model(cfg)
    torch.testing.assert_close(dst.head.hm_out.weight, src.head.hm_out.weight)
    torch.save({"unrelated": torch.zeros(3)}, tmp_path / "bad.pt")
    cfg.pretrained = str(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="no parameter"):
        build_model(cfg)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pretrained_refuses_pickled_code_with_a_value_error(tmp_path):
    """Anything that builds a model (train, export --model) gets one readable error, not an UnpicklingError."""
    torch.save({"model": _Evil()}, tmp_path / "evil.pt")
    cfg = ModelConfig(name="pafnet_lite_mbv3", num_classes=2, width=0.25, pretrained=str(tmp_path / "evil.pt"))
    with pytest.raises(ValueError, match="model.pretrained: refusing .*pickled"):
        build_model(cfg)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cfg.pretrained = str(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="model.pretrained: cannot read"):
        build_model(cfg)


@pytest.mark.parametrize("name", ["pafnet_lite_mbv3", "pafnet_r50vd", "pafnet_r18vd"])
def test_yaml_configs_load_and_build(name):
    cfg = load_yaml(MODELS_DIR / f"{name}.yaml")
    assert cfg.model.name == name and name in PRESETS
    cfg.model.num_classes, cfg.model.width = 3, 0.125
    model = build_model(cfg.model).eval()
    with torch.no_grad():
        hm, ltrb = model(torch.zeros(1, 3, 64, 64))
    assert hm.shape == (1, 3, 16, 16) and ltrb.shape == (1, 4, 16, 16)


def test_every_preset_is_buildable_from_a_model_config():
    """A preset's parameters are ModelConfig fields or numbers its PRESETS entry fixes (``partial``); twins share
    one builder and differ only in those numbers."""
    import dataclasses
    import functools
    import inspect

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    for name, fn in PRESETS.items():
        fixed = fn.keywords if isinstance(fn, functools.partial) else {}
        assert set(inspect.signature(fn).parameters) <= fields | set(fixed), name
    r18, r50 = PRESETS["noisy_anchor_retinanet_r18_fpn"], PRESETS["noisy_anchor_retinanet_r50_fpn"]
    assert r18.func is r50.func and r18.keywords == {"depth": 18} and r50.keywords == {"depth": 50, "frozen_stages": 1}
