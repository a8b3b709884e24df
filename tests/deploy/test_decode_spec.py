"""Typed decode specs: JSON round trips, the errors a bad field gives, and edgedet 0.1.0 specs still loading."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch

from edgedet.deploy.decode_spec import (
    DECODE_SPECS,
    AnchorDeltasSpec,
    AnchorLTRBSpec,
    DetectionsInModelSpec,
    GridPriorsSpec,
    TopKBoxesSpec,
    TwoStageSpec,
    decode_spec_from_dict,
    dense_scores,
    side_inputs,
)
from edgedet.deploy.thresholds import PREDICT_SCORE_THR
from edgedet.runtime.base import Predictor
from edgedet.runtime.decode import DECODERS

PRIORS = {"type": "grid_anchors", "strides": [8, 16], "feat_sizes": [[4, 4], [2, 2]], "center_offset": 0.5,
          "base_anchors": [[[-16.0, -16.0, 16.0, 16.0]], [[-32.0, -32.0, 32.0, 32.0]]]}
TWO_STAGE = {"type": "two_stage", "num_classes": 2, "level_counts": [3, 1], "rpn_nms_iou": 0.7, "rpn_max_test": 2}


def _json_round_trip(spec):
    return decode_spec_from_dict(json.loads(json.dumps(spec.to_dict())))


@pytest.mark.parametrize("spec", [
    TopKBoxesSpec(dedup_iou=0.5),
    AnchorDeltasSpec(num_classes=3, priors=GridPriorsSpec.from_dict(PRIORS), quality="iou",
                     outputs=["cls_logits", "box_deltas", "quality_logits"], stds=[0.1, 0.1, 0.2, 0.2]),
    AnchorLTRBSpec(num_classes=2, priors=GridPriorsSpec("grid_points", [8], [[3, 5]]), normalizer=4.0,
                   clamp_negative=False),
    TwoStageSpec(num_classes=2, level_counts=[3, 1], rpn_nms_iou=0.7, rpn_max_test=2, max_det=7),
    DetectionsInModelSpec(num_classes=4, outputs=["rows", "counts"], im_shape_input="im_shape"),
])
def test_json_round_trip_is_exact(spec):
    back = _json_round_trip(spec)
    assert back == spec and type(back) is type(spec)
    assert back.to_dict()["type"] == spec.type == next(k for k, c in DECODE_SPECS.items() if c is type(spec))


def test_detections_in_model_names_the_inputs_a_backend_feeds():
    spec = DetectionsInModelSpec(num_classes=2, im_shape_input="im_shape", scale_factor_input="scale_factor")
    assert side_inputs(spec) == ["im_shape", "scale_factor"] and side_inputs(spec.to_dict()) == spec.side_inputs()
    assert side_inputs({"type": "topk_boxes"}) == []
    with pytest.raises(ValueError, match="decode.outputs must have 2 values"):
        DetectionsInModelSpec(num_classes=2, outputs=["rows"])


def test_defaults_are_the_ones_the_runtime_used():
    spec = decode_spec_from_dict(TWO_STAGE)
    assert spec.means == [0.0] * 4 and spec.stds == [1.0] * 4 and spec.rpn_min_size == 1e-3
    assert spec.wh_clamp == pytest.approx(4.135166556742356) and spec.nms_iou == 0.5 and spec.max_det == 100
    assert decode_spec_from_dict({"type": "topk_boxes"}).dedup_iou == 0.7
    assert decode_spec_from_dict({"type": "topk_boxes"}).outputs == ["boxes", "scores", "labels"]


def test_every_decode_type_has_a_decoder_and_a_spec():
    assert set(DECODE_SPECS) == set(DECODERS)


@pytest.mark.parametrize("data, message", [
    ({**TWO_STAGE, "level_counts": [3, "1"]}, r"decode.level_counts\[1\] must be int, got '1'; re-export"),
    ({**TWO_STAGE, "rpn_max_test": 2.5}, "decode.rpn_max_test must be int, got 2.5"),
    ({**TWO_STAGE, "clip_to_input": 1}, "decode.clip_to_input must be bool, got 1"),
    ({**TWO_STAGE, "nms_iuo": 0.5}, "decode.nms_iuo is not a field .* Did you mean 'nms_iou'"),
    ({**TWO_STAGE, "stds": [0.1, 0.2]}, r"decode.stds must have 4 values"),
    ({k: v for k, v in TWO_STAGE.items() if k != "rpn_nms_iou"}, r"decode.rpn_nms_iou is missing: 'two_stage' needs"),
    ({"type": "anchor_ltrb", "num_classes": 2, "priors": {**PRIORS, "type": "grid"}}, "decode.priors.type 'grid'"),
    ({"type": "anchor_ltrb", "num_classes": 2, "priors": {**PRIORS, "strides": [8]}}, "1 strides but 2 feat_sizes"),
    ({"type": "anchor_ltrb", "num_classes": 2, "priors": PRIORS, "normalizer": "pixels"}, "normalizer must be"),
    ({"type": "anchor_deltas", "num_classes": 2, "priors": PRIORS, "quality": "iuo"}, "quality 'iuo' is not one"),
    ({"type": "anchor_deltas", "num_classes": 2, "priors": [1]}, "decode.priors: expected a JSON object"),
    ({"type": "yolo"}, r"unknown decode type 'yolo'; this edgedet decodes \['anchor_deltas'"),
    ({"topk": 3}, "decode.type is missing"),
])
def test_bad_fields_are_named_with_the_fix(data, message):
    with pytest.raises(ValueError, match=message):
        decode_spec_from_dict(data)


def test_specs_written_by_edgedet_0_1_0_still_load():
    """Fields 0.1.0 wrote that no reader used are accepted and dropped."""
    old_topk = {"type": "topk_boxes", "topk": 100, "outputs": ["boxes", "scores", "labels"]}
    assert decode_spec_from_dict(old_topk) == TopKBoxesSpec()
    old_dense = {"type": "anchor_deltas", "num_classes": 3, "num_priors": 20, "activation": "sigmoid",
                 "iou_branch": False, "quality": "none", "score": "sigmoid(cls)", "score_thr": 0.05, "nms": "per class",
                 "priors": {**PRIORS, "layout": "level, y, x, anchor"}, "nms_iou": 0.6}
    spec = decode_spec_from_dict(old_dense)
    assert spec.nms_iou == 0.6 and spec.priors.base_anchors == PRIORS["base_anchors"]
    assert "score_thr" not in spec.to_dict() and "layout" not in spec.to_dict()["priors"]
    old_two_stage = {**TWO_STAGE, "background": "last", "score": "softmax", "score_thr": 0.05, "nms": "per class"}
    assert decode_spec_from_dict(old_two_stage) == decode_spec_from_dict(TWO_STAGE)


def test_predict_defaults_share_one_threshold():
    from edgedet.models.base import Detector

    for fn in (Predictor.predict, Detector.predict):
        assert inspect.signature(fn).parameters["score_thr"].default == PREDICT_SCORE_THR == 0.25


def test_constructing_a_bad_spec_fails_at_once():
    with pytest.raises(ValueError, match=r"decode.stds must have 4 values"):
        TwoStageSpec(num_classes=2, level_counts=[3], rpn_nms_iou=0.7, rpn_max_test=2, stds=[0.1])
    with pytest.raises(ValueError, match=r"decode.priors: 1 strides but 2 feat_sizes"):
        GridPriorsSpec("grid_points", [8], [[2, 2], [1, 1]])


@pytest.mark.parametrize("as_array", [np.asarray, torch.tensor], ids=["numpy", "torch"])
def test_dense_scores_per_quality_branch(as_array):
    # class probabilities c of two priors x two classes and the quality q of each prior, threshold 0.05
    c = as_array([[0.16, 0.04], [0.09, 0.36]])
    q = as_array([[0.25], [0.01]])
    # "iou" (Dynamic ATSS): c must pass (.16 yes, .04 no, .09 yes, .36 yes), score sqrt(c q):
    # sqrt(.04) = .2, sqrt(.01) = .1, sqrt(.0009) = .03, sqrt(.0036) = .06. The pairs (0, 0) and (1, 0) pass
    # although c * q (.04, .0009) is under the threshold; (0, 1) fails although its score .1 is over it
    scores, passes = dense_scores(c, q, "iou", 0.05)
    np.testing.assert_allclose(np.asarray(scores), [[0.2, 0.1], [0.03, 0.06]], rtol=1e-6)
    assert np.asarray(passes).tolist() == [[True, False], [True, True]]
    # "centerness" (ATSS): score and threshold on c * q = .04, .01, .0009, .0036: none passes
    scores, passes = dense_scores(c, q, "centerness", 0.05)
    np.testing.assert_allclose(np.asarray(scores), [[0.04, 0.01], [0.0009, 0.0036]], rtol=1e-6)
    assert not np.asarray(passes).any()
    # "none": c itself
    scores, passes = dense_scores(c, None, "none", 0.05)
    np.testing.assert_allclose(np.asarray(scores), np.asarray(c))
    assert np.asarray(passes).tolist() == [[True, False], [True, True]]
    with pytest.raises(ValueError, match="quality must be one of"):
        dense_scores(c, q, "iuo", 0.05)
