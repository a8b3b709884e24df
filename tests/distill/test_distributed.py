"""Distillation under torch.distributed: 2 CPU processes on gloo end with identical students and adapters."""

import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import tiny_config
from tests.engine.test_distributed import _free_port, _set_env


def _distill_worker(rank, world, port, data, teacher, out):
    from edgedet.distill import Distiller
    from edgedet.engine.trainer import Trainer

    torch.set_num_threads(1)
    _set_env(rank, world, port)
    cfg = tiny_config(data, epochs=1, batch=4, max_iters=3, eval_interval=0)
    cfg.distill.teacher = teacher
    cfg.distill.warmup_iters = 0
    tr = Trainer(cfg, f"{out}/run", progress=False, hook=Distiller(cfg.distill))
    tr.fit()
    torch.save(tr.model.state_dict(), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_distil_to_identical_weights(tiny_synth, tmp_path):
    from edgedet.engine.trainer import Trainer

    Trainer(tiny_config(tiny_synth, epochs=1, max_iters=1, eval_interval=0), tmp_path / "teacher",
            progress=False).fit()
    mp.spawn(_distill_worker, args=(2, _free_port(), str(tiny_synth), str(tmp_path / "teacher"), str(tmp_path)),
             nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    adapters = [k for k in w0 if ".adapters." in k]
    assert adapters  # the adapters train under DDP too
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    from edgedet.engine.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "run/weights/last.pt")
    assert not any(".adapters." in k for k in state["model"]) and set(state["train_only"]) == set(adapters)
