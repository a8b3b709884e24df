"""Torch dataset, collate function and DataLoader for detection.

Images leave the loader as uint8 ``[B, 3, S, S]`` RGB letterboxed tensors (4x less host-to-device traffic than
float); the trainer normalises them on the device with :func:`normalize_batch`.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

import edgedet.data.transforms as T
from edgedet.config.schema import DataConfig
from edgedet.data.files import FileRefused
from edgedet.data.imagefile import decode_image
from edgedet.data.index import DatasetIndex, ImageRecord
from edgedet.deploy.preprocess import MEAN, PAD_VALUE, STD

log = logging.getLogger(__name__)

MIN_BOX_SIZE = 2.0  # boxes thinner than this (input pixels) after augmentation are dropped


def normalize_batch(images: Tensor) -> Tensor:
    """uint8 ``[B, 3, S, S]`` RGB -> float32 ``(x / 255 - MEAN) / STD`` on the same device."""
    mean = torch.tensor(MEAN, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def rescale_batch(images: Tensor, targets: list[dict], size: int) -> tuple[Tensor, list[dict]]:
    """Resize a square batch ``[B, C, S, S]`` (float) to ``size`` and scale the target boxes with it.

    Returns:
        ``(images [B, C, size, size], targets)``; new target dicts, the inputs are not modified.
    """
    s = images.shape[-1]
    if size == s:
        return images, targets
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    r = size / s
    return out, [{**t, "boxes": t["boxes"] * r} for t in targets]


def scheduled_probability(p: float, progress: float, *, ramp: float = 0.0, until: float = 1.0) -> float:
    """An augmentation's probability at ``progress`` (the fraction of training done, in [0, 1]).

    ``p`` rises linearly from 0 over the first ``ramp`` of training (0: no ramp), and is 0 from ``until`` on.
    """
    if progress >= until:
        return 0.0
    return p * min(1.0, progress / ramp) if ramp > 0 else p


class DetectionDataset(Dataset):
    """Detection samples from a :class:`DatasetIndex`.

    Each item is a dict: ``image`` uint8 ``[3, S, S]`` RGB letterboxed; ``boxes`` float32 ``[N, 4]`` xyxy in
    input pixels; ``labels`` int64 ``[N]``; ``image_id`` int; ``letterbox`` ``(scale, pad_x, pad_y, orig_h,
    orig_w)`` mapping original pixels to input pixels (in train mode: of the augmented image); after CutMix also
    ``weights`` float32 ``[N]`` (each box's mixing ratio). Crowd boxes are left out. Train mode applies the
    augmentations of ``cfg`` at ``progress`` (the fraction of training done, for the scheduled ones: CutMix until
    ``cutmix_until``, GridMask ramped over ``gridmask_ramp``); eval mode only letterboxes.

    An image that cannot be used (not a regular file, over the pixel limit of
    :func:`edgedet.data.imagefile.max_image_pixels`, or undecodable) never stops an epoch: in train mode it is
    replaced by the next readable image; in eval mode it becomes a blank (pad-coloured) image of the annotated
    size that keeps its id and boxes, so every image id is still evaluated exactly once. The count is logged once
    per dataset (per worker process) as a warning; ``substituted`` and ``bad`` hold it.
    """

    def __init__(self, index: DatasetIndex, imgsz: int, train: bool, cfg: DataConfig | None = None, seed: int = 0,
                 progress: float = 0.0):
        self.index = index
        self.imgsz = int(imgsz)
        self.train = train
        self.cfg = cfg or DataConfig()
        self.cutmix_p = scheduled_probability(self.cfg.cutmix, progress, until=self.cfg.cutmix_until)
        self.gridmask_p = scheduled_probability(self.cfg.gridmask, progress, ramp=self.cfg.gridmask_ramp)
        records = index.images
        if train and self.cfg.max_images > 0:
            records = records[: self.cfg.max_images]
        self.records: list[ImageRecord] = list(records)
        self.rng = np.random.default_rng(seed)
        self.bad: set[int] = set()
        self.substituted = 0
        self.first_error = ""  # the first unusable image and why, for the warning
        self._warned = False

    def __len__(self) -> int:
        return len(self.records)

    def set_rng(self, seed: int) -> None:
        """Reseed the augmentation stream (the DataLoader does this per worker)."""
        self.rng = np.random.default_rng(seed)

    def _read(self, i: int) -> tuple[int, np.ndarray]:
        """``(record index, RGB image)`` of record ``i``, or a substitute if it cannot be decoded."""
        n = len(self.records)
        if not self.train:
            img = None if i in self.bad else self._decode(i)
            if img is not None:
                return i, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            self.bad.add(i)
            self._note_substitution(i)
            rec = self.records[i]
            return i, np.full((rec.height, rec.width, 3), PAD_VALUE, np.uint8)
        for k in range(n):
            j = (i + k) % n
            if j in self.bad:
                continue
            img = self._decode(j)
            if img is not None:
                if k:
                    self._note_substitution(i)
                return j, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            self.bad.add(j)
        raise RuntimeError(f"no image of the {self.index.split} split of {self.index.root} can be decoded; "
                           "fix: run `edgedet data check` on the dataset")

    def _decode(self, i: int) -> np.ndarray | None:
        """BGR image of record ``i``, or None when it is not a regular file, is over the pixel limit, or cannot
        be decoded (the header is read first, so an image bomb is never decoded; ``cv2.error`` is caught)."""
        try:
            return decode_image(self.records[i].file)
        except FileRefused as e:
            self.first_error = self.first_error or f"{self.records[i].file} {e}"
            return None

    def _note_substitution(self, i: int) -> None:
        self.substituted += 1
        if not self._warned:
            self._warned = True
            log.warning("%s [%s]: %d unreadable image(s) so far (first: %s), replaced by %s; run `edgedet data "
                        "check` to list them", self.index.root, self.index.split, len(self.bad), self.first_error,
                        "other images" if self.train else "blank images")

    def _sample(self, i: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        j, img = self._read(i)
        rec = self.records[j]
        keep = ~rec.iscrowd
        return rec.id, img, rec.boxes[keep].copy(), rec.labels[keep].copy()

    def __getitem__(self, i: int) -> dict:
        image_id, img, boxes, labels = self._sample(i)
        weights = None
        if self.train:
            img, boxes, labels, weights = self._augment(img, boxes, labels)
        canvas, boxes, info = T.letterbox_with_boxes(img, boxes, self.imgsz)
        if weights is None:
            boxes, labels = T.clip_and_filter(boxes, labels, self.imgsz, MIN_BOX_SIZE)
        else:
            boxes, labels, weights = T.clip_and_filter(boxes, labels, self.imgsz, MIN_BOX_SIZE, weights)
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(canvas.transpose(2, 0, 1))),
            "boxes": torch.from_numpy(boxes),
            "labels": torch.from_numpy(labels),
            "image_id": int(image_id),
            "letterbox": (float(info.scale), float(info.pad_x), float(info.pad_y), int(info.orig_h),
                          int(info.orig_w)),
        }
        if weights is not None:
            item["weights"] = torch.from_numpy(weights)
        return item

    def _augment(self, img, boxes, labels):
        """Train-time augmentations; returns ``(img, boxes, labels, weights)``, per-box weights only after CutMix
        (else None). GridMask comes last, on the image's own pixels (where its cell sizes are defined), as in the
        reference pipeline."""
        cfg, rng, n = self.cfg, self.rng, len(self.records)
        weights = None
        if cfg.mosaic > 0 and rng.random() < cfg.mosaic:
            items = [(img, boxes, labels)] + [self._sample(int(rng.integers(n)))[1:] for _ in range(3)]
            img, boxes, labels = T.mosaic(items, max(img.shape[:2]), rng)
        elif self.cutmix_p > 0 and rng.random() < self.cutmix_p:
            _, img2, boxes2, labels2 = self._sample(int(rng.integers(n)))
            img, boxes, labels, weights = T.random_cutmix(img, boxes, labels, img2, boxes2, labels2, rng)
        if cfg.photometric:
            img = T.photometric_distort(img, rng)
        if cfg.expand > 0 and rng.random() < cfg.expand:
            img, boxes = T.random_expand(img, boxes, rng)
        if cfg.crop > 0 and rng.random() < cfg.crop:
            img, boxes = T.random_crop(img, boxes, rng)
        if cfg.flip > 0 and rng.random() < cfg.flip:
            img, boxes = T.hflip(img, boxes)
        if self.gridmask_p > 0 and rng.random() < self.gridmask_p:
            img = T.random_gridmask(img, rng)
        return img, boxes, labels, weights


def collate_detection(batch: list[dict]) -> tuple[Tensor, list[dict], list[dict]]:
    """Stack a list of :class:`DetectionDataset` items.

    Returns:
        ``(images uint8 [B, 3, S, S], targets [dict(boxes Float[N, 4], labels Long[N][, weights Float[N]])],
        metas [dict(image_id, letterbox)])``.
    """
    images = torch.stack([b["image"] for b in batch])
    targets = [{k: b[k] for k in ("boxes", "labels", "weights") if k in b} for b in batch]
    metas = [{"image_id": b["image_id"], "letterbox": b["letterbox"]} for b in batch]
    return images, targets, metas


def _seed_worker(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    # info.seed = loader base seed (drawn from the loader's seeded generator) + worker_id: deterministic
    info.dataset.set_rng(info.seed % 2**63)


def build_dataloader(
    index: DatasetIndex, imgsz: int, train: bool, cfg: DataConfig | None = None, batch_size: int = 16,
    distributed: bool = False, seed: int = 0, progress: float = 0.0,
) -> DataLoader:
    """DataLoader over a :class:`DetectionDataset` with :func:`collate_detection`.

    Train loaders shuffle (seeded) and drop the last incomplete batch when there is more than one batch. With
    ``distributed`` a :class:`DistributedSampler` splits the data across ranks; call
    ``loader.sampler.set_epoch(epoch)`` every epoch. ``progress``: the fraction of training done when this
    loader's epoch starts (scheduled augmentations follow it; the trainer builds one loader per epoch).
    """
    cfg = cfg or DataConfig()
    dataset = DetectionDataset(index, imgsz, train, cfg, seed=seed, progress=progress)
    if len(dataset) == 0:
        raise ValueError(f"{index.root} [{index.split}]: no usable images; fix: run `edgedet data check`")
    generator = torch.Generator().manual_seed(seed)
    sampler = DistributedSampler(dataset, shuffle=train, seed=seed) if distributed else None
    workers = max(int(cfg.workers), 0)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=train and sampler is None, sampler=sampler,
        num_workers=workers, collate_fn=collate_detection, pin_memory=torch.cuda.is_available(),
        drop_last=train and len(dataset) > batch_size, persistent_workers=workers > 0,
        worker_init_fn=_seed_worker if workers > 0 else None, generator=generator,
    )
