"""torch.distributed training with 2 CPU processes on gloo."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _set_env(rank: int, world: int, port: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))


def _train_worker(rank, world, port, data, out):
    from edgedet.engine.trainer import Trainer

    torch.set_num_threads(1)
    _set_env(rank, world, port)
    tr = Trainer(tiny_config(data, epochs=1, batch=4, max_iters=3), f"{out}/run", progress=False)
    tr.fit()
    torch.save(tr.model.state_dict(), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_end_with_identical_weights(tiny_synth, tmp_path):
    mp.spawn(_train_worker, args=(2, _free_port(), str(tiny_synth), str(tmp_path)), nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    assert (tmp_path / "run/weights/last.pt").is_file()  # rank 0 wrote the checkpoint


def _fixed_batch(data):
    from edgedet.data import DetectionDataset, collate_detection, load_dataset
    from edgedet.data.dataset import normalize_batch

    index = load_dataset(data, "train")
    ds = DetectionDataset(index, 96, train=False, cfg=None)
    images, targets, _ = collate_detection([ds[i] for i in range(4)])
    return normalize_batch(images), targets


def _steps(model, images, targets, n_steps):
    from edgedet.engine import dist

    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(n_steps):
        opt.zero_grad()
        losses = model.loss(model(images), targets)
        sum(losses.values()).backward()
        dist.average_gradients(model)
        opt.step()
    return model


def _build(data):
    from edgedet.models.zoo import build_model

    cfg = tiny_config(data)
    cfg.model.num_classes = 13
    torch.manual_seed(0)
    model = build_model(cfg.model)
    for m in model.modules():  # BatchNorm statistics are per-rank without SyncBN (CUDA only): freeze them
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _split_worker(rank, world, port, data, out):
    torch.set_num_threads(1)
    _set_env(rank, world, port)
    torch.distributed.init_process_group("gloo")
    images, targets = _fixed_batch(data)
    half = slice(2 * rank, 2 * rank + 2)
    model = _steps(_build(data), images[half], targets[half], 3)
    torch.save(model.state_dict(), f"{out}/split{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_match_single_process_on_combined_batch(tiny_synth, tmp_path):
    mp.spawn(_split_worker, args=(2, _free_port(), str(tiny_synth), str(tmp_path)), nprocs=2, join=True)
    images, targets = _fixed_batch(tiny_synth)
    assert len({len(t["boxes"]) for t in targets}) > 1, "want ranks with different object counts"
    single = _steps(_build(tiny_synth), images, targets, 3).state_dict()
    split = torch.load(tmp_path / "split0.pt")
    init = _build(tiny_synth).state_dict()
    moved = max((single[k] - init[k]).abs().max().item() for k in single if single[k].dtype.is_floating_point)
    assert moved > 1e-3  # the steps did something
    for k in single:
        if single[k].dtype.is_floating_point:
            torch.testing.assert_close(split[k], single[k], rtol=1e-4, atol=1e-5)
