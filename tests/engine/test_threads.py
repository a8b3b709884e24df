import logging

import pytest
import torch

from edgedet.engine.threads import apply_cpu_plan, plan_cpu


@pytest.fixture
def no_omp_env(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.mark.parametrize("cores, workers, threads, expected", [
    (2, 4, 0, (1, 1)),  # the 2-core machine: one loader worker, one torch thread
    (2, 0, 0, (0, 2)),
    (1, 4, 0, (0, 1)),  # one core: load in the main process
    (16, 4, 0, (4, 12)),
    (16, 4, 3, (4, 3)),  # --threads wins
    (2, 4, 8, (1, 8)),
])
def test_plan_from_cores_and_workers(no_omp_env, cores, workers, threads, expected):
    plan = plan_cpu(workers, threads, cores=cores)
    assert (plan.workers, plan.threads) == expected


def test_omp_num_threads_is_honoured_unless_threads_given(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert plan_cpu(0, cores=16).threads == 1
    assert plan_cpu(0, 5, cores=16).threads == 5


def test_apply_sets_torch_threads_and_logs_one_line(no_omp_env, caplog):
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="edgedet"):
            apply_cpu_plan(plan_cpu(4, cores=3))
        assert torch.get_num_threads() == 1
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["CPU: 3 core(s) -> 2 loader worker(s), 1 torch thread(s) (cores - workers; set --threads "
                         "to change)"]
    finally:
        torch.set_num_threads(before)
