"""The training engine every detector uses.

AMP on CUDA, EMA, gradient clipping, warmup + step/cosine lr scaled with the batch, atomic checkpoints with
exact resume, a NaN/Inf guard, torch.distributed (torchrun), per-epoch COCO evaluation and a run directory
with ``config.yaml``, ``weights/{last,best}.pt``, ``metrics.csv``, plots and ``report.md``.

Determinism: every epoch re-seeds all RNGs and the data order from ``(seed, epoch)``, so training epochs
``0..N`` in one go or stopping after epoch ``k`` and resuming gives the same weights on CPU.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from edgedet import __version__
from edgedet.config.io import changed_keys, dump_yaml, to_dict
from edgedet.config.schema import RunConfig, validate_config
from edgedet.deploy.thresholds import EVAL_SCORE_THR
from edgedet.engine import dist
from edgedet.engine.checkpoint import CheckpointError, checkpoint_config, load_checkpoint, save_checkpoint
from edgedet.engine.ema import ModelEMA
from edgedet.engine.evaluator import STAT_KEYS, evaluate_predictor, format_metrics_table
from edgedet.engine.hooks import TrainerHook, load_split_state, split_train_only
from edgedet.engine.lr import lr_at
from edgedet.engine.threads import apply_cpu_plan, plan_cpu

log = logging.getLogger("edgedet")

# Config fields a resume may change: where and how fast it runs, not what it trains. The dataset may move
# (data.path) as long as its classes are the checkpoint's.
RESUME_MAY_CHANGE = ("train.device", "train.threads", "data.workers", "data.path", "project", "name")


class TrainingDiverged(RuntimeError):
    """Too many non-finite losses in a row."""


def resolve_device(name: str) -> torch.device:
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--device {name} asked for CUDA but torch sees no GPU; use --device cpu")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def unique_run_dir(project: str | Path, command: str, name: str) -> Path:
    root = Path(project) / command
    path = root / name
    i = 2
    while path.exists():
        path = root / f"{name}{i}"
        i += 1
    return path


def resume_config(path: str | Path, overrides: Sequence[str] = (),
                  labels: Sequence[str] | None = None) -> tuple[RunConfig, dict[str, Any]]:
    """The config to resume the run that wrote ``path`` with: its saved one, plus ``overrides`` that change only
    :data:`RESUME_MAY_CHANGE` fields (or repeat saved values).

    ``data.path`` may change only when the saved dataset is gone (moved); the trainer then checks the classes.

    Args:
        path: the run's ``last.pt``.
        overrides: dotted ``key=value`` items, as for :func:`edgedet.config.apply_overrides`.
        labels: how the user wrote each override (e.g. ``--imgsz 320``), for the error message.

    Returns:
        ``(config, checkpoint dict)``.

    Raises:
        CheckpointError: unreadable checkpoint. ConfigError: an override that conflicts with the saved run.
    """
    from edgedet.config import ConfigError, apply_overrides

    state = load_checkpoint(path)
    saved = checkpoint_config(state, path)
    for label, item in zip(labels or overrides, overrides):
        key, _, value = item.partition("=")
        if key.strip() == "data.path":
            moved = not Path(saved.data.path).exists()
            changed = [] if moved or Path(value).resolve() == Path(saved.data.path).resolve() else ["data.path"]
        else:
            changed = [k for k in changed_keys(saved, apply_overrides(saved, [item])) if k not in RESUME_MAY_CHANGE]
        if changed:
            section, name = changed[0].split(".")
            was = getattr(getattr(saved, section), name)
            raise ConfigError(f"{label} conflicts with the run being resumed ({changed[0]}={was!r} in {path}); a "
                              f"resume continues the saved run: drop {label}, or start a new run without --resume")
    return apply_overrides(saved, list(overrides)), state


def build_optimizer(model: torch.nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    """SGD/AdamW; no weight decay on norms and biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.train.lr, momentum=cfg.train.momentum, nesterov=False)
    if cfg.train.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.train.lr)
    raise ValueError(f"train.optimizer must be 'sgd' or 'adamw', got {cfg.train.optimizer!r}")


