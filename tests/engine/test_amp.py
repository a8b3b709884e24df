"""Training steps under mixed precision, for every family in the zoo and for distillation.

CI has no GPU. CPU autocast (bfloat16) applies the same casting rules as CUDA's float16 autocast: convolutions and
matrix products run in the low dtype and meet float targets in the losses. The first GPU run crashed on exactly
such a mix (Dynamic ATSS: float IoU targets written into half scores), which these tests reproduce without the fix.
"""

import pytest
import torch

from edgedet.data import build_dataloader, load_dataset
from edgedet.data.dataset import normalize_batch
from edgedet.data.synth import CLASS_NAMES
from edgedet.distill import Distiller
from edgedet.engine.trainer import Trainer
from edgedet.models.zoo import build_model
from tests.conftest import tiny_config

MODELS = ["pafnet_lite_mbv3", "pafnet_r18vd", "retinanet_r18_fpn", "atss_r18_fpn", "dynamic_atss_r18_fpn",
          "dynamic_atss_vfl_r18_fpn", "noisy_anchor_retinanet_r18_fpn", "libra_retinanet_r18_fpn",
          "libra_faster_rcnn_r18_fpn"]


def _batch(data, cfg):
    images, targets, _ = next(iter(build_dataloader(load_dataset(data, "train"), 96, True, cfg.data, batch_size=4)))
    return normalize_batch(images), targets


def _autocast_step(model, images, targets, before=None) -> dict:
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        if before is not None:
            before(images, targets, 1000)  # past every KD weight's ramp
        losses = model.loss(model(images), targets)
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in losses.values()), losses
    return losses


@pytest.mark.parametrize("name", MODELS)
def test_every_family_trains_under_autocast(name, tiny_synth):
    cfg = tiny_config(tiny_synth, name)  # dcn off: torchvision's CPU deform_conv2d has no bfloat16 kernel
    cfg.model.num_classes = len(CLASS_NAMES)
    torch.manual_seed(0)
    _autocast_step(build_model(cfg.model), *_batch(tiny_synth, cfg))


@pytest.mark.parametrize("teacher", ["pafnet_lite_mbv3", "dynamic_atss_r18_fpn"])
def test_distillation_trains_under_autocast(teacher, tiny_synth, tmp_path):
    tcfg = tiny_config(tiny_synth, teacher, epochs=1, max_iters=1, eval_interval=0)
    Trainer(tcfg, tmp_path / "teacher", progress=False).fit()
    cfg = tiny_config(tiny_synth, epochs=1, max_iters=1)
    cfg.distill.teacher = str(tmp_path / "teacher")
    trainer = Trainer(cfg, tmp_path / "student", progress=False, hook=Distiller(cfg.distill))
    losses = _autocast_step(trainer.model, *_batch(tiny_synth, cfg), before=trainer.hook.before_step)
    want = {"pafnet_lite_mbv3": {"loss_kd_hm", "loss_kd_box", "loss_kd_feat"},
            "dynamic_atss_r18_fpn": {"loss_kd_out", "loss_kd_feat"}}[teacher]
    assert want <= set(losses)
