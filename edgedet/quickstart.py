"""``edgedet quickstart``: the main job end to end on the built-in dataset.

synthesise the dataset -> train a teacher (a wider PAFNet-lite) -> train the PAFNet-lite student alone and distil
the same student from the teacher, side by side -> evaluate all three -> quantize and export the distilled student to
every available format x precision (int8 calibrated on training images) -> evaluate every export through
``edgedet.runtime`` -> time every export with ``edgedet bench``'s runner on this host (``bench.jsonl``, ``bench/``)
-> ``report.md``, the distillation table first. The ``tiny`` schedule finishes in under 20 minutes on a 2-core CPU;
``full`` (PAFNet R50vd teaching a full-width PAFNet-lite on the recipes' schedules) is for a GPU.

The student alone runs in a second process while the distilled student trains in this one (one torch thread each
on a CPU), so both rows see the same machine at the same time. Timing on a phone or a board needs the device, so
the report names the ``edgedet bench --target`` command for it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgedet.bench.result import BenchmarkResult

log = logging.getLogger("edgedet")

EXPORTS = (("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "int8"),
           ("paddle", "fp32"), ("paddle-lite", "fp32"))


@dataclass(frozen=True)
class Schedule:
    overrides: tuple[str, ...]  # every run (teacher and both students)
    exports: tuple[tuple[str, str], ...]
    val_images: int  # images used to evaluate each export (0 = all)
    teacher: tuple[str, ...] = ()  # the teacher's own overrides, after ``overrides``
    student: tuple[str, ...] = ()  # both students' overrides (alone and distilled), after ``overrides``
    teacher_model: str = "pafnet_lite_mbv3"
    kd: str = "auto"  # distill.kd of the distilled student
    calib_n: int = 200  # int8 calibration images
    synth: tuple[int, int] = (4000, 1000)  # built-in dataset: train / val images at 320 px
    bench: tuple[int, int] = (10, 100)  # host bench: untimed calls per export, timed rounds (edgedet bench defaults)


SCHEDULES = {
    "tiny": Schedule(
        # lr 16x the recipe's scaled value: from random init the recipe's lr leaves the heatmap flat for thousands of
        # iterations (benchmarks/README.md). 500 iterations of batch 16 per run; the teacher is twice as wide as the
        # student. Measured on the 2-core AMD EPYC: README "Results" (the quickstart line)
        overrides=("model.imgsz=192", "train.epochs=2", "train.batch=16", "train.lr=0.04", "train.lr_batch=16",
                   "train.schedule=cosine", "train.warmup_iters=100", "train.ema=true", "train.ema_decay=0.999",
                   "data.multiscale=[0,0]", "data.gridmask=0", "data.expand=0", "train.eval_interval=0"),
        teacher=("model.width=0.5", "data.workers=1"),
        # two students at once, one torch thread each and no loader process: 2 cores, 2 processes
        student=("model.width=0.25", "data.workers=0", "train.threads=1", "distill.warmup_iters=150"),
        exports=EXPORTS,
        val_images=300,
        calib_n=100,
        # edgedet bench's defaults: its 7 exports (4 to 22 ms a call) took 15 s on 2 busy cores (load 7), 11 s
        # with 50 rounds; a paddle worker's start alone is 3 s
        bench=(10, 100),
    ),
    # the recipes' own schedules; the teacher at the student's 320 px (it sees the student's batch), not its 512
    "full": Schedule(overrides=(), teacher_model="pafnet_r50vd", teacher=("model.imgsz=320",), exports=EXPORTS,
                     val_images=0),
}


def _train(cfg, run_dir: Path, progress: bool, distill: bool) -> dict[str, Any]:
    from edgedet.engine.trainer import Trainer

    hook = None
    if distill:
        from edgedet.distill import Distiller

        hook = Distiller(cfg.distill)
    return Trainer(cfg, run_dir, progress=progress, hook=hook).fit()


def _train_in_child(cfg, run_dir: Path, log_path: Path) -> None:
    """A second process's training (the student alone): no progress bars, everything it prints to ``log_path``."""
    with open(log_path, "w", buffering=1) as f:
        sys.stdout = sys.stderr = f
        logging.basicConfig(stream=f, level=logging.INFO, format="%(message)s", force=True)
        try:
            _train(cfg, run_dir, progress=False, distill=False)
        except Exception as e:  # the traceback for the log, then the error as its last line, for the parent to show
            traceback.print_exc(file=f)
            f.write(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}\n")
            raise SystemExit(1) from None


