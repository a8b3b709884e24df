"""Run the benchmarks with the default commands documented in benchmarks/README.md, one topic folder at a time.

    python benchmarks/run_all.py --list                 # topics, commands, prerequisites; runs nothing
    python benchmarks/run_all.py --only pafnet          # one topic (repeat --only for more)
    python benchmarks/run_all.py                        # every topic in order: hours on a 2-core CPU

Commands run from the repository root with this interpreter, this checkout first on ``PYTHONPATH``. Each script
writes its results into its own folder, overwriting the recorded ones: rerun only on a machine you mean to quote,
then update the README's tables with the command and machine. A topic whose input (a checkpoint another step
makes) is missing is skipped with the step that makes it; the exit status is 1 if any topic was skipped or failed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Topic:
    """One folder of benchmarks/: what it measures and the commands that remake its recorded results.

    Args:
        what: one line for ``--list``.
        commands: argument lists for the Python interpreter, paths relative to the repository root.
        needs: files the commands read that another step makes; made_by: that step.
        note: what to do by hand after the commands (shown by ``--list`` and after a run).
    """

    what: str
    commands: tuple[tuple[str, ...], ...]
    needs: tuple[str, ...] = ()
    made_by: str = ""
    note: str = ""


_SHORT_SCHEDULE = ("--imgsz", "160", "--width", "0.25", "--images", "800", "--epochs", "6", "--batch", "8",
                   "--val-images", "300", "--threads", "1")
_LIBRA_CKPT = "runs/bench_train/libra_faster_rcnn_r18_fpn/Libra/weights/best.pt"
_AGS_CKPT = "runs/ags_learning/pafnet_lite_mbv3-166431-s1/weights/best.pt"
_W05_CKPT = "runs/int8/train/pafnet_lite_w05_192_e14/weights/best.pt"

_DEVICE_EXPORTS = tuple(f"runs/device/exports/{f}_{p}" for f in ("onnx", "tflite") for p in ("fp32", "int8"))

# In run order: train_results makes the checkpoint two_stage reads.
TOPICS: dict[str, Topic] = {
    "assign_memory": Topic(
        "MaxIoU / ATSS assignment time and peak memory, chunked vs full matrix",
        (("benchmarks/assign_memory/assign_memory.py",),)),
    "pafnet": Topic(
        "PAFNet presets' parameters and MACs; PAFNet-lite CPU latency vs SSDLite and TTF target building",
        (("benchmarks/pafnet/pafnet_fidelity.py",), ("benchmarks/pafnet/pafnet_latency.py",))),
    "train_results": Topic(
        "short CPU training schedules of every detector on the built-in dataset (AP)",
        (("benchmarks/train_results/train_results.py", "--group", "anchor", *_SHORT_SCHEDULE),
         ("benchmarks/train_results/train_results.py", "--group", "pafnet", *_SHORT_SCHEDULE))),
    "two_stage": Topic(
        "Libra Faster R-CNN end to end: ONNX Runtime export vs PyTorch",
        (("benchmarks/two_stage/two_stage_latency.py", "--ckpt", _LIBRA_CKPT),),
        needs=(_LIBRA_CKPT,), made_by="the train_results topic (its Libra Faster R-CNN row)"),
    "export_table": Topic(
        "every export of the trained PAFNet-lite: AP, size, host latency, parity",
        (("benchmarks/export_table/export_table.py", "--ckpt", _W05_CKPT, "--val-images", "0", "--calib-n", "200",
          "--runs", "50", "--out", "runs/export_table_trained", "--json",
          "benchmarks/export_table/export_table_trained.json"),),
        needs=(_W05_CKPT,),
        made_by="the `edgedet train` command of benchmarks/README.md (PAFNet-lite at width 0.5, 192 px) "
                "with `--project runs/int8 --name pafnet_lite_w05_192_e14`"),
    "quantization": Topic(
        "PTQ vs QAT int8 (TFLite, ONNX QDQ) vs fp32 of a trained PAFNet-lite: AP, host latency, float ops left",
        (("benchmarks/quantization/qat_vs_ptq.py", "--ckpt", _AGS_CKPT, "--qat-iters", "300", "--batch", "8",
          "--work", "runs/bench_quantization"),),
        needs=(_AGS_CKPT,),
        made_by="the AGS-on seed-1 run of benchmarks/fidelity/README.md (`ags_learning`, PAFNet-lite width 0.5, "
                "192 px, 10 epochs); a full-width checkpoint: --ckpt runs/gpu/pafnet_lite_w1/best.pt"),
    "fidelity": Topic(
        "each paper's claim (focal, ATSS, Dynamic ATSS, NoisyAnchor, Libra, AGS) vs ours, one schedule, two seeds",
        (("benchmarks/fidelity/paper_claims.py", "--fresh"),)),
    "robustness": Topic(
        "broken datasets through `data check` and the loader, broken runtime inputs: handled, crashed, hung, escaped",
        (("benchmarks/robustness/reader_mutations.py",), ("benchmarks/robustness/runtime_mutations.py",))),
    "distill": Topic(
        "PAFNet-lite alone vs distilled from a stronger PAFNet-lite teacher, one CPU schedule, two seeds, ablations",
        (("benchmarks/distill/distill_table.py", "--teacher-run", "pafnet=" + str(Path(_AGS_CKPT).parent.parent),
          "--width", "0.25", "--imgsz", "192", "--batch", "16", "--epochs", "2", "--seeds", "0", "1", "--ablate",
          "--parallel", "2", "--workers", "0", "--threads", "1", "--device", "cpu", "--project", "runs/distill_cpu",
          "--json", "benchmarks/distill/distill_table_cpu.json"),),
        needs=(_AGS_CKPT,),
        made_by="the AGS-on seed-1 run of benchmarks/fidelity/README.md (`ags_learning`, PAFNet-lite width 0.5, "
                "192 px, 10 epochs: the teacher)",
        note="the GPU rows: `bash benchmarks/distill/gpu_run.sh` on a machine with a GPU (benchmarks/distill/README.md); "
             "the older single-run proofs: distill_proof.py, commands in that README"),
    "latency_profile": Topic(
        "where full-width PAFNet-lite's time goes vs YOLO11n at 320 px, 1 thread (ORT per-op, LiteRT sections)",
        (("benchmarks/latency_profile/latency_profile.py", "--runs", "60"),),
        needs=("/tmp/yolo11n/yolo11n.onnx", "/tmp/yolo11n/yolo11n.tflite"),
        made_by="the offline ultralytics export in benchmarks/export_table/export_table.py's docstring"),
    "device": Topic(
        "`edgedet bench` of PAFNet-lite w0.25 exports on this host (latency, RSS, AP from the target's detections)",
        (("-m", "edgedet.cli", "train", "--width", "0.25", "--imgsz", "96", "--epochs", "6", "--batch", "16",
          "--threads", "1", "--project", "runs/device", "--name", "w025_96", "--quiet"),
         ("-m", "edgedet.cli", "export", "runs/device/train/w025_96/weights/best.pt", "--format", "onnx,tflite",
          "--precision", "fp32,int8", "--calib-n", "32", "--threads", "1", "--out", "runs/device/exports"),
         ("-m", "edgedet.cli", "bench", *_DEVICE_EXPORTS, "--threads", "1,2", "--warmup", "10", "--runs", "100",
          "--accuracy", "--val-images", "50", "--out", "benchmarks/device/host.jsonl", "--report",
          "runs/device/report_host", "--quiet")),
        note="delete benchmarks/device/host.jsonl first (bench appends); copy runs/device/report_host/*.png to "
             "benchmarks/device/host_*.png; the ARM64 run needs root: `benchmarks/device/arm64_board.sh up`, "
             "then the ssh command of benchmarks/device/README.md; the op coverage (op_coverage.py, section 3 there) "
             "reads exports of the KD pilot's checkpoint and the board: its command is in that README"),
    "quickstart": Topic(
        "`edgedet quickstart`, tiny schedule: train, export every format, evaluate, report",
        (("-m", "edgedet.cli", "quickstart"),),
        note="copy the run's report.md and sample predictions from runs/quickstart/ into benchmarks/quickstart/"),
}


def command_line(argv: tuple[str, ...]) -> str:
    return shlex.join(["python", *argv])


def missing_inputs(topic: Topic, root: Path = ROOT) -> list[str]:
    return [p for p in topic.needs if not (root / p).exists()]


def list_topics(names: list[str]) -> str:
    lines = []
    for name in names:
        t = TOPICS[name]
        lines.append(f"{name}  (benchmarks/{name}/): {t.what}")
        lines += [f"    {command_line(c)}" for c in t.commands]
        for p in t.needs:
            state = "missing" if p in missing_inputs(t) else "present"
            lines.append(f"    needs {p} ({state}), made by {t.made_by}")
        if t.note:
            lines.append(f"    then: {t.note}")
    return "\n".join(lines)


def run_topic(name: str) -> bool:
    """Run one topic's commands in order; False (after saying why) if an input is missing or a command fails."""
    t = TOPICS[name]
    missing = missing_inputs(t)
    if missing:
        print(f"[{name}] skipped: needs {', '.join(missing)}, made by {t.made_by}", flush=True)
        return False
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    for argv in t.commands:
        print(f"[{name}] {command_line(argv)}", flush=True)
        rc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env).returncode
        if rc != 0:
            print(f"[{name}] failed with exit status {rc}", flush=True)
            return False
    if t.note:
        print(f"[{name}] done; now {t.note}", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print the topics and their commands; run nothing")
    ap.add_argument("--only", action="append", metavar="NAME", choices=list(TOPICS),
                    help=f"run only this topic (repeatable): {', '.join(TOPICS)}")
    args = ap.parse_args(argv)
    names = [n for n in TOPICS if not args.only or n in args.only]
    if args.list:
        print(list_topics(names))
        return 0
    failed = [n for n in names if not run_topic(n)]
    if failed:
        print(f"not completed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
