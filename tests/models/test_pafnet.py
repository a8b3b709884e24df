import itertools

import pytest
import torch

from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.config.schema import ModelConfig
from edgedet.models.criteria.ttf import grid_centres
from edgedet.models.pafnet import TTFDecoder, heatmap_peaks
from edgedet.models.zoo import build_model
from edgedet.structures.boxes import points_xyxy_to_ltrb

torch.set_num_threads(1)


def _tiny(name, dcn=False, classes=3, ags=True):
    torch.manual_seed(0)
    width = 0.25 if name == "pafnet_lite_mbv3" else 0.125
    return build_model(ModelConfig(name=name, num_classes=classes, width=width, dcn=dcn, ags=ags, frozen_stages=-1))


TARGETS = [
    {"boxes": torch.tensor([[10.0, 12, 50, 60], [60, 20, 90, 40]]), "labels": torch.tensor([0, 2])},
    {"boxes": torch.tensor([[30.0, 30, 70, 80]]), "labels": torch.tensor([1])},
]


@pytest.mark.parametrize("name,dcn", [("pafnet_lite_mbv3", False), ("pafnet_r18vd", False), ("pafnet_r18vd", True)])
def test_output_shapes_and_decode(name, dcn):
    model = _tiny(name, dcn).eval()
    with torch.no_grad():
        hm, ltrb = model(torch.randn(2, 3, 64, 96))
    assert hm.shape == (2, 3, 16, 24) and ltrb.shape == (2, 4, 16, 24)
    assert (ltrb >= 0).all()
    torch.testing.assert_close(hm.sigmoid().mean(), torch.tensor(0.01), atol=0.01, rtol=0)  # prior bias
    dets = model.postprocess((hm, ltrb), score_thr=0.0)
    assert len(dets) == 2 and dets[0]["boxes"].shape[1] == 4 and dets[0]["labels"].dtype == torch.long


def test_export_graph_static_shapes():
    model = _tiny("pafnet_lite_mbv3").eval()
    graph = model.export_graph()
    with torch.no_grad():
        boxes, scores, labels = graph(torch.randn(1, 3, 64, 64))
    assert boxes.shape == (1, 100, 4) and scores.shape == (1, 100) and labels.shape == (1, 100)
    assert labels.dtype == torch.float32 and set(labels.unique().tolist()) <= {0.0, 1.0, 2.0}
    assert (boxes[..., 0::2] >= 0).all() and (boxes[..., 0::2] <= 64).all()
    assert model.decode_spec().to_dict() == {"type": "topk_boxes", "outputs": ["boxes", "scores", "labels"],
                                             "dedup_iou": 0.7}
    with torch.no_grad():
        hm, ltrb = model(torch.zeros(1, 3, 64, 64))
        torch.testing.assert_close(graph(torch.zeros(1, 3, 64, 64))[1], model.decoder(hm, ltrb)[1])


def test_decode_round_trip_from_perfect_targets():
    gts = torch.tensor([[10.0, 12, 50, 60], [70, 20, 121, 41], [20, 90, 33, 101], [60, 64, 120, 124]])
    labels = torch.tensor([0, 2, 1, 2])
    t = TTFTargetBuilder(3)([{"boxes": gts, "labels": labels}], (32, 32))
    logits = torch.logit(t["heatmap"].clamp(1e-6, 1 - 1e-6))
    ltrb = points_xyxy_to_ltrb(grid_centres(32, 32, 4), t["box_target"][0]).permute(2, 0, 1)[None]
    det = TTFDecoder(stride=4, topk=100)(logits, ltrb.clamp(min=0))
    boxes, scores, labs = (x[0] for x in det)
    found = scores > 0.5
    assert found.sum().item() == 4
    order = boxes[found][:, 0].argsort()
    gt_order = gts[:, 0].argsort()
    torch.testing.assert_close(boxes[found][order], gts[gt_order], atol=1.0, rtol=0)
    assert labs[found][order].tolist() == labels[gt_order].float().tolist()


