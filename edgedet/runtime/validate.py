"""What the runtime refuses, and why: images at ``predict``, ``edgedet.json`` and its model file at ``load``.

Two exception classes, both ``ValueError`` subclasses whose message is one line naming the file or argument, what
is wrong and the fix:

* :class:`RuntimeInputError`: an image (or ``score_thr``) that ``predict`` cannot use. Accepted images are
  ``uint8`` BGR ``[H, W, 3]``, grayscale ``[H, W]`` / ``[H, W, 1]`` and BGRA ``[H, W, 4]`` (converted to BGR);
  refused: every other dtype (a float image in 0..1 would become near-black, uint16 would wrap, NaN has no pixel
  value), empty arrays, other channel counts, and sides so unequal that the letterboxed short side would be
  under 1 px.
* :class:`ModelMetadataError`: an ``edgedet.json`` that is malformed, names a model file outside its directory,
  or disagrees with the model file it describes: input shape / layout / dtype, output count and shapes, the
  class count the decode reads from the outputs, precision vs the file's tensors (where the backend exposes
  them), or labels beyond ``class_names`` at run time.

Backends describe their file with ``io_signature()`` (see :func:`check_model_io`); ``load`` and each backend's
``__init__`` call the checks here, ``Predictor.predict`` calls :func:`check_image`. numpy + OpenCV only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgedet.deploy.decode_spec import side_inputs
from edgedet.deploy.schema import METADATA_FILE, validate_metadata
from edgedet.runtime.decode import DECODERS, decode_outputs

MAX_SIDE = 1 << 15  # OpenCV's resize refuses larger sides; no camera comes near
MAX_OUTPUT_ELEMENTS = 1 << 27
_REEXPORT = "re-export the model with `edgedet export`, or copy the edgedet.json of this model file"


class RuntimeInputError(ValueError):
    """An argument of ``Predictor.predict`` that cannot be run (wrong image dtype, shape or values)."""


class ModelMetadataError(ValueError):
    """``edgedet.json`` is malformed or does not describe the model file beside it."""


class MissingModelFileError(ModelMetadataError, FileNotFoundError):
    """``edgedet.json`` names a model file that is not in its directory (also a ``FileNotFoundError``)."""


# ----------------------------------------------------------------------------------------------- images


def check_image(image: Any, imgsz: int) -> np.ndarray:
    """The image as contiguous ``uint8 [H, W, 3]`` BGR, or :class:`RuntimeInputError` saying what to change.

    Args:
        image: ``uint8`` ``[H, W, 3]`` BGR, ``[H, W]`` / ``[H, W, 1]`` grayscale or ``[H, W, 4]`` BGRA.
        imgsz: model input side (an image whose letterboxed short side would be under 1 px is refused).
    """
    if not isinstance(image, np.ndarray):
        raise RuntimeInputError(f"predict expects a numpy uint8 BGR image [H, W, 3] (as cv2.imread returns), got "
                                f"{type(image).__name__}: convert it with np.asarray(image, np.uint8)")
    if image.dtype != np.uint8:
        raise RuntimeInputError(f"predict expects a uint8 image, got dtype {image.dtype}{_dtype_hint(image)}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise RuntimeInputError(f"predict expects an image [H, W, 3] BGR, [H, W] or [H, W, 1] gray, or [H, W, 4] "
                                f"BGRA, got shape {image.shape}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise RuntimeInputError(f"predict got an empty image (shape {image.shape}): check that it was read")
    if max(h, w) > MAX_SIDE:
        raise RuntimeInputError(f"image side {max(h, w)} px is over {MAX_SIDE}: resize or tile it before predict")
    if round(min(h, w) * imgsz / max(h, w)) < 1:
        raise RuntimeInputError(f"image {h}x{w} is too elongated for a {imgsz} px model (its short side would "
                                f"letterbox to under 1 px): crop or tile it to an aspect under {imgsz}:1")
    image = np.ascontiguousarray(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(h, w), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _dtype_hint(image: np.ndarray) -> str:
    if image.dtype.kind == "f":
        if image.size and not np.isfinite(image).all():
            return " with NaN/inf values, which have no pixel value: fix the array that produced it"
        top = float(image.max()) if image.size else 0.0
        if top <= 1.0:
            return " (values 0..1?): convert with (image * 255).round().clip(0, 255).astype(np.uint8)"
        return ": convert with image.round().clip(0, 255).astype(np.uint8)"
    if image.dtype == np.uint16:
        return " (16-bit?): convert with (image >> 8).astype(np.uint8)"
    if image.dtype == np.bool_:
        return ": a mask is no image; convert with image.astype(np.uint8) * 255"
    return ": convert it to uint8 0..255 BGR, e.g. image.clip(0, 255).astype(np.uint8)"


def check_score_thr(score_thr: Any) -> float:
    """``score_thr`` as a float in ``[0, 1]`` or :class:`RuntimeInputError`."""
    if isinstance(score_thr, bool) or not isinstance(score_thr, (int, float, np.integer, np.floating)) or not (
            0.0 <= float(score_thr) <= 1.0):
        raise RuntimeInputError(f"score_thr must be a number in [0, 1], got {score_thr!r}")
    return float(score_thr)


def check_labels(labels: np.ndarray, meta: dict[str, Any], model_path: Path) -> None:
    """Labels beyond ``class_names`` mean ``edgedet.json`` belongs to a model with fewer classes."""
    if labels.size and (labels.min() < 0 or labels.max() >= len(meta["class_names"])):
        raise ModelMetadataError(f"{model_path} produced label {int(labels.max())} but its {METADATA_FILE} lists "
                                 f"{len(meta['class_names'])} class_names: {_REEXPORT}")


# ------------------------------------------------------------------------------------ edgedet.json at load


def check_export(path: str | Path) -> None:
    """Read the ``edgedet.json`` that :func:`edgedet.runtime.load` would use for ``path`` (if any) and check every
    field's type and range, the schema rules, and that ``model_file`` names a file inside its directory."""
    path = Path(path)
    if path.is_dir():
        meta_path = path / METADATA_FILE
    elif path.name == METADATA_FILE:
        meta_path = path
    else:
        meta_path = path.parent / METADATA_FILE
    if not meta_path.is_file():
        return  # resolve_model says what is missing
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelMetadataError(f"{meta_path}: not valid JSON ({e}); {_REEXPORT}") from e
    check_fields(meta, str(meta_path))
    with metadata_errors():
        validate_metadata(meta, source=str(meta_path))
    for key, name in (("model_file", meta["model_file"]), ("extra.x86_model_file", meta["extra"].get("x86_model_file"))):
        if name is not None:
            confined_file(meta_path.parent, name, f"{meta_path} {key}")


