"""Desktop demos on top of :mod:`edgedet.runtime`: ``edgedet predict`` (images, folders, globs, videos) and
``edgedet demo`` (a camera, a video file or a stream in a window, or headless into a video file).

* :mod:`edgedet.demo.sources`: what a SOURCE argument names (files, a folder, a glob, a video, a camera, a URL).
* :mod:`edgedet.demo.checkpoint`: a training checkpoint behind the runtime's ``predict`` contract (torch, lazily).
* :mod:`edgedet.demo.predict`: ``edgedet predict``: annotated files, COCO results JSON, YOLO txt, counts.
* :mod:`edgedet.demo.window`: a window that shows frames and reports keys (OpenCV's highgui or Tk).
* :mod:`edgedet.demo.live`: ``edgedet demo``: the frame loop with FPS and per-stage latency overlaid.
* :mod:`edgedet.demo.cli`: both commands' arguments and handlers (``edgedet.cli`` loads the model and calls them).

Boxes are drawn by :func:`edgedet.deploy.draw.draw_detections` (also ``Detections.draw``), the same code for
exports and checkpoints. This package imports no torch at module level; only
:class:`edgedet.demo.checkpoint.CheckpointPredictor` uses it, on a model the caller has loaded.
"""
