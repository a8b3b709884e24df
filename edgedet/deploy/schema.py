"""``edgedet.json``: everything a runtime needs to use an exported model, and nothing else.

Torch-free on purpose: :mod:`edgedet.runtime` reads it on a device; :mod:`edgedet.export` writes it.

Schema (``schema_version`` 1); every export directory holds one, beside the model file(s)::

    {
      "schema_version": 1,
      "edgedet_version": "0.1.0",
      "model_name": "pafnet_lite_mbv3",
      "format": "onnx" | "tflite" | "paddle" | "paddle-lite",
      "precision": "fp32" | "fp16" | "int8",
      "model_file": "model.onnx",              # relative to the directory holding edgedet.json
      "class_names": ["cat", ...], "num_classes": 3,
      "input": {"name": "images", "size": 320, "layout": "NCHW" | "NHWC",
                "shape": [1, 3, 320, 320] | [1, 320, 320, 3], "dtype": "float32"},
      "preprocess": {"color": "rgb", "scale": 1/255, "mean": [...], "std": [...],
                     "letterbox": {"centred": true, "pad_value": 114}},   # edgedet.deploy.preprocess.PreprocessSpec
                    # an imported model may instead say "resize": "stretch" (no letterbox) and "interp": "cubic"
      "outputs": [{"name": "boxes", "shape": [1, 100, 4], "dtype": "float32"}, ...],  # in export-graph order
      "decode": {"type": ..., ...},             # Detector.decode_spec().to_dict(): edgedet.deploy.decode_spec
      "calibration": null | {"n_images": 200, "source": "...", "method": "percentile"},
      "source_checkpoint": null | {"name": "best.pt", "sha256": "..."},
      "extra": {...}                            # format-specific notes (free form)
    }

Backends return outputs in the order of ``outputs``; an exporter whose file names or orders outputs
differently records the mapping in the output entries (extra keys are allowed) or in ``extra``.
ONNX files carry the same JSON in ``metadata_props`` under the key ``"edgedet"``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgedet import __version__
from edgedet.deploy.decode_spec import DecodeSpec, as_decode_spec, decode_spec_from_dict
from edgedet.deploy.preprocess import DEFAULT_PREPROCESS, PreprocessSpec

SCHEMA_VERSION = 1
METADATA_FILE = "edgedet.json"
ONNX_METADATA_KEY = "edgedet"
FORMATS = ("onnx", "tflite", "paddle", "paddle-lite")
PRECISIONS = ("fp32", "fp16", "int8")
LAYOUTS = ("NCHW", "NHWC")
_REQUIRED = {
    "schema_version": int, "edgedet_version": str, "model_name": str, "format": str, "precision": str,
    "model_file": str, "class_names": list, "num_classes": int, "input": dict, "preprocess": dict,
    "outputs": list, "decode": dict,
}
_FIX = "re-export the model with `edgedet export` (or fix edgedet.json by hand)"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def preprocess_block() -> dict[str, Any]:
    """edgedet's own normalisation / letterbox rule (:data:`edgedet.deploy.preprocess.DEFAULT_PREPROCESS`), as
    stored in ``edgedet.json``."""
    return DEFAULT_PREPROCESS.to_block()


def build_metadata(
    *,
    model_name: str,
    class_names: list[str],
    imgsz: int,
    fmt: str,
    precision: str,
    model_file: str,
    outputs: list[dict[str, Any]],
    decode: DecodeSpec | dict[str, Any],
    layout: str = "NCHW",
    input_name: str = "images",
    preprocess: PreprocessSpec = DEFAULT_PREPROCESS,
    calibration: dict[str, Any] | None = None,
    source_ckpt: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble (and validate) the ``edgedet.json`` dict.

    Args:
        outputs: ``[{"name": str, "shape": [int, ...], "dtype": str}, ...]`` in export-graph order.
        decode: ``Detector.decode_spec()`` (typed, or its dict: validated through
            :func:`edgedet.deploy.decode_spec.decode_spec_from_dict` either way).
        preprocess: how images become the input (edgedet's own unless the model was imported with another rule).
        calibration: ``{"n_images", "source", "method"}`` for int8, else None.
        source_ckpt: checkpoint the model came from; its sha256 is recorded.
    """
    shape = [1, 3, imgsz, imgsz] if layout == "NCHW" else [1, imgsz, imgsz, 3]
    ckpt = None
    if source_ckpt is not None:
        ckpt = {"name": Path(source_ckpt).name, "sha256": file_sha256(source_ckpt)}
    meta = {
        "schema_version": SCHEMA_VERSION,
        "edgedet_version": __version__,
        "model_name": model_name,
        "format": fmt,
        "precision": precision,
        "model_file": model_file,
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "input": {"name": input_name, "size": int(imgsz), "layout": layout, "shape": shape, "dtype": "float32"},
        "preprocess": preprocess.to_block(),
        "outputs": [dict(o) for o in outputs],
        "decode": as_decode_spec(decode).to_dict(),
        "calibration": calibration,
        "source_checkpoint": ckpt,
        "extra": dict(extra or {}),
    }
    validate_metadata(meta, source="build_metadata")
    return meta


