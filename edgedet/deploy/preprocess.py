"""The one preprocessing path: letterbox + normalise, shared by training, evaluation, every runtime and the demos.

numpy + OpenCV only (no torch), so ``edgedet.runtime`` can import it on a device.

Conventions:
    * Input images are BGR ``uint8`` arrays ``[H, W, 3]`` as OpenCV reads them.
    * The model sees RGB, letterboxed to ``size x size`` (aspect kept, centred, padded with ``PAD_VALUE``),
      normalised as ``(x / 255 - MEAN) / STD``, layout NCHW float32: :data:`DEFAULT_PREPROCESS`, what every
      edgedet export uses.
    * An imported model (``edgedet import-paddle``) may need other numbers or a plain resize: a
      :class:`PreprocessSpec` (the ``"preprocess"`` block of ``edgedet.json``) says which, and the same
      :func:`preprocess_bgr` applies it.
    * ``LetterboxInfo`` maps boxes between original-image pixels and model-input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

MEAN = (0.485, 0.456, 0.406)  # RGB
STD = (0.229, 0.224, 0.225)  # RGB
PAD_VALUE = 114
RESIZE_MODES = ("letterbox", "stretch")
INTERPOLATIONS = {"auto": -1, "nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
                  "area": cv2.INTER_AREA, "lanczos4": cv2.INTER_LANCZOS4}
"""``interp`` names -> OpenCV flags; ``"auto"``: area when shrinking, linear when enlarging (edgedet's own)."""
_FIX = "re-export the model with `edgedet export` (or fix edgedet.json by hand)"


@dataclass(frozen=True)
class PreprocessSpec:
    """How a BGR image becomes the model input: the ``"preprocess"`` block of ``edgedet.json``.

    Attributes:
        resize: ``"letterbox"`` (aspect kept, centred, padded with ``pad_value``) or ``"stretch"`` (both sides
            scaled to ``size``: PaddleDetection's ``Resize`` with ``keep_ratio: false``).
        interp: a key of :data:`INTERPOLATIONS`.
        scale: pixels are multiplied by this before ``mean`` / ``std`` (1/255: values in 0..1).
        mean, std: RGB, applied after ``scale``: ``(x * scale - mean) / std``.
        pad_value: letterbox padding (uint8, all channels).
    """

    resize: str = "letterbox"
    interp: str = "auto"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD
    pad_value: int = PAD_VALUE

    def __post_init__(self) -> None:
        where = "preprocess"
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"{where}.resize {self.resize!r} is not one of {list(RESIZE_MODES)}; {_FIX}")
        if self.interp not in INTERPOLATIONS:
            raise ValueError(f"{where}.interp {self.interp!r} is not one of {list(INTERPOLATIONS)}; {_FIX}")
        if not (self.scale > 0 and np.isfinite(self.scale)):
            raise ValueError(f"{where}.scale must be a positive number, got {self.scale!r}; {_FIX}")
        for key in ("mean", "std"):
            values = getattr(self, key)
            if len(values) != 3 or not all(np.isfinite(v) for v in values):
                raise ValueError(f"{where}.{key} must be 3 finite numbers (RGB), got {list(values)!r}; {_FIX}")
        if min(self.std) <= 0:
            raise ValueError(f"{where}.std must be positive, got {list(self.std)!r}; {_FIX}")
        if not 0 <= self.pad_value <= 255:
            raise ValueError(f"{where}.letterbox.pad_value must be in 0..255, got {self.pad_value!r}; {_FIX}")

    def to_block(self) -> dict[str, Any]:
        """The ``edgedet.json`` block; edgedet's own rule writes exactly the keys edgedet 0.1.0 wrote."""
        block: dict[str, Any] = {"color": "rgb", "scale": self.scale, "mean": list(self.mean), "std": list(self.std)}
        if self.resize == "letterbox":
            block["letterbox"] = {"centred": True, "pad_value": self.pad_value}
        else:
            block["resize"] = self.resize
        if self.interp != "auto":
            block["interp"] = self.interp
        return block

    @classmethod
    def from_block(cls, block: Any) -> PreprocessSpec:
        """Parse an ``edgedet.json`` ``"preprocess"`` block; ``ValueError`` naming the field and the fix."""
        if not isinstance(block, dict):
            raise ValueError(f"preprocess must be a JSON object, got {type(block).__name__}; {_FIX}")  # noqa: TRY004
        known = {"color", "scale", "mean", "std", "letterbox", "resize", "interp"}
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(f"preprocess.{unknown[0]} is not a field (fields: {sorted(known)}); {_FIX}")
        if block.get("color") != "rgb":
            raise ValueError(f"preprocess.color = {block.get('color')!r} but edgedet feeds models RGB ('rgb'); {_FIX}")
        resize = block.get("resize", "letterbox")
        letterbox_block = block.get("letterbox")
        pad_value = PAD_VALUE
        if resize == "letterbox":
            if not isinstance(letterbox_block, dict) or letterbox_block.get("centred") is not True or not isinstance(
                    letterbox_block.get("pad_value"), int):
                raise ValueError(f"preprocess.letterbox = {letterbox_block!r} but this edgedet letterboxes with "
                                 f"{{'centred': True, 'pad_value': <0..255>}} (edgedet.deploy.preprocess); {_FIX}")
            pad_value = letterbox_block["pad_value"]
        numbers = {}
        for key in ("scale", "mean", "std"):
            value = block.get(key)
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if key == "scale" else (
                isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
            if not ok:
                want = "a number" if key == "scale" else "a list of 3 numbers"
                raise ValueError(f"preprocess.{key} must be {want}, got {value!r}; {_FIX}")
            numbers[key] = float(value) if key == "scale" else tuple(float(v) for v in value)
        return cls(resize=resize, interp=block.get("interp", "auto"), pad_value=pad_value, **numbers)


DEFAULT_PREPROCESS = PreprocessSpec()
"""edgedet's own rule: every export, training, evaluation and the demos."""


@dataclass(frozen=True)
class LetterboxInfo:
    """How an image was placed in the model input: ``input = orig * scale + (pad_x, pad_y)``.

    A stretched image (``PreprocessSpec.resize == "stretch"``) has its own vertical scale, ``scale_y``
    (``scale`` is then the horizontal one); None: the same as ``scale``.
    """

    scale: float
    pad_x: float
    pad_y: float
    orig_h: int
    orig_w: int
    scale_y: float | None = None

    @property
    def scale_xy(self) -> tuple[float, float]:
        return self.scale, self.scale if self.scale_y is None else self.scale_y


def letterbox_params(orig_h: int, orig_w: int, size: int) -> LetterboxInfo:
    """Scale and centred padding that fit an ``orig_h x orig_w`` image into ``size x size``."""
    scale = min(size / orig_h, size / orig_w)
    new_w, new_h = int(round(orig_w * scale)), int(round(orig_h * scale))
    return LetterboxInfo(scale, (size - new_w) // 2, (size - new_h) // 2, orig_h, orig_w)


def _interpolation(interp: str, scale: float) -> int:
    flag = INTERPOLATIONS[interp]
    if flag < 0:  # "auto"
        return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return flag


def letterbox(image: np.ndarray, size: int, *, interp: str = "auto", pad_value: int = PAD_VALUE,
              ) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize keeping the aspect ratio and pad to a square.

    Args:
        image: uint8 ``[H, W, 3]`` (any channel order; it is kept).
        size: output side.
        interp: a key of :data:`INTERPOLATIONS`.
        pad_value: the padding's value in every channel.

    Returns:
        ``(canvas uint8 [size, size, 3], LetterboxInfo)``.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"letterbox expects an [H, W, 3] image, got shape {image.shape}")
    h, w = image.shape[:2]
    info = letterbox_params(h, w, size)
    new_w, new_h = int(round(w * info.scale)), int(round(h * info.scale))
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=_interpolation(interp, info.scale))
    canvas = np.full((size, size, 3), pad_value, dtype=np.uint8)
    x0, y0 = int(info.pad_x), int(info.pad_y)
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = image
    return canvas, info


