"""Typed decode specs: the ``"decode"`` block of ``edgedet.json``, one small dataclass per decode type.

A detector's ``decode_spec()`` returns one of these; export writes ``spec.to_dict()`` into ``edgedet.json``;
:mod:`edgedet.runtime.decode` reads it back through :func:`decode_spec_from_dict`, which checks every field's
presence and type and raises ``ValueError`` naming the field and the fix. What each field means is documented
where it is used, in :mod:`edgedet.runtime.decode`.

Only fields the runtime reads are written (plus ``outputs``, the graph's output names, which export uses to name
the exported file's outputs). Fields that edgedet 0.1.0 wrote but nothing read (``RETIRED``) are accepted and
ignored when reading, so older export directories still load; any other unknown field is an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

_FIX = "re-export the model with `edgedet export` (or fix edgedet.json by hand)"
DEFAULT_WH_CLAMP = abs(math.log(16 / 1000))
"""dw / dh clamp of the (dx, dy, dw, dh) box coder: boxes at most 1000/16 times their prior."""
QUALITY_BRANCHES = ("none", "iou", "centerness")
PRIOR_TYPES = ("grid_anchors", "grid_points")


def dense_scores(cls_prob: Any, quality_prob: Any, quality: str, score_thr: float) -> tuple[Any, Any]:
    """Detection scores of a dense head per (prior, class) and which pairs pass ``score_thr``.

    One definition for the PyTorch post-processing and every runtime (numpy arrays or torch tensors alike), so an
    export scores exactly as the model did:

    * ``"none"``: score ``c``, kept where ``c > score_thr``;
    * ``"centerness"`` (ATSS): score ``c * q``, kept where ``c * q > score_thr``;
    * ``"iou"`` (Dynamic ATSS): score ``sqrt(c * q)``, kept where ``c > score_thr``: the reference thresholds the
      class probability first, then ranks by the geometric mean with the predicted IoU.

    Args:
        cls_prob: [P, C] (or [B, P, C]) sigmoid class probabilities ``c``.
        quality_prob: [..., P, 1] sigmoid of the quality branch ``q``; None when ``quality == "none"``.
        quality: one of :data:`QUALITY_BRANCHES`.

    Returns:
        ``(scores, passes)``, both shaped as ``cls_prob`` (``passes`` boolean).
    """
    if quality == "none":
        return cls_prob, cls_prob > score_thr
    if quality == "iou":
        return (cls_prob * quality_prob) ** 0.5, cls_prob > score_thr
    if quality == "centerness":
        scores = cls_prob * quality_prob
        return scores, scores > score_thr
    raise ValueError(f"quality must be one of {list(QUALITY_BRANCHES)}, got {quality!r}")


class _Spec:
    """``to_dict`` / ``from_dict`` shared by the spec dataclasses (flat JSON values and nested specs)."""

    RETIRED: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (nested specs as dicts, lists copied)."""
        out = {"type": self.type} if hasattr(self, "type") else {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, _Spec) else _copy(value)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "decode") -> Any:
        """Build from a JSON dict; ``ValueError`` names the missing, unknown or mistyped field and the fix."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}; {_FIX}")  # noqa: TRY004
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [k for k in data if k not in fields and k not in cls.RETIRED]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(fields), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else f" Fields: {', '.join(fields)}."
            raise ValueError(f"{where}.{unknown[0]} is not a field of this decode spec.{hint} {_FIX}")
        kwargs = {}
        for name, f in fields.items():
            if not f.init:  # the decode type: fixed per class
                if name in data and data[name] != f.default:
                    raise ValueError(f"{where}.{name} is {data[name]!r}, expected {f.default!r}; {_FIX}")
                continue
            if name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    kind = data.get("type", cls.__name__)
                    raise ValueError(f"{where}.{name} is missing: '{kind}' needs '{name}' "
                                     f"(see edgedet.runtime.decode); {_FIX}")
                continue
            kwargs[name] = _check(data[name], hints[name], f"{where}.{name}")
        return cls(**kwargs)  # __post_init__ checks values, naming the field by its place in edgedet.json

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "decode") -> None:
        """Value checks beyond types (run on construction); subclasses add theirs."""


def _copy(value: Any) -> Any:
    return [_copy(v) for v in value] if isinstance(value, (list, tuple)) else value


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if typing.get_origin(tp) is Union:
        return " or ".join(_type_name(a) for a in args)
    return getattr(tp, "__name__", str(tp))


def _check(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to ``tp`` (ints accepted for floats), else ``ValueError`` naming ``where``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, _Spec):
        return tp.from_dict(value, where)
    if origin is Union:
        for arg in args:
            try:
                return _check(value, arg, where)
            except ValueError:
                continue
    elif origin is list:
        if isinstance(value, (list, tuple)):
            return [_check(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, tp):
        return value
    raise ValueError(f"{where} must be {_type_name(tp)}, got {value!r}; {_FIX}")


def _check_len(values: list, n: int, where: str) -> None:
    if len(values) != n:
        raise ValueError(f"{where} must have {n} values, got {values!r}; {_FIX}")


@dataclass
class TopKBoxesSpec(_Spec):
    """``"topk_boxes"``: the graph already decoded boxes, scores and labels (PAFNet / TTFNet)."""

    type: str = field(default="topk_boxes", init=False)
    outputs: list[str] = field(default_factory=lambda: ["boxes", "scores", "labels"])
    dedup_iou: float = 0.7

    RETIRED: ClassVar[tuple[str, ...]] = ("topk",)


@dataclass
class GridPriorsSpec(_Spec):
    """Priors on the feature grids: ``"grid_anchors"`` (``base_anchors`` per level ``[A, 4]`` xyxy) or
    ``"grid_points"`` (one zero-size prior per cell); ``feat_sizes`` per level ``[h, w]``."""

    type: str
    strides: list[int]
    feat_sizes: list[list[int]]
    center_offset: float = 0.5
    base_anchors: list[list[list[float]]] = field(default_factory=list)

    RETIRED: ClassVar[tuple[str, ...]] = ("layout",)

    def validate(self, where: str = "decode.priors") -> None:
        if self.type not in PRIOR_TYPES:
            raise ValueError(f"{where}.type {self.type!r} is not one of {list(PRIOR_TYPES)}; {_FIX}")
        if len(self.feat_sizes) != len(self.strides):
            raise ValueError(f"{where}: {len(self.strides)} strides but {len(self.feat_sizes)} feat_sizes; {_FIX}")
        for i, hw in enumerate(self.feat_sizes):
            _check_len(hw, 2, f"{where}.feat_sizes[{i}]")
        if self.type == "grid_anchors" and len(self.base_anchors) != len(self.strides):
            raise ValueError(f"{where}.base_anchors must hold one [A, 4] list per level ({len(self.strides)}), "
                             f"got {len(self.base_anchors)}; {_FIX}")


@dataclass
class _AnchorSpec(_Spec):
    """Fields shared by the dense anchor decoders (``"anchor_deltas"`` / ``"anchor_ltrb"``)."""

    num_classes: int
    priors: GridPriorsSpec
    outputs: list[str] = field(default_factory=lambda: ["cls_logits", "box_deltas"])
    quality: str = "none"
    nms_pre: int = 1000
    nms_iou: float = 0.5
    max_det: int = 100
    clip_to_input: bool = True

    RETIRED: ClassVar[tuple[str, ...]] = ("num_priors", "activation", "iou_branch", "score", "score_thr", "nms")

    def validate(self, where: str = "decode") -> None:
        if self.quality not in QUALITY_BRANCHES:
            raise ValueError(f"{where}.quality {self.quality!r} is not one of {list(QUALITY_BRANCHES)}; {_FIX}")
        if self.num_classes < 1:
            raise ValueError(f"{where}.num_classes must be >= 1, got {self.num_classes}; {_FIX}")


@dataclass
class AnchorDeltasSpec(_AnchorSpec):
    """``"anchor_deltas"``: (dx, dy, dw, dh) deltas from anchors (RetinaNet, ATSS, ... dense heads)."""

    type: str = field(default="anchor_deltas", init=False)
    means: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    stds: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    wh_clamp: float = DEFAULT_WH_CLAMP

    def validate(self, where: str = "decode") -> None:
        super().validate(where)
        _check_len(self.means, 4, f"{where}.means")
        _check_len(self.stds, 4, f"{where}.stds")


@dataclass
class AnchorLTRBSpec(_AnchorSpec):
    """``"anchor_ltrb"``: (l, t, r, b) distances from prior centres, times ``normalizer``."""

    type: str = field(default="anchor_ltrb", init=False)
    normalizer: Union[str, float] = "stride"
    clamp_negative: bool = True

    def validate(self, where: str = "decode") -> None:
        super().validate(where)
        if isinstance(self.normalizer, str) and self.normalizer != "stride":
            raise ValueError(f"{where}.normalizer must be 'stride' or a number, got {self.normalizer!r}; {_FIX}")


@dataclass
class TwoStageSpec(_Spec):
    """``"two_stage"``: the RPN's post-processing and the R-CNN stage after the graph (Faster R-CNN)."""

    num_classes: int
    level_counts: list[int]
    rpn_nms_iou: float
    rpn_max_test: int
    type: str = field(default="two_stage", init=False)
    outputs: list[str] = field(default_factory=lambda: ["proposals", "objectness", "cls_logits", "box_deltas"])
    rpn_min_size: float = 1e-3
    means: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    stds: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    wh_clamp: float = DEFAULT_WH_CLAMP
    nms_iou: float = 0.5
    max_det: int = 100
    clip_to_input: bool = True

    RETIRED: ClassVar[tuple[str, ...]] = ("background", "score", "score_thr", "nms")

    def validate(self, where: str = "decode") -> None:
        _check_len(self.means, 4, f"{where}.means")
        _check_len(self.stds, 4, f"{where}.stds")


