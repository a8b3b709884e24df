"""``edgedet predict`` and ``edgedet demo``: their arguments and what they run (``edgedet.cli`` dispatches here).

Loading the model is the caller's: ``edgedet.cli`` passes a ``load_predictor(args)`` that opens an export through
:mod:`edgedet.runtime` or a checkpoint through PyTorch, so this module stays torch-free. User mistakes raise
``ValueError`` with the fix in the message; ``edgedet.cli`` prints them as one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

WINDOW_HELP = ("auto (default): OpenCV's window when its build has a GUI, else Tk (opencv-python-headless, "
               "which edgedet installs, has none)")
SCORE_HELP = "keep detections scoring above this (default: edgedet.deploy.thresholds.PREDICT_SCORE_THR, 0.25)"
THREADS_HELP = "CPU threads of the runtime (or of torch for a checkpoint; default: the runtime's own)"
DEVICE_HELP = "torch device for a checkpoint (default: cuda when present)"


def add_predict_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="draw detections on images, folders, globs or videos; COCO JSON, YOLO txt",
                       description="Detections on an image, a folder, a glob (quote it) or a video: annotated "
                                   "copies, optional COCO results JSON and YOLO txt, and a count per class.")
    p.add_argument("source", help="image, video, folder or glob pattern such as 'photos/*.jpg'")
    p.add_argument("--model", required=True, help="export directory (edgedet.runtime, no torch) or training "
                   "checkpoint .pt (PyTorch)")
    p.add_argument("--score-thr", type=float, default=None, help=SCORE_HELP)
    p.add_argument("--save", metavar="DIR", help="output directory (default: runs/predict/<model>, made unique)")
    p.add_argument("--save-json", action="store_true", help="also write DIR/predictions.json (COCO results)")
    p.add_argument("--save-txt", action="store_true", help="also write DIR/labels/<stem>.txt (YOLO: class cx cy w h)")
    p.add_argument("--show", action="store_true", help="show each result in a window (space: next, q/Esc: stop)")
    p.add_argument("--window", choices=["auto", "opencv", "tk"], default="auto", help=WINDOW_HELP)
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.add_argument("--device", default="", help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_demo_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="live detections from a camera, a video or a stream, with FPS and latency",
                       description="A window with the detections, FPS and per-stage latency of each frame "
                                   "(q/Esc: quit, space: pause), or --headless --save out.mp4.")
    p.add_argument("--model", required=True, help="export directory (or a training checkpoint .pt)")
    p.add_argument("--source", default="0", help="camera index (default 0), video file or rtsp:// / http:// URL")
    p.add_argument("--score-thr", type=float, default=None, help=SCORE_HELP)
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.add_argument("--headless", action="store_true", help="no window (needs --save)")
    p.add_argument("--save", metavar="OUT_MP4", help="also write the annotated frames to this video file")
    p.add_argument("--max-frames", type=int, help="stop after this many frames (default: the end of the source)")
    p.add_argument("--window", choices=["auto", "opencv", "tk"], default="auto", help=WINDOW_HELP)
    p.add_argument("--device", default="", help=DEVICE_HELP)


def _predict_fn(args: argparse.Namespace, load_predictor: Callable[[argparse.Namespace], Any]):
    """``image_bgr -> Detections`` with the threshold bound; the model loads last (after cheap checks)."""
    from edgedet.deploy.thresholds import PREDICT_SCORE_THR

    thr = PREDICT_SCORE_THR if args.score_thr is None else args.score_thr
    if not 0.0 <= thr < 1.0:
        raise ValueError(f"--score-thr must be in [0, 1), got {thr}")
    predictor = load_predictor(args)
    return lambda image: predictor.predict(image, score_thr=thr)


def _open_window(title: str, kind: str):
    from edgedet.demo.window import DisplayError, open_window

    try:
        return open_window(title, kind)
    except DisplayError as e:
        raise ValueError(str(e)) from None


def run_predict_command(args: argparse.Namespace, load_predictor: Callable[[argparse.Namespace], Any]) -> int:
    from edgedet.demo.predict import run_predict, unique_dir
    from edgedet.demo.sources import media_files

    media_files(args.source)  # a missing source fails before the model loads
    predict = _predict_fn(args, load_predictor)
    save = Path(args.save) if args.save else unique_dir(Path("runs") / "predict", Path(args.model).stem)
    window = _open_window("edgedet predict", args.window) if args.show else None
    try:
        summary = run_predict(predict, args.source, save, save_json=args.save_json, save_txt=args.save_txt,
                              window=window, progress=not args.quiet)
    finally:
        if window is not None:
            window.close()
    print(summary.format())
    print(f"Results in {save}")
    return 0 if summary.images or summary.frames else 1


def run_demo_command(args: argparse.Namespace, load_predictor: Callable[[argparse.Namespace], Any]) -> int:
    from edgedet.demo.live import run_demo
    from edgedet.demo.sources import open_capture

    if args.headless and not args.save:
        raise ValueError("--headless needs --save out.mp4 (there is nowhere else to put the frames)")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {args.max_frames}")
    open_capture(args.source).release()  # a camera that does not open fails before the model loads
    predict = _predict_fn(args, load_predictor)
    window = None if args.headless else _open_window(f"edgedet demo: {args.source}", args.window)
    try:
        stats = run_demo(predict, args.source, window=window, save=args.save, max_frames=args.max_frames)
    finally:
        if window is not None:
            window.close()
    stages = ", ".join(f"{k} {v:.1f} ms" for k, v in stats.stage_ms.items())
    ended = ("stopped by the user" if stats.stopped_by_user else
             "--max-frames reached" if stats.frames == args.max_frames else "source ended")
    print(f"{stats.frames} frame(s) at {stats.fps:.1f} FPS ({stages}); {ended}")
    if args.save:
        print(f"wrote {args.save}")
    return 0
