"""PAFNet / PAFNet-lite detector (Baidu 2021, on TTFNet): anchor-free, one heatmap peak per object at stride 4."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedet.deploy.decode_spec import TopKBoxesSpec
from edgedet.models.base import Detections, Detector
from edgedet.models.criteria.ttf import TTFCriterion
from edgedet.structures.boxes import points_ltrb_to_xyxy
from edgedet.structures.targets import Targets

__all__ = ["PAFNet", "TTFDecoder", "heatmap_peaks"]


def heatmap_peaks(heat: Tensor, *, channels_last: bool = False) -> Tensor:
    """Keep each 3x3 local maximum of ``heat`` [B, C, H, W] (or [B, H, W, C] when ``channels_last``; values
    >= 0) once; zero everything else.

    A cell is a peak when it is >= its 8 neighbours and strictly > the four that come before it in raster order
    (up-left, up, up-right, left). Two or more equal neighbouring maxima (plateaus, e.g. from an int8 heatmap)
    therefore give one peak, not several. Built from pad, slices and element-wise max only: static shapes, the
    same result as a 3x3 max-pool test, ~25x faster than torch's stride-1 max-pool on CPU, and no MaxPool
    attributes for converters to mistranslate.

    The 3x3 maximum is separable: the max of each cell's row triple (left, itself, right), then that row max one
    row up and one row down. Two pads, 4 slices and 4 maxima of the heatmap's size, against one pad, 8 slices and
    6 maxima for the 8 shifted copies (``benchmarks/latency_profile``: 0.55 ms less for the whole model at 320 px,
    on onnxruntime and on LiteRT alike). Exact: a maximum is the same whatever its grouping.
    """
    h_axis = 1 if channels_last else heat.dim() - 2
    w_axis = h_axis + 1
    h, w = heat.shape[h_axis], heat.shape[w_axis]

    def pad(x: Tensor, axis: int) -> Tensor:  # one -1 on each side of ``axis`` (below any heat value)
        spec = [0, 0] * (x.dim() - 1 - axis) + [1, 1]
        return F.pad(x, spec, value=-1.0)

    cols = pad(heat, w_axis)
    left, right = cols.narrow(w_axis, 0, w), cols.narrow(w_axis, 2, w)
    rows = pad(torch.maximum(torch.maximum(left, heat), right), h_axis)  # row triples' max, padded above and below
    before = torch.maximum(rows.narrow(h_axis, 0, h), left)  # up-left, up, up-right; left
    after = torch.maximum(rows.narrow(h_axis, 2, h), right)  # down-left, down, down-right; right
    keep = (heat > before) & (heat >= after)
    if channels_last:  # the TFLite form: one SELECT_V2 costs less than CAST + MUL outside XNNPACK (not so in ORT)
        return torch.where(keep, heat, torch.zeros((), dtype=heat.dtype))
    return heat * keep.to(heat.dtype)


class TTFDecoder(nn.Module):
    """Raw head outputs -> top-k boxes with static shapes (exportable to ONNX / TFLite / Paddle).

    Index maths runs in float (``floor((i + 0.5) / W)``) because some converters mishandle integer division.

    With ``channels_last`` the peak test and top-k run on ``[B, H, W, C]`` (flattened as ``(y * W + x) * C +
    class``) instead of class-major ``[B, C, H, W]``. The TFLite export uses it
    (:func:`edgedet.export.tflite.tflite_layout`): TFLite tensors are NHWC, so the file then needs no TRANSPOSE
    of the ``C*H*W`` heatmap and box map. ONNX and Paddle keep the class-major form, because x2paddle cannot
    convert the channels-last pads. Both give the same entries; the flattening order only decides which of
    several exactly equal scores top-k lists first.

    Args:
        stride: head output stride (4).
        topk: K detections per image (no score threshold inside).
        channels_last: run the peak test and top-k channels-last (same result, see above).
    """

    def __init__(self, stride: int = 4, topk: int = 100, channels_last: bool = False) -> None:
        super().__init__()
        self.stride, self.topk, self.channels_last = stride, topk, channels_last

    def forward(self, hm_logits: Tensor, ltrb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``hm_logits`` [B, C, H, W], ``ltrb`` [B, 4, H, W] -> boxes [B, K, 4] xyxy input px, scores [B, K],
        labels [B, K] float32 (K = min(topk, C*H*W)). Boxes are clipped to the input, (W*stride, H*stride)."""
        b, c, h, w = hm_logits.shape
        k = min(self.topk, c * h * w)
        if self.channels_last:
            heat = hm_logits.sigmoid().permute(0, 2, 3, 1)  # [B, H, W, C]
            scores, idx = torch.topk(heatmap_peaks(heat, channels_last=True).reshape(b, h * w * c), k, dim=1)
            idx_f = idx.to(torch.float32)
            spatial = torch.floor((idx_f + 0.5) / float(c))
            labels = idx_f - spatial * float(c)
            gather_idx = spatial.to(torch.int64)[:, :, None].expand(-1, -1, 4)  # [B, K, 4]
            dist = torch.gather(ltrb.permute(0, 2, 3, 1).reshape(b, h * w, 4), 1, gather_idx)  # [B, K, 4]
        else:
            scores, idx = torch.topk(heatmap_peaks(hm_logits.sigmoid()).reshape(b, c * h * w), k, dim=1)
            idx_f = idx.to(torch.float32)
            labels = torch.floor((idx_f + 0.5) / float(h * w))
            spatial = idx_f - labels * float(h * w)
            gather_idx = spatial.to(torch.int64)[:, None, :].expand(-1, 4, -1)  # [B, 4, K]
            dist = torch.gather(ltrb.reshape(b, 4, h * w), 2, gather_idx).permute(0, 2, 1)  # [B, K, 4]
        ys = torch.floor((spatial + 0.5) / float(w))
        xs = spatial - ys * float(w)
        centres = torch.stack(((xs + 0.5) * self.stride, (ys + 0.5) * self.stride), -1)  # [B, K, 2]
        boxes = points_ltrb_to_xyxy(centres, dist)
        size = torch.stack((xs.new_full((), w), xs.new_full((), h)))  # [2]: grid width, height
        boxes = torch.minimum(boxes.clamp(min=0), size.repeat(2) * self.stride)
        return boxes, scores, labels


