"""Train detectors on the built-in dataset with one shared short schedule and record COCO metrics.

Usage:
    .venv/bin/python benchmarks/train_results/train_results.py --group anchor   # issue: anchor-based detectors + assigners
    .venv/bin/python benchmarks/train_results/train_results.py --group pafnet   # PAFNet-lite and PAFNet-R18

Every entry uses the same data, schedule, input size and width, so rows are comparable with each other (not with
the papers' COCO figures). Writes ``benchmarks/train_results/train_results_<group>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from edgedet.bench import machine_info
from edgedet.config import resolve
from edgedet.data.synth import ensure_synth
from edgedet.engine.trainer import Trainer

# label -> (YAML to start from, overrides). r18 variants at reduced width keep a CPU run in minutes.
GROUPS = {
    "anchor": {
        "RetinaNet": ("retinanet_r50_fpn", ["model.name=retinanet_r18_fpn"]),
        "RetinaNet + ATSS assigner": ("retinanet_r50_fpn", ["model.name=retinanet_r18_fpn", "model.assigner=atss"]),
        "ATSS": ("atss_r50_fpn", ["model.name=atss_r18_fpn"]),
        "Dynamic ATSS (QFL + IoU branch)": ("dynamic_atss_r50_fpn", ["model.name=dynamic_atss_r18_fpn"]),
        "NoisyAnchor RetinaNet": ("noisy_anchor_retinanet_r50_fpn", ["model.name=noisy_anchor_retinanet_r18_fpn"]),
        "Libra RetinaNet": ("libra_retinanet_r50_fpn", ["model.name=libra_retinanet_r18_fpn"]),
        "Libra Faster R-CNN": ("libra_faster_rcnn_r50_fpn", ["model.name=libra_faster_rcnn_r18_fpn"]),
    },
    "pafnet": {
        "PAFNet-lite (MobileNetV3)": ("pafnet_lite_mbv3", []),
        "PAFNet-R18vd (no DCN)": ("pafnet_r18vd", ["model.dcn=false"]),
    },
}

# Whether each paper's claimed direction holds: (row, baseline row, claim)
CLAIMS = {
    "RetinaNet + ATSS assigner": ("RetinaNet", "ATSS assignment beats max-IoU on the same head (ATSS paper)"),
    "ATSS": ("RetinaNet", "ATSS beats RetinaNet"),
    "Dynamic ATSS (QFL + IoU branch)": ("ATSS", "combined predicted + anchor IoU beats ATSS"),
    "NoisyAnchor RetinaNet": ("RetinaNet", "cleanliness soft labels + re-weighting beat RetinaNet"),
    "Libra RetinaNet": ("RetinaNet", "Libra parts beat RetinaNet"),
}


NEAR_ZERO_AP = 0.005  # below this on both sides a comparison says nothing


def schedule(args) -> list[str]:
    return [f"train.epochs={args.epochs}", f"train.batch={args.batch}", f"data.max_images={args.images}",
            f"model.imgsz={args.imgsz}", f"model.width={args.width}", "train.eval_interval=0", "data.workers=2",
            "data.multiscale=[0,0]", "data.gridmask=0", "data.cutmix=0", "data.expand=0", "train.ema=false",
            "train.amp=false", f"train.device={args.device}", "train.warmup_iters=30", "model.num_classes=0"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--group", choices=sorted(GROUPS), required=True)
    p.add_argument("--only", action="append", help="train only these labels")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--images", type=int, default=800, help="training images used")
    p.add_argument("--val-images", type=int, default=300)
    p.add_argument("--imgsz", type=int, default=256)
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/bench_train")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = ensure_synth()
    out_json = Path(__file__).resolve().parent / f"train_results_{args.group}.json"
    results = json.loads(out_json.read_text())["rows"] if out_json.exists() and args.only else {}
    for label, (yaml_name, extra) in GROUPS[args.group].items():
        if args.only and label not in args.only:
            continue
        cfg = resolve(yaml_name, schedule(args) + extra + [f"data.path={data}"])
        t0 = time.time()
        trainer = Trainer(cfg, Path(args.out) / cfg.model.name / label.split()[0], progress=True)
        trainer.val_index.images = trainer.val_index.images[: args.val_images]
        metrics = trainer.fit()
        seconds = time.time() - t0
        n_images = args.epochs * min(args.images, len(trainer.train_index.images))
        results[label] = {"model": cfg.model.name, "assigner": cfg.model.assigner or "preset",
                          **{k: metrics[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")},
                          "train_seconds": round(seconds, 1), "train_images_per_s": round(n_images / seconds, 2),
                          "params_M": round(sum(q.numel() for q in trainer.model.parameters()) / 1e6, 2)}
        print(label, results[label], flush=True)
        out_json.write_text(json.dumps({"command": " ".join(sys.argv), "schedule": vars(args), "machine": machine_info(),
                                        "rows": results}, indent=2))
    print(markdown(results))


def table_from_json(path: str) -> str:
    return markdown(json.loads(Path(path).read_text())["rows"])


def markdown(rows: dict) -> str:
    lines = ["| detector | params M | AP | AP50 | APs | APm | APl | train img/s | paper's direction holds here? |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for label, r in rows.items():
        claim = ""
        if label in CLAIMS and CLAIMS[label][0] in rows:
            base, text = CLAIMS[label]
            if max(r["AP"], rows[base]["AP"]) < NEAR_ZERO_AP:
                verdict = "inconclusive (both near zero)"
            else:
                verdict = "yes" if r["AP"] > rows[base]["AP"] else "no"
            claim = f"{verdict}: {text} ({r['AP']:.4f} vs {rows[base]['AP']:.4f})"
        lines.append(f"| {label} | {r['params_M']} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['APs']:.3f} | "
                     f"{r['APm']:.3f} | {r['APl']:.3f} | {r['train_images_per_s']} | {claim} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        print(table_from_json(sys.argv[2]))
    else:
        main()
