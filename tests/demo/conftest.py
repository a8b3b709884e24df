"""A tiny ONNX export and its checkpoint twin, PNG images and a video of one repeated frame, shared by the demo tests.

The export is the tiny PAFNet-lite of ``tests.runtime.tiny_models`` (random weights with spread heatmaps: it
detects many things with low scores). Tests pick a score threshold that keeps a few detections
(:func:`threshold_keeping`), so the drawn boxes can be found again in the output.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.runtime.tiny_models import export_tiny_pafnet_lite, image_files

FRAME_SIZE = 320  # the frames of the test videos: 1 px box lines at this size (deploy.draw's default width)


@pytest.fixture(scope="session")
def tiny_export(tiny_synth, tmp_path_factory):
    """``(torch model, export directory)`` of the tiny PAFNet-lite, ONNX fp32."""
    model, (res,) = export_tiny_pafnet_lite(tiny_synth, tmp_path_factory.mktemp("demo_export"), ["onnx"], ["fp32"])
    return model, res.dir


@pytest.fixture(scope="session")
def demo_frame(tiny_synth) -> np.ndarray:
    """A validation image, upscaled to ``FRAME_SIZE`` (uint8 BGR)."""
    image = cv2.imread(str(image_files(tiny_synth / "images" / "val", 1)[0]))
    return cv2.resize(image, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_LINEAR)


def write_video(path: Path, frame: np.ndarray, n: int, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
    assert writer.isOpened()
    for _ in range(n):
        writer.write(frame)
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def threshold_keeping(scores: np.ndarray, k: int) -> float:
    """A score threshold that keeps exactly the ``k`` best of ``scores`` (which are sorted descending)."""
    assert len(scores) > k and scores[k - 1] > scores[k], "the tiny model needs more distinct detections"
    return float((scores[k - 1] + scores[k]) / 2)


def separated_threshold(scores: np.ndarray, max_k: int = 6) -> tuple[float, int]:
    """``(threshold, k)``: the threshold in the widest gap between the ``max_k`` best scores (sorted descending),
    keeping ``k`` detections, so that float differences between PyTorch and a runtime cannot move a detection across
    it."""
    gaps = scores[: max_k - 1] - scores[1:max_k]
    k = int(np.argmax(gaps)) + 1
    return threshold_keeping(scores, k), k
