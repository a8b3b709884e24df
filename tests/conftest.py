"""Shared fixtures: a tiny built-in dataset and a tiny training config (CPU, seconds)."""

from __future__ import annotations

import os

import pytest
import torch

from edgedet.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # several test processes share 2 cores; one intra-op thread each keeps timings sane and results stable. The
    # trainer's CPU plan and the CLI subprocesses honour OMP_NUM_THREADS (edgedet.engine.threads)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    # every export test runs the real converter; tests/export/test_cache.py turns the cache on in its own folder
    os.environ["EDGEDET_EXPORT_CACHE"] = "0"


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A 24-train / 8-val synthetic dataset at 96 px (COCO layout)."""
    from edgedet.data import generate_synth

    return generate_synth(tmp_path_factory.mktemp("synth") / "synth", n_train=24, n_val=8, imgsz=96, seed=0)


def tiny_config(data_path, name: str = "pafnet_lite_mbv3", **train_kw) -> RunConfig:
    train = dict(epochs=2, batch=4, lr=0.01, lr_batch=4, warmup_iters=2, max_iters=3, amp=False, device="cpu",
                 seed=0, eval_interval=1)
    train.update(train_kw)
    return RunConfig(
        model=ModelConfig(name=name, width=0.25, imgsz=96, dcn=False),
        data=DataConfig(path=str(data_path), workers=0, photometric=True, flip=0.5),
        train=TrainConfig(**train),
    )
