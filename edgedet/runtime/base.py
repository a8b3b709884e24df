"""Predictor, backend table and :func:`load`: the torch-free inference contract.

Backend contract (every ``edgedet/runtime/<backend>.py`` implements one class)::

    class XBackend:
        def __init__(self, model_path: Path, meta: dict, threads: int | None): ...
        def run(self, x: np.ndarray) -> list[np.ndarray]: ...
        def io_signature(self) -> dict: ...   # the file's inputs/outputs/precision, see runtime/validate.py

* ``x`` is always float32 ``[B, 3, S, S]`` NCHW, preprocessed by :mod:`edgedet.deploy.preprocess`. A backend whose
  file is NHWC (``meta["input"]["layout"] == "NHWC"``) transposes itself; an int8-input file quantizes itself.
* ``run`` returns the outputs in the order of ``meta["outputs"]``, as float32 numpy arrays with those shapes.
* ``threads``: intra-op CPU threads; ``None`` = the backend's default.
* A missing optional dependency raises ``ImportError`` naming the pip extra
  (:func:`edgedet.deploy.optional.require`).
* Backends import :mod:`edgedet.deploy` (and :mod:`edgedet.runtime.validate`) and never this module: the table below
  imports them, not the reverse.
* ``__init__`` ends with ``validate.check_model_io(self.io_signature(), meta, model_path)``; :func:`load`
  checks ``edgedet.json`` before (``validate.check_export``) and the decode after (``validate.check_runnable``),
  and turns the backends' ``ValueError``s into ``validate.ModelMetadataError``.

:data:`BACKENDS` maps the ``format`` key of ``edgedet.json`` to a factory that imports its backend lazily, so
``import edgedet.runtime`` needs only numpy + OpenCV.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgedet.deploy.decode_spec import decode_spec_from_dict
from edgedet.deploy.draw import draw_detections
from edgedet.deploy.preprocess import LetterboxInfo, PreprocessSpec, boxes_to_original, preprocess_bgr
from edgedet.deploy.schema import METADATA_FILE, read_metadata
from edgedet.deploy.thresholds import PREDICT_SCORE_THR
from edgedet.runtime.decode import decode_outputs
from edgedet.runtime.validate import check_export, check_image, check_labels, check_runnable, check_score_thr, metadata_errors


class Backend(Protocol):
    def run(self, x: np.ndarray) -> list[np.ndarray]: ...


@dataclass
class Detections:
    """Detections of one image, in original-image pixels.

    Attributes:
        boxes: float32 ``[N, 4]`` xyxy, original image pixels, clipped to the image.
        scores: float32 ``[N]``, descending.
        labels: int64 ``[N]`` in ``[0, num_classes)``.
        names: the model's class names (``names[labels[i]]``), from ``edgedet.json``; None when unknown.
        timings_ms: milliseconds per stage of the call that made these (``preprocess``, ``inference``,
            ``decode``); empty when not measured.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: Sequence[str] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    def class_names(self) -> list[str]:
        """The class name of each detection (its id as text where ``names`` is unknown)."""
        names = self.names or ()
        return [names[k] if 0 <= k < len(names) else str(k) for k in (int(v) for v in self.labels)]

    def draw(self, image_bgr: np.ndarray) -> np.ndarray:
        """A copy of ``image_bgr`` (uint8 BGR, the image these came from) with boxes, class names and scores,
        one colour per class (:func:`edgedet.deploy.draw.draw_detections`)."""
        return draw_detections(image_bgr, self.boxes, self.scores, self.labels, self.names)


def _onnxruntime_backend(path: Path, meta: dict, threads: int | None) -> Backend:
    from edgedet.runtime.onnxrt import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, meta, threads)


def _litert_backend(path: Path, meta: dict, threads: int | None) -> Backend:
    from edgedet.runtime.litert import LiteRTBackend

    return LiteRTBackend(path, meta, threads)


def _paddle_backend(path: Path, meta: dict, threads: int | None) -> Backend:
    from edgedet.runtime.paddle import PaddleInferenceBackend

    return PaddleInferenceBackend(path, meta, threads)


def _paddle_lite_backend(path: Path, meta: dict, threads: int | None) -> Backend:
    from edgedet.runtime.paddle_lite import PaddleLiteBackend

    return PaddleLiteBackend(path, meta, threads)


BACKENDS: dict[str, Callable[[Path, dict, int | None], Backend]] = {
    "onnx": _onnxruntime_backend,
    "tflite": _litert_backend,
    "paddle": _paddle_backend,
    "paddle-lite": _paddle_lite_backend,
}
SUFFIX_FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".pdmodel": "paddle", ".json": "paddle", ".nb": "paddle-lite"}


