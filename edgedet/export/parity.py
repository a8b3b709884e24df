"""Parity: the exported file, run through :mod:`edgedet.runtime`, against PyTorch on the same inputs.

``check_parity(model, export_dir, images)`` writes ``export_dir/parity.json``::

    {"format", "precision", "n_images", "gate": "fp32 tolerance" | "report only",
     "tolerance": {"abs": 1e-4, "rel": 1e-4} | null,
     "max_abs_diff", "max_rel_diff",      # over all raw outputs; rel is over elements beyond the abs tolerance
     "outputs": {name: {"max_abs_diff", "max_rel_diff"}},
     "topk_boundary_entries_skipped", "topk_unpaired_entries",
     "detections": {"score_thr": 0.05, "torch", "runtime", "matched", "tie_shifted", "min_iou", "max_score_diff"},
     "detections_match", "passed", "verdict": "pass" | "FAIL" | "report only", "summary": "one line"}

Raw outputs: an element passes when ``|a - b| <= abs`` or ``|a - b| <= rel * |b|`` (b = PyTorch). For
``topk_boxes`` models the scores are compared in order (sorted top-k values are a continuous function of the
input) and boxes/labels as a set (:func:`_pair_topk`): every runtime entry pairs with a distinct PyTorch heatmap
cell of the same label whose score is within 1e-4, by a minimum-total-box-difference assignment, and its box is
compared with that cell's box. So near-tied entries (an untrained model's top-100 lie within 5e-5 of each other)
may swap places or be different members of a tie at the K-th score, but a runtime entry that is no PyTorch cell,
or a PyTorch entry above the tie that the runtime lacks, fails (``topk_unpaired_entries``); PyTorch entries
excused as members of a tie at the K-th score or of a 3x3 plateau are counted in
``topk_boundary_entries_skipped``. fp16/int8 pair within 0.1 and report unpaired entries instead of failing.
The outputs in :data:`INPUT_SIDE_UNITS` are compared (and reported) in units of the input side instead of pixels.
Detections: the runtime's decoder is applied to both raw outputs at ``score_thr``; they match when every
detection pairs one-to-one (same label, IoU >= 0.9, |score diff| <= 1e-3).

Verdict (``verdict``, ``passed``, and a one-line ``summary``): fp32 is gated: ``"pass"`` only when raw outputs
are within tolerance, nothing is unpaired and the detections match, else ``"FAIL"`` (``edgedet export`` exits
1). fp16 and int8 are ``"report only"``: their figures (a 110 px box difference included) are written as they
are, never called a pass, and ``passed`` then only says that the file ran: outputs present, of the right shapes,
finite (else ``"FAIL"``). Their accuracy is measured by AP (``edgedet eval``, ``benchmarks/export_table.py``),
which is what a reader of an int8 export needs; a raw-output tolerance would either fail good int8 files or
pass bad ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from edgedet.deploy.preprocess import preprocess_bgr
from edgedet.export.calib import read_bgr
from edgedet.models.base import Detector
from edgedet.models.criteria.ttf import grid_centres
from edgedet.models.pafnet import TTFDecoder, heatmap_peaks
from edgedet.runtime import load
from edgedet.runtime.decode import decode_outputs
from edgedet.runtime.nms import box_iou_xyxy
from edgedet.structures.boxes import points_ltrb_to_xyxy

TOLERANCE = {"abs": 1e-4, "rel": 1e-4}
DET_IOU, DET_SCORE_DIFF = 0.9, 1e-3
PAIR_SCORE_TOL, REPORT_PAIR_TOL = 1e-4, 0.1
# Two-stage proposals are decoded from anchors of up to 512 px: float noise of ~1e-6 of the anchor size is a few
# 1e-4 px, so they are compared in units of the input side (pixel diff / imgsz).
INPUT_SIDE_UNITS = {"two_stage": ("proposals",)}


def synthetic_images_bgr(n: int, imgsz: int, seed: int = 0) -> list[np.ndarray]:
    """Deterministic non-square BGR test images (textured background + filled shapes)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        h, w = imgsz, int(imgsz * (1.25 if i % 2 == 0 else 0.8))
        image = cv2.resize(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8), (w, h))
        for _ in range(4):
            x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            x1, y1 = x0 + int(rng.integers(8, max(9, w // 2))), y0 + int(rng.integers(8, max(9, h // 2)))
            cv2.rectangle(image, (x0, y0), (x1, y1), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
        images.append(image)
    return images


def _diffs(a: np.ndarray, b: np.ndarray, strict: bool) -> tuple[float, float]:
    """``(max |a-b|, max |a-b|/|b| over elements beyond the abs tolerance)``; inf on a shape mismatch.

    NaN marks an unpaired top-k entry: inf when ``strict``, left out otherwise.
    """
    if a.shape != b.shape:
        return float("inf"), float("inf")
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    if strict:
        d[np.isnan(d)] = np.inf
    else:
        b, d = b[~np.isnan(d)], d[~np.isnan(d)]
    if d.size == 0:
        return 0.0, 0.0
    beyond = d > TOLERANCE["abs"]
    rel = d[beyond] / np.maximum(np.abs(b.astype(np.float64)[beyond]), 1e-12)
    return float(d.max()), float(rel.max()) if rel.size else 0.0


@dataclass
class _Cells:
    """PyTorch's candidate top-k entries of one image: every heatmap cell (or just its top-k when the graph is
    not a PAFNet/TTFNet one). ``topk`` indexes PyTorch's own top-k entries in order; ``yx`` is None when cells
    carry no grid position."""

    boxes: np.ndarray  # [N, 4] xyxy input px
    scores: np.ndarray  # [N] after the peak test (0 off peaks), as the top-k sees them
    heat: np.ndarray  # [N] before the peak test: a plateau neighbour of a peak has the peak's score here
    labels: np.ndarray  # [N] int64
    topk: np.ndarray  # [K] indices into the N cells
    grid: tuple[int, int] | None = None  # (H, W): cell n is label n // (H*W), y, x of n % (H*W)


def _topk_cells(graph: torch.nn.Module, x: np.ndarray, t_out: list[np.ndarray]) -> list[_Cells]:
    """Per image, every heatmap cell of a TTF-style export graph (``graph.model`` gives heatmap logits and ltrb,
    ``graph.model.decoder`` is a :class:`~edgedet.models.pafnet.TTFDecoder`); else PyTorch's top-k entries."""
    decoder = getattr(getattr(graph, "model", None), "decoder", None)
    if not isinstance(decoder, TTFDecoder):
        return [_Cells(t_out[0][b], t_out[1][b], t_out[1][b], np.rint(t_out[2][b]).astype(np.int64),
                       np.arange(t_out[1].shape[1])) for b in range(t_out[1].shape[0])]
    with torch.no_grad():
        hm, ltrb = graph.model(torch.from_numpy(x))
        heat = hm.float().sigmoid()
        b, c, h, w = heat.shape
        peaks = heatmap_peaks(heat).reshape(b, -1)
        idx = torch.topk(peaks, min(decoder.topk, c * h * w), dim=1)[1].numpy()
        boxes = points_ltrb_to_xyxy(grid_centres(h, w, decoder.stride), ltrb.float().permute(0, 2, 3, 1))
        size = torch.tensor([w, h, w, h], dtype=torch.float32) * decoder.stride
        boxes = torch.minimum(boxes.clamp(min=0), size).reshape(b, h * w, 4).numpy()
    labels = np.repeat(np.arange(c), h * w)
    return [_Cells(np.tile(boxes[i], (c, 1)), peaks[i].numpy(), heat[i].reshape(-1).numpy(), labels, idx[i], (h, w))
            for i in range(b)]


def _pair_topk(cells: _Cells, r_boxes: np.ndarray, r_scores: np.ndarray, r_labels: np.ndarray, tol: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Pair the runtime's top-k entries of one image with PyTorch's cells, as a set (minimum total box difference).

    A runtime entry may pair with a cell of the same label whose PyTorch score (after or before the peak test) is
    within ``tol`` of its own; among
    those, the assignment (scipy's ``linear_sum_assignment``) minimises the summed max-coordinate box difference,
    so near-tied entries that swap places, or that different backends pick among equal scores, pair with the cell
    they really are. Every runtime entry must pair; every PyTorch top-k entry must be paired unless its score is
    within ``tol`` of the K-th (which of several tied cells fills the last places is arbitrary) or a runtime entry
    took a 3x3 neighbour of the same label and score (a plateau whose peak test float rounding decides).

    Returns PyTorch's ``(boxes [K, 4], labels [K])`` in the runtime's order (NaN where a runtime entry has no
    partner), its scores in its own top-k order, the number of excused PyTorch entries and the number of
    unpaired ones (runtime entries without a partner plus PyTorch entries that no runtime entry explains).
    """
    k = len(r_scores)
    finite = np.isfinite(r_boxes).all(-1) & np.isfinite(r_scores) & np.isfinite(r_labels)
    labels = np.rint(np.where(finite, r_labels, -1)).astype(np.int64)
    rows, cols, costs = [], [], []
    for j in range(k):
        ok = _admissible(cells, labels[j], r_scores[j], tol) if finite[j] else np.zeros(0, np.int64)
        d = np.abs(cells.boxes[ok] - r_boxes[j]).max(-1) if ok.size else np.zeros(0)
        near = np.argsort(d, kind="stable")[:8]
        rows += [j] * len(near)
        cols += list(ok[near])
        costs += list(d[near])
    uniq = np.unique(np.asarray(cols + list(cells.topk), np.int64))
    big = 1e9
    cost = np.full((k, len(uniq)), big)
    cost[np.asarray(rows, np.int64), np.searchsorted(uniq, np.asarray(cols, np.int64))] = costs
    r_idx, c_idx = linear_sum_assignment(cost)
    paired = cost[r_idx, c_idx] < big
    boxes = np.full((k, 4), np.nan, np.float32)
    out_labels = np.full(k, np.nan, np.float32)
    taken = uniq[c_idx[paired]]
    boxes[r_idx[paired]] = cells.boxes[taken]
    out_labels[r_idx[paired]] = cells.labels[taken]
    t_scores = cells.scores[cells.topk]
    excused, unpaired = 0, int(k - paired.sum())
    for n in cells.topk[~np.isin(cells.topk, taken)]:
        if cells.scores[n] <= t_scores.min() + tol or _plateau_partner(cells, n, taken, tol):
            excused += 1
        else:
            unpaired += 1
    return boxes, out_labels, t_scores, excused, unpaired


def _plateau_partner(cells: _Cells, n: int, taken: np.ndarray, tol: float) -> bool:
    """Whether a taken cell is a 3x3 neighbour of cell ``n`` with the same label and a score within ``tol``."""
    if cells.grid is None:
        return False
    h, w = cells.grid
    label, y, x = n // (h * w), (n % (h * w)) // w, n % w
    for m in taken:
        my, mx = (m % (h * w)) // w, m % w
        if m // (h * w) == label and abs(my - y) <= 1 and abs(mx - x) <= 1 and \
                abs(cells.heat[m] - cells.heat[n]) <= tol:
            return True
    return False


def _admissible(cells: _Cells, label: int, score: float, tol: float) -> np.ndarray:
    """Indices of the cells of ``label`` whose PyTorch score, after or before the peak test, is within ``tol`` of
    ``score``."""
    if cells.grid is None:
        lo, hi = 0, len(cells.labels)
    else:
        hw = cells.grid[0] * cells.grid[1]
        if not 0 <= label < len(cells.labels) // hw:
            return np.zeros(0, np.int64)
        lo, hi = label * hw, (label + 1) * hw
    near = (np.abs(cells.scores[lo:hi] - score) <= tol) | (np.abs(cells.heat[lo:hi] - score) <= tol)
    return lo + np.flatnonzero(near & (cells.labels[lo:hi] == label))


def _match_detections(det_t: tuple, det_r: tuple, iou_thr: float = DET_IOU) -> dict[str, Any]:
    """Greedy one-to-one pairing by score order: same label, IoU >= ``iou_thr`` (``DET_IOU`` for the fp32 gate,
    0.5 for reduced precisions, which are reported, not gated); then leftovers by equal score.

    A PyTorch detection without a partner at ``DET_IOU`` is paired with a runtime one of the same score (within
    ``PAIR_SCORE_TOL``) as a *tie shift*: neighbouring heatmap cells that differ by float rounding only, where
    which one passes the peak test is arbitrary. Tie shifts are counted apart and allowed only rarely (at most one
    per image or 1%, see ``_same_detections``); every other pair must overlap by ``DET_IOU``.
    """
    iou = box_iou_xyxy(det_t[0], det_r[0]) * (det_t[2][:, None] == det_r[2][None, :])
    free, ious, sdiffs = np.ones(len(det_r[1]), bool), [], []
    left, tie_shifted = [], 0
    for i in range(len(det_t[1])):
        cand = np.where(free, iou[i], 0.0)
        j = int(cand.argmax()) if cand.size else -1
        sd = abs(float(det_t[1][i]) - float(det_r[1][j])) if j >= 0 else np.inf
        if j >= 0 and cand[j] >= iou_thr:
            free[j] = False
            ious.append(float(cand[j]))
            sdiffs.append(sd)
        else:
            left.append(i)
    for i in left:  # the peak test flipped between cells whose heatmap values differ by float rounding only
        same = free & (np.abs(det_r[1] - det_t[1][i]) <= PAIR_SCORE_TOL)
        if same.any():
            free[int(np.argmax(same))] = False
            tie_shifted += 1
    matched = len(ious) + tie_shifted
    return {"torch": len(det_t[1]), "runtime": len(det_r[1]), "matched": matched, "tie_shifted": tie_shifted,
            "min_iou": min(ious) if ious else None, "max_score_diff": max(sdiffs) if sdiffs else None}


def _same_detections(m: dict[str, Any]) -> bool:
    if not (m["torch"] == m["runtime"] == m["matched"]):
        return False
    if m["tie_shifted"] > max(1, m["torch"] // 100):
        return False
    return m["min_iou"] is None or (m["min_iou"] >= DET_IOU and m["max_score_diff"] <= DET_SCORE_DIFF)


@dataclass
class _Tally:
    """Worst raw differences and detection counts accumulated over the parity images."""

    names: list[str]
    fp32: bool
    worst: dict[str, list[float]] = field(default_factory=dict)
    dets: dict[str, Any] = field(default_factory=lambda: {"torch": 0, "runtime": 0, "matched": 0, "tie_shifted": 0,
                                                          "min_iou": None, "max_score_diff": None})
    sound: bool = True  # every output present, of PyTorch's shape, finite
    same: bool = True
    boundary: int = 0
    unpaired: int = 0

    def add_raw(self, t_out: list[np.ndarray], r_out: list[np.ndarray], cells: list[_Cells] | None) -> None:
        """Fold in one batch; ``cells`` (top-k models) pairs the entries as a set, see :func:`_pair_topk`."""
        self.sound &= len(r_out) == len(t_out) and all(a.shape == b.shape for a, b in zip(r_out, t_out)) and all(
            bool(np.isfinite(o).all()) for o in r_out)
        ref = t_out
        if cells is not None and len(r_out) >= 3 and r_out[0].shape == t_out[0].shape:
            tol = PAIR_SCORE_TOL if self.fp32 else REPORT_PAIR_TOL
            pairs = [_pair_topk(c, r_out[0][b], r_out[1][b], r_out[2][b], tol) for b, c in enumerate(cells)]
            ref = [np.stack([p[0] for p in pairs]), np.stack([p[2] for p in pairs]),
                   np.stack([p[1] for p in pairs]), *t_out[3:]]
            self.boundary += sum(p[3] for p in pairs)
            self.unpaired += sum(p[4] for p in pairs)
        for n, a, b in zip(self.names, r_out, ref):
            old = self.worst.get(n, [0.0, 0.0])
            self.worst[n] = [max(w, d) for w, d in zip(old, _diffs(a, b, strict=self.fp32))]

    def add_detections(self, m: dict[str, Any]) -> None:
        self.same &= _same_detections(m)
        for k in ("torch", "runtime", "matched", "tie_shifted"):
            self.dets[k] += m[k]
        self.dets["min_iou"] = _fold(min, self.dets["min_iou"], m["min_iou"])
        self.dets["max_score_diff"] = _fold(max, self.dets["max_score_diff"], m["max_score_diff"])


def _fold(fn, acc, value):
    if value is None:
        return acc
    return value if acc is None else fn(acc, value)


def check_parity(
    model: Detector,
    export_dir: str | Path,
    images: Sequence[np.ndarray | str | Path],
    *,
    threads: int | None = None,
    score_thr: float = 0.05,
) -> dict[str, Any]:
    """Compare PyTorch (``model.export_graph()``) with the exported file through ``edgedet.runtime.load``.

    Args:
        model: the detector that was exported (eval mode is set here).
        export_dir: directory with ``edgedet.json`` and the model file.
        images: BGR ``uint8 [H, W, 3]`` arrays or image paths.
        threads: runtime threads.
        score_thr: detections above this are compared.

    Returns:
        The ``parity.json`` dict (also written to ``export_dir/parity.json``).
    """
    if len(images) == 0:
        raise ValueError("check_parity needs at least one image")
    export_dir = Path(export_dir)
    predictor = load(export_dir, threads=threads)
    meta, spec = predictor.meta, predictor.decode_spec
    graph = model.eval().export_graph().eval()
    fp32 = meta["precision"] == "fp32"
    tally = _Tally([o["name"] for o in meta["outputs"]], fp32)
    for image in images:
        x, _ = preprocess_bgr(read_bgr(image), predictor.imgsz)
        with torch.no_grad():
            out = graph(torch.from_numpy(x))
        t_out = [o.numpy().astype(np.float32) for o in ((out,) if isinstance(out, torch.Tensor) else out)]
        r_out = predictor.run(x)
        unit = [1.0 / predictor.imgsz if n in INPUT_SIDE_UNITS.get(spec.type, ()) else 1.0 for n in tally.names]
        cells = _topk_cells(graph, x, t_out) if spec.type == "topk_boxes" else None
        tally.add_raw([o * u for o, u in zip(t_out, unit)], [o * u for o, u in zip(r_out, unit)], cells)
        tally.add_detections(_match_detections(decode_outputs(t_out, spec, score_thr, predictor.imgsz)[0],
                                               decode_outputs(r_out, spec, score_thr, predictor.imgsz)[0],
                                               DET_IOU if fp32 else 0.5))
    max_abs = max(w[0] for w in tally.worst.values())
    max_rel = max(w[1] for w in tally.worst.values())
    raw_ok = max_abs <= TOLERANCE["abs"] or max_rel <= TOLERANCE["rel"]
    result = {
        "format": meta["format"], "precision": meta["precision"], "n_images": len(images),
        "gate": "fp32 tolerance" if fp32 else "report only", "tolerance": TOLERANCE if fp32 else None,
        "max_abs_diff": max_abs, "max_rel_diff": max_rel,
        "outputs": {n: {"max_abs_diff": w[0], "max_rel_diff": w[1]} for n, w in tally.worst.items()},
        "topk_boundary_entries_skipped": tally.boundary, "topk_unpaired_entries": tally.unpaired,
        "detections": {"score_thr": score_thr, **tally.dets}, "detections_match": bool(tally.same),
        "passed": bool(tally.sound and (raw_ok and tally.same and tally.unpaired == 0 if fp32 else True)),
    }
    result["verdict"] = ("FAIL" if not result["passed"] else "pass" if fp32 else "report only")
    result["summary"] = _summary(result)
    (export_dir / "parity.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _summary(p: dict[str, Any]) -> str:
    """One honest line for people: the verdict, the largest difference per output and the detection agreement.

    A reduced precision is never called a pass: its raw outputs are not held to a tolerance (int8 scores move in
    steps of 1/256 and a box may follow another peak), so it reads "report only" with the figures, and its
    accuracy is judged by AP (``edgedet eval EXPORT_DIR --data DATA``).
    """
    worst = ", ".join(f"{n} {w['max_abs_diff']:.3g}" for n, w in p["outputs"].items())
    d = p["detections"]
    dets = f"{d['matched']}/{d['torch']} PyTorch detections above {d['score_thr']} paired (runtime {d['runtime']})"
    unpaired = f", {p['topk_unpaired_entries']} top-k entries unpaired" if p["topk_unpaired_entries"] else ""
    if p["verdict"] == "report only":
        return (f"{p['precision']} {p['format']}: report only, not gated (judge it by AP with edgedet eval): "
                f"max |diff| vs PyTorch {worst}{unpaired}; {dets}")
    return f"{p['precision']} {p['format']}: {p['verdict']} (tolerance {p['tolerance']}): max |diff| {worst}{unpaired}; {dets}"
