"""``edgedet demo``: frames from a camera, a video file or a stream -> detections -> a window or a video file.

Every frame shows its boxes (:meth:`edgedet.runtime.Detections.draw`) and, in the top-left corner, the frames per
second over the last second and the milliseconds of each stage of the last frame: preprocess (letterbox +
normalise), inference (the model) and decode (peaks / NMS and boxes back to the frame).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedet.demo.sources import open_capture
from edgedet.demo.window import PAUSE, QUIT, Window
from edgedet.deploy.draw import put_text_box
from edgedet.runtime import Detections

log = logging.getLogger(__name__)
STAGES = ("preprocess", "inference", "decode")
STATS_BG = (32, 32, 32)


@dataclass
class DemoStats:
    """What a demo run did: frames shown, mean frames per second, mean milliseconds per stage."""

    frames: int
    fps: float
    stage_ms: dict[str, float]
    stopped_by_user: bool


class FpsMeter:
    """Frames per second over a sliding window of ``span_s`` seconds."""

    def __init__(self, span_s: float = 1.0):
        self.span_s = span_s
        self.stamps: collections.deque[float] = collections.deque()

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        self.stamps.append(now)
        while len(self.stamps) > 2 and now - self.stamps[0] > self.span_s:
            self.stamps.popleft()
        if len(self.stamps) < 2:
            return 0.0
        return (len(self.stamps) - 1) / max(self.stamps[-1] - self.stamps[0], 1e-9)


def draw_stats(image_bgr: np.ndarray, fps: float, timings_ms: dict[str, float]) -> np.ndarray:
    """Draws ``"12.3 FPS"`` and one ``"stage  1.2 ms"`` line per stage in the top-left corner, in place."""
    lines = [f"{fps:5.1f} FPS"] + [f"{stage:<10} {timings_ms.get(stage, 0.0):6.1f} ms" for stage in STAGES]
    scale = max(0.35, min(image_bgr.shape[:2]) / 900)
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    for i, text in enumerate(lines):
        put_text_box(image_bgr, text, (0, i * (th + base + 3)), STATS_BG, scale)
    return image_bgr


def draw_paused(image_bgr: np.ndarray) -> np.ndarray:
    """Marks a frame as paused (bottom left), in place."""
    scale = max(0.35, min(image_bgr.shape[:2]) / 900)
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    put_text_box(image_bgr, "paused: space resumes, q quits", (0, image_bgr.shape[0] - th - base - 2), STATS_BG, scale)
    return image_bgr


def annotate(frame: np.ndarray, dets: Detections, fps: float) -> np.ndarray:
    """The frame as the demo shows it: boxes and labels, then FPS and stage latency on top."""
    return draw_stats(dets.draw(frame), fps, dets.timings_ms)


def open_writer(path: str | Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    """An mp4 (``mp4v``) writer; ``.avi`` gets MJPG. ``size`` is ``(width, height)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps if 0 < fps < 1000 else 30.0, size)
    if not writer.isOpened():
        raise ValueError(f"cannot write video {path}: OpenCV has no encoder for it (use a .mp4 or .avi name)")
    return writer


def run_demo(predict: Callable[[np.ndarray], Detections], source: str, *, window: Window | None = None,
             save: str | Path | None = None, max_frames: int | None = None) -> DemoStats:
    """Run the demo loop until the source ends, a quit key (q / Esc) or ``max_frames``.

    Args:
        predict: ``image_bgr -> Detections`` (a runtime ``Predictor.predict`` with its threshold bound).
        source: camera index (``"0"``), video file or stream URL.
        window: where to show frames (space pauses, q / Esc quit); None = headless.
        save: write the annotated frames to this video file (at the source's frame rate).
        max_frames: stop after this many frames (a camera never ends by itself).
    """
    if window is None and save is None:
        raise ValueError("a headless demo needs --save out.mp4 (there is nowhere else to put its frames)")
    cap = open_capture(source)
    src_fps = cap.get(cv2.CAP_PROP_FPS)
    writer, meter = None, FpsMeter()
    frames, stopped, totals = 0, False, dict.fromkeys(STAGES, 0.0)
    t_start = time.perf_counter()
    try:
        while max_frames is None or frames < max_frames:
            ok, frame = cap.read()
            if not ok:
                break  # end of a video file, or a stream that stopped
            dets = predict(frame)
            shown = annotate(frame, dets, meter.tick())
            frames += 1
            for stage in STAGES:
                totals[stage] += dets.timings_ms.get(stage, 0.0)
            if save is not None:
                if writer is None:
                    writer = open_writer(save, src_fps, (shown.shape[1], shown.shape[0]))
                writer.write(shown)
            if window is not None:
                window.show(shown)
                action = window.poll(1)
                if action == PAUSE:
                    window.show(draw_paused(shown.copy()))
                while action == PAUSE:  # paused: wait for the next key; space resumes, q / Esc quit
                    action = window.poll(0)
                    action = None if action == PAUSE else action
                if action == QUIT:
                    stopped = True
                    break
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    elapsed = time.perf_counter() - t_start
    if frames == 0:
        log.warning("%s gave no frames", source)
    return DemoStats(frames, frames / elapsed if elapsed > 0 else 0.0,
                     {k: v / max(frames, 1) for k, v in totals.items()}, stopped)
