"""Distillation proof on the built-in dataset: the student alone and distilled on one schedule, one teacher.

Run from the repository root with the package importable (``PYTHONPATH=.``, as ``benchmarks/run_all.py`` does).
Runs strictly one after the other (one torch thread each): ``edgedet train`` (student alone), then
``edgedet distill --teacher TEACHER`` with the same flags; reads each run's metrics.csv and the distilled run's
teacher.json (the teacher's AP on the same val set) and writes one JSON with the rows, the iteration time of
both runs (the cost of distillation, same machine, back to back) and the machine with its load.

    python benchmarks/distill/distill_proof.py --teacher runs/distill_bench/train-teacher/teacher_lite_w05 \\
        --width 0.25 --imgsz 192 --max-iters 120 --json benchmarks/distill/distill_proof.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgedet.bench.machine import machine_info

ROOT = Path(__file__).resolve().parents[2]


def _schedule(args: argparse.Namespace) -> list[str]:
    return ["--model", "pafnet_lite_mbv3", "--width", str(args.width), "--imgsz", str(args.imgsz), "--epochs",
            str(args.epochs), "--batch", str(args.batch), "--threads", "1", "--device", "cpu", "--quiet",
            "--project", str(args.project), "--set", f"train.max_iters={args.max_iters}", "--set",
            f"train.seed={args.seed}", "--set", "train.lr=0.04", "--set", "train.lr_batch=16", "--set",
            "train.schedule=cosine", "--set", "train.warmup_iters=50", "--set", "train.ema=true", "--set",
            "train.ema_decay=0.999", "--set", "data.multiscale=[0,0]", "--set", "data.gridmask=0", "--set",
            "data.expand=0", "--set", "train.eval_interval=0", "--set", "data.workers=1",
            *(a for s in args.set for a in ("--set", s))]


def _run(argv: list[str], log: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call([sys.executable, "-m", "edgedet.cli", *argv], stdout=f, stderr=subprocess.STDOUT, env=env)
    if rc != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed (exit {rc}); see {log}")
    return time.time() - t0


def _row(run_dir: Path, wall_s: float, iters: int) -> dict:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    last = rows[-1]
    train_s = sum(float(r["seconds"]) for r in rows)
    row = {"run": str(run_dir), "AP": float(last["AP"]), "AP50": float(last["AP50"]), "wall_s": round(wall_s, 1),
           "train_s": round(train_s, 1), "iters": iters, "ms_per_iter": float(last["iter_ms"]),
           "losses": {k: float(v) for k, v in last.items() if k.startswith("loss")}}
    if "teacher_ms" in last:
        row["teacher_ms_per_iter"] = float(last["teacher_ms"])
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True, help="teacher checkpoint or run directory (trained at --imgsz)")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--imgsz", type=int, default=192)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-iters", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kd", default="auto")
    p.add_argument("--set", action="append", default=[], help="extra --set for both runs")
    p.add_argument("--project", default="runs/distill_bench")
    p.add_argument("--json", default="benchmarks/distill/distill_proof.json")
    args = p.parse_args()
    machine = machine_info()
    machine["load_avg_1min_at_start"] = os.getloadavg()[0]
    name = f"w{args.width:g}_{args.imgsz}_s{args.seed}"
    sched = _schedule(args)
    project = Path(args.project)
    alone_s = _run(["train", *sched, "--name", f"alone_{name}"], project / f"alone_{name}.log")
    alone = _row(project / "train" / f"alone_{name}", alone_s, args.epochs * args.max_iters)
    load_mid = os.getloadavg()[0]
    kd_s = _run(["distill", "--teacher", args.teacher, "--kd", args.kd, *sched, "--name", f"kd_{name}"],
                project / f"kd_{name}.log")
    kd_dir = project / "distill" / f"kd_{name}"
    kd = _row(kd_dir, kd_s, args.epochs * args.max_iters)
    teacher = json.loads((kd_dir / "teacher.json").read_text())
    out = {
        "command": "python benchmarks/distill/distill_proof.py " + " ".join(sys.argv[1:]),
        "student_flags": sched,
        "machine": machine | {"load_avg_1min_between_runs": load_mid, "load_avg_1min_at_end": os.getloadavg()[0]},
        "teacher": {"path": teacher["teacher"], "model": teacher["teacher_model"], "AP": teacher["teacher_AP"],
                    "AP50": teacher["teacher_AP50"]},
        "terms": teacher["terms"],
        "rows": {"student alone": alone, "distilled": kd},
        "gain_AP": round(kd["AP"] - alone["AP"], 4),
        "iteration_time_ratio_distilled_vs_alone": round(kd["ms_per_iter"] / alone["ms_per_iter"], 2),
    }
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("teacher", "gain_AP", "iteration_time_ratio_distilled_vs_alone")}, indent=2))
    print(f"alone AP {alone['AP']:.4f}  distilled AP {kd['AP']:.4f}  -> {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
