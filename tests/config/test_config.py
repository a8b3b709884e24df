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


@pytest.mark.parametrize("override, message", [
    ("train.batch=0", "train.batch=0 is not allowed: it must be >= 1"),
    ("train.batch=-4", "train.batch=-4 is not allowed: it must be >= 1"),
    ("train.lr=nan", "train.lr=nan is not allowed: it must be > 0"),
    ("train.lr=0", "train.lr=0.0 is not allowed: it must be > 0"),
    ("train.epochs=0", "train.epochs=0 is not allowed: it must be >= 1"),
    ("model.imgsz=100", "model.imgsz=100 is not allowed: it must be a multiple of 32 from 32 to 4096"),
    ("model.imgsz=0", "model.imgsz=0 is not allowed: it must be a multiple of 32"),
    ("train.device=gpu", "train.device='gpu' is not allowed: it must be '' (auto), 'cpu', 'cuda'"),
    ("data.flip=1.5", "data.flip=1.5 is not allowed: it must be [0, 1]"),
    ("data.multiscale=[416,256]", "data.multiscale=[416, 256] is not allowed"),
    ("train.milestones=[0.5,2]", "train.milestones=[0.5, 2.0] is not allowed: it must be fractions"),
    ("train.threads=-1", "train.threads=-1 is not allowed: it must be >= 0"),
    ("train.optimizer=adam", "train.optimizer='adam' is not allowed: it must be 'sgd' or 'adamw'"),
])
def test_out_of_range_value_names_field_value_and_range(override, message):
    with pytest.raises(ConfigError) as info:
        resolve("pafnet_lite_mbv3", [override])
    assert message in str(info.value)


def test_accepted_edge_values():
    cfg = resolve("pafnet_lite_mbv3", ["train.batch=1", "model.imgsz=32", "data.flip=1", "train.device=cuda:1",
                                       "data.multiscale=[0,0]", "train.threads=3"])
    assert (cfg.train.batch, cfg.model.imgsz, cfg.train.device, cfg.train.threads) == (1, 32, "cuda:1", 3)


def test_validate_config_catches_values_set_in_python():
    from edgedet.config.schema import validate_config

    cfg = RunConfig()
    cfg.train.batch = 0
    with pytest.raises(ConfigError, match="train.batch=0"):
        validate_config(cfg)


def test_imgsz_override_scales_the_multiscale_range():
    base = resolve("pafnet_lite_mbv3")
    assert (base.model.imgsz, base.data.multiscale) == (320, (256, 416))
    # 256 * 128/320 = 102.4 -> 96, 416 * 128/320 = 166.4 -> 160: multiples of 32 around the training size
    assert resolve("pafnet_lite_mbv3", ["model.imgsz=128"]).data.multiscale == (96, 160)
    assert resolve("pafnet_lite_mbv3", ["model.imgsz=640"]).data.multiscale == (512, 832)
    assert resolve("pafnet_lite_mbv3", ["model.imgsz=32"]).data.multiscale == (32, 32)  # never below 32
    # an explicit range wins, in either order; off stays off
    assert resolve("pafnet_lite_mbv3", ["data.multiscale=[64,128]", "model.imgsz=96"]).data.multiscale == (64, 128)
    assert resolve("pafnet_lite_mbv3", ["model.imgsz=96", "data.multiscale=[0,0]"]).data.multiscale == (0, 0)
    assert resolve("pafnet_lite_mbv3", ["model.imgsz=320"]).data.multiscale == (256, 416)


def test_zoo_configs_are_package_data_and_models_links_to_them():
    from pathlib import Path

    import edgedet
    from edgedet.config.io import MODELS_DIR

    package = Path(edgedet.__file__).resolve().parent
    assert MODELS_DIR == package / "configs"  # inside the package: a wheel ships them (tests/deploy/test_wheel.py)
    top = package.parent / "models"  # the checkout's folder users read
    assert top.resolve() == MODELS_DIR
    assert sorted(p.stem for p in top.glob("*.yaml")) == available_models()


def test_pafnet_recipes_follow_the_paper():
    from edgedet.engine.lr import lr_at, scaled_lr

    for name in ("pafnet_lite_mbv3", "pafnet_r18vd", "pafnet_r50vd"):
        cfg = resolve(name)
        assert cfg.train.milestones == (0.75, 0.917), name  # the paper's 75% and 91.7%
        assert cfg.model.ags is True
        # with 1200 iterations the drops come at int(.75 * 1200) = 900 and int(.917 * 1200) = 1100
        base = scaled_lr(cfg.train)
        lrs = [lr_at(cfg.train, it, 1200) / base for it in (899, 900, 1099, 1100)]
        assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01]), name
    lite = resolve("pafnet_lite_mbv3").data
    assert (lite.gridmask, lite.gridmask_ramp, lite.cutmix) == (0.7, 1.0, 0.0)  # GridMask ramped to 0.7
    for name in ("pafnet_r18vd", "pafnet_r50vd"):
        data = resolve(name).data
        assert (data.cutmix, data.cutmix_until, data.gridmask) == (1.0, 0.833, 0.0)  # every sample, first 5/6