class _Background:
    """The student alone in a spawned process; :meth:`join` waits for it and raises with its log's tail if it failed."""

    def __init__(self, cfg, run_dir: Path, log_path: Path) -> None:
        self.run_dir, self.log_path = run_dir, log_path
        # not daemonic: a daemonic process may not start the DataLoader's worker processes; stop() ends it instead
        self.proc = multiprocessing.get_context("spawn").Process(target=_train_in_child, args=(cfg, run_dir, log_path))
        self.proc.start()

    def join(self) -> None:
        self.proc.join()
        if self.proc.exitcode != 0:
            tail = self.log_path.read_text().strip().splitlines()[-1:] if self.log_path.is_file() else []
            raise RuntimeError(f"the student-alone training failed (exit code {self.proc.exitcode}): "
                               f"{tail[0] if tail else 'no output'}; full log: {self.log_path}")

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


def _export_and_eval(ckpt: Path, out: Path, val_index, calib_files, exports, calib_n: int, threads: int = 1,
                     progress: bool = True) -> list[dict[str, Any]]:
    from edgedet.engine.checkpoint import load_detector
    from edgedet.export.api import export
    from edgedet.export.evaluate import evaluate_export

    model, state = load_detector(ckpt, "cpu")
    imgsz = state["config"]["model"]["imgsz"]
    rows = []
    for fmt, prec in exports:
        t0 = time.time()
        try:
            (res,) = export(model, formats=[fmt], precisions=[prec], imgsz=imgsz, out_dir=out,
                            class_names=state["class_names"], model_name=state["model_name"],
                            calib_images=calib_files if prec == "int8" else None, calib_n=calib_n, source_ckpt=ckpt,
                            threads=threads)
        except (ImportError, RuntimeError, ValueError, OSError) as e:  # an optional toolchain missing or failing
            log.warning("export %s %s failed: %s", fmt, prec, e)
            rows.append({"format": fmt, "precision": prec, "error": str(e).splitlines()[0][:200]})
            continue
        metrics = evaluate_export(res.dir, val_index, threads=threads, progress=progress)
        # what ships to a device: every model file except JSON sidecars and Paddle-Lite's x86 check build
        size = sum(f.stat().st_size for f in res.dir.iterdir()
                   if f.is_file() and not f.name.endswith(".json") and "x86" not in f.name)
        rows.append({"format": fmt, "precision": prec, "dir": str(res.dir), "AP": metrics["AP"],
                     "AP50": metrics["AP50"], "size_mb": size / 1e6,
                     "max_abs_diff": res.parity.get("max_abs_diff"), "parity_passed": res.parity.get("passed"),
                     "seconds": time.time() - t0})
    return rows


def schedule_configs(plan: Schedule, data: Path | str, device: str, teacher: Path | str) -> list[tuple[list[str], Any]]:
    """``[(overrides, config)]`` of the teacher, the student alone and the distilled student (from ``teacher``).

    Raises:
        ValueError: the teacher's input size differs from the students' (the teacher sees the students' batch).
    """
    from edgedet.config import resolve

    common = [*plan.overrides, f"data.path={data}"] + ([f"train.device={device}"] if device else [])
    teacher_over, student = [*common, *plan.teacher], [*common, *plan.student]
    kd_over = [*student, f"distill.teacher={teacher}", f"distill.kd={plan.kd}"]
    out = [(teacher_over, resolve(plan.teacher_model, teacher_over)), (student, resolve("pafnet_lite_mbv3", student)),
           (kd_over, resolve("pafnet_lite_mbv3", kd_over))]
    if out[0][1].model.imgsz != out[1][1].model.imgsz:
        raise ValueError(f"schedule: teacher at {out[0][1].model.imgsz} px, students at {out[1][1].model.imgsz} px")
    return out


