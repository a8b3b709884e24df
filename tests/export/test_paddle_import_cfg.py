"""infer_cfg.yml's Preprocess list -> PreprocessSpec (no paddle needed): what maps, exactly, and what is refused."""

from __future__ import annotations

import pytest

from edgedet.deploy.preprocess import PreprocessSpec
from edgedet.export.paddle_import import PaddleImportError, preprocess_from_infer_cfg

RESIZE = {"type": "Resize", "target_size": [320, 320], "keep_ratio": False, "interp": 2}
NORM = {"type": "NormalizeImage", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "is_scale": True}
PERMUTE = {"type": "Permute"}


def test_picodet_style_list_maps_to_a_stretch():
    spec, size = preprocess_from_infer_cfg([RESIZE, NORM, PERMUTE])
    assert size == 320
    assert spec == PreprocessSpec(resize="stretch", interp="cubic", scale=1 / 255, mean=(0.485, 0.456, 0.406),
                                  std=(0.229, 0.224, 0.225))


def test_ppyoloe_style_norm_type_none_and_no_scale():
    none = dict(NORM, norm_type="none", mean=[0, 0, 0], std=[1, 1, 1])
    spec, _ = preprocess_from_infer_cfg([dict(RESIZE, interp=1), none, PERMUTE])
    assert (spec.interp, spec.scale, spec.mean, spec.std) == ("linear", 1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    raw = dict(NORM, is_scale=False, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    spec, _ = preprocess_from_infer_cfg([RESIZE, raw, PERMUTE])
    assert (spec.scale, spec.mean) == (1.0, (123.675, 116.28, 103.53))
    spec, _ = preprocess_from_infer_cfg([RESIZE, PERMUTE])  # no NormalizeImage: raw 0..255 pixels
    assert (spec.scale, spec.mean, spec.std) == (1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_pad_stride_that_divides_the_size_is_a_no_op():
    spec, size = preprocess_from_infer_cfg([RESIZE, NORM, PERMUTE, {"type": "PadStride", "stride": 32}])
    assert size == 320 and spec.resize == "stretch"


@pytest.mark.parametrize("ops, message", [
    ([{"type": "LetterBoxResize", "target_size": [320, 320]}, PERMUTE], r"Preprocess\[0\] is 'LetterBoxResize'"),
    ([dict(RESIZE, keep_ratio=True), NORM, PERMUTE], "keep_ratio: true"),
    ([dict(RESIZE, target_size=[320, 416]), NORM, PERMUTE], r"target_size is \[320, 416\]; .* square"),
    ([dict(RESIZE, interp=7), NORM, PERMUTE], "interp 7 is not an OpenCV flag"),
    ([RESIZE, NORM], "needs exactly one Resize .* and a Permute"),
    ([NORM, RESIZE, PERMUTE], "normalises before it resizes"),
    ([RESIZE, dict(NORM, norm_type="min_max"), PERMUTE], "norm_type 'min_max'"),
    ([RESIZE, dict(NORM, std=[1, 2]), PERMUTE], r"std is \[1, 2\]"),
    ([RESIZE, NORM, PERMUTE, {"type": "PadStride", "stride": 96}], "PadStride stride 96"),
    (["Resize"], r"Preprocess\[0\] is None"),
])
def test_what_cannot_be_mapped_is_refused_naming_it(ops, message):
    with pytest.raises(PaddleImportError, match=message):
        preprocess_from_infer_cfg(ops, "m/infer_cfg.yml")


def test_help_leads_with_two_examples(capsys):
    from edgedet.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["import-paddle", "--help"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("examples:")
    assert all(line.startswith("  edgedet import-paddle ") for line in lines[start + 1 : start + 3])