def test_plateau_gives_one_peak():
    heat = torch.full((1, 2, 8, 8), 0.01)
    heat[0, 0, 2, 2] = heat[0, 0, 2, 3] = 0.6  # horizontal pair
    heat[0, 0, 5:7, 5:7] = 0.4  # 2x2 block
    heat[0, 1, 3, 4] = heat[0, 1, 4, 3] = 0.5  # diagonal pair
    heat[0, 1, 6, 1:6] = 0.3  # run of five
    peaks = heatmap_peaks(heat)
    assert (peaks > 0.1).sum().item() == 4
    assert peaks[0, 0, 2, 2] == 0.6 and peaks[0, 0, 5, 5] == 0.4 and peaks[0, 1, 3, 4] == 0.5 and peaks[0, 1, 6, 1] == 0.3
    # the plain max-pool test would keep every plateau cell
    naive = heat * (heat == torch.nn.functional.max_pool2d(heat, 3, 1, 1))
    assert (naive > 0.1).sum().item() == 2 + 4 + 2 + 5
    # through the decoder: exactly four confident detections
    _, scores, _ = TTFDecoder(4, 20)(torch.logit(heat), torch.ones(1, 4, 8, 8))
    assert (scores > 0.1).sum().item() == 4


@pytest.mark.parametrize("name,ags", [("pafnet_lite_mbv3", True), ("pafnet_r18vd", False)])
def test_losses_finite_and_falling(name, ags):
    model = _tiny(name, dcn=name != "pafnet_lite_mbv3", ags=ags).train()
    torch.manual_seed(1)
    images = torch.randn(2, 3, 96, 96)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.04, momentum=0.9)
    history = []
    for _ in range(10):
        losses = model.loss(model(images), TARGETS)
        assert set(losses) == {"loss_hm", "loss_box"}
        assert all(torch.isfinite(v) for v in losses.values())
        history.append({k: v.item() for k, v in losses.items()})
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    assert history[-1]["loss_hm"] < 0.95 * history[0]["loss_hm"]
    assert history[-1]["loss_box"] < 0.95 * history[0]["loss_box"]


def test_images_without_boxes():
    model = _tiny("pafnet_lite_mbv3").train()
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    out = model(torch.randn(2, 3, 64, 64))
    losses = model.loss(out, [empty, empty])
    assert losses["loss_box"].item() == 0.0 and losses["loss_hm"].item() > 0
    sum(losses.values()).backward()
    mixed = model.loss(model(torch.randn(2, 3, 64, 64)), [empty, TARGETS[1]])
    assert torch.isfinite(mixed["loss_box"]) and mixed["loss_box"].item() > 0
    with pytest.raises(ValueError):
        model.loss(out, [empty])


def test_peaks_equal_maxpool_test_without_ties():
    heat = torch.rand(2, 3, 11, 13, generator=torch.Generator().manual_seed(0))
    ref = heat * (heat == torch.nn.functional.max_pool2d(heat, 3, 1, 1))
    torch.testing.assert_close(heatmap_peaks(heat), ref, atol=0, rtol=0)
    assert (ref > 0).sum() > 10  # there are peaks to compare


def test_channels_last_peaks_equal_channels_first_with_plateaus():
    """The decode's channels-last peak test keeps exactly the cells of the NCHW one, plateaus included."""
    g = torch.Generator().manual_seed(0)
    heat = torch.randint(0, 4, (2, 3, 9, 11), generator=g).float() / 4  # many equal neighbours
    want = heatmap_peaks(heat)
    got = heatmap_peaks(heat.permute(0, 2, 3, 1).contiguous(), channels_last=True).permute(0, 3, 1, 2)
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    assert 10 < (want > 0).sum() < (heat > 0).sum()  # the plateau rule dropped cells: the case is not trivial


