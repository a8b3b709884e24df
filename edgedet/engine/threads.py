"""CPU budget: torch intra-op threads and DataLoader workers chosen from the cores this process may use.

torch's default (one intra-op thread per core) plus loader worker processes oversubscribes a small machine: on a
busy 2-core CPU an iteration took 1.7-6.7 s that way and 0.11 s with one thread. The rule: loader workers get
at most ``cores - 1`` (the main process keeps a core), and torch gets the cores the workers leave.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger("edgedet")


@dataclass(frozen=True)
class CPUPlan:
    """How a command uses the CPU: ``workers`` loader processes and ``threads`` torch intra-op threads."""

    cores: int
    workers: int
    threads: int
    why: str  # where the thread count came from, for the log line

    def describe(self) -> str:
        return (f"CPU: {self.cores} core(s) -> {self.workers} loader worker(s), {self.threads} torch thread(s) "
                f"({self.why})")


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's cpuset), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def plan_cpu(workers: int, threads: int = 0, cores: int | None = None) -> CPUPlan:
    """Choose loader workers and torch threads.

    Args:
        workers: loader workers the config asks for; capped at ``cores - 1``.
        threads: torch threads asked for (``--threads`` / ``train.threads``); 0 = ``$OMP_NUM_THREADS`` when set,
            else ``max(1, cores - workers)``.
        cores: usable cores (default: :func:`available_cores`).
    """
    cores = cores or available_cores()
    workers = min(max(workers, 0), max(cores - 1, 0))
    if threads > 0:
        return CPUPlan(cores, workers, threads, "--threads")
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return CPUPlan(cores, workers, int(env), "$OMP_NUM_THREADS")
    return CPUPlan(cores, workers, max(1, cores - workers), "cores - workers; set --threads to change")


def apply_cpu_plan(plan: CPUPlan, quiet: bool = False) -> CPUPlan:
    """Set torch's intra-op threads to ``plan.threads`` and log the plan (one line, unless ``quiet``)."""
    import torch

    torch.set_num_threads(plan.threads)
    if not quiet:
        log.info(plan.describe())
    return plan
