import logging
import shutil

import numpy as np
import pytest
import torch

from edgedet.config.schema import DataConfig
from edgedet.data import DetectionDataset, build_dataloader, collate_detection, load_dataset
from edgedet.data.dataset import normalize_batch, rescale_batch, scheduled_probability
from edgedet.deploy.preprocess import MEAN, STD, boxes_to_input, letterbox_params

ALL_AUG = DataConfig(flip=0.5, photometric=True, expand=0.5, crop=0.5, gridmask=0.5, cutmix=0.5, mosaic=0.3,
                     workers=0)


def test_eval_item_is_letterboxed_ground_truth(synth_root):
    index = load_dataset(synth_root, "val")
    ds = DetectionDataset(index, 128, train=False, cfg=DataConfig(workers=0))
    item = ds[0]
    rec = index.images[0]
    assert item["image"].shape == (3, 128, 128) and item["image"].dtype == torch.uint8
    info = letterbox_params(rec.height, rec.width, 128)
    assert item["letterbox"] == (info.scale, info.pad_x, info.pad_y, rec.height, rec.width)
    keep = ~rec.iscrowd
    want = boxes_to_input(rec.boxes[keep], info)
    big = ((want[:, 2:] - want[:, :2]) >= 2).all(1)
    np.testing.assert_allclose(item["boxes"].numpy(), want[big], rtol=1e-6)
    np.testing.assert_array_equal(item["labels"].numpy(), rec.labels[keep][big])
    assert item["image_id"] == rec.id
    assert item["boxes"].dtype == torch.float32 and item["labels"].dtype == torch.int64


def test_train_items_stay_valid_under_every_augmentation(synth_root):
    ds = DetectionDataset(load_dataset(synth_root, "train"), 96, train=True, cfg=ALL_AUG, seed=1)
    n_boxes = 0
    for i in range(len(ds)):
        item = ds[i]
        b = item["boxes"]
        assert item["image"].shape == (3, 96, 96)
        assert len(b) == len(item["labels"])
        assert (b >= 0).all() and (b <= 96).all()
        assert ((b[:, 2:] - b[:, :2]) >= 2).all()
        assert ((item["labels"] >= 0) & (item["labels"] < 13)).all()
        n_boxes += len(b)
    assert n_boxes > len(ds)  # augmentation does not lose most objects


def test_flip_only_mirrors_boxes(synth_root):
    index = load_dataset(synth_root, "val")
    plain = DetectionDataset(index, 160, train=False)[1]
    flipped = DetectionDataset(index, 160, train=True, cfg=DataConfig(flip=1.0, photometric=False))[1]
    want = plain["boxes"].clone()
    want[:, 0], want[:, 2] = 160 - plain["boxes"][:, 2], 160 - plain["boxes"][:, 0]
    torch.testing.assert_close(flipped["boxes"], want)
    assert torch.equal(flipped["image"], plain["image"].flip(-1))


def test_corrupt_image_is_replaced_and_warned_once(synth_root, tmp_path, caplog):
    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    for k in (0, 3):
        (root / "images" / "val" / f"00000{k}.jpg").write_bytes(b"not a jpeg at all")
    ds = DetectionDataset(load_dataset(root, "val"), 64, train=True, cfg=DataConfig(workers=0))
    with caplog.at_level(logging.WARNING, logger="edgedet.data.dataset"):
        items = [ds[i] for i in range(len(ds))]
    assert items[0]["image_id"] == 2 and items[3]["image_id"] == 5  # the next readable image
    assert ds.substituted == 2 and ds.bad == {0, 3}
    warnings = [r for r in caplog.records if "unreadable image" in r.getMessage()]
    assert len(warnings) == 1 and "000000.jpg" in warnings[0].getMessage()