def stretch(image: np.ndarray, size: int, *, interp: str = "auto") -> tuple[np.ndarray, LetterboxInfo]:
    """Resize both sides to ``size`` (the aspect ratio changes), as PaddleDetection's ``Resize`` with
    ``keep_ratio: false`` does (``cv2.resize`` with ``fx = size / W``, ``fy = size / H``: the same pixels).

    Returns:
        ``(uint8 [size, size, 3], LetterboxInfo)`` with ``scale = size / W``, ``scale_y = size / H``, no padding.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"stretch expects an [H, W, 3] image, got shape {image.shape}")
    h, w = image.shape[:2]
    info = LetterboxInfo(size / w, 0.0, 0.0, h, w, scale_y=size / h)
    if (h, w) != (size, size):
        image = cv2.resize(image, (size, size), interpolation=_interpolation(interp, min(info.scale_xy)))
    return image, info


def normalize_rgb(image_rgb: np.ndarray, spec: PreprocessSpec = DEFAULT_PREPROCESS) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` -> float32 CHW: ``(x * scale - mean) / std`` (default: ``x / 255``, ``MEAN``/``STD``)."""
    x = image_rgb.astype(np.float32) / np.float32(1.0 / spec.scale)
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess_bgr(image_bgr: np.ndarray, size: int, spec: PreprocessSpec = DEFAULT_PREPROCESS,
                   ) -> tuple[np.ndarray, LetterboxInfo]:
    """BGR image -> model input ``float32 [1, 3, size, size]`` and how it was placed there.

    Args:
        spec: the model's rule (``Predictor.preprocess_spec``, from ``edgedet.json``); default edgedet's own.
    """
    if spec.resize == "stretch":
        canvas, info = stretch(image_bgr, size, interp=spec.interp)
    else:
        canvas, info = letterbox(image_bgr, size, interp=spec.interp, pad_value=spec.pad_value)
    rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
    return normalize_rgb(rgb, spec)[None], info


def boxes_to_input(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Boxes ``[N, 4]`` xyxy in original pixels -> model-input pixels."""
    sx, sy = info.scale_xy
    out = np.asarray(boxes, np.float32) * np.asarray([sx, sy, sx, sy], np.float32)
    out[:, 0::2] += info.pad_x
    out[:, 1::2] += info.pad_y
    return out


def boxes_to_original(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Boxes ``[N, 4]`` xyxy in model-input pixels -> original pixels, clipped to the image."""
    sx, sy = info.scale_xy
    out = np.asarray(boxes, np.float32).copy()
    out[:, 0::2] = (out[:, 0::2] - info.pad_x) / sx
    out[:, 1::2] = (out[:, 1::2] - info.pad_y) / sy
    out[:, 0::2] = out[:, 0::2].clip(0, info.orig_w)
    out[:, 1::2] = out[:, 1::2].clip(0, info.orig_h)
    return out