class PAFNet(Detector):
    """Backbone -> TTF neck -> PAFNet head; top-k peak decode. Losses: the criterion (TTF targets, CT focal +
    GIoU, AGS: :class:`~edgedet.models.criteria.ttf.TTFCriterion`).

    Args:
        backbone: returns maps at strides 4, 8, 16, 32 and has ``out_channels``.
        neck: maps -> one stride-4 map, has ``out_channels``.
        head: stride-4 map -> (heatmap logits [B, C, H/4, W/4], ltrb [B, 4, H/4, W/4] input px).
        num_classes: C.
        criterion: its target builder must work at stride 4 for ``num_classes`` classes.
        topk: detections per image kept by the decode.
    """

    stride = 4

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: nn.Module, num_classes: int,
                 criterion: TTFCriterion, topk: int = 100) -> None:
        super().__init__()
        builder = criterion.target_builder
        if builder.stride != self.stride or builder.num_classes != num_classes:
            raise ValueError(f"the criterion's targets are for stride {builder.stride} and {builder.num_classes} "
                             f"classes; PAFNet has stride {self.stride} and {num_classes} classes")
        self.backbone, self.neck, self.head = backbone, neck, head
        self.num_classes = num_classes
        self.criterion = criterion
        self.decoder = TTFDecoder(self.stride, topk)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images`` [B, 3, H, W] (H, W multiples of 32) -> (heatmap logits [B, C, H/4, W/4], ltrb [B, 4, H/4, W/4])."""
        return self.head(self.neck(self.backbone(images)))

    def loss(self, outputs: tuple[Tensor, Tensor], targets: Targets) -> dict[str, Tensor]:
        """``loss_hm`` and ``loss_box`` (and any extra terms); see :class:`TTFCriterion`."""
        return self.criterion(outputs, targets)

    def postprocess(self, outputs: tuple[Tensor, Tensor], score_thr: float) -> Detections:
        """Top-k peaks per image above ``score_thr``: dicts of boxes [K, 4] xyxy input px, scores [K], labels [K]."""
        hm, ltrb = outputs
        boxes, scores, labels = self.decoder(hm.float(), ltrb.float())
        dets = []
        for bx, sc, lb in zip(boxes, scores, labels):
            keep = sc > score_thr
            dets.append({"boxes": bx[keep], "scores": sc[keep], "labels": lb[keep].long()})
        return dets

    def export_graph(self) -> nn.Module:
        """:class:`PAFNetExportGraph`: ``forward`` plus the static-shape decode (sigmoid, peaks, top-k, boxes);
        its ``forward(images)`` returns (boxes [B, K, 4] xyxy input px, scores [B, K], labels [B, K] float32).

        It wraps this model (shared weights) and starts in this model's train/eval mode, so exporters that restore
        the wrapper's mode afterwards leave the model as they found it.
        """
        return PAFNetExportGraph(self).train(self.training)

    def decode_spec(self) -> TopKBoxesSpec:
        """``"topk_boxes"``: the export graph decoded already; the runtime thresholds and drops duplicate peaks."""
        return TopKBoxesSpec(outputs=["boxes", "scores", "labels"])


class PAFNetExportGraph(nn.Module):
    """Network + static-shape decode, for export: images -> (boxes, scores, labels); no threshold, no NMS."""

    def __init__(self, model: PAFNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.model.decoder(*self.model(images))