def confined_file(directory: Path, name: str, what: str) -> Path:
    """``directory / name`` when it is an existing file inside ``directory``, else :class:`ModelMetadataError`."""
    if not isinstance(name, str) or not name or "\x00" in name or Path(name).is_absolute():
        raise ModelMetadataError(f"{what} must be a file name relative to the export directory, got {name!r}")
    root = directory.resolve()
    target = (directory / name).resolve()
    if not target.is_relative_to(root):
        raise ModelMetadataError(f"{what} '{name}' points outside the export directory {directory}: keep the model "
                                 f"file beside edgedet.json and name it there")
    if not target.is_file():
        raise MissingModelFileError(f"{what}: {METADATA_FILE} names model_file '{name}', which is not a file in "
                                    f"{directory}: copy the model file there or fix the name")
    return target


@contextmanager
def metadata_errors() -> Iterator[None]:
    """Re-raise the ``ValueError`` of a metadata check (its message already names file, field and fix) as
    :class:`ModelMetadataError`, so callers catch one class."""
    try:
        yield
    except ModelMetadataError:
        raise
    except ValueError as e:
        raise ModelMetadataError(str(e).replace("\n", " ")) from e


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _require(ok: bool, source: str, field: str, want: str, got: Any) -> None:
    if not ok:
        shown = repr(got) if len(repr(got)) < 60 else f"{repr(got)[:57]}..."
        raise ModelMetadataError(f"{source}: {field} must be {want}, got {shown}; {_REEXPORT}")