def _peaks_by_loops(heat):
    """The tie rule cell by cell: >= all 8 neighbours, > the 4 before it in raster order (outside counts as -1)."""
    b, c, h, w = heat.shape
    out = torch.zeros_like(heat)
    def at(n, k, y, x):
        return heat[n, k, y, x].item() if 0 <= y < h and 0 <= x < w else -1.0

    for n, k, y, x in itertools.product(range(b), range(c), range(h), range(w)):
        v = heat[n, k, y, x].item()
        before = [at(n, k, y - 1, x - 1), at(n, k, y - 1, x), at(n, k, y - 1, x + 1), at(n, k, y, x - 1)]
        after = [at(n, k, y, x + 1), at(n, k, y + 1, x - 1), at(n, k, y + 1, x), at(n, k, y + 1, x + 1)]
        if all(v > u for u in before) and all(v >= u for u in after):
            out[n, k, y, x] = v
    return out


@pytest.mark.parametrize("channels_last", [False, True])
def test_peaks_equal_cell_by_cell_rule_with_plateaus(channels_last):
    """The separable peak test (row triples, then rows above and below) keeps exactly the cells of the rule."""
    g = torch.Generator().manual_seed(3)
    heat = torch.randint(0, 3, (2, 2, 7, 9), generator=g).float() / 3  # plateaus everywhere, zeros at borders
    want = _peaks_by_loops(heat)
    if channels_last:
        got = heatmap_peaks(heat.permute(0, 2, 3, 1).contiguous(), channels_last=True).permute(0, 3, 1, 2)
    else:
        got = heatmap_peaks(heat)
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    assert 5 < (want > 0).sum() < (heat > 0).sum() // 2  # ties dropped many cells: not a trivial case


def _decode_channels_first(logits, ltrb, stride, topk):
    """The decode as it was before the channels-last rewrite (flattened class-major): the reference."""
    b, c, h, w = logits.shape
    peaks = heatmap_peaks(logits.sigmoid()).reshape(b, c * h * w)
    scores, idx = torch.topk(peaks, topk, dim=1)
    labels, spatial = idx // (h * w), idx % (h * w)
    ys, xs = (spatial // w).float(), (spatial % w).float()
    dist = torch.gather(ltrb.reshape(b, 4, h * w), 2, spatial[:, None, :].expand(-1, 4, -1)).permute(0, 2, 1)
    cx, cy = (xs + 0.5) * stride, (ys + 0.5) * stride
    boxes = torch.stack((cx - dist[..., 0], cy - dist[..., 1], cx + dist[..., 2], cy + dist[..., 3]), -1)
    boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([w, h, w, h]) * stride)
    return boxes, scores, labels.float()


def test_channels_last_decode_equals_channels_first_decode():
    """The channels-last decode (the TFLite export's) and the class-major one (the model's, ONNX's, Paddle's) give
    the same top-k entries (score, label, box) as a plain reference on a random heatmap with no ties."""
    g = torch.Generator().manual_seed(1)
    logits, ltrb = torch.randn(2, 5, 12, 10, generator=g) * 3, torch.rand(2, 4, 12, 10, generator=g) * 30
    ref_boxes, ref_scores, ref_labels = _decode_channels_first(logits, ltrb, 4, 40)
    assert len(torch.unique(ref_scores)) == ref_scores.numel()  # no ties: the order is defined
    for channels_last in (True, False):
        boxes, scores, labels = TTFDecoder(4, 40, channels_last=channels_last)(logits, ltrb)
        torch.testing.assert_close(scores, ref_scores, atol=0, rtol=0)
        torch.testing.assert_close(labels, ref_labels, atol=0, rtol=0)
        torch.testing.assert_close(boxes, ref_boxes, atol=1e-5, rtol=0)
    assert labels.unique().numel() == 5 and (boxes[..., 2] > boxes[..., 0]).all()