def validate_metadata(meta: Any, *, source: str = "edgedet.json") -> dict[str, Any]:
    """Check keys, types and internal consistency; raise ``ValueError`` naming what is wrong and the fix."""
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(meta).__name__}; {_FIX}")  # noqa: TRY004
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"{source}: missing key(s) {missing}; {_FIX}")
    for key, typ in _REQUIRED.items():
        if not isinstance(meta[key], typ) or (typ is int and isinstance(meta[key], bool)):
            raise ValueError(f"{source}: '{key}' must be {typ.__name__}, got {type(meta[key]).__name__}; {_FIX}")
    if meta["schema_version"] > SCHEMA_VERSION:
        raise ValueError(f"{source}: schema_version {meta['schema_version']} is newer than this edgedet "
                         f"({__version__}) reads ({SCHEMA_VERSION}); upgrade edgedet")
    _check_choice(meta, "format", FORMATS, source)
    _check_choice(meta, "precision", PRECISIONS, source)
    _check_classes(meta, source)
    _check_input(meta["input"], source)
    _check_preprocess(meta["preprocess"], source)
    _check_outputs(meta["outputs"], source)
    try:
        decode_spec_from_dict(meta["decode"])
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    return meta


def _check_choice(meta: dict, key: str, choices: tuple[str, ...], source: str) -> None:
    if meta[key] not in choices:
        raise ValueError(f"{source}: {key} '{meta[key]}' is not one of {list(choices)}")


def _check_classes(meta: dict, source: str) -> None:
    names, n = meta["class_names"], meta["num_classes"]
    if not names or not all(isinstance(c, str) for c in names):
        raise ValueError(f"{source}: class_names must be a non-empty list of strings; {_FIX}")
    if len(names) != n:
        raise ValueError(f"{source}: {len(names)} class_names but num_classes = {n}; {_FIX}")
    decode_n = meta["decode"].get("num_classes")
    if decode_n is not None and decode_n != n:
        raise ValueError(f"{source}: decode.num_classes = {decode_n} but num_classes = {n} "
                         f"({len(names)} class_names); {_FIX}")


def _check_input(inp: dict, source: str) -> None:
    for key in ("name", "size", "layout", "shape"):
        if key not in inp:
            raise ValueError(f"{source}: input.{key} is missing; {_FIX}")
    if inp["layout"] not in LAYOUTS:
        raise ValueError(f"{source}: input.layout '{inp['layout']}' is not one of {list(LAYOUTS)}")
    s = inp["size"]
    want = [1, 3, s, s] if inp["layout"] == "NCHW" else [1, s, s, 3]
    if list(inp["shape"])[1:] != want[1:]:
        raise ValueError(f"{source}: input.shape {inp['shape']} does not match size {s} and layout {inp['layout']}")


def _check_preprocess(pre: dict, source: str) -> None:
    try:
        PreprocessSpec.from_block(pre)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def _check_outputs(outputs: list, source: str) -> None:
    if not outputs:
        raise ValueError(f"{source}: outputs is empty; {_FIX}")
    for i, o in enumerate(outputs):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str) or not isinstance(o.get("shape"), list):
            raise ValueError(f"{source}: outputs[{i}] needs 'name' (str) and 'shape' (list); {_FIX}")  # noqa: TRY004


def write_metadata(directory: str | Path, meta: dict[str, Any]) -> Path:
    """Validate ``meta`` and write it to ``directory/edgedet.json``; returns the path."""
    validate_metadata(meta, source="write_metadata")
    path = Path(directory) / METADATA_FILE
    path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read and validate ``edgedet.json`` (``path`` may be the file or its directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {METADATA_FILE} at {path}; every export directory needs one: {_FIX}")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); {_FIX}") from e
    return validate_metadata(meta, source=str(path))


def metadata_from_json_string(text: str, *, source: str) -> dict[str, Any]:
    """Parse and validate metadata embedded in a model file (e.g. ONNX ``metadata_props``)."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: embedded edgedet metadata is not valid JSON ({e}); {_FIX}") from e
    return validate_metadata(meta, source=source)
