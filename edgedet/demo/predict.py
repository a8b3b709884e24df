"""``edgedet predict``: detections on images, folders, globs and videos, written as annotated files, a COCO results
JSON and YOLO txt labels, with a count of detections per class.

Outputs in the save directory:

* ``<name>`` per image and ``<stem>.mp4`` per video: the input with boxes, class names and scores drawn.
* ``predictions.json`` (``--save-json``): COCO results, one ``{image_id, category_id, bbox [x, y, w, h], score}``
  per detection, plus ``file_name`` (and ``frame`` for videos). ``category_id`` is the model's class index
  (``class_names[category_id]``, also written as ``category_name``); ``image_id`` is the file stem as an int
  where it is one (``000123.jpg`` -> 123), else the stem; for a video, the frame index.
* ``labels/<stem>.txt`` (``--save-txt``; ``<stem>_<frame>.txt`` for videos): ``class cx cy w h`` per detection,
  normalised to the image size (the YOLO label format).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgedet.demo.live import open_writer
from edgedet.demo.sources import MediaFile, media_files
from edgedet.demo.window import PAUSE, QUIT, Window
from edgedet.runtime import Detections

log = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """What a predict run saw: images and video frames read, files skipped, detections per class name."""

    images: int = 0
    frames: int = 0
    skipped: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    outputs: list[Path] = field(default_factory=list)

    def format(self) -> str:
        total = sum(self.counts.values())
        seen = f"{self.images} image(s)" + (f", {self.frames} video frame(s)" if self.frames else "")
        per_class = ", ".join(f"{name} {n}" for name, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))
        text = f"{seen}: {total} detection(s)" + (f" ({per_class})" if per_class else "")
        if self.skipped:
            text += f"; {len(self.skipped)} unreadable file(s) skipped"
        return text


def coco_records(dets: Detections, image_id: Any, file_name: str, frame: int | None = None) -> list[dict[str, Any]]:
    """COCO results entries of one image (module docstring)."""
    out = []
    for (x0, y0, x1, y1), score, name, label in zip(dets.boxes.tolist(), dets.scores.tolist(), dets.class_names(),
                                                    dets.labels.tolist()):
        rec = {"image_id": image_id, "category_id": int(label), "category_name": name,
               "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)], "score": round(score, 5),
               "file_name": file_name}
        if frame is not None:
            rec["frame"] = frame
        out.append(rec)
    return out


def yolo_lines(dets: Detections, width: int, height: int) -> str:
    """``class cx cy w h`` lines, normalised by the image size."""
    lines = []
    for (x0, y0, x1, y1), label in zip(dets.boxes.tolist(), dets.labels.tolist()):
        cx, cy, w, h = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"{int(label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def unique_dir(root: Path, name: str) -> Path:
    """``root/name``, or ``root/name2``, ``root/name3`` ... whichever does not exist yet (as training runs are named)."""
    path, k = root / name, 2
    while path.exists():
        path, k = root / f"{name}{k}", k + 1
    return path


def image_id_of(path: Path) -> int | str:
    return int(path.stem) if path.stem.isdigit() else path.stem


def _progress(items: list[MediaFile], enabled: bool) -> Iterable[MediaFile]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # a runtime-only install has no tqdm: no bar
        return items
    return tqdm(items, desc="predict", unit="file", dynamic_ncols=True)


def _unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``stem_2.ext`` ... when a glob brought two files of one name from different folders."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, k = name, 1
    while candidate in used:
        k += 1
        candidate = f"{stem}_{k}{suffix}"
    used.add(candidate)
    return candidate


def _video_frames(path: Path) -> Iterator[tuple[int, np.ndarray, float]]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"OpenCV cannot read {path} as a video")
    fps = cap.get(cv2.CAP_PROP_FPS)
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield i, frame, fps
            i += 1
    finally:
        cap.release()


def run_predict(predict: Callable[[np.ndarray], Detections], source: str, save_dir: Path, *, save_json: bool = False,
                save_txt: bool = False, window: Window | None = None, progress: bool = True) -> PredictSummary:
    """Predict on every image and video ``source`` names and write the outputs of the module docstring.

    Args:
        predict: ``image_bgr -> Detections`` (threshold bound), from an export or a checkpoint.
        source: an image, a video, a folder or a glob pattern.
        save_dir: where annotated files (and the JSON / txt) go; created.
        window: show each annotated image until a key (space: next, q / Esc: stop) and play videos; None: no window.
    """
    files = media_files(source)
    save_dir.mkdir(parents=True, exist_ok=True)
    summary, results, used = PredictSummary(), [], set()
    for media in _progress(files, progress):
        name = _unique_name(media.path.stem + ".mp4" if media.is_video else media.path.name, used)
        try:
            step = _predict_video if media.is_video else _predict_image
            stop = step(predict, media.path, save_dir, name, summary, results, save_txt, window)
        except OSError as e:
            log.warning("warning: skipped %s: %s", media.path, e)
            summary.skipped.append(str(media.path))
            continue
        if stop:
            break
    if save_json:
        path = save_dir / "predictions.json"
        path.write_text(json.dumps(results))
        summary.outputs.append(path)
    return summary


def _predict_image(predict, path: Path, save_dir: Path, name: str, summary: PredictSummary, results: list,
                   save_txt: bool, window: Window | None) -> bool:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError("not a readable image")
    dets = predict(image)
    drawn = dets.draw(image)
    out = save_dir / name
    if not cv2.imwrite(str(out), drawn):
        raise OSError(f"could not write {out}")
    summary.images += 1
    summary.counts.update(dets.class_names())
    summary.outputs.append(out)
    results.extend(coco_records(dets, image_id_of(path), path.name))
    if save_txt:
        _write_txt(save_dir, Path(name).stem, dets, image.shape)
    if window is not None:
        window.show(drawn)
        return window.poll(0) == QUIT
    return False


def _predict_video(predict, path: Path, save_dir: Path, name: str, summary: PredictSummary, results: list,
                   save_txt: bool, window: Window | None) -> bool:
    out, writer, stop = save_dir / name, None, False
    try:
        for i, frame, fps in _video_frames(path):
            dets = predict(frame)
            drawn = dets.draw(frame)
            if writer is None:
                writer = open_writer(out, fps, (frame.shape[1], frame.shape[0]))
            writer.write(drawn)
            summary.frames += 1
            summary.counts.update(dets.class_names())
            results.extend(coco_records(dets, i, path.name, frame=i))
            if save_txt:
                _write_txt(save_dir, f"{Path(name).stem}_{i}", dets, frame.shape)
            if window is not None:
                window.show(drawn)
                action = window.poll(1)
                if action == PAUSE:
                    action = window.poll(0)
                if action == QUIT:
                    stop = True
                    break
    finally:
        if writer is not None:
            writer.release()
            summary.outputs.append(out)
    if writer is None:
        raise OSError("the video has no readable frames")
    return stop


def _write_txt(save_dir: Path, stem: str, dets: Detections, shape: tuple[int, ...]) -> None:
    labels = save_dir / "labels"
    labels.mkdir(exist_ok=True)
    (labels / f"{stem}.txt").write_text(yolo_lines(dets, shape[1], shape[0]))