def _train_three(plan: Schedule, data: Path, device: str, qs_dir: Path, progress: bool,
                 timings: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Teacher, then the student alone (second process) beside the distilled student (this process).

    Returns ``{"teacher"|"alone"|"distilled": {"model", "run", "metrics", "seconds", "command"}}``; each command is the
    ``edgedet`` line that trains the same run by hand.
    """
    teacher_dir = qs_dir / "teacher"
    (teacher_over, cfg), (student, alone_cfg), (kd_over, kd_cfg) = schedule_configs(plan, data, device, teacher_dir)
    runs: dict[str, dict[str, Any]] = {}

    def record(key: str, model: str, over: list[str], run_dir: Path, metrics: dict, seconds: float, cmd: str) -> None:
        sets = " ".join(f"--set {o}" for o in over if not o.startswith(("data.path=", "distill.teacher=")))
        runs[key] = {"model": model, "overrides": over, "run": str(run_dir), "metrics": metrics,
                     "seconds": seconds, "command": f"edgedet {cmd} --model {model} {sets}".strip()}

    t0 = time.time()
    metrics = _train(cfg, teacher_dir, progress, distill=False)
    timings["teacher"] = time.time() - t0
    record("teacher", plan.teacher_model, teacher_over, teacher_dir, metrics, timings["teacher"], "train-teacher")
    print(f"[2/6] teacher {_describe(cfg)}: val AP {metrics['AP']:.4f} ({timings['teacher']:.0f} s) -> {teacher_dir}")

    t0 = time.time()
    alone_dir, alone_log = qs_dir / "student_alone", qs_dir / "student_alone.log"
    print(f"[3/6] student {_describe(kd_cfg)}: alone in a second process (log {alone_log}) and distilled from the "
          "teacher here, at the same time")
    alone = _Background(alone_cfg, alone_dir, alone_log)
    try:
        kd_dir = qs_dir / "distill"
        metrics = _train(kd_cfg, kd_dir, progress, distill=True)
        record("distilled", "pafnet_lite_mbv3", kd_over, kd_dir, metrics, time.time() - t0,
               f"distill --teacher {teacher_dir}")
        if alone.proc.is_alive():
            print("      waiting for the student alone to finish ...")
        alone.join()
    finally:
        alone.stop()
    timings["students"] = time.time() - t0
    alone_metrics = _last_metrics(alone_dir)
    record("alone", "pafnet_lite_mbv3", student, alone_dir, alone_metrics, timings["students"], "train")
    teacher_record = json.loads((kd_dir / "teacher.json").read_text())
    runs["teacher"]["metrics"]["AP_in_distill"] = teacher_record.get("teacher_AP")
    gain = runs["distilled"]["metrics"]["AP"] - alone_metrics["AP"]
    print(f"      student alone AP {alone_metrics['AP']:.4f}, distilled AP {runs['distilled']['metrics']['AP']:.4f} "
          f"({100 * gain:+.2f} AP points) ({timings['students']:.0f} s)")
    return runs


def _describe(cfg) -> str:
    return f"{cfg.model.name} width {cfg.model.width:g} at {cfg.model.imgsz} px, {cfg.train.epochs} epoch(s)"


def _last_metrics(run_dir: Path) -> dict[str, float]:
    """The final row of a run's ``metrics.csv`` (its validation metrics), without its empty columns."""
    from edgedet.engine.plots import read_metrics_csv

    return {k: v for k, v in read_metrics_csv(run_dir / "metrics.csv")[-1].items() if v == v and k != "epoch"}


def run_quickstart(schedule: str = "tiny", device: str = "", project: str = "runs", progress: bool = True) -> int:
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth
    from edgedet.engine.report import machine_summary
    from edgedet.engine.trainer import unique_run_dir

    plan = SCHEDULES[schedule]
    qs_dir = unique_run_dir(project, "quickstart", f"pafnet_lite_{schedule}")
    qs_dir.mkdir(parents=True)
    timings: dict[str, float] = {}

    t0 = time.time()
    data = ensure_synth(n_train=plan.synth[0], n_val=plan.synth[1])
    timings["dataset"] = time.time() - t0
    print(f"[1/6] built-in dataset at {data} ({timings['dataset']:.0f} s)")

    runs = _train_three(plan, data, device, qs_dir, progress, timings)
    ckpt = Path(runs["distilled"]["run"]) / "weights" / "last.pt"

    t0 = time.time()
    val = load_dataset(data, "val")
    if plan.val_images:
        val.images = val.images[: plan.val_images]
    calib = [r.file for r in load_dataset(data, "train").images]
    torch_subset = _torch_metrics(ckpt, val)
    rows = _export_and_eval(ckpt, qs_dir / "export", val, calib, plan.exports, plan.calib_n, progress=progress)
    timings["export+eval"] = time.time() - t0
    print(f"[4/6] quantized, exported and evaluated the distilled student: {sum('AP' in r for r in rows)}/{len(rows)} "
          f"format x precision pairs ({timings['export+eval']:.0f} s)")

    t0 = time.time()
    records, bench_error = _host_bench(rows, qs_dir, *plan.bench, progress=progress)
    timings["bench"] = time.time() - t0
    outcome = f"failed: {bench_error}" if bench_error else f"-> {qs_dir / 'bench.jsonl'}, {qs_dir / 'bench'}"
    print(f"[5/6] host benchmark of {sum('dir' in r for r in rows)} export(s) (edgedet bench --target host, 1 thread) "
          f"{outcome} ({timings['bench']:.0f} s)")

    bench_lines = _bench_section(records, bench_error, rows, *plan.bench)
    report = _write_report(qs_dir, schedule, runs, torch_subset, rows, timings, machine_summary(), len(val.images),
                           bench_lines)
    gain = runs["distilled"]["metrics"]["AP"] - runs["alone"]["metrics"]["AP"]
    (qs_dir / "summary.json").write_text(json.dumps(
        {"runs": runs, "gain_AP": gain, "train": runs["distilled"]["metrics"], "exports": rows, "timings": timings,
         "bench_error": bench_error}, indent=2, default=float))
    print(f"[6/6] report: {report}")
    print(report.read_text())
    return 0


def _host_bench(rows: list[dict[str, Any]], qs_dir: Path, warmup: int, runs: int, progress: bool = True
                ) -> tuple[list[BenchmarkResult], str | None]:
    """``edgedet bench EXPORT... --target host --threads 1`` on every export that was made, through the command's
    own runner (one worker process per export, interleaved rounds) and its :func:`save_results`.

    The records are appended to ``qs_dir/bench.jsonl``, the report (table + plots) goes to ``qs_dir/bench/``, and each
    row of ``rows`` that has an export gets its ``p50_ms`` and ``mean_ms`` from its record, the quickstart's only
    latency figures. Returns the records and, when the bench could not run, its one-line error instead.
    """
    from edgedet.bench.cli import save_results
    from edgedet.bench.runner import BenchSettings, benchmark
    from edgedet.bench.targets import BenchError, HostTarget

    made = [r for r in rows if "dir" in r]
    if not made:
        return [], None
    settings = BenchSettings(threads=(1,), warmup=warmup, runs=runs)
    try:
        records = benchmark([Path(r["dir"]) for r in made], HostTarget(), settings, progress=progress)
    except BenchError as e:  # a worker that cannot load its export: the exports' AP still stands in the report
        log.warning("host benchmark failed: %s", e)
        return [], str(e)
    save_results(records, qs_dir / "bench.jsonl", qs_dir / "bench")
    by_model = {rec.model: rec for rec in records}
    for row in made:
        latency = by_model[str(Path(row["dir"]))].latency
        row.update(p50_ms=latency.p50_ms, mean_ms=latency.mean_ms)
    return records, None


def _bench_section(records: list[BenchmarkResult], error: str | None, rows: list[dict[str, Any]], warmup: int,
                   runs: int) -> list[str]:
    """The report's host benchmark section: how it ran, ``edgedet bench``'s own table, what it left out."""
    from edgedet.bench.report import markdown_table

    lines = ["## Host benchmark (edgedet bench --target host)", ""]
    if error:
        return lines + [f"Failed: {error}"]
    if not records:
        return lines + ["No export was made, so nothing was timed."]
    lines += [f"Every export made above, on 1 thread, each in its own worker process: {warmup} untimed calls, then {runs} "
              "timed rounds of one call per export in a fresh order each round, so background load hits all alike. "
              "Records: [`bench.jsonl`](bench.jsonl); table and plot: [`bench/`](bench/bench_report.md).", "",
              markdown_table(records)]
    failed = [f"{r['format']} {r['precision']}" for r in rows if "error" in r]
    if failed:
        lines += ["", f"Not timed (the export failed; its error is in the exports table): {', '.join(failed)}."]
    return lines


def _torch_metrics(ckpt: Path, val_index) -> dict[str, Any]:
    """PyTorch's own metrics on the same validation subset the exports are scored on."""
    import torch

    from edgedet.config.schema import DataConfig
    from edgedet.engine.checkpoint import load_detector
    from edgedet.engine.trainer import evaluate_model

    model, state = load_detector(ckpt, "cpu")
    return evaluate_model(model, val_index, state["config"]["model"]["imgsz"], torch.device("cpu"),
                          DataConfig(workers=0))


def _distill_section(runs: dict[str, dict[str, Any]], timings: dict[str, float]) -> list[str]:
    """The report's first table: teacher, student alone, distilled student, with the commands that train each."""
    alone_ap = runs["alone"]["metrics"]["AP"]
    lines = ["## Distillation (PyTorch, all val images)", "",
             "| row | model | AP | AP50 | gain over alone (AP points) | run |", "|---|---|---|---|---|---|"]
    names = {"teacher": "teacher", "alone": "student alone", "distilled": "student distilled from the teacher"}
    for key in ("teacher", "alone", "distilled"):
        r = runs[key]
        m = r["metrics"]
        width = next((o.split("=", 1)[1] for o in reversed(r["overrides"]) if o.startswith("model.width=")), "1")
        gain = f"{100 * (m['AP'] - alone_ap):+.2f}" if key == "distilled" else ""
        lines.append(f"| {names[key]} | {r['model']} width {width} | {m['AP']:.4f} | {m['AP50']:.4f} | {gain} | "
                     f"`{Path(r['run']).name}/` |")
    lines += ["", f"Training took {timings['teacher']:.0f} s for the teacher, then {timings['students']:.0f} s for both "
              "students at once (the alone run in a second process). The distilled run's `teacher.json` holds the "
              "teacher's AP on the same val set and its `metrics.csv` a column per KD term; the same runs by hand:", "",
              "```bash", *(runs[k]["command"] for k in ("teacher", "alone", "distilled")), "```"]
    return lines


def _write_report(qs_dir: Path, schedule: str, runs: dict[str, dict[str, Any]], torch_subset: dict, rows: list[dict],
                  timings: dict, machine: str, n_val: int, bench_lines: list[str]) -> Path:
    metrics = runs["distilled"]["metrics"]
    lines = [f"# edgedet quickstart ({schedule} schedule)", "", f"Machine: {machine}", "",
             f"Distilled PAFNet-lite (PyTorch, all val images): AP {metrics['AP']:.4f}, AP50 {metrics['AP50']:.4f}, "
             f"APs {metrics['APs']:.4f}, APm {metrics['APm']:.4f}, APl {metrics['APl']:.4f}", "",
             *_distill_section(runs, timings), "",
             f"## Exports of the distilled student (evaluated through edgedet.runtime on {n_val} val images; latency "
             "from the host benchmark below, 1 thread)", "",
             "| format | precision | AP | AP50 | size MB | p50 ms | mean ms | max abs diff vs torch | fp32 parity (1e-4) |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| pytorch | fp32 | {torch_subset['AP']:.4f} | {torch_subset['AP50']:.4f} | | | | | |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['format']} | {r['precision']} | failed: {r['error']} | | | | | | |")
            continue
        diff = r["max_abs_diff"]
        latency = " | ".join("" if r.get(k) is None else f"{r[k]:.2f}" for k in ("p50_ms", "mean_ms"))
        lines.append(f"| {r['format']} | {r['precision']} | {r['AP']:.4f} | {r['AP50']:.4f} | {r['size_mb']:.2f} | "
                     f"{latency} | {diff if diff is None else f'{diff:.2e}'} | "
                     f"{r['parity_passed'] if r['precision'] == 'fp32' else 'n/a (report only)'} |")
    lines += ["", "Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), "",
              "On a phone or a board: `edgedet bench EXPORT_DIR... --target adb` (or `ssh://user@board`).", "",
              *bench_lines]
    path = qs_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