def plan_epochs(done: int, epochs: int, elapsed_s: float, epoch_s: float, eval_s: float, limit_s: float) -> int:
    """``train.time_limit``: the number of epochs that fits ``limit_s`` seconds of wall time.

    Args:
        done: epochs finished so far (their validation not yet run). epochs: the number asked for.
        elapsed_s: wall time since training started. epoch_s: the time of the latest epoch (the first one also
            pays for start-up: loader workers, cuDNN's algorithm search), so a later plan may be longer.
        eval_s: the longest validation so far (0 before the first), kept back for the final one.

    Returns:
        ``done`` plus the whole epochs that still fit, never more than ``epochs`` and at least ``done``: a run
        whose limit is spent ends with the epoch it just trained.
    """
    left = limit_s - elapsed_s - eval_s
    return min(done + max(int(left // max(epoch_s, 1e-9)), 0), max(epochs, done))


class Trainer:
    """Train ``cfg.model`` on ``cfg.data`` and write a run directory.

    Args:
        cfg: the resolved run configuration; ``cfg.model.num_classes == 0`` takes the dataset's.
        run_dir: where to write; required (the CLI makes a unique one).
        resume: a ``last.pt`` to continue from exactly; ``cfg`` must be the config it was saved with (see
            :func:`resume_config`) up to :data:`RESUME_MAY_CHANGE`.
        progress: show tqdm bars (rank 0 only).
        hook: adds work around each step (distillation: :class:`edgedet.engine.hooks.TrainerHook`).

    Raises:
        ConfigError: a value out of range (before anything is loaded or written).
        CheckpointError: ``resume`` or ``model.pretrained`` is unreadable, untrusted, or does not match ``cfg``.
    """

    def __init__(self, cfg: RunConfig, run_dir: str | Path, resume: str | Path | None = None, progress: bool = True,
                 hook: TrainerHook | None = None):
        from edgedet.data import load_dataset
        from edgedet.data.synth import ensure_synth
        from edgedet.models.zoo import build_model

        self.cfg = validate_config(cfg)
        self.device = resolve_device(cfg.train.device)
        self.distributed = dist.init_from_env(str(self.device))
        self.progress = progress and dist.is_main()
        self.run_dir = Path(run_dir)
        cpu = apply_cpu_plan(plan_cpu(cfg.data.workers, cfg.train.threads), quiet=not dist.is_main())
        self.data_cfg = dataclasses.replace(cfg.data, workers=cpu.workers)  # what the loaders use
        # absolute, so that `--resume` finds the data from any working directory
        data_path = str(Path(cfg.data.path).resolve()) if cfg.data.path else str(ensure_synth())
        cfg.data.path = data_path
        self.train_index = load_dataset(data_path, cfg.data.train_split)
        self.val_index = load_dataset(data_path, cfg.data.val_split)
        if cfg.data.max_images:
            self.train_index.images = self.train_index.images[: cfg.data.max_images]
        self._warn_problems()
        if cfg.model.num_classes == 0:
            cfg.model.num_classes = len(self.train_index.class_names)
        elif cfg.model.num_classes != len(self.train_index.class_names):
            raise ValueError(
                f"model.num_classes={cfg.model.num_classes} but {data_path} has {len(self.train_index.class_names)} "
                "classes; set model.num_classes=0 to take the dataset's"
            )
        if cfg.model.pretrained:
            try:  # a missing, corrupt or untrusted file fails here in one line, not inside the model builder
                load_checkpoint(cfg.model.pretrained)
            except CheckpointError as e:
                raise CheckpointError(f"model.pretrained: {e}") from None
        seed_everything(cfg.train.seed)
        self.model = build_model(cfg.model).to(self.device)
        self.use_amp = cfg.train.amp and self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fastest conv algorithms for the (few) input sizes seen
        self.hook = hook or TrainerHook()
        self.hook.attach(self)
        if self.distributed and cfg.train.sync_bn and self.device.type == "cuda":
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        dist.broadcast_parameters(self.model)
        self.optimizer = build_optimizer(self.model, cfg)
        self.ema = ModelEMA(self.model, cfg.train.ema_decay) if cfg.train.ema else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.start_epoch, self.iteration, self.best_ap = 0, 0, -1.0
        if resume:
            self._load_resume(resume)
        self.metrics_path = self.run_dir / "metrics.csv"
        if dist.is_main():
            (self.run_dir / "weights").mkdir(parents=True, exist_ok=True)
            dump_yaml(cfg, self.run_dir / "config.yaml")

    # ----------------------------------------------------------------------------------------------- set-up
    def _warn_problems(self) -> None:
        n = len(self.train_index.problems) + len(self.val_index.problems)
        if n and dist.is_main():
            first = (self.train_index.problems + self.val_index.problems)[0]
            log.warning("Skipping %d bad dataset entries (first: %s). Run `edgedet data check %s` for all.",
                        n, first, self.cfg.data.path)

    def _load_resume(self, path: str | Path) -> None:
        state = load_checkpoint(path, map_location=self.device)
        if state.get("model_name") != self.cfg.model.name:
            raise CheckpointError(f"{path} was trained as {state.get('model_name')!r}, not {self.cfg.model.name!r}")
        saved = checkpoint_config(state, path)
        changed = [k for k in changed_keys(saved, self.cfg) if k not in RESUME_MAY_CHANGE]
        if changed:
            raise CheckpointError(
                f"{path} was saved with a different config ({', '.join(changed)}); a resume continues the saved "
                f"run: build the config with edgedet.engine.trainer.resume_config, or `edgedet train --resume {path}`")
        names = list(self.train_index.class_names)
        if state.get("class_names") is not None and list(state["class_names"]) != names:
            raise CheckpointError(f"{path} was trained on classes {state['class_names']}, but {self.cfg.data.path} "
                                  f"has {names}; resume on the run's dataset")
        try:
            load_split_state(self.model, state["model"], state.get("train_only"))
        except RuntimeError as e:  # e.g. a size mismatch: the first listed one says enough
            detail = [line.strip() for line in str(e).splitlines() if line.strip()][-1]
            raise CheckpointError(f"{path}: its weights do not fit the model its config describes ({detail})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict({**state["ema"], **(state.get("ema_train_only") or {})}, state.get("ema_updates", 0))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(state["epoch"])
        self.iteration = int(state["iteration"])
        self.best_ap = float(state.get("best_ap", -1.0))

    def _train_loader(self, epoch: int):
        """A fresh loader per epoch: data order and worker seeds depend only on ``(seed, epoch)``, and the
        scheduled augmentations (CutMix's end, GridMask's ramp) on the epoch's share of training."""
        from edgedet.data import build_dataloader

        batch = max(self.cfg.train.batch // dist.world_size(), 1)
        return build_dataloader(self.train_index, self.cfg.model.imgsz, True, self.data_cfg, batch,
                                distributed=self.distributed, seed=self.cfg.train.seed * 1000 + epoch,
                                progress=epoch / self.cfg.train.epochs)

    # ------------------------------------------------------------------------------------------- training
    def fit(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train to ``train.epochs`` (or stop after epoch ``stop_at``, resumable); returns the last validation
        metrics on rank 0, ``{}`` elsewhere."""
        cfg = self.cfg.train
        iters_per_epoch = self._iters_per_epoch()
        total = iters_per_epoch * cfg.epochs
        metrics: dict[str, Any] = {}
        end = cfg.epochs if stop_at is None else min(stop_at, cfg.epochs)
        if self.start_epoch >= cfg.epochs:
            log.info("%s: all %d epochs are done already; nothing to train", self.run_dir, cfg.epochs)
            return metrics
        fit_start, eval_s, asked = time.time(), 0.0, cfg.epochs
        epoch = self.start_epoch
        while epoch < end:  # `end` moves when train.time_limit re-plans the epochs
            seed_everything(cfg.seed * 1000 + epoch)
            t0 = time.time()
            losses = self._train_epoch(epoch, total)
            if cfg.time_limit > 0:
                epoch_s = time.time() - t0
                planned = plan_epochs(epoch + 1, asked, time.time() - fit_start, epoch_s, eval_s, 60 * cfg.time_limit)
                planned = round(dist.all_reduce_mean(float(planned), self.device))  # one plan on every rank
                if planned != cfg.epochs:
                    log.info("train.time_limit %.1f min: %d epochs instead of %d (%.1f s per epoch)", cfg.time_limit,
                             planned, cfg.epochs, epoch_s)
                    cfg.epochs, end = planned, planned if stop_at is None else min(stop_at, planned)
                    total = iters_per_epoch * cfg.epochs
            last = epoch + 1 == cfg.epochs
            do_eval = last or (cfg.eval_interval and (epoch + 1) % cfg.eval_interval == 0)
            t_eval = time.time()
            metrics = self.evaluate() if do_eval and dist.is_main() else {}
            eval_s = max(eval_s, time.time() - t_eval)
            if dist.is_main():
                self._end_epoch(epoch, losses, metrics, time.time() - t0)
            dist.barrier()
            epoch += 1
        if dist.is_main() and end == cfg.epochs:
            self._finish(metrics)
        return metrics

    def _iters_per_epoch(self) -> int:
        per_rank = self.cfg.train.batch // dist.world_size()
        n = math.ceil(len(self.train_index.images) / dist.world_size() / max(per_rank, 1))
        return min(n, self.cfg.train.max_iters) if self.cfg.train.max_iters else n

    def _train_epoch(self, epoch: int, total_iters: int) -> dict[str, float]:
        from edgedet.data.dataset import normalize_batch, rescale_batch

        cfg = self.cfg
        self.model.train()
        loader = self._train_loader(epoch)
        n_iters = self._iters_per_epoch()
        rng = random.Random(cfg.train.seed * 7919 + epoch)
        sums: dict[str, float] = {}
        bad_in_a_row, n_done = 0, 0
        bar = _progress(loader, n_iters, f"epoch {epoch + 1}/{cfg.train.epochs}", self.progress)
        t0 = time.perf_counter()
        for i, (images, targets, _metas) in enumerate(bar):
            if i >= n_iters:
                break
            lr = lr_at(cfg.train, self.iteration, total_iters)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            images = normalize_batch(images.to(self.device, non_blocking=True))
            targets = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
            lo, hi = cfg.data.multiscale
            if hi > 0:
                size = rng.choice(range(lo, hi + 1, 32))
                images, targets = rescale_batch(images, targets, size)
            self.hook.before_step(images, targets, self.iteration)
            loss_dict = self._step(images, targets)
            self.iteration += 1
            if loss_dict is None:
                bad_in_a_row += 1
                if bad_in_a_row >= cfg.train.nan_patience:
                    raise TrainingDiverged(
                        f"{bad_in_a_row} non-finite losses in a row at epoch {epoch + 1}, iteration {self.iteration}. "
                        f"The last good weights are in {self.run_dir / 'weights' / 'last.pt'}. "
                        "Try a lower train.lr, a longer train.warmup_iters or train.grad_clip=35."
                    )
                continue
            bad_in_a_row = 0
            n_done += 1
            for k, v in loss_dict.items():
                sums[k] = sums.get(k, 0.0) + v
            if self.progress:
                bar.set_postfix({k.replace("loss_", ""): f"{v / n_done:.3f}" for k, v in sums.items()} | {"lr": f"{lr:.2e}"})
        out = {k: dist.all_reduce_mean(v / max(n_done, 1), self.device) for k, v in sums.items()}
        out["lr"] = self.optimizer.param_groups[0]["lr"]
        out["iter_ms"] = round(1000 * (time.perf_counter() - t0) / max(n_done, 1), 1)  # data + step, without eval
        return out

    def _step(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, float] | None:
        """One optimisation step; returns the loss values, or None when the loss was not finite (step skipped)."""
        model, cfg = self.model, self.cfg.train
        with torch.autocast(self.device.type, enabled=self.use_amp):
            outputs = model(images)
            loss_dict = model.loss(outputs, targets)
        total = sum(loss_dict.values())
        # one device sync per step: the loss values and the finiteness test come back together
        stats = torch.stack([v.detach().float() for v in loss_dict.values()] + [torch.isfinite(total).float()]).tolist()
        values = dict(zip(loss_dict, stats[:-1]))
        finite = dist.all_reduce_mean(stats[-1], self.device)
        self.optimizer.zero_grad(set_to_none=True)
        if finite < 1.0:
            return None
        self.scaler.scale(total).backward()
        dist.average_gradients(model)
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        dist.broadcast_buffers(model)
        if self.ema is not None:
            self.ema.update(model)
        return values

    # ----------------------------------------------------------------------------------------- evaluation
    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        return evaluate_model(self.eval_model(), self.val_index, self.cfg.model.imgsz, self.device,
                              self.data_cfg, progress=self.progress)

    # ---------------------------------------------------------------------------------------- bookkeeping
    def checkpoint_state(self, epoch: int) -> dict[str, Any]:
        """``model`` and ``ema`` hold exactly the deployable detector; the hook's training-only modules (adapters)
        are kept apart under ``train_only`` / ``ema_train_only`` for an exact resume."""
        prefixes = self.hook.train_only_prefixes()
        model, train_only = split_train_only(self.model.state_dict(), prefixes)
        ema, ema_train_only = split_train_only(self.ema.state_dict(), prefixes) if self.ema is not None else (None, {})
        return {
            "model": model,
            "ema": ema,
            "train_only": train_only,
            "ema_train_only": ema_train_only,
            "ema_updates": self.ema.updates if self.ema is not None else 0,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.use_amp else {},
            "epoch": epoch,
            "iteration": self.iteration,
            "best_ap": self.best_ap,
            "config": to_dict(self.cfg),
            "model_name": self.cfg.model.name,
            "class_names": list(self.train_index.class_names),
            "cat_ids": list(self.train_index.cat_ids),
            "edgedet_version": __version__,
        }

    def _end_epoch(self, epoch: int, losses: dict[str, float], metrics: dict[str, Any], seconds: float) -> None:
        ap = metrics.get("AP", float("nan"))
        if metrics and ap > self.best_ap:
            self.best_ap = ap
        state = self.checkpoint_state(epoch + 1)
        save_checkpoint(state, self.run_dir / "weights" / "last.pt")
        if metrics and ap >= self.best_ap:
            save_checkpoint(state, self.run_dir / "weights" / "best.pt")
        row = {"epoch": epoch + 1, **losses, **{k: metrics.get(k, "") for k in STAT_KEYS}, "seconds": round(seconds, 2),
               **self.hook.epoch_stats()}
        new = not self.metrics_path.exists()
        fields = list(row)
        if not new:  # a resumed run keeps its header (one written by an older edgedet may lack newer columns)
            with open(self.metrics_path, newline="") as f:
                fields = next(csv.reader(f), None) or fields
        with open(self.metrics_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", restval="")
            if new:
                writer.writeheader()
            writer.writerow(row)
        if metrics:
            log.info("epoch %d: AP %.4f AP50 %.4f (best %.4f)", epoch + 1, metrics["AP"], metrics["AP50"], self.best_ap)

    def _finish(self, metrics: dict[str, Any]) -> None:
        from edgedet.engine.plots import plot_metrics
        from edgedet.engine.report import write_train_report

        plot_metrics(self.metrics_path, self.run_dir)
        save_sample_predictions(self.eval_model(), self.val_index, self.cfg.model.imgsz, self.device,
                                self.run_dir / "samples.png")
        write_train_report(self.run_dir, self.cfg, metrics, self.best_ap)
        self.hook.finish(self, metrics)
        if metrics:
            log.info("final metrics\n%s", format_metrics_table(metrics))


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, leave=True)


@torch.no_grad()
def predict_normalized(model: torch.nn.Module, images: torch.Tensor, score_thr: float = EVAL_SCORE_THR):
    """``model.predict`` -> per image ``(boxes, scores, labels)`` numpy tuples, boxes in input pixels."""
    dets = model.predict(images, score_thr=score_thr)
    return [(d["boxes"].float().cpu().numpy(), d["scores"].float().cpu().numpy(), d["labels"].cpu().numpy())
            for d in dets]


@torch.no_grad()
def evaluate_model(model, index, imgsz: int, device: torch.device, data_cfg, progress: bool = True,
                   batch_size: int = 16) -> dict[str, Any]:
    """COCO metrics of a torch detector on a dataset index, through the shared letterbox."""
    from edgedet.data import build_dataloader
    from edgedet.data.dataset import normalize_batch

    was_training = model.training
    model.eval()
    loader = build_dataloader(index, imgsz, False, data_cfg, batch_size)

    def batches():
        for images, _targets, metas in loader:
            yield normalize_batch(images.to(device)), metas

    metrics, _ = evaluate_predictor(lambda x: predict_normalized(model, x), batches(), index.to_coco_dict(),
                                    index.cat_ids, progress=progress)
    model.train(was_training)
    return metrics


@torch.no_grad()
def save_sample_predictions(model, index, imgsz: int, device, path: Path, n: int = 8, score_thr: float = 0.3) -> None:
    """A grid of ``n`` validation images with predictions (red) and ground truth (green)."""
    from edgedet.data import DetectionDataset, collate_detection
    from edgedet.data.dataset import normalize_batch
    from edgedet.engine.plots import plot_samples

    if not index.images:
        return
    was_training = model.training
    model.eval()
    ds = DetectionDataset(index, imgsz, train=False, cfg=None)
    items = [ds[i] for i in range(min(n, len(ds)))]
    images, targets, _ = collate_detection(items)
    preds = predict_normalized(model, normalize_batch(images.to(device)), score_thr)
    samples = []
    for img, tgt, (b, s, lab) in zip(images, targets, preds):
        samples.append({"image": img.permute(1, 2, 0).numpy(), "boxes": b, "scores": s, "labels": lab,
                        "gt_boxes": tgt["boxes"].numpy(), "gt_labels": tgt["labels"].numpy()})
    plot_samples(samples, index.class_names, path)
    model.train(was_training)
