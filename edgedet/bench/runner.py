"""The benchmark runner: exports interleaved round by round on a target, one record per (export, threads).

For each thread count, one worker process per export is started on the target (:mod:`edgedet.bench.worker`),
warmed up, then timed round by round in a fresh seeded order (the cross-process form of
:func:`edgedet.bench.timing.time_interleaved`), so background load hits every export alike. With images, the first
thread count's workers also predict them: the detections score AP on the host, and the same images run through
the host's runtime give the parity figures (target vs host).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgedet.bench.result import BenchmarkResult
from edgedet.bench.targets import BenchError, HostTarget, model_size_mb
from edgedet.bench.timing import latency_stats

# same detections on target and host: labels equal, boxes (pixels) and scores within this
DETECTION_TOL = 1e-3
Scorer = Callable[[list[dict | None]], float]  # detections per image (worker format) -> COCO AP


class Target(Protocol):
    name: str

    def prepare(self, exports: list[Path], images: list[Path]) -> None: ...
    def model_path(self, index: int, export: Path) -> str: ...
    def image_paths(self) -> list[str]: ...
    def spawn(self, model: str, threads: int, cores: str) -> subprocess.Popen: ...
    def describe_exit(self, returncode: int, stderr: str) -> str: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class BenchSettings:
    """What every (export, threads) run shares.

    Args:
        threads: thread counts, one record each.
        warmup: untimed calls per export before the timed rounds; runs: timed rounds (one call per export each).
        cooldown_s: idle seconds before each thread count's timed rounds (a phone's clocks recover).
        cores: ``big``, ``little``, ``all`` or a hex mask, resolved on the target.
        seed: seed of the per-round order.
        score_thr: detection threshold of the accuracy images (the evaluation one).
    """

    threads: tuple[int, ...] = (1,)
    warmup: int = 10
    runs: int = 100
    cooldown_s: float = 0.0
    cores: str = "all"
    seed: int = 0
    score_thr: float = 0.01

    def __post_init__(self) -> None:
        if not self.threads or any(t < 1 for t in self.threads):
            raise ValueError(f"--threads needs positive counts such as 1,2,4, got {self.threads}")
        if self.warmup < 0 or self.runs < 1:
            raise ValueError(f"need --warmup >= 0 and --runs >= 1, got {self.warmup} and {self.runs}")
        if self.cooldown_s < 0:
            raise ValueError(f"--cooldown must be >= 0 seconds, got {self.cooldown_s}")


@dataclass
class Worker:
    """One worker process on the target, spoken to in JSON lines."""

    target: Target
    export: Path
    proc: subprocess.Popen
    ready: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, target: Target, index: int, export: Path, threads: int, cores: str) -> Worker:
        w = cls(target, export, target.spawn(target.model_path(index, export), threads, cores))
        w.ready = w._read()
        return w

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.stdin.close()
            stderr = self.proc.stderr.read()
            raise BenchError(f"{self.export}: {self.target.describe_exit(self.proc.wait(), stderr)}")
        msg = json.loads(line)
        if "error" in msg:
            self.proc.wait()
            raise BenchError(f"{self.export} on {self.target.name}: {worker_error_fix(msg)}")
        return msg

    def ask(self, **msg: Any) -> dict[str, Any]:
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died: _read says how
        return self._read()

    def close(self) -> dict[str, Any]:
        closed = self.ask(cmd="close")
        self.proc.wait(timeout=60)
        return closed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def worker_error_fix(msg: dict[str, Any]) -> str:
    """One line for a worker's error answer, with the fix where one is known."""
    if msg.get("kind") == "missing-module":
        return (f"{msg['error']}; install it on the target ({msg.get('arch')}): `python3 -m pip install "
                f"{msg.get('module') or 'the runtime'}`")
    if msg.get("kind") == "disk-full":
        return f"{msg['error']}; the target's disk is full: free space there and retry"
    if msg.get("kind") == "memory":
        return f"{msg['error']}; the target ran out of memory: try fewer --threads or a smaller model"
    return msg["error"]