def check_fields(meta: Any, source: str) -> None:
    """Types and ranges of every field the runtime reads (``validate_metadata`` assumes them)."""
    _require(isinstance(meta, dict), source, "the document", "a JSON object", type(meta).__name__)
    for key, ok, want in (
        ("schema_version", _is_int, "an int"), ("format", lambda v: isinstance(v, str), "a string"),
        ("precision", lambda v: isinstance(v, str), "a string"), ("model_file", lambda v: isinstance(v, str), "a string"),
        ("class_names", lambda v: isinstance(v, list) and v and all(isinstance(c, str) for c in v),
         "a non-empty list of strings"),
        ("num_classes", lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        ("input", lambda v: isinstance(v, dict), "an object"), ("preprocess", lambda v: isinstance(v, dict), "an object"),
        ("outputs", lambda v: isinstance(v, list) and v, "a non-empty list"),
        ("decode", lambda v: isinstance(v, dict), "an object"),
    ):
        _require(key in meta, source, key, want, "nothing (missing)")
        _require(ok(meta[key]), source, key, want, meta[key])
    _require(isinstance(meta.get("extra", {}), dict), source, "extra", "an object", meta.get("extra"))
    meta.setdefault("extra", {})
    inp = meta["input"]
    _require(isinstance(inp.get("name"), str), source, "input.name", "a string", inp.get("name"))
    _require(_is_int(inp.get("size")) and 1 <= inp["size"] <= MAX_SIDE, source, "input.size",
             f"an int in [1, {MAX_SIDE}]", inp.get("size"))
    _require(isinstance(inp.get("layout"), str), source, "input.layout", "a string", inp.get("layout"))
    _require(_is_shape(inp.get("shape")) and len(inp["shape"]) == 4, source, "input.shape",
             "a list of 4 positive ints", inp.get("shape"))
    _require(inp.get("dtype", "float32") == "float32", source, "input.dtype", "'float32' (the runtime quantizes "
             "int8 inputs itself)", inp.get("dtype"))
    pre = meta["preprocess"]
    for key in ("mean", "std"):
        v = pre.get(key)
        _require(isinstance(v, list) and len(v) == 3 and all(_is_num(a) for a in v), source, f"preprocess.{key}",
                 "a list of 3 numbers", v)
    for i, o in enumerate(meta["outputs"]):
        _require(isinstance(o, dict) and isinstance(o.get("name"), str), source, f"outputs[{i}].name", "a string",
                 o.get("name") if isinstance(o, dict) else o)
        _require(_is_shape(o.get("shape")) and math.prod(o["shape"]) <= MAX_OUTPUT_ELEMENTS, source,
                 f"outputs[{i}].shape", "a list of positive ints", o.get("shape"))
    names = [o["name"] for o in meta["outputs"]]
    _require(len(set(names)) == len(names), source, "outputs names", "unique", names)
    extra = meta["extra"]
    for key in ("x86_model_file",):
        _require(isinstance(extra.get(key, ""), str), source, f"extra.{key}", "a string", extra.get(key))
    pon = extra.get("paddle_output_names")
    _require(pon is None or (isinstance(pon, list) and all(isinstance(n, str) for n in pon)), source,
             "extra.paddle_output_names", "a list of strings", pon)


def _is_shape(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 1 and all(_is_int(d) and 1 <= d <= MAX_OUTPUT_ELEMENTS for d in v)


def check_decode(meta: dict[str, Any], source: str) -> None:
    """Run the decoder named by ``decode.type`` once on zero outputs of the shapes ``outputs`` lists: a decode
    spec that does not fit the outputs (class count, prior count, a missing or mistyped field) fails here, at
    load, instead of inside the first ``predict``."""
    spec = meta["decode"]
    if spec.get("type") not in DECODERS:
        raise ModelMetadataError(f"{source}: decode.type {spec.get('type')!r} is not one of {sorted(DECODERS)}; "
                                 f"{_REEXPORT}")
    _check_decode_fields(spec, source)
    zeros = [np.zeros([1, *o["shape"][1:]], np.float32) for o in meta["outputs"]]
    try:
        decode_outputs(zeros, spec, 0.5, meta["input"]["size"])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError) as e:
        msg = str(e).replace("\n", " ")[:300]
        raise ModelMetadataError(f"{source}: decode ({spec['type']}) does not fit outputs "
                                 f"{[o['shape'] for o in meta['outputs']]}: {msg}; {_REEXPORT}") from e


def _check_decode_fields(spec: dict[str, Any], source: str) -> None:
    """The numeric decode fields a mutation could make absurd (huge priors grids, NaN thresholds)."""
    for key in ("dedup_iou", "nms_iou", "rpn_nms_iou", "score_thr", "rpn_min_size", "wh_clamp"):
        if key in spec:
            _require(_is_num(spec[key]), source, f"decode.{key}", "a finite number", spec[key])
    for key in ("topk", "nms_pre", "max_det", "rpn_max_test", "num_classes"):
        if key in spec:
            _require(_is_int(spec[key]) and spec[key] >= 1, source, f"decode.{key}", "an int >= 1", spec[key])
    priors = spec.get("priors")
    if isinstance(priors, dict):
        sizes = priors.get("feat_sizes")
        _require(isinstance(sizes, list) and all(isinstance(s, list) and len(s) == 2 and all(_is_int(d) and d >= 1
                 for d in s) for s in sizes), source, "decode.priors.feat_sizes", "a list of [h, w] ints", sizes)
        _require(sum(h * w for h, w in sizes) <= MAX_OUTPUT_ELEMENTS, source, "decode.priors.feat_sizes",
                 "a grid no larger than the outputs", sizes)


# ---------------------------------------------------------------------------------- metadata vs model file


def check_model_io(signature: dict[str, Any], meta: dict[str, Any], model_path: Path) -> None:
    """Compare a backend's ``io_signature()`` with ``edgedet.json``.

    ``signature``: ``{"inputs": [{"name", "shape": [int | None, ...] | None, "dtype": str | None}] | None,
    "outputs": [same] | None, "precision": "fp32" | "fp16" | "int8" | None}``; None where the backend cannot tell.
    """
    where = f"{model_path} vs its {METADATA_FILE}"
    precision = signature.get("precision")
    if precision is not None and precision != meta["precision"]:
        raise ModelMetadataError(f"{where}: precision is '{meta['precision']}' but the file is {precision} "
                                 f"(as the file itself shows): the file belongs to another export; {_REEXPORT}")
    inputs = signature.get("inputs")
    if inputs is not None:
        fed = side_inputs(meta["decode"])  # an imported model's im_shape / scale_factor: the backend feeds them
        missing = sorted(set(fed) - {i["name"] for i in inputs})
        if missing:
            raise ModelMetadataError(f"{where}: decode names input(s) {missing} that the file does not have (its "
                                     f"inputs: {[i['name'] for i in inputs]}); {_REEXPORT}")
        inputs = [i for i in inputs if i["name"] not in fed]
        if len(inputs) != 1:
            raise ModelMetadataError(f"{where}: the file has {len(inputs)} image inputs "
                                     f"{[i['name'] for i in inputs]}, edgedet models have one; {_REEXPORT}")
        got, want = inputs[0]["shape"], meta["input"]["shape"]
        if got is not None and not _same_shape(got, want):
            raise ModelMetadataError(f"{where}: the file's input is {got} but input.shape is {want} (size "
                                     f"{meta['input']['size']}, layout {meta['input']['layout']}): set input.size/"
                                     f"layout/shape to the file's, or {_REEXPORT}")
        dtype = inputs[0].get("dtype")
        if dtype not in (None, "float32") and not (dtype in ("int8", "uint8") and meta["precision"] == "int8"):
            raise ModelMetadataError(f"{where}: the file's input is {dtype} but precision is "
                                     f"'{meta['precision']}'; {_REEXPORT}")
    outputs = signature.get("outputs")
    if outputs is not None:
        _check_outputs(outputs, meta, where)


def _check_outputs(outputs: list[dict[str, Any]], meta: dict[str, Any], where: str) -> None:
    by_name = {o["name"]: o for o in outputs}
    if len(outputs) != len(meta["outputs"]):
        raise ModelMetadataError(f"{where}: the file has {len(outputs)} outputs {sorted(by_name)}, edgedet.json "
                                 f"lists {len(meta['outputs'])}; {_REEXPORT}")
    for o in meta["outputs"]:
        got = by_name.get(o["name"], {}).get("shape")
        if got is not None and not _same_shape(got, o["shape"]):
            raise ModelMetadataError(f"{where}: output '{o['name']}' is {got} in the file but {o['shape']} in "
                                     f"edgedet.json (another class count or input size?); {_REEXPORT}")


def _same_shape(got: list[int | None], want: list[int]) -> bool:
    """Equal rank and every static file dim equal (None / <= 0 = dynamic)."""
    return len(got) == len(want) and all(g is None or g <= 0 or g == w for g, w in zip(got, want))


def tensor_precision(dtypes: list[str], quantized: bool) -> str:
    """``"int8"`` when any tensor is quantized, ``"fp16"`` when any is float16, else ``"fp32"``."""
    if quantized:
        return "int8"
    return "fp16" if "float16" in dtypes else "fp32"


def check_runnable(backend: Any, meta: dict[str, Any], model_path: Path) -> None:
    """After the backend checked the file against ``edgedet.json``: :func:`check_decode`, then, for decodes whose
    outputs do not show the class count (``topk_boxes``, ``detections_in_model``), one run on a zero input whose
    labels must all be below ``len(class_names)``."""
    source = f"{model_path} (its {METADATA_FILE} or embedded metadata)"
    check_fields(meta, source)  # again: ONNX metadata embedded in the file has not been through check_export
    check_decode(meta, source)
    kind = meta["decode"].get("type")
    if kind not in ("topk_boxes", "detections_in_model"):
        return
    s = meta["input"]["size"]
    outputs = backend.run(np.zeros((1, 3, s, s), np.float32))
    # decode_topk_boxes: the 3rd output; decode_detections_in_model: column 0 of the rows (-1: nothing found)
    labels = np.asarray(outputs[2]) if kind == "topk_boxes" else np.asarray(outputs[0]).reshape(-1, 6)[:, 0]
    labels = labels[np.isfinite(labels) & (labels >= 0)] if kind == "detections_in_model" else labels[np.isfinite(labels)]
    check_labels(np.rint(labels).astype(np.int64), meta, model_path)
