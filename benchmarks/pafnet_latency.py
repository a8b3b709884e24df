"""CPU latency of PAFNet-lite vs torchvision SSDLite320-MobileNetV3-large, and TTF target-building time.

    .venv/bin/python benchmarks/pafnet_latency.py [--runs 40] [--warmup 8]

Both detectors are randomly initialised (nothing is downloaded), eval mode, fp32, batch 1, 320x320, torch CPU,
at 1 and 2 threads. Calls of the models alternate within each round, so load from other processes on a shared
machine hits both alike; the ratio is the figure to read. Measured:
- ``net``: the network alone (PAFNet-lite ``forward``; SSDLite ``backbone`` + ``head``), the like-for-like pair;
- ``e2e``: PAFNet-lite's export graph (network + static top-k decode) vs SSDLite's full eval ``forward``
  (its transform, network, box decode and NMS).
Target building: ``TTFTargetBuilder`` on a batch of 16 images at 320 (80x80 grid), 20 boxes per image, 80 classes.
Writes benchmarks/pafnet_latency.json and prints markdown rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine

from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.config.schema import ModelConfig
from edgedet.models.zoo import build_model


def _stats(ms: list[float]) -> dict:
    s = sorted(ms)
    return {"median_ms": round(statistics.median(s), 2), "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 2),
            "min_ms": round(s[0], 2), "runs": len(s)}


def _interleaved(fns: dict, x: torch.Tensor, warmup: int, runs: int) -> dict:
    times = {k: [] for k in fns}
    with torch.inference_mode():
        for _ in range(warmup):
            for f in fns.values():
                f(x)
        for _ in range(runs):
            for k, f in fns.items():
                t0 = time.perf_counter()
                f(x)
                times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: _stats(v) for k, v in times.items()}


def latency(warmup: int, runs: int) -> list[dict]:
    torch.manual_seed(0)
    lite = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=80)).eval()
    lite_graph = lite.export_graph().eval()
    ssd = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()

    def ssd_net(x):
        return ssd.head(list(ssd.backbone(x).values()))

    fns = {"pafnet_lite_net": lite, "ssdlite_net": ssd_net, "pafnet_lite_e2e": lite_graph,
           "ssdlite_e2e": lambda x: ssd(list(x))}
    x = torch.randn(1, 3, 320, 320)
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        res = _interleaved(fns, x, warmup, runs)
        rows.append({
            "threads": threads, **res,
            "ratio_net_pafnet_over_ssdlite": round(res["pafnet_lite_net"]["median_ms"] / res["ssdlite_net"]["median_ms"], 2),
            "ratio_e2e_pafnet_over_ssdlite": round(res["pafnet_lite_e2e"]["median_ms"] / res["ssdlite_e2e"]["median_ms"], 2),
            # minima are the least sensitive to other processes on a shared machine
            "ratio_net_min_pafnet_over_ssdlite": round(res["pafnet_lite_net"]["min_ms"] / res["ssdlite_net"]["min_ms"], 2),
        })
        print(json.dumps(rows[-1]))
    return rows


def target_building(reps: int = 20) -> dict:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    targets = []
    for _ in range(16):
        xy = torch.rand(20, 2, generator=g) * 280
        wh = torch.rand(20, 2, generator=g) * 120 + 4
        boxes = torch.cat([xy, (xy + wh).clamp(max=320)], 1)
        targets.append({"boxes": boxes, "labels": torch.randint(0, 80, (20,), generator=g)})
    builder = TTFTargetBuilder(80)
    builder(targets, (80, 80))
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        builder(targets, (80, 80))
        ms.append((time.perf_counter() - t0) * 1e3)
    out = {"batch": 16, "input": 320, "grid": [80, 80], "boxes_per_image": 20, "num_classes": 80, "threads": 1,
           "device": "cpu", **_stats(ms)}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=8)
    args = ap.parse_args()
    cmd = "python benchmarks/pafnet_latency.py" + (f" --runs {args.runs}" if args.runs != 40 else "")
    out = {"command": cmd, "date": time.strftime("%Y-%m-%d"), "machine": machine(), "warmup": args.warmup,
           "input": 320, "batch": 1, "precision": "fp32", "latency": latency(args.warmup, args.runs),
           "target_building": target_building()}
    (Path(__file__).resolve().parent / "pafnet_latency.json").write_text(json.dumps(out, indent=2) + "\n")
    cpu = out["machine"]["cpu"]
    for r in out["latency"]:
        print(f"| {r['threads']} | {r['pafnet_lite_net']['median_ms']} / {r['pafnet_lite_net']['p95_ms']} / "
              f"{r['pafnet_lite_net']['min_ms']} | {r['ssdlite_net']['median_ms']} / {r['ssdlite_net']['p95_ms']} / "
              f"{r['ssdlite_net']['min_ms']} | {r['ratio_net_pafnet_over_ssdlite']} ({r['ratio_net_min_pafnet_over_ssdlite']}) | "
              f"{r['pafnet_lite_e2e']['median_ms']} | {r['ssdlite_e2e']['median_ms']} | "
              f"{r['ratio_e2e_pafnet_over_ssdlite']} | `{cmd}` | {cpu} |")
    t = out["target_building"]
    print(f"| TTF targets, batch 16 x 320, 20 boxes/img, 80 cls | {t['median_ms']} / {t['p95_ms']} ms | `{cmd}` | {cpu} |")


if __name__ == "__main__":
    main()