def _decode_raw(raw: list[dict[str, Any]] | None) -> list[np.ndarray] | None:
    if raw is None:
        return None
    return [np.frombuffer(base64.b64decode(r["b64"]), np.float32).reshape(r["shape"]) for r in raw]


def compare_detections(a: list[dict | None], b: list[dict | None], tol: float = DETECTION_TOL) -> str:
    """``"same"`` when every image has the same labels and boxes/scores within ``tol``, else ``"k/n images differ"``."""
    differ = 0
    for da, db in zip(a, b):
        if da is None or db is None:
            differ += (da is None) != (db is None)
            continue
        same = (da["labels"] == db["labels"] and len(da["scores"]) == len(db["scores"])
                and np.allclose(da["boxes"], db["boxes"], atol=tol, rtol=0)
                and np.allclose(da["scores"], db["scores"], atol=tol, rtol=0))
        differ += not same
    return "same" if differ == 0 else f"{differ}/{len(a)} images differ"


def max_abs_diff(a: list[np.ndarray] | None, b: list[np.ndarray] | None) -> float | None:
    if a is None or b is None:
        return None
    if [x.shape for x in a] != [y.shape for y in b]:
        return float("inf")
    return max((float(np.max(np.abs(x - y))) if x.size else 0.0) for x, y in zip(a, b))


