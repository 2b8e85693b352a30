"""Tests of dlcourse.transforms: joint augmentation, normalisation, padding, the loader."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from dlcourse import transforms
from dlcourse.data import IMAGENET_MEAN, IMAGENET_STD, VOCDataset
from dlcourse.transforms import (
    RandomScale,
    eval_transforms,
    make_loader,
    pad_collate,
    train_transforms,
)


def test_train_transforms_shapes_values_and_padding(synthetic):
    torch.manual_seed(0)
    dataset = VOCDataset(synthetic, "train", transforms=train_transforms(40, jitter=0.2))
    raw = VOCDataset(synthetic, "train")
    for index in range(4):
        image, mask = dataset[index]
        assert image.shape == (3, 40, 40) and image.dtype == torch.float32
        assert mask.shape == (40, 40) and mask.dtype == torch.int64
        # nearest neighbour: no new label values appear, only void from padding
        assert set(mask.unique().tolist()) <= set(raw[index][1].unique().tolist()) | {255}
    # a 20x20 image padded to 32: mask padding is 255, image padding is the mean (0 after normalising)
    image = tv_tensors.Image(torch.full((3, 20, 20), 200, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.ones(20, 20, dtype=torch.int64))
    out_image, out_mask = train_transforms(32, scale_range=None, flip=False)(image, mask)
    assert int((out_mask == 1).sum()) == 400 and int((out_mask == 255).sum()) == 32 * 32 - 400
    padded = out_image[:, out_mask == 255]
    assert padded.abs().max() < 0.01


def test_eval_transforms_normalise_like_by_hand(synthetic):
    image, mask = VOCDataset(synthetic, "val")[0]
    out_image, out_mask = eval_transforms()(image, mask)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    torch.testing.assert_close(out_image, (image.float() / 255 - mean) / std)
    assert torch.equal(out_mask, mask)


def test_random_scale_resizes_masks_with_nearest():
    torch.manual_seed(1)
    image = tv_tensors.Image(torch.randint(0, 255, (3, 10, 10), dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.randint(0, 3, (10, 10)))
    out_image, out_mask = RandomScale(2.0, 2.0)(image, mask)
    assert out_image.shape == (3, 20, 20)
    nearest = torch.nn.functional.interpolate(
        mask[None, None].float(), size=(20, 20), mode="nearest"
    )
    assert torch.equal(out_mask, nearest[0, 0].long())
    expected = v2.functional.resize(image.as_subclass(torch.Tensor), [20, 20], antialias=True)
    assert torch.equal(out_image, expected)
    with pytest.raises(ValueError, match="low"):
        RandomScale(0, 1)
    with pytest.raises(ValueError, match="crop_size"):
        train_transforms(0)


def test_pad_collate():
    batch = [(torch.ones(3, 2, 3), torch.zeros(2, 3, dtype=torch.int64)),
             (torch.ones(3, 4, 1), torch.ones(4, 1, dtype=torch.int64))]  # fmt: skip
    images, masks = pad_collate(batch)
    assert images.shape == (2, 3, 4, 3) and masks.shape == (2, 4, 3)
    assert masks[0, 3, 0] == 255 and masks[1, 0, 0] == 1 and masks[1, 0, 1] == 255
    assert images[0, :, 3].sum() == 0 and images[0, :, :2, :3].min() == 1


def test_make_loader_uses_course_workers(synthetic, monkeypatch):
    monkeypatch.setattr(transforms, "num_workers", lambda: 0)
    loader = make_loader(VOCDataset(synthetic, "val", transforms=eval_transforms()), 2)
    assert loader.num_workers == 0
    images, masks = next(iter(loader))
    assert images.shape == (2, 3, 48, 48) and masks.shape == (2, 48, 48)
