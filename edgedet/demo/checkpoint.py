"""A training checkpoint behind the runtime's contract: ``predict(image_bgr, score_thr)`` -> ``Detections``.

The caller loads the model (``edgedet.engine.checkpoint.load_detector``); this class only runs it, through the
shared letterbox of :mod:`edgedet.deploy.preprocess`, so a checkpoint and its export see the same pixels and are
drawn by the same code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgedet.deploy.preprocess import boxes_to_original, preprocess_bgr
from edgedet.deploy.thresholds import PREDICT_SCORE_THR
from edgedet.runtime import Detections


class CheckpointPredictor:
    """A PyTorch detector with the interface of :class:`edgedet.runtime.Predictor`'s ``predict``.

    Args:
        model: an ``edgedet.models`` detector in eval mode.
        class_names: its class names (``names[label]``).
        imgsz: the square input side it was trained at.
        device: the torch device the model is on.
    """

    def __init__(self, model: Any, class_names: Sequence[str], imgsz: int, device: Any = "cpu"):
        self.model = model
        self.class_names = list(class_names)
        self.imgsz = int(imgsz)
        self.device = device

    def predict(self, image_bgr: np.ndarray, score_thr: float = PREDICT_SCORE_THR) -> Detections:
        """Same arguments and result as ``edgedet.runtime.Predictor.predict``."""
        import torch

        t0 = time.perf_counter()
        x, info = preprocess_bgr(image_bgr, self.imgsz)
        x = torch.from_numpy(x).to(self.device)
        t1 = time.perf_counter()
        with torch.no_grad():
            outputs = self.model(x)
            t2 = time.perf_counter()  # on a GPU the forward runs on asynchronously: its time lands in "decode"
            det = self.model.postprocess(outputs, score_thr=score_thr)[0]
        boxes = boxes_to_original(det["boxes"].float().cpu().numpy().reshape(-1, 4), info)
        scores = det["scores"].float().cpu().numpy()
        labels = det["labels"].cpu().numpy().astype(np.int64)
        order = np.argsort(-scores, kind="stable")
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "decode": (t3 - t2) * 1e3}
        return Detections(boxes[order], scores[order], labels[order], self.class_names, timings)
