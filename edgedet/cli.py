"""``edgedet`` command line: thin subcommands over the Python API (their arguments: :mod:`edgedet.cli_parser`)."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

from edgedet.cli_parser import build_parser  # the argparse tree; tests import it from here too


class CLIError(Exception):
    """A user error: printed without a traceback, exit code 2."""


TRAIN_FLAGS = (("epochs", "train.epochs"), ("batch", "train.batch"), ("imgsz", "model.imgsz"),
               ("device", "train.device"), ("threads", "train.threads"), ("width", "model.width"),
               ("data", "data.path"))


def smoke_run_overrides(max_iters: int, warmup_iters: int, iters_per_epoch: int) -> list[str]:
    """What ``--max-iters N`` means: N iterations in all (as few epochs as the dataset allows, each capped so the
    total is N, rounded up to a multiple of the epochs), warmup scaled to the run (N/10, at most the config's),
    validation only at the end, one input scale (multi-scale batches would change the cost of every iteration)."""
    if max_iters < 1:
        raise CLIError(f"--max-iters {max_iters} is not allowed: it must be >= 1")
    epochs = math.ceil(max_iters / max(iters_per_epoch, 1))
    return [f"train.epochs={epochs}", f"train.max_iters={math.ceil(max_iters / epochs)}",
            f"train.warmup_iters={min(warmup_iters, max(1, max_iters // 10))}", "train.eval_interval=0",
            "data.multiscale=[0,0]"]


def _apply_max_iters(args: argparse.Namespace, cfg, overrides: list[str]):
    """``cfg`` resolved again with :func:`smoke_run_overrides` first when ``--max-iters`` is given."""
    if args.max_iters is None:
        return cfg
    from edgedet.config import resolve
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth

    images = len(load_dataset(cfg.data.path or str(ensure_synth()), cfg.data.train_split).images)
    smoke = smoke_run_overrides(args.max_iters, cfg.train.warmup_iters, math.ceil(images / max(cfg.train.batch, 1)))
    return resolve(args.model or args.default_model, smoke + overrides)  # what the user typed wins


def _train_overrides(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """``(overrides, labels)``: the ``--set`` items, then the flags given (flags win), each with how it was typed."""
    overrides, labels = list(args.set), [f"--set {item}" for item in args.set]
    for flag, key in TRAIN_FLAGS:
        value = getattr(args, flag)
        if value is not None and value != "":
            overrides.append(f"{key}={value}")
            labels.append(f"--{flag} {value}")
    return overrides, labels


def _resume_config(args: argparse.Namespace):
    """The saved config of the run ``--resume`` names; flags may only agree with it (see ``resume_config``)."""
    from edgedet.config import resolve
    from edgedet.engine.trainer import resume_config

    if args.project is not None or args.name:
        raise CLIError("--resume continues in the run's own directory; drop --project/--name (they name a new run)")
    if getattr(args, "max_iters", None) is not None:
        raise CLIError("--max-iters starts a quick new run; a resume continues the saved schedule: drop --max-iters")
    overrides, labels = _train_overrides(args)
    cfg, state = resume_config(args.resume, overrides, labels)
    if args.model and resolve(args.model).model.name != cfg.model.name:
        raise CLIError(f"--model {args.model} conflicts with the run being resumed (model.name={cfg.model.name!r} "
                       f"in {args.resume}); drop --model, or start a new run without --resume")
    return cfg, int(state.get("epoch", 0))


def cmd_train(args: argparse.Namespace) -> int:
    from edgedet.config import resolve
    from edgedet.engine.trainer import Trainer, unique_run_dir

    if args.resume:
        cfg, done = _resume_config(args)
        run_dir = Path(args.resume).resolve().parent.parent
        if cfg.distill.teacher:
            raise CLIError(f"{args.resume} is from a distillation run; resume it with `edgedet distill --resume`")
        if done >= cfg.train.epochs:
            print(f"{run_dir} has finished its {cfg.train.epochs} epoch(s) already; nothing to resume. "
                  f"Weights: {run_dir / 'weights' / 'best.pt'}")
            return 0
    else:
        overrides, _ = _train_overrides(args)
        cfg = resolve(args.model or args.default_model, overrides)
        if cfg.distill.teacher:
            raise CLIError(f"distill.teacher is set: distil with `edgedet distill --teacher {cfg.distill.teacher}`")
        cfg = _apply_max_iters(args, cfg, overrides)
        cfg.project, cfg.name = args.project or "runs", args.name
        run_dir = unique_run_dir(cfg.project, args.command, cfg.name or cfg.model.name)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, run_dir, resume=args.resume, progress=not args.quiet)
    metrics = trainer.fit()
    print(run_summary(run_dir, time.perf_counter() - t0, trainer.iteration, trainer.best_ap, metrics))
    return 0


def run_summary(run_dir: Path, seconds: float, iterations: int, best_ap: float, metrics: dict) -> str:
    """The line a training command ends with: time, iterations, best AP, the run directory and the next command."""
    minutes, secs = divmod(int(round(seconds)), 60)
    ap = f"best AP {best_ap:.4f}" if best_ap >= 0 else "no validation AP"
    last = f" (last {metrics['AP']:.4f})" if "AP" in metrics and best_ap >= 0 and metrics["AP"] != best_ap else ""
    return (f"done in {minutes}m{secs:02d}s: {iterations} iterations, {ap}{last}, run {run_dir}; next: "
            f"edgedet export {run_dir / 'weights' / 'best.pt'} --format onnx --precision fp32,int8")


def cmd_distill(args: argparse.Namespace) -> int:
    from edgedet.config import resolve
    from edgedet.distill import Distiller
    from edgedet.engine.trainer import Trainer, unique_run_dir

    if args.resume:
        if args.teacher or args.kd:
            raise CLIError("--resume finds the teacher and the terms in the saved config; drop --teacher/--kd")
        cfg, done = _resume_config(args)
        run_dir = Path(args.resume).resolve().parent.parent
        if not cfg.distill.teacher:
            raise CLIError(f"{args.resume} is not from a distillation run; resume it with `edgedet train --resume`")
        if done >= cfg.train.epochs:
            print(f"{run_dir} has finished its {cfg.train.epochs} epoch(s) already; nothing to resume.")
            return 0
    else:
        if not args.teacher:
            raise CLIError("edgedet distill needs --teacher CKPT_OR_RUN_DIR (a checkpoint or run of `edgedet train`)")
        overrides, _ = _train_overrides(args)
        overrides += [f"distill.teacher={Path(args.teacher).resolve()}"] + ([f"distill.kd={args.kd}"] if args.kd else [])
        cfg = resolve(args.model or args.default_model, overrides)
        cfg = _apply_max_iters(args, cfg, overrides)
        cfg.project, cfg.name = args.project or "runs", args.name
        run_dir = unique_run_dir(cfg.project, "distill", cfg.name or cfg.model.name)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, run_dir, resume=args.resume, progress=not args.quiet, hook=Distiller(cfg.distill))
    metrics = trainer.fit()
    print(f"teacher's AP on the same val set: {run_dir / 'teacher.json'}")
    print(run_summary(run_dir, time.perf_counter() - t0, trainer.iteration, trainer.best_ap, metrics))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from edgedet.config.schema import check_value
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth
    from edgedet.engine.evaluator import coco_evaluate, format_metrics_table, load_results_file

    for key, value in (("model.imgsz", args.imgsz), ("train.device", args.device), ("train.threads", args.threads)):
        if value is not None:
            check_value(key, value)
    data = args.data or str(ensure_synth())
    index = load_dataset(data, args.split)
    if args.detections:
        metrics = coco_evaluate(index.to_coco_dict(), load_results_file(args.detections))
    elif args.weights:
        metrics = _eval_weights(args, index)
    else:
        raise CLIError("eval needs a checkpoint, an export, or --detections results.json")
    print(format_metrics_table(metrics))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(metrics, indent=2))
        print(f"wrote {args.out}")
    return 0


def _eval_weights(args: argparse.Namespace, index) -> dict:
    path = Path(args.weights)
    if not path.exists():
        raise CLIError(f"{path} does not exist")
    if path.suffix == ".pt":
        from edgedet.config.schema import DataConfig
        from edgedet.engine.checkpoint import load_detector
        from edgedet.engine.threads import apply_cpu_plan, plan_cpu
        from edgedet.engine.trainer import evaluate_model, resolve_device

        device = resolve_device(args.device)
        apply_cpu_plan(plan_cpu(0, args.threads or 0))
        model, state = load_detector(path, device)
        names = list(state.get("class_names") or [])
        if names and names != list(index.class_names):
            raise CLIError(f"{path} was trained on {len(names)} classes {names}, but {index.root} has "
                           f"{len(index.class_names)} {list(index.class_names)}; evaluate on the dataset it was "
                           f"trained on ({state['config']['data']['path']})")
        imgsz = args.imgsz or state["config"]["model"]["imgsz"]
        return evaluate_model(model, index, imgsz, device, DataConfig(workers=0))
    from edgedet.export.evaluate import evaluate_export

    return evaluate_export(path, index, threads=args.threads)


def cmd_export(args: argparse.Namespace) -> int:
    from edgedet.config.schema import check_value
    from edgedet.engine.threads import apply_cpu_plan, plan_cpu
    from edgedet.export.cli import run_export

    for key, value in (("model.imgsz", args.imgsz), ("train.threads", args.threads)):
        if value is not None:
            check_value(key, value)
    apply_cpu_plan(plan_cpu(0, args.threads or 0))
    return run_export(args)


def cmd_import_paddle(args: argparse.Namespace) -> int:
    from edgedet.export.paddle_import_cli import run_import_paddle

    return run_import_paddle(args)


def cmd_quantize(args: argparse.Namespace) -> int:
    from edgedet.export.quantize_cli import run_quantize

    return run_quantize(args)


def cmd_data(args: argparse.Namespace) -> int:
    from edgedet.data import check_dataset_report, convert, dataset_stats, generate_synth
    from edgedet.data.stats import format_stats_table

    if args.data_command == "synth":
        import time

        t0 = time.time()
        root = generate_synth(args.out, n_train=args.train, n_val=args.val, imgsz=args.imgsz, seed=args.seed)
        print(f"wrote {root} ({args.train} train / {args.val} val at {args.imgsz}px) in {time.time() - t0:.1f} s")
        print(f"Next: edgedet data stats {root}   or   edgedet train --data {root}")
        return 0
    if args.data_command == "check":
        report = check_dataset_report(args.data, splits=args.split)
        for pr in report.problems:
            print(pr)
        if report.problems:
            print()
        for summary in report.splits:
            print(f"checked {summary}")
        verdict = f"{len(report.problems)} problem(s) found" if report.problems else "no problems found"
        print(f"{args.data}: {verdict} ({report.seconds:.1f} s)")
        return 1 if report.problems else 0
    if args.data_command == "convert":
        out = convert(args.src, args.dst, args.to)
        print(f"wrote {args.to} dataset to {out}")
        return 0
    if args.data_command == "stats":
        png = args.png or f"stats_{args.split}.png"
        stats = dataset_stats(args.data, args.split, out_png=png)
        print(format_stats_table(stats))
        print(f"histogram: {png}")
        return 0
    raise CLIError("edgedet data needs an action: synth, check, convert or stats (see edgedet data --help)")


def cmd_config(args: argparse.Namespace) -> int:
    from edgedet.config import dump_yaml, resolve
    from edgedet.config.io import available_models

    if args.config_command == "list":
        print("\n".join(available_models()))
        return 0
    if args.config_command == "show":
        print(dump_yaml(resolve(args.name, args.set)), end="")
        return 0
    raise CLIError("edgedet config needs an action: list or show NAME")


def cmd_quickstart(args: argparse.Namespace) -> int:
    from edgedet.quickstart import run_quickstart

    return run_quickstart(schedule=args.schedule, device=args.device, project=args.project, progress=not args.quiet)


def _load_predictor(args: argparse.Namespace):
    """An object with ``predict(image_bgr, score_thr)`` and ``class_names``: a checkpoint (.pt) through PyTorch,
    anything else through ``edgedet.runtime``."""
    path = Path(args.model)
    if not path.exists():
        raise CLIError(f"--model {path} does not exist (give an export directory or a training checkpoint .pt)")
    if args.threads is not None and args.threads < 1:
        raise CLIError(f"--threads must be at least 1, got {args.threads}")
    if path.suffix != ".pt":
        from edgedet.runtime import load

        return load(path, threads=args.threads)
    from edgedet.demo.checkpoint import CheckpointPredictor
    from edgedet.engine.checkpoint import load_detector
    from edgedet.engine.threads import apply_cpu_plan, plan_cpu
    from edgedet.engine.trainer import resolve_device

    device = resolve_device(args.device)
    apply_cpu_plan(plan_cpu(0, args.threads or 0))
    model, state = load_detector(path, device)
    return CheckpointPredictor(model, state.get("class_names") or [], state["config"]["model"]["imgsz"], device)


def cmd_predict(args: argparse.Namespace) -> int:
    from edgedet.demo.cli import run_predict_command

    return run_predict_command(args, _load_predictor)


def cmd_demo(args: argparse.Namespace) -> int:
    from edgedet.demo.cli import run_demo_command

    return run_demo_command(args, _load_predictor)


def cmd_bench(args: argparse.Namespace) -> int:
    from edgedet.bench.cli import BenchError, run_bench

    try:  # the dataset layer imports torch: only --accuracy loads it (a board's runtime-only install has none)
        return run_bench(args, _bench_dataset_tools() if args.accuracy else None)
    except BenchError as e:
        raise CLIError(str(e)) from None


def _bench_dataset_tools():
    """What ``edgedet bench --accuracy`` reads and scores with, from layers ``edgedet.bench`` may not import."""
    from edgedet.bench.cli import DatasetTools
    from edgedet.data import load_dataset
    from edgedet.data.synth import ensure_synth
    from edgedet.engine.evaluator import coco_evaluate, detections_to_coco

    return DatasetTools(load_split=lambda data, split: load_dataset(data or str(ensure_synth()), split),
                        coco_evaluate=coco_evaluate, detections_to_coco=detections_to_coco)


COMMANDS = {
    "bench": cmd_bench, "data": cmd_data, "train": cmd_train, "train-teacher": cmd_train, "distill": cmd_distill, "eval": cmd_eval,
    "export": cmd_export, "config": cmd_config, "quickstart": cmd_quickstart, "predict": cmd_predict, "demo": cmd_demo,
    "import-paddle": cmd_import_paddle, "quantize": cmd_quantize,
}


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that describe a user's mistake and its fix: printed as one line, never as a traceback."""
    from edgedet.config import ConfigError

    errors: tuple[type[Exception], ...] = (ConfigError,)
    try:  # the engine needs torch; a runtime-only install has no training commands to fail
        from edgedet.engine.checkpoint import CheckpointError
        from edgedet.engine.trainer import TrainingDiverged

        errors += (CheckpointError, TrainingDiverged)
    except ImportError:
        pass
    return errors + (ValueError,)


def _check_command(argv: list[str]) -> None:
    known = list(COMMANDS)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in known:
        close = difflib.get_close_matches(first, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise CLIError(f"unknown command '{first}'.{hint} Commands: {', '.join(known)}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        _check_command(argv)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        rc = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here, while we can still handle it
        return rc
    except BrokenPipeError:
        return _closed_pipe()
    except (CLIError, FileNotFoundError) + _user_errors() as e:
        print(f"edgedet: error: {e}", file=sys.stderr)
        return 2


def _closed_pipe() -> int:
    """The reader of stdout went away (``edgedet data stats D | head``): stop quietly, as a shell tool does."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else the final flush raises again
    except (OSError, ValueError):  # stdout is not a file (captured): nothing will be flushed to a pipe
        pass
    return 141  # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


if __name__ == "__main__":
    sys.exit(main())
