import pytest

from edgedet.config import ConfigError, RunConfig, apply_overrides, dump_yaml, load_yaml, resolve
from edgedet.config.io import available_models, from_dict


def test_unknown_key_rejected_with_suggestion():
    with pytest.raises(ConfigError, match=r"Unknown config key 'train.epcohs'.*Did you mean 'epochs'"):
        from_dict(RunConfig, {"train": {"epcohs": 3}})


def test_unknown_section_rejected():
    with pytest.raises(ConfigError, match="Did you mean 'model'"):
        from_dict(RunConfig, {"modle": {}})


def test_overrides_coerce_types():
    cfg = apply_overrides(RunConfig(), ["train.epochs=3", "model.width=0.25", "data.multiscale=[256,352]",
                                        "train.ema=true", "train.milestones=[0.5]"])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.model.width == 0.25
    assert cfg.data.multiscale == (256, 352)
    assert cfg.train.ema is True
    assert cfg.train.milestones == (0.5,)


def test_override_bad_value_and_bad_key():
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(RunConfig(), ["train.epochs=abc"])
    with pytest.raises(ConfigError, match="Did you mean 'batch'"):
        apply_overrides(RunConfig(), ["train.bach=4"])
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides(RunConfig(), ["epochs"])


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(RunConfig(), ["train.epochs=7", "data.multiscale=[256,320]"])
    dump_yaml(cfg, tmp_path / "c.yaml")
    assert load_yaml(tmp_path / "c.yaml") == cfg


def test_every_zoo_yaml_loads():
    names = available_models()
    assert "pafnet_lite_mbv3" in names
    for name in names:
        cfg = resolve(name)
        assert cfg.model.name == name, f"models/{name}.yaml names model {cfg.model.name!r}"


def test_unknown_model_suggests():
    with pytest.raises(ConfigError, match="Did you mean 'pafnet_lite_mbv3'"):
        resolve("pafnet_lite_mbv")


def test_every_zoo_preset_has_a_yaml_and_back():
    from edgedet.models.zoo import PRESETS

    assert set(PRESETS) == set(available_models())


def test_zoo_configs_are_package_data_and_models_links_to_them():
    from pathlib import Path

    import edgedet
    from edgedet.config.io import MODELS_DIR

    package = Path(edgedet.__file__).resolve().parent
    assert MODELS_DIR == package / "configs"  # inside the package: a wheel ships them (tests/deploy/test_wheel.py)
    top = package.parent / "models"  # the checkout's folder users read
    assert top.resolve() == MODELS_DIR
    assert sorted(p.stem for p in top.glob("*.yaml")) == available_models()
