"""Joint transforms of an image and its mask, and the DataLoader that batches them.

:func:`train_transforms` is DeepLab's augmentation (random scale, pad, crop, flip,
then normalisation), applied to image and mask together so they stay aligned; masks
are always resized with nearest neighbour and padded with void (255).
:func:`eval_transforms` only normalises. :func:`make_loader` batches pairs of
different sizes with :func:`pad_collate`.

Used in: 06, 07, 08.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from dlcourse.data import IMAGENET_MEAN, IMAGENET_STD
from dlcourse.env import num_workers
from dlcourse.voc import VOID_INDEX


class RandomScale:
    """Resize image and mask by one random factor in ``[low, high]`` (mask: nearest neighbour)."""

    def __init__(self, low: float = 0.5, high: float = 2.0) -> None:
        if not 0 < low <= high:
            raise ValueError(f"RandomScale(low={low}, high={high}): need 0 < low <= high")
        self.low, self.high = low, high

    def __call__(self, image, mask):
        factor = float(torch.empty(()).uniform_(self.low, self.high))
        h, w = image.shape[-2:]
        size = [max(1, round(h * factor)), max(1, round(w * factor))]
        return v2.functional.resize(image, size, antialias=True), v2.functional.resize(mask, size)

    def __repr__(self) -> str:
        return f"RandomScale(low={self.low}, high={self.high})"


def _finish(mean, std):
    return [v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
            v2.Normalize(mean=list(mean), std=list(std))]  # fmt: skip


def train_transforms(crop_size: int = 321, scale_range: tuple[float, float] = (0.5, 2.0),
                     flip: bool = True, jitter: float = 0.0,
                     mean=IMAGENET_MEAN, std=IMAGENET_STD) -> v2.Compose:  # fmt: skip
    """DeepLab's training augmentation as one joint transform ``(image, mask) -> (image, mask)``.

    Random scale, pad to ``crop_size`` (image with the mean colour, mask with 255),
    random crop, horizontal flip, optional colour jitter, then float conversion and
    normalisation of the image. Masks are always resized with nearest neighbour.
    Inputs are a ``tv_tensors.Image`` and a ``tv_tensors.Mask``, as the datasets here
    return them (the types tell torchvision which one is the mask).
    """
    if not isinstance(crop_size, int) or crop_size < 1:
        raise ValueError(f"train_transforms(crop_size={crop_size!r}): must be a positive int")
    fill = {tv_tensors.Image: tuple(round(255 * m) for m in mean), tv_tensors.Mask: VOID_INDEX}
    steps: list[Callable] = [RandomScale(*scale_range)] if scale_range else []
    steps.append(v2.RandomCrop(crop_size, pad_if_needed=True, fill=fill))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if jitter:
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    return v2.Compose(steps + _finish(mean, std))


def eval_transforms(mean=IMAGENET_MEAN, std=IMAGENET_STD) -> v2.Compose:
    """Evaluation transform: the full image, converted to float and normalised; mask untouched."""
    return v2.Compose(_finish(mean, std))


def pad_collate(batch):
    """Stack ``(image, mask)`` pairs of different sizes: pad right/bottom, image 0, mask 255."""
    height = max(int(image.shape[-2]) for image, _ in batch)
    width = max(int(image.shape[-1]) for image, _ in batch)
    images = torch.zeros(len(batch), batch[0][0].shape[0], height, width, dtype=batch[0][0].dtype)
    masks = torch.full((len(batch), height, width), VOID_INDEX, dtype=torch.int64)
    for i, (image, mask) in enumerate(batch):
        images[i, :, : image.shape[-2], : image.shape[-1]] = image
        masks[i, : mask.shape[-2], : mask.shape[-1]] = mask
    return images, masks


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                workers: int | None = None, sampler=None) -> DataLoader:  # fmt: skip
    """A DataLoader with the course defaults: :func:`dlcourse.env.num_workers` and :func:`pad_collate`."""
    workers = num_workers() if workers is None else workers
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, drop_last=drop_last, num_workers=workers,
                      collate_fn=pad_collate, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0)  # fmt: skip
