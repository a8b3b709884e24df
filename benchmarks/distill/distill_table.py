"""The distillation table: teachers of two families, the student alone, distilled, and each KD term left out.

Run from the repository root with the package importable (``PYTHONPATH=.``, as ``benchmarks/run_all.py`` does).
Two phases:

1. **Teachers** (skipped for those given as ``--teacher-run FAMILY=DIR``): ``edgedet train-teacher`` for each
   ``--teacher FAMILY=MODEL``, all at once, each within ``--teacher-minutes`` (``train.time_limit``: the
   schedule is re-planned after every epoch so that it ends in time; the number of epochs it reached is recorded).
2. **Students**, every row on one schedule (``--epochs`` of ``--batch`` at ``--imgsz``, PAFNet-lite at
   ``--width``), ``--parallel`` runs at a time: the student alone and distilled with ``--kd auto`` from each
   teacher for every ``--seeds``; with ``--ablate``, for the first seed, each teacher's auto terms with one term
   left out. ``--student-minutes`` is a safety limit only: a row it cut short is flagged ``cut_short`` (its
   schedule differs from the others').

Writes one JSON: the machine (GPU name when one is used), the commands, each teacher's AP (from the distilled runs'
``teacher.json``: its own AP on the same val set) and training time, every row (AP, AP50, epochs, ms per
iteration, the teacher's forward ms per iteration, final losses) and the table: per family and terms, the mean
AP over seeds, the gain over the student alone paired by seed, and the spread.

    # GPU (all rows at once on one card; 16 CPU cores for the loaders)
    python benchmarks/distill/distill_table.py --device cuda --parallel 11 --workers 1 --teacher-workers 6 \\
        --teacher pafnet=pafnet_r18vd --teacher anchor=dynamic_atss_r18_fpn --teacher-minutes 3.5 \\
        --width 0.5 --imgsz 320 --batch 32 --epochs 10 --seeds 0 1 --ablate --json distill_table_gpu.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgedet.bench.machine import machine_info
from edgedet.distill.teacher import auto_terms

ROOT = Path(__file__).resolve().parents[2]

RECIPE = [  # one recipe for teachers and students (lr quoted for 16 images, scaled with --batch)
    "train.lr=0.04", "train.lr_batch=16", "train.schedule=cosine", "train.warmup_iters=100", "train.ema=true",
    "train.ema_decay=0.999", "train.grad_clip=35", "data.multiscale=[0,0]", "data.gridmask=0", "data.expand=0",
    "data.cutmix=0", "train.eval_interval=0",
]
MODEL_RECIPE = {  # a lower lr where the shared one failed on the GPU (benchmarks/distill/README.md)
    "pafnet_r18vd": ["train.lr=0.01", "train.lr_batch=16"],  # 0.04: heatmap collapsed in epoch 2, NaN in epoch 5
    "anchor": ["train.lr=0.02", "train.lr_batch=16"],  # half the lr: as the anchor-based pilot teacher
}


def _sets(items: list[str]) -> list[str]:
    return [a for s in items for a in ("--set", s)]


def _run(argv: list[str], log: Path, threads: int) -> tuple[int, float]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)  # keep what the caller added
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    t0 = time.time()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        f.write(" ".join(["edgedet", *argv]) + "\n")
        f.flush()
        rc = subprocess.call([sys.executable, "-m", "edgedet.cli", *argv], stdout=f, stderr=subprocess.STDOUT, env=env)
    return rc, time.time() - t0


def _metrics(run_dir: Path) -> dict:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    last = rows[-1]
    out = {"run": str(run_dir), "AP": float(last["AP"]), "AP50": float(last["AP50"]), "epochs": len(rows),
           "ms_per_iter": round(statistics.mean(float(r["iter_ms"]) for r in rows), 1),
           "train_s": round(sum(float(r["seconds"]) for r in rows), 1),
           "losses": {k: round(float(v), 4) for k, v in last.items() if k.startswith("loss") and v}}
    if last.get("teacher_ms"):
        out["teacher_ms_per_iter"] = round(statistics.mean(float(r["teacher_ms"]) for r in rows), 1)
    return out


def _plan_rows(args: argparse.Namespace, families: dict[str, str], done: dict[str, dict] | None = None) -> list[dict]:
    """Every row to train, in order; a row whose family, terms and seed a finished row in ``done`` already has
    (under another name, e.g. an ablation row) is left out."""
    rows = [{"name": f"alone_s{s}", "family": None, "terms": None, "seed": s} for s in args.seeds]
    for fam, model in families.items():
        auto = list(auto_terms("pafnet" if model.startswith("pafnet") else "anchor"))
        rows += [{"name": f"kd_{fam}_s{s}", "family": fam, "terms": auto, "seed": s} for s in args.seeds]
        if args.ablate:
            for left_out in auto:
                kept = [t for t in auto if t != left_out]
                rows.append({"name": f"kd_{fam}_no_{left_out}_s{args.seeds[0]}", "family": fam, "terms": kept,
                             "seed": args.seeds[0], "left_out": left_out})
    for spec in args.terms:  # extra term sets on every seed, e.g. anchor=out
        fam, terms = spec.split("=", 1)
        if fam in families:
            kept = terms.split(",")
            rows += [{"name": f"kd_{fam}_{'_'.join(kept)}_s{s}", "family": fam, "terms": kept, "seed": s}
                     for s in args.seeds]
    done = done or {}
    have = {(r["family"], tuple(r["terms"] or ()), r["seed"]) for r in done.values()}
    return [r for r in rows if r["name"] in done or (r["family"], tuple(r["terms"] or ()), r["seed"]) not in have]


KD_TERMS = ("hm", "box", "feat", "out")


def check_terms(specs: list[str], families: set[str]) -> None:
    """Refuse a ``--terms`` entry that is not ``FAMILY=T1,T2`` with a teacher family of this command and known terms."""
    for spec in specs:
        fam, _, terms = spec.partition("=")
        bad = [t for t in terms.split(",") if t not in KD_TERMS]
        if fam not in families or not terms or bad:
            raise SystemExit(f"--terms {spec}: give FAMILY=T1,T2 with FAMILY one of {sorted(families)} (from --teacher "
                             f"/ --teacher-run) and terms from {', '.join(KD_TERMS)}")


def _table(rows: dict[str, dict], teachers: dict[str, dict], seeds: list[int]) -> list[dict]:
    """Rows grouped by (family, terms): mean AP over seeds, the gain over the alone run of the same seed."""
    alone = {r["seed"]: r["AP"] for r in rows.values() if r["family"] is None and "AP" in r}
    groups: dict[tuple, list[dict]] = {}
    for r in rows.values():
        if "AP" in r:
            groups.setdefault((r["family"], tuple(r["terms"] or ())), []).append(r)
    table = []
    for (fam, terms), rs in groups.items():
        gains = [r["AP"] - alone[r["seed"]] for r in rs if fam is not None and r["seed"] in alone]
        table.append({
            "row": "student alone" if fam is None else f"distilled from {fam} ({', '.join(terms)})",
            "teacher_AP": teachers.get(fam, {}).get("AP") if fam else None,
            "student_AP_mean": round(statistics.mean(r["AP"] for r in rs), 4),
            "student_AP_per_seed": {r["seed"]: r["AP"] for r in rs},
            "gain_per_seed": [round(g, 4) for g in gains],
            "gain_mean": round(statistics.mean(gains), 4) if gains else None,
            "spread": round(max(r["AP"] for r in rs) - min(r["AP"] for r in rs), 4) if len(rs) > 1 else None,
            "ms_per_iter": round(statistics.mean(r["ms_per_iter"] for r in rs), 1),
            "teacher_ms_per_iter": rs[0].get("teacher_ms_per_iter"),
            "cut_short": any(r.get("cut_short") for r in rs),
        })
    return table


def _markdown(table: list[dict]) -> str:
    lines = ["| row | teacher AP | student AP (mean) | per seed | gain (per seed) | ms / iter | teacher ms / iter |",
             "|---|---|---|---|---|---|---|"]
    for t in table:
        per_seed = ", ".join(f"{v:.4f}" for v in t["student_AP_per_seed"].values())
        gain = "" if t["gain_mean"] is None else f"{t['gain_mean']:+.4f} ({', '.join(f'{g:+.4f}' for g in t['gain_per_seed'])})"
        tap = "" if t["teacher_AP"] is None else f"{t['teacher_AP']:.4f}"
        lines.append(f"| {t['row']}{' (cut short)' if t['cut_short'] else ''} | {tap} | {t['student_AP_mean']:.4f} | "
                     f"{per_seed} | {gain} | {t['ms_per_iter']} | {t['teacher_ms_per_iter'] or ''} |")
    return "\n".join(lines)


def _slim(src: Path, dst: Path) -> None:
    """A deployable copy of a checkpoint: the EMA weights as ``model``, no optimizer or training-only state."""
    import torch

    from edgedet.engine.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(src)
    if state.get("ema") is not None:
        state["model"] = state["ema"]
    for k in ("ema", "optimizer", "scaler", "train_only", "ema_train_only"):
        state.pop(k, None)
    state["model"] = {k: v.float() if torch.is_floating_point(v) else v for k, v in state["model"].items()}
    save_checkpoint(state, dst)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", action="append", default=[], metavar="FAMILY=MODEL",
                   help="train a teacher, e.g. pafnet=pafnet_r18vd, anchor=dynamic_atss_r18_fpn")
    p.add_argument("--teacher-run", action="append", default=[], metavar="FAMILY=DIR",
                   help="reuse a trained teacher (a run directory or checkpoint)")
    p.add_argument("--also", action="append", default=[], metavar="NAME=MODEL",
                   help="train this model beside the teachers, same settings, not a teacher (e.g. a full-width "
                        "PAFNet-lite for the quantization table); --collect keeps its checkpoint")
    p.add_argument("--teacher-width", type=float, default=1.0)
    p.add_argument("--teacher-epochs", type=int, default=100, help="upper bound; --teacher-minutes decides")
    p.add_argument("--teacher-minutes", type=float, default=30.0)
    p.add_argument("--teacher-batch", type=int, default=32)
    p.add_argument("--teacher-workers", type=int, default=2)
    p.add_argument("--width", type=float, default=0.5, help="student width (PAFNet-lite)")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--ablate", action="store_true", help="each teacher's auto terms with one left out (first seed)")
    p.add_argument("--terms", action="append", default=[], metavar="FAMILY=T1,T2",
                   help="also distil with these terms on every seed, e.g. anchor=out (a finished row with the same "
                        "family, terms and seed, e.g. an --ablate row, is not run again)")
    p.add_argument("--student-minutes", type=float, default=0.0, help="safety limit per student run (0 = none)")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time")
    p.add_argument("--workers", type=int, default=1, help="loader workers per student run")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", action="append", default=[], help="extra --set for every student run")
    p.add_argument("--max-images", type=int, default=0, help="train on this many images only (quick checks)")
    p.add_argument("--project", default="runs/distill_table")
    p.add_argument("--collect", default="", help="copy slim checkpoints of the first seed's rows here")
    p.add_argument("--json", default="benchmarks/distill/distill_table.json")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished rows of --json (same command apart from --seeds/--ablate/--parallel) "
                        "and run only the missing ones")
    args = p.parse_args()
    project = Path(args.project).resolve()
    machine = machine_info()
    if args.device.startswith("cuda"):
        import torch

        machine["gpu"] = torch.cuda.get_device_name(0)
        machine["torch"] = torch.__version__
    out: dict = {"command": "python benchmarks/distill/distill_table.py " + " ".join(sys.argv[1:]),
                 "machine": machine, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "teachers": {}, "rows": {}}

    done: dict[str, dict] = {}
    if args.resume and Path(args.json).is_file():
        prev = json.loads(Path(args.json).read_text())
        done = {k: r for k, r in prev["rows"].items() if r.get("rc") == 0}
        out["teachers"] = prev["teachers"]
        out["resumed_from"] = {"command": prev["command"], "started": prev["started"], "rows": sorted(done)}
        out["rows"] = dict(done)  # rows this command does not plan (e.g. an earlier --ablate) are kept too

    def save() -> None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")

    common = ["--device", args.device, "--threads", str(args.threads), "--quiet", "--project", str(project),
              "--set", f"data.max_images={args.max_images}"]
    families = dict(t.split("=", 1) for t in args.teacher)
    runs = {fam: Path(d).resolve() for fam, d in (t.split("=", 1) for t in args.teacher_run)}
    check_terms(args.terms, set(families) | set(runs))

    also = dict(a.split("=", 1) for a in args.also)

    def train_teacher(fam: str) -> None:
        model = families.get(fam) or also[fam]
        name = f"teacher_{fam}" if fam in families else fam
        recipe = RECIPE + MODEL_RECIPE.get(model if model.startswith("pafnet") else "anchor", [])
        argv = ["train-teacher", "--model", model, "--width", str(args.teacher_width), "--imgsz", str(args.imgsz),
                "--epochs", str(args.teacher_epochs), "--batch", str(args.teacher_batch), "--name", name, *common,
                *_sets(recipe + [f"train.time_limit={args.teacher_minutes}", f"data.workers={args.teacher_workers}"])]
        rc, wall = _run(argv, project / f"{name}.log", args.threads)
        run_dir = project / "train-teacher" / name
        rec = {"model": model, "width": args.teacher_width, "rc": rc, "wall_s": round(wall, 1), "run": str(run_dir)}
        if rc == 0:
            rec.update({k: v for k, v in _metrics(run_dir).items() if k != "losses"})
            if fam in families:
                runs[fam] = run_dir
        out["teachers" if fam in families else "also"][fam] = rec
        save()

    t0 = time.time()
    out["also"] = {}
    phase1 = [f for f in families if f not in runs] + list(also)
    with ThreadPoolExecutor(max(len(phase1), 1)) as pool:
        list(pool.map(train_teacher, phase1))
    out["teacher_phase_s"] = round(time.time() - t0, 1)
    for fam, d in runs.items():
        out["teachers"].setdefault(fam, {"run": str(d), "reused": True})
        families.setdefault(fam, "pafnet" if "pafnet" in str(d) else "anchor")
    families = {f: m for f, m in families.items() if f in runs}  # a teacher that failed drops its rows

    student = ["--model", "pafnet_lite_mbv3", "--width", str(args.width), "--imgsz", str(args.imgsz),
               "--epochs", str(args.epochs), "--batch", str(args.batch), *common,
               *_sets(RECIPE + [f"data.workers={args.workers}", "distill.warmup_iters=300"]
                      + ([f"train.time_limit={args.student_minutes}"] if args.student_minutes else []) + args.set)]
    rows = _plan_rows(args, families, done)

    def train_student(row: dict) -> None:
        name, seed = row["name"], row["seed"]
        if name in done:
            out["rows"][name] = done[name]
            return
        if row["family"] is None:
            argv = ["train", *student, "--set", f"train.seed={seed}", "--name", name]
            run_dir = project / "train" / name
        else:
            argv = ["distill", "--teacher", str(runs[row["family"]]), "--kd", ",".join(row["terms"]), *student,
                    "--set", f"train.seed={seed}", "--name", name]
            run_dir = project / "distill" / name
        rc, wall = _run(argv, project / f"{name}.log", args.threads)
        rec = {**row, "rc": rc, "wall_s": round(wall, 1)}
        if rc == 0:
            rec.update(_metrics(run_dir))
            rec["cut_short"] = rec["epochs"] < args.epochs
            tj = run_dir / "teacher.json"
            if tj.is_file():
                t = json.loads(tj.read_text())
                fam = out["teachers"][row["family"]]
                fam.setdefault("AP", t["teacher_AP"])
                fam.setdefault("AP50", t["teacher_AP50"])
                fam.setdefault("teacher_model", t["teacher_model"])
        out["rows"][name] = rec
        out["table"] = _table(out["rows"], out["teachers"], args.seeds)
        save()
        print(f"{name}: rc {rc}, AP {rec.get('AP', float('nan')):.4f}, {wall:.0f} s", flush=True)

    t0 = time.time()
    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(train_student, rows))
    out["student_phase_s"] = round(time.time() - t0, 1)
    out["table"] = _table(out["rows"], out["teachers"], args.seeds)
    out["table_md"] = _markdown(out["table"])
    out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    save()
    if args.collect:
        dst = Path(args.collect)
        dst.mkdir(parents=True, exist_ok=True)
        for name, rec in out["rows"].items():
            if rec.get("rc") == 0 and rec["seed"] == args.seeds[0] and "left_out" not in rec:
                _slim(Path(rec["run"]) / "weights" / "last.pt", dst / f"{name}.pt")
        for name, rec in out["also"].items():
            if rec.get("rc") == 0:
                _slim(Path(rec["run"]) / "weights" / "last.pt", dst / f"{name}.pt")
        shutil.copy(args.json, dst / Path(args.json).name)
    print(out["table_md"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