def test_corrupt_image_in_eval_keeps_its_id_and_boxes(synth_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    (root / "images" / "val" / "000001.jpg").write_bytes(b"\xff\xd8 truncated")
    index = load_dataset(root, "val")
    ds = DetectionDataset(index, 64, train=False)
    ids = [ds[i]["image_id"] for i in range(len(ds))]
    assert ids == [r.id for r in index.images]  # every id evaluated exactly once
    item = ds[1]
    assert (item["image"] == 114).all() and len(item["boxes"]) > 0
    assert ds.bad == {1}


def test_collate_shapes(synth_root):
    ds = DetectionDataset(load_dataset(synth_root, "val"), 64, train=False)
    images, targets, metas = collate_detection([ds[0], ds[1], ds[2]])
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.uint8
    assert [m["image_id"] for m in metas] == [1, 2, 3]
    assert all(t["boxes"].shape == (len(t["labels"]), 4) for t in targets)
    assert len(metas[0]["letterbox"]) == 5


@pytest.mark.parametrize("workers", [0, 1])
def test_dataloader_is_deterministic(synth_root, workers):
    index = load_dataset(synth_root, "train")
    cfg = DataConfig(workers=workers, expand=0.5, crop=0.5)

    def first_batch():
        loader = build_dataloader(index, 64, train=True, cfg=cfg, batch_size=4, seed=7)
        return next(iter(loader))

    (a, ta, ma), (b, tb, mb) = first_batch(), first_batch()
    assert a.shape == (4, 3, 64, 64)
    assert torch.equal(a, b) and [m["image_id"] for m in ma] == [m["image_id"] for m in mb]
    assert all(torch.equal(x["boxes"], y["boxes"]) for x, y in zip(ta, tb))
    loader = build_dataloader(index, 64, train=True, cfg=cfg, batch_size=5, seed=7)
    assert len(loader) == 24 // 5  # the incomplete last batch is dropped in training


def test_normalize_and_rescale_batch():
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    x = normalize_batch(images)
    want = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    torch.testing.assert_close(x[0, :, 0, 0], want)
    targets = [{"boxes": torch.tensor([[0.0, 2.0, 4.0, 8.0]]), "labels": torch.tensor([1])}]
    out, t2 = rescale_batch(x, targets, 16)
    assert out.shape == (2, 3, 16, 16)
    torch.testing.assert_close(t2[0]["boxes"], torch.tensor([[0.0, 4.0, 8.0, 16.0]]))
    assert targets[0]["boxes"][0, 3] == 8.0 and t2[0]["labels"] is targets[0]["labels"]


def test_scheduled_probability_hand_values():
    # GridMask as PAFNet-lite: 0.7 reached at the end of a ramp over the whole training (0 at the start)
    assert scheduled_probability(0.7, 0.0, ramp=1.0) == 0.0
    assert scheduled_probability(0.7, 0.5, ramp=1.0) == pytest.approx(0.35)
    assert scheduled_probability(0.7, 0.25, ramp=0.5) == pytest.approx(0.35)
    assert scheduled_probability(0.7, 0.75, ramp=0.5) == pytest.approx(0.7)  # after the ramp: the full value
    # CutMix as PAFNet: every sample until 5/6 of training (epoch 99 of 120 yes, epoch 100 no)
    assert scheduled_probability(1.0, 99 / 120, until=0.833) == 1.0
    assert scheduled_probability(1.0, 100 / 120, until=0.833) == 0.0
    assert scheduled_probability(0.5, 0.9) == 0.5  # neither: a constant probability


ONLY_SCHEDULED = dict(  # every other augmentation off
    flip=0.0, photometric=False, expand=0.0, crop=0.0, gridmask=0.0, mosaic=0.0, workers=0)


def test_cutmix_items_carry_mixing_weights_until_its_share_of_training_ends(synth_root):
    index = load_dataset(synth_root, "train")
    cfg = DataConfig(cutmix=1.0, cutmix_until=0.833, **ONLY_SCHEDULED)
    ds = DetectionDataset(index, 96, train=True, cfg=cfg, seed=3, progress=0.5)
    for i in range(6):
        item = ds[i]
        w = item["weights"].numpy()
        assert len(w) == len(item["boxes"]) == len(item["labels"])
        # every box weighs lam or 1 - lam of the same mix: at most two values, summing to 1 when both appear
        values = np.unique(w)
        assert 1 <= len(values) <= 2 and ((values > 0) & (values < 1)).all()
        if len(values) == 2:
            assert values.sum() == pytest.approx(1.0)
    late = DetectionDataset(index, 96, train=True, cfg=cfg, seed=3, progress=0.9)  # past 5/6: no CutMix
    assert "weights" not in late[0]
    batch = collate_detection([ds[0], late[0]])[1]
    assert "weights" in batch[0] and "weights" not in batch[1]


def test_gridmask_ramps_and_masks_in_black(synth_root):
    index = load_dataset(synth_root, "train")
    cfg = DataConfig(**{**ONLY_SCHEDULED, "gridmask": 0.7}, gridmask_ramp=1.0)
    assert DetectionDataset(index, 96, train=True, cfg=cfg, progress=0.0).gridmask_p == 0.0
    assert DetectionDataset(index, 96, train=True, cfg=cfg, progress=0.5).gridmask_p == pytest.approx(0.35)
    always = DataConfig(**{**ONLY_SCHEDULED, "gridmask": 1.0})
    masked = DetectionDataset(index, 320, train=True, cfg=always, seed=0)[0]["image"]
    plain = DetectionDataset(index, 320, train=True, cfg=DataConfig(**ONLY_SCHEDULED), seed=0)[0]["image"]
    changed = (masked != plain).any(0)
    # about a quarter of the 320 px synth image (d 96-224, ratio .5) turned black: the paper's fill 0
    assert 0.1 < float(changed.float().mean()) < 0.4
    assert int(masked[:, changed].max()) == 0
