"""Compare a runtime's top-k decode outputs with PyTorch's, allowing only genuine peak-test ties.

Two neighbouring heatmap cells whose scores agree to ~1e-6 (flat image regions saturate ReLU6 features) form a
plateau; which cell the 3x3 peak test keeps then depends on float rounding, so a backend within 1e-4 of PyTorch
may report the neighbour: same score, a box one stride away. :func:`assert_topk_equivalent` accepts such an
entry only when PyTorch's own heatmap has that neighbour cell with a score within ``tol`` of the entry's and
PyTorch's box at that cell equals the runtime's; everything else must match PyTorch's entry exactly (within tol).
"""

from __future__ import annotations

import numpy as np
import torch


def _cell_boxes(model: torch.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's per-cell (scores [B, C, H, W], boxes [B, H, W, 4] xyxy, clipped) for images ``x``."""
    with torch.no_grad():
        hm, ltrb = model(torch.from_numpy(x))
    heat = hm.sigmoid().numpy()
    _, _, h, w = heat.shape
    s = model.stride
    ys, xs = np.meshgrid((np.arange(h) + 0.5) * s, (np.arange(w) + 0.5) * s, indexing="ij")
    d = ltrb.numpy().transpose(0, 2, 3, 1)
    boxes = np.stack([xs - d[..., 0], ys - d[..., 1], xs + d[..., 2], ys + d[..., 3]], -1)
    return heat, np.clip(boxes, 0, np.array([w, h, w, h]) * s)


def assert_topk_equivalent(model, x: np.ndarray, outs: list[np.ndarray], tol: float = 1e-4) -> int:
    """Assert the runtime's ``(boxes, scores, labels)`` equal PyTorch's up to peak-test ties; return #ties.

    A tie: the runtime entry is PyTorch's (score, box) at a cell of that class which has a 3x3 neighbour whose
    PyTorch score is within ``tol`` of its own (a plateau the peak test cannot split reliably).

    Args:
        model: the PAFNet (``model(x)`` gives heatmap logits and ltrb; ``model.export_graph()`` the top-k).
        x: float32 ``[B, 3, S, S]``.
        outs: runtime outputs in edgedet.json order.
    """
    with torch.no_grad():
        ref = [t.numpy() for t in model.export_graph()(torch.from_numpy(x))]
    np.testing.assert_allclose(outs[1], ref[1], atol=tol)  # sorted top-k scores: no tie ambiguity
    heat, cell_boxes = _cell_boxes(model, x)
    ties = 0
    for b in range(x.shape[0]):
        free = np.ones(ref[1].shape[1], bool)
        for box, score, label in zip(outs[0][b], outs[1][b], outs[2][b]):
            same = free & (ref[2][b] == label) & (np.abs(ref[1][b] - score) <= tol) & (
                np.abs(ref[0][b] - box).max(-1) <= 1e-3)
            if same.any():
                free[np.argmax(same)] = False
                continue
            # a tie: PyTorch has this exact (score, box) at some cell of this class, next to one of its own peaks
            cells = np.argwhere((np.abs(heat[b, int(label)] - score) <= tol)
                                & (np.abs(cell_boxes[b] - box).max(-1) <= 1e-3))
            assert len(cells), f"image {b}: runtime entry {box} {score} {label} is no PyTorch cell"
            y, x_ = cells[0]
            window = heat[b, int(label), max(y - 1, 0) : y + 2, max(x_ - 1, 0) : x_ + 2]
            assert (np.abs(window - score) <= tol).sum() >= 2, f"image {b}: cell {y, x_} differs and is no tie"
            ties += 1
    return ties


def assert_fp32_equivalent(model, export_dir, images, tol: float = 1e-4) -> int:
    """:func:`assert_topk_equivalent` through ``edgedet.runtime.load(export_dir)`` on ``images`` (paths,
    preprocessed by edgedet.deploy.preprocess, run as one batch); returns the number of ties."""
    from edgedet.export.calib import load_calibration_images
    from edgedet.runtime import load

    pred = load(export_dir, threads=1)
    x = load_calibration_images(list(images), len(images), pred.imgsz)
    return assert_topk_equivalent(model, x, pred.run(x), tol)


def assert_fp32_parity(model, result, images) -> None:
    """The fp32 parity record of an export, plus a tie-aware entry-by-entry check against PyTorch.

    parity.json must show scores within 1e-4, identical labels and every detection paired; the entries are
    then re-checked against PyTorch's own heatmap, where a box may move by one stride only at a real tie.
    """
    p = result.parity
    assert p["gate"] == "fp32 tolerance" and p["outputs"]["scores"]["max_abs_diff"] < 1e-4, p
    assert p["detections"]["torch"] >= 10
    assert p["detections"]["torch"] == p["detections"]["runtime"] == p["detections"]["matched"]
    assert p["outputs"]["labels"]["max_abs_diff"] == 0.0
    ties = assert_fp32_equivalent(model, result.dir, images)
    assert ties <= 4  # of 800 top-k entries
    if ties == 0:
        assert p["passed"] and p["max_abs_diff"] < 1e-4
