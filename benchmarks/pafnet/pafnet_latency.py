"""CPU latency of PAFNet-lite vs torchvision SSDLite320-MobileNetV3-large, and TTF target-building time.

    .venv/bin/python benchmarks/pafnet/pafnet_latency.py [--runs 40] [--warmup 8]

Both detectors are randomly initialised (nothing is downloaded), eval mode, fp32, batch 1, 320x320, torch CPU,
at 1 and 2 threads. Calls of the models alternate within each round, in a fresh seeded random order every round
(:func:`edgedet.bench.time_interleaved`), so load from other processes on a shared machine hits both alike; the
ratio is the figure to read. Measured:
- ``net``: the network alone (PAFNet-lite ``forward``; SSDLite ``backbone`` + ``head``), the like-for-like pair;
- ``e2e``: PAFNet-lite's export graph (network + static top-k decode) vs SSDLite's full eval ``forward``
  (its transform, network, box decode and NMS).
Target building: ``TTFTargetBuilder`` on a batch of 16 images at 320 (80x80 grid), 20 boxes per image, 80 classes.
Writes benchmarks/pafnet/pafnet_latency.json and prints markdown rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

from edgedet.assigners.ttf_target import TTFTargetBuilder
from edgedet.bench import latency_stats, machine_info, time_calls, time_interleaved
from edgedet.config.schema import ModelConfig
from edgedet.models.zoo import build_model


def latency(warmup: int, runs: int) -> list[dict]:
    torch.manual_seed(0)
    lite = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=80)).eval()
    lite_graph = lite.export_graph().eval()
    ssd = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()

    def ssd_net(x):
        return ssd.head(list(ssd.backbone(x).values()))

    x = torch.randn(1, 3, 320, 320)
    fns = {"pafnet_lite_net": (lite, x), "ssdlite_net": (ssd_net, x), "pafnet_lite_e2e": (lite_graph, x),
           "ssdlite_e2e": (lambda t: ssd(list(t)), x)}
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            times = time_interleaved(fns, warmup=warmup, runs=runs)
        res = {k: latency_stats(v).as_dict() for k, v in times.items()}
        rows.append({
            "threads": threads, **res,
            "ratio_net_pafnet_over_ssdlite": round(res["pafnet_lite_net"]["p50_ms"] / res["ssdlite_net"]["p50_ms"], 2),
            "ratio_e2e_pafnet_over_ssdlite": round(res["pafnet_lite_e2e"]["p50_ms"] / res["ssdlite_e2e"]["p50_ms"], 2),
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
    ms = time_calls(lambda t: builder(t, (80, 80)), targets, warmup=1, runs=reps)
    out = {"batch": 16, "input": 320, "grid": [80, 80], "boxes_per_image": 20, "num_classes": 80, "threads": 1,
           "device": "cpu", **latency_stats(ms).as_dict()}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=8)
    args = ap.parse_args()
    cmd = "python benchmarks/pafnet/pafnet_latency.py" + (f" --runs {args.runs}" if args.runs != 40 else "")
    out = {"command": cmd, "date": time.strftime("%Y-%m-%d"), "machine": machine_info(), "warmup": args.warmup,
           "input": 320, "batch": 1, "precision": "fp32", "latency": latency(args.warmup, args.runs),
           "target_building": target_building()}
    (Path(__file__).resolve().parent / "pafnet_latency.json").write_text(json.dumps(out, indent=2) + "\n")
    cpu = out["machine"]["cpu"]
    for r in out["latency"]:
        print(f"| {r['threads']} | {r['pafnet_lite_net']['p50_ms']} / {r['pafnet_lite_net']['p95_ms']} / "
              f"{r['pafnet_lite_net']['min_ms']} | {r['ssdlite_net']['p50_ms']} / {r['ssdlite_net']['p95_ms']} / "
              f"{r['ssdlite_net']['min_ms']} | {r['ratio_net_pafnet_over_ssdlite']} ({r['ratio_net_min_pafnet_over_ssdlite']}) | "
              f"{r['pafnet_lite_e2e']['p50_ms']} | {r['ssdlite_e2e']['p50_ms']} | "
              f"{r['ratio_e2e_pafnet_over_ssdlite']} | `{cmd}` | {cpu} |")
    t = out["target_building"]
    print(f"| TTF targets, batch 16 x 320, 20 boxes/img, 80 cls | {t['p50_ms']} / {t['p95_ms']} ms | `{cmd}` | {cpu} |")


if __name__ == "__main__":
    main()
