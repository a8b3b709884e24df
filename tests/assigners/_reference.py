"""Straightforward full-matrix reference assigners (mmdetection-style), used only to cross-check ours."""

import torch
from torchvision.ops import box_iou


def max_iou_reference(priors, gts, pos_thr, neg_thr, min_pos_iou=0.0):
    overlaps = box_iou(gts, priors)  # [G, P]
    gt_inds = torch.full((priors.shape[0],), -1, dtype=torch.long)
    max_ov, arg = overlaps.max(0)
    gt_inds[(max_ov >= 0) & (max_ov < neg_thr)] = 0
    gt_inds[max_ov >= pos_thr] = arg[max_ov >= pos_thr] + 1
    gt_max, _ = overlaps.max(1)
    for i in range(gts.shape[0]):  # random data: every prior is the best of at most one GT
        if gt_max[i] > 0 and gt_max[i] >= min_pos_iou:
            gt_inds[overlaps[i] == gt_max[i]] = i + 1
    return gt_inds


def atss_reference(priors, num_level_priors, gts, topk):
    overlaps = box_iou(priors, gts)  # [P, G]
    pc = (priors[:, :2] + priors[:, 2:]) / 2
    gc = (gts[:, :2] + gts[:, 2:]) / 2
    dist = torch.cdist(pc, gc)
    cands, start = [], 0
    for n in num_level_priors:
        k = min(topk, n)
        cands.append(dist[start:start + n].topk(k, dim=0, largest=False).indices + start)
        start += n
    cand = torch.cat(cands, 0)  # [K, G]
    cov = overlaps.gather(0, cand)
    thr = cov.mean(0) + cov.std(0)
    pos = cov >= thr[None]
    g = gts[None].expand(cand.shape[0], -1, -1)
    c = pc[cand]
    inside = torch.stack([c[..., 0] - g[..., 0], c[..., 1] - g[..., 1], g[..., 2] - c[..., 0],
                          g[..., 3] - c[..., 1]], -1).amin(-1) > 0.01
    pos &= inside
    ov = torch.full_like(overlaps, -1.0)
    gidx = torch.arange(gts.shape[0])[None].expand_as(cand)
    ov[cand[pos], gidx[pos]] = overlaps[cand[pos], gidx[pos]]
    best, arg = ov.max(1)
    return torch.where(best >= 0, arg + 1, torch.zeros_like(arg))