@dataclass
class DetectionsInModelSpec(_Spec):
    """``"detections_in_model"``: the graph ran NMS itself and gives ``[N, 6]`` rows (class, score, x1, y1, x2, y2)
    plus a count per image (a PaddleDetection model imported by ``edgedet import-paddle``).

    ``im_shape_input`` / ``scale_factor_input`` name the graph's extra ``[B, 2]`` inputs (empty: it has none);
    the backend feeds them the input size and ``[1, 1]``, so the rows come out in model-input pixels.
    """

    num_classes: int
    type: str = field(default="detections_in_model", init=False)
    outputs: list[str] = field(default_factory=lambda: ["detections", "counts"])
    im_shape_input: str = ""
    scale_factor_input: str = ""

    def validate(self, where: str = "decode") -> None:
        if self.num_classes < 1:
            raise ValueError(f"{where}.num_classes must be >= 1, got {self.num_classes}; {_FIX}")
        _check_len(self.outputs, 2, f"{where}.outputs")

    def side_inputs(self) -> list[str]:
        """The graph's inputs besides the image that the backend feeds (``im_shape``, ``scale_factor``)."""
        return [name for name in (self.im_shape_input, self.scale_factor_input) if name]


DecodeSpec = Union[TopKBoxesSpec, AnchorDeltasSpec, AnchorLTRBSpec, TwoStageSpec, DetectionsInModelSpec]
DECODE_SPECS: dict[str, type] = {
    "topk_boxes": TopKBoxesSpec,
    "anchor_deltas": AnchorDeltasSpec,
    "anchor_ltrb": AnchorLTRBSpec,
    "two_stage": TwoStageSpec,
    "detections_in_model": DetectionsInModelSpec,
}


def decode_spec_from_dict(data: Any, where: str = "decode") -> DecodeSpec:
    """The typed spec for ``edgedet.json["decode"]``; ``ValueError`` for an unknown type or a bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}; {_FIX}")  # noqa: TRY004
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ValueError(f"{where}.type is missing; {_FIX}")
    if kind not in DECODE_SPECS:
        raise ValueError(f"unknown decode type {kind!r}; this edgedet decodes {sorted(DECODE_SPECS)}: upgrade "
                         f"edgedet or re-export the model")
    return DECODE_SPECS[kind].from_dict(data, where)


def as_decode_spec(spec: DecodeSpec | dict[str, Any]) -> DecodeSpec:
    """``spec`` itself when already typed, else parsed (and validated) from its dict."""
    return spec if isinstance(spec, _Spec) else decode_spec_from_dict(spec)


def side_inputs(spec: DecodeSpec | dict[str, Any]) -> list[str]:
    """Names of the graph inputs besides the image that a backend must feed (none for edgedet's own exports)."""
    spec = as_decode_spec(spec)
    return spec.side_inputs() if isinstance(spec, DetectionsInModelSpec) else []