class Predictor:
    """An exported model plus its metadata: ``predict(image_bgr)`` -> :class:`Detections`."""

    def __init__(self, backend: Backend, meta: dict[str, Any], model_path: Path):
        self.backend = backend
        self.meta = meta
        self.model_path = model_path
        self.imgsz: int = meta["input"]["size"]
        self.class_names: list[str] = meta["class_names"]
        self.decode_spec = decode_spec_from_dict(meta["decode"])
        self.preprocess_spec = PreprocessSpec.from_block(meta["preprocess"])

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxInfo]:
        """uint8 BGR ``[H, W, 3]`` -> this model's input ``float32 [1, 3, S, S]`` (its ``edgedet.json`` rule) and how
        the image was placed there."""
        return preprocess_bgr(image_bgr, self.imgsz, self.preprocess_spec)

    def run(self, input_nchw: np.ndarray) -> list[np.ndarray]:
        """Raw outputs for a preprocessed float32 ``[B, 3, S, S]`` batch, in ``meta["outputs"]`` order."""
        x = np.asarray(input_nchw, dtype=np.float32)
        want = (3, self.imgsz, self.imgsz)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"input must be float32 [B, 3, {self.imgsz}, {self.imgsz}] NCHW, got {x.shape}")
        return self.backend.run(x)

    def predict(self, image_bgr: np.ndarray, score_thr: float = PREDICT_SCORE_THR) -> Detections:
        """Letterbox (or stretch) + normalise (edgedet.deploy.preprocess, the rule of ``edgedet.json``), run, decode,
        map boxes back to original pixels.

        Args:
            image_bgr: uint8 ``[H, W, 3]`` BGR, as ``cv2.imread`` returns; ``[H, W]`` / ``[H, W, 1]`` gray and
                ``[H, W, 4]`` BGRA are converted. Anything else raises ``RuntimeInputError`` (validate.py).
            score_thr: keep detections with score above this, in ``[0, 1]`` (default
                :data:`edgedet.deploy.thresholds.PREDICT_SCORE_THR`; evaluation passes its own). A Dynamic ATSS
                export (decode ``quality: "iou"``) applies it to the class probability, as its reference does, and
                scores ``sqrt(cls * iou)``, which may be lower (:func:`edgedet.deploy.decode_spec.dense_scores`).

        Returns:
            :class:`Detections` with the model's class names and the milliseconds of each stage.
        """
        image_bgr, score_thr = check_image(image_bgr, self.imgsz), check_score_thr(score_thr)
        t0 = time.perf_counter()
        x, info = self.preprocess(image_bgr)
        t1 = time.perf_counter()
        outputs = self.run(x)
        t2 = time.perf_counter()
        boxes, scores, labels = decode_outputs(outputs, self.decode_spec, score_thr, self.imgsz)[0]
        check_labels(labels, self.meta, self.model_path)
        boxes = boxes_to_original(boxes, info)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "decode": (t3 - t2) * 1e3}
        return Detections(boxes, scores, labels, self.class_names, timings)


def resolve_model(path: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """Model file and its ``edgedet.json`` (None when there is none) for a directory, the json, or a model file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir() and not (path / METADATA_FILE).is_file():
        inside = sorted(str(p.parent) for p in path.glob(f"*/{METADATA_FILE}"))
        if inside:
            raise FileNotFoundError(f"{path} holds several exports; load one of: {', '.join(inside)}")
    if path.is_dir() or path.name == METADATA_FILE:
        meta = read_metadata(path)
        directory = path if path.is_dir() else path.parent
        model_path = directory / meta["model_file"]
        if not model_path.exists():
            raise FileNotFoundError(f"{directory / METADATA_FILE} names model_file '{meta['model_file']}', "
                                    f"which is not in {directory}")
        return model_path, meta
    beside = path.parent / METADATA_FILE
    if not beside.is_file():
        return path, None
    meta = read_metadata(beside)
    if meta["model_file"] != path.name:
        raise ValueError(f"{beside} describes '{meta['model_file']}', not '{path.name}': load the directory, "
                         f"or keep each model in its own export directory")
    return path, meta


def load(path: str | Path, threads: int | None = None) -> Predictor:
    """Open an exported model: an export directory, its ``edgedet.json``, or the model file itself.

    The backend comes from ``edgedet.json``'s ``format`` (or the file suffix: .onnx -> onnxruntime,
    .tflite -> LiteRT, .pdmodel/.json -> Paddle Inference, .nb -> Paddle-Lite). An ONNX file without
    ``edgedet.json`` beside it is read from its embedded ``metadata_props``.

    Args:
        path: export directory, ``edgedet.json`` or model file.
        threads: CPU threads for the backend (None = backend default).
    """
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    check_export(path)  # edgedet.json's fields and model_file, before anything reads them
    model_path, meta = resolve_model(path)
    fmt = meta["format"] if meta is not None else SUFFIX_FORMATS.get(model_path.suffix.lower())
    if fmt not in BACKENDS:
        raise ValueError(f"unsupported model file '{model_path.name}': edgedet.runtime loads "
                         f"{sorted(SUFFIX_FORMATS)} files or an export directory with edgedet.json")
    if meta is None and fmt != "onnx":
        raise FileNotFoundError(f"no {METADATA_FILE} next to {model_path}: copy it from the export directory "
                                f"(or re-export with `edgedet export`)")
    with metadata_errors():  # one class for "this export directory is inconsistent"
        backend = BACKENDS[fmt](model_path, meta, threads)
    meta = meta if meta is not None else backend.meta  # ONNX: embedded metadata_props
    check_runnable(backend, meta, model_path)  # decode fits the outputs; top-k labels within class_names
    return Predictor(backend, meta, model_path)