class Progress:
    """A tqdm bar when tqdm is installed and wanted, else nothing."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="bench", unit="call", dynamic_ncols=True, leave=False)
            except ImportError:
                pass

    def update(self, n: int, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class Outcome:
    """Per export: its records and, with images, the target's and the host's detections."""

    records: list[BenchmarkResult] = field(default_factory=list)
    detections: list[dict | None] | None = None
    raw: list[np.ndarray] | None = None  # outputs for the host's tensor (on the host: its own)
    input: np.ndarray | None = None  # the first image's tensor as this target preprocessed it


def _timed_rounds(workers: list[Worker], settings: BenchSettings, rng: np.random.Generator,
                  progress: Progress, threads: int) -> list[list[float]]:
    for w in workers:
        if settings.warmup:
            w.ask(cmd="warmup", n=settings.warmup)
        progress.update(settings.warmup, f"warmup t={threads}")
    if settings.cooldown_s:
        time.sleep(settings.cooldown_s)
    samples: list[list[float]] = [[] for _ in workers]
    for _ in range(settings.runs):
        for i in rng.permutation(len(workers)):
            samples[i] += workers[i].ask(cmd="time", runs=1)["samples_ms"]
        progress.update(len(workers), f"t={threads}")
    return samples


def _record(w: Worker, threads: int, settings: BenchSettings, samples: list[float], closed: dict[str, Any],
            target: Target) -> BenchmarkResult:
    r = w.ready
    return BenchmarkResult(
        model=str(w.export), target=target.name, device=r["device"], os=r["os"], runtime=r["runtime"],
        runtime_version=r["runtime_version"], delegate=None, threads=threads, precision=r["precision"],
        input_size=tuple(r["input_size"]), warmup=settings.warmup, latency=latency_stats(samples),
        init_ms=r["init_ms"], first_ms=r["first_ms"], peak_rss_mb=closed.get("peak_rss_mb"),
        model_size_mb=round(model_size_mb(w.export), 3), emulated=bool(r["emulated"]), format=r["format"],
        arch=r["arch"], core_mask=r["core_mask"], load_avg_1min=r["load_avg_1min"], cpu_temp_c=closed.get("cpu_temp_c"),
        simd=r.get("simd"), runner="edgedet-worker")


def run_on_target(target: Target, exports: Sequence[Path], settings: BenchSettings, *,
                  images: Sequence[Path] = (), reference: Sequence[Outcome] = (), progress: bool = True
                  ) -> list[Outcome]:
    """Benchmark ``exports`` on ``target``; with ``images``, also collect each export's detections on them.

    With ``reference`` (the host's outcomes), the raw outputs are computed on the host's input tensors, so that
    parity measures the runtime alone; the target's own tensor is kept to compare its preprocessing.

    The target is prepared (files shipped) once and closed (files removed) at the end, also on errors.
    """
    exports = [Path(e) for e in exports]
    outcomes = [Outcome() for _ in exports]
    total = len(settings.threads) * len(exports) * (settings.warmup + settings.runs)
    bar = Progress(total, progress)
    rng = np.random.default_rng(settings.seed)
    workers: list[Worker] = []
    try:
        target.prepare(exports, list(images))
        for k, threads in enumerate(settings.threads):
            workers = [Worker.start(target, i, e, threads, settings.cores) for i, e in enumerate(exports)]
            if k == 0 and images:
                for w, out in zip(workers, outcomes):
                    bar.update(0, f"predict {len(images)} images")
                    got = w.ask(cmd="predict", images=target.image_paths(), score_thr=settings.score_thr)
                    out.detections, out.raw = got["detections"], _decode_raw(got["raw_first"])
                    out.input = _decode_raw([got["input_first"]])[0] if got["input_first"] else None
                for w, out, ref in zip(workers, outcomes, reference):
                    if ref.input is not None:
                        x = {"shape": list(ref.input.shape), "b64": base64.b64encode(ref.input.tobytes()).decode()}
                        out.raw = _decode_raw(w.ask(cmd="run", x=x)["outputs"])
            samples = _timed_rounds(workers, settings, rng, bar, threads)
            for w, s, out in zip(workers, samples, outcomes):
                out.records.append(_record(w, threads, settings, s, w.close(), target))
            workers = []
    finally:
        for w in workers:
            w.kill()
        bar.close()
        target.close()
    return outcomes


def add_accuracy(outcomes: list[Outcome], host: list[Outcome], score: Scorer | None) -> list[BenchmarkResult]:
    """The records with AP (target detections), the host's AP, their difference and the parity figures."""
    out = []
    for o, h in zip(outcomes, host):
        ap = score(o.detections) if score and o.detections is not None else None
        ap_host = score(h.detections) if score and h.detections is not None else None
        parity = max_abs_diff(o.raw, h.raw)
        parity_input = max_abs_diff([o.input], [h.input]) if o.input is not None and h.input is not None else None
        same = compare_detections(o.detections, h.detections) if o.detections and h.detections else None
        for r in o.records:
            out.append(replace(r, ap=ap, ap_host=ap_host,
                               ap_delta=None if ap is None or ap_host is None else ap - ap_host,
                               parity_max_abs_diff=parity, parity_input_max_abs_diff=parity_input,
                               parity_detections=same))
    return out


def benchmark(exports: Sequence[Path], target: Target, settings: BenchSettings, *, images: Sequence[Path] = (),
              score: Scorer | None = None, progress: bool = True) -> list[BenchmarkResult]:
    """Every record of ``exports`` on ``target``; with ``images``, AP on the target and parity with the host.

    On the host the target's own detections are the reference (``ap_delta`` 0); elsewhere the same images run
    through this machine's runtime first (one thread, untimed), and the target also runs the host's tensor of the
    first image, so that parity separates the runtime from the device's image decoding and resizing.
    """
    if not images:
        return [r for o in run_on_target(target, exports, settings, progress=progress) for r in o.records]
    if isinstance(target, HostTarget):
        outcomes = host = run_on_target(target, exports, settings, images=images, progress=progress)
    else:
        host = run_on_target(HostTarget(), exports, replace(settings, threads=(1,), warmup=0, runs=1, cooldown_s=0),
                             images=images, progress=False)
        outcomes = run_on_target(target, exports, settings, images=images, reference=host, progress=progress)
    return add_accuracy(outcomes, host, score)
