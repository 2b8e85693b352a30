"""The lesson 06 (data pipeline) checkers: right answers pass, typical slips fail with their hint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dlcourse.checks import (
    check_background_share,
    check_class_shares,
    check_flip_pad_crop,
    check_mask_values,
    check_pad_mask,
    check_rgb_to_labels,
)
from dlcourse.data import VOCDataset, class_frequencies
from dlcourse.synthetic import make_synthetic
from dlcourse.voc import voc_colormap

# --- 06: mask values, padding, the background's share ----------------------------------


def test_check_mask_values(tmp_path):
    labels = np.zeros((6, 8), dtype=np.uint8)
    labels[1:3, 2:5] = 2
    labels[0, 0] = 255
    path = tmp_path / "mask.png"
    png = Image.fromarray(labels)  # a palette PNG, as VOC stores its masks
    png.putpalette(voc_colormap(256).reshape(-1).tolist())
    png.save(path)
    result = check_mask_values(path, [0, 2, 255])
    assert (
        result.message
        == "Correct! the file stores the indices [0, 2, 255]; 255 is void, not a class."
    )
    assert check_mask_values(path, np.array([255, 2, 0]))  # any order, any array
    void_forgotten = check_mask_values(path, [0, 2])
    assert not void_forgotten and "without converting it to RGB" in void_forgotten.message
    assert not check_mask_values(path, [(0, 0, 0), (0, 128, 0)])  # colours, not indices
    assert not check_mask_values(path, "0, 2, 255")
    assert not check_mask_values(path, None)


def test_check_pad_mask():
    def good(mask, height, width):
        dh, dw = max(0, height - mask.shape[0]), max(0, width - mask.shape[1])
        return F.pad(mask, (0, dw, 0, dh), value=255)

    def zeros(mask, height, width):
        return F.pad(mask, (0, max(0, width - mask.shape[1]), 0, 0))

    def crops_larger_sides(mask, height, width):
        return good(mask, height, width)[:height, :width]

    assert (
        check_pad_mask(good).message
        == "Correct! the padding is void, so the loss and the metrics ignore it."
    )
    assert "expected shape (4, 5) with 255 below and right" in check_pad_mask(zeros).message
    assert "for a 5x2 mask padded to 3x4" in check_pad_mask(crops_larger_sides).message
    assert (
        check_pad_mask(lambda m, h, w: 1 / 0).message
        == "Not yet. pad_mask raised ZeroDivisionError: division by zero"
    )
    assert not check_pad_mask(None)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return VOCDataset(
        make_synthetic(tmp_path_factory.mktemp("syn") / "set", n_train=6, n_val=2, size=32, seed=3),
        "train",
    )


def test_check_background_share(synthetic):
    counts = class_frequencies(synthetic)
    share = float(counts[0] / counts.sum())
    assert 0.3 < share < 1
    result = check_background_share(synthetic, share)
    assert result.message.startswith(f"Correct! {share:.1%} of the labelled pixels are background")
    assert check_background_share(synthetic, round(share, 4))
    wrong = check_background_share(synthetic, 0.5)
    assert not wrong and "divide the background count by the total" in wrong.message
    assert not check_background_share(synthetic, 100 * share)
    assert check_background_share(synthetic, None).message.startswith("Not answered yet")


# --- 06: flip_pad_crop -----------------------------------------------------------------


def _pad(image, mask, crop, image_fill=0, mask_fill=255):
    dh, dw = max(0, crop - mask.shape[0]), max(0, crop - mask.shape[1])
    return F.pad(image, (0, dw, 0, dh), value=image_fill), F.pad(
        mask, (0, dw, 0, dh), value=mask_fill
    )


def _window(tensor, top, left, crop):
    return tensor[..., top : top + crop, left : left + crop]


def good_flip_pad_crop(image, mask, crop):
    if torch.rand(()) < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    image, mask = _pad(image, mask, crop)
    top = int(torch.randint(0, mask.shape[0] - crop + 1, ()))
    left = int(torch.randint(0, mask.shape[1] - crop + 1, ()))
    return _window(image, top, left, crop), _window(mask, top, left, crop)


def pad_then_flip_centred(image, mask, crop):
    """Also right: pad on every side (as torchvision's pad_if_needed does), crop, then flip."""
    dh, dw = max(0, crop - mask.shape[0]), max(0, crop - mask.shape[1])
    image = F.pad(image, (dw, dw, dh, dh), value=0)
    mask = F.pad(mask, (dw, dw, dh, dh), value=255)
    top = int(torch.randint(0, mask.shape[0] - crop + 1, ()))
    left = int(torch.randint(0, mask.shape[1] - crop + 1, ()))
    image, mask = _window(image, top, left, crop), _window(mask, top, left, crop)
    if torch.rand(()) < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask.to(torch.uint8)  # a uint8 mask is fine too


def flips_only_the_image(image, mask, crop):
    if torch.rand(()) < 0.5:
        image = image.flip(-1)
    image, mask = _pad(image, mask, crop)
    return _window(image, 0, 0, crop), _window(mask, 0, 0, crop)


def pads_the_mask_with_zero(image, mask, crop):
    if torch.rand(()) < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    image, mask = _pad(image, mask, crop, mask_fill=0)
    top = int(torch.randint(0, mask.shape[0] - crop + 1, ()))
    left = int(torch.randint(0, mask.shape[1] - crop + 1, ()))
    return _window(image, top, left, crop), _window(mask, top, left, crop)


def two_separate_crops(image, mask, crop):
    image, mask = _pad(image, mask, crop)
    crops = []
    for tensor in (image, mask):
        top = int(torch.randint(0, mask.shape[0] - crop + 1, ()))
        left = int(torch.randint(0, mask.shape[1] - crop + 1, ()))
        crops.append(_window(tensor, top, left, crop))
    return tuple(crops)


def never_flips(image, mask, crop):
    image, mask = _pad(image, mask, crop)
    top = int(torch.randint(0, mask.shape[0] - crop + 1, ()))
    left = int(torch.randint(0, mask.shape[1] - crop + 1, ()))
    return _window(image, top, left, crop), _window(mask, top, left, crop)


def always_top_left(image, mask, crop):
    if torch.rand(()) < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    image, mask = _pad(image, mask, crop)
    return _window(image, 0, 0, crop), _window(mask, 0, 0, crop)


def resizes_instead(image, mask, crop):
    image = F.interpolate(image[None].float(), size=(crop, crop), mode="nearest")[0].to(torch.uint8)
    mask = F.interpolate(mask[None, None].float(), size=(crop, crop), mode="nearest")[0, 0].long()
    return image, mask


@pytest.mark.parametrize("answer", [good_flip_pad_crop, pad_then_flip_centred])
def test_check_flip_pad_crop_accepts_right_answers(answer):
    state = torch.get_rng_state()
    result = check_flip_pad_crop(answer)
    assert result.message == (
        "Correct! photo and mask got the same flip and the same window, and the padding is void (255), "
        "which the loss and the metrics ignore."
    )
    assert torch.equal(torch.get_rng_state(), state), "the check must not move the global RNG"
    assert torch.equal(torch.get_rng_state(), state), "the check must not move the global RNG"


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (flips_only_the_image, "no longer sits on the photo"),
        (pads_the_mask_with_zero, "pad the mask with 255"),
        (two_separate_crops, "no longer sits on the photo"),
        (never_flips, "flip with probability 1/2"),
        (always_top_left, "same place"),
        (resizes_instead, ""),
        (lambda image, mask, crop: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_check_flip_pad_crop_rejects_typical_slips(answer, hint):
    result = check_flip_pad_crop(answer)
    assert not result and result.message.startswith("Not yet.") and hint in result.message


def test_check_flip_pad_crop_unanswered_and_not_a_function():
    assert "replace the None" in check_flip_pad_crop(None).message
    assert (
        check_flip_pad_crop(3).message
        == "Not yet. Give a function: def flip_pad_crop(image, mask, crop): ..."
    )


# --- 06: class_shares ------------------------------------------------------------------


def good_class_shares(masks, num_classes):
    labelled = torch.cat([m[m != 255] for m in masks])
    return torch.bincount(labelled, minlength=num_classes) / labelled.numel()


def shares_of_every_pixel(masks, num_classes):
    flat = torch.cat([m.reshape(-1) for m in masks])
    return torch.stack([(flat == k).sum() for k in range(num_classes)]) / flat.numel()


def bincount_without_minlength(masks, num_classes):
    labelled = torch.cat([m[m != 255] for m in masks])
    return torch.bincount(labelled) / labelled.numel()


def percentages(masks, num_classes):
    return 100 * good_class_shares(masks, num_classes)


def test_check_class_shares():
    assert check_class_shares(good_class_shares).message.startswith(
        "Correct! void pixels are neither counted"
    )
    for wrong, hint in ((shares_of_every_pixel, "leave them out of the total"),
                        (bincount_without_minlength, "minlength"),
                        (percentages, "not percentages")):  # fmt: skip
        result = check_class_shares(wrong)
        assert not result and hint in result.message

    def broken_shares(masks, num_classes):
        raise ValueError("nope")

    assert (
        check_class_shares(broken_shares).message
        == "Not yet. broken_shares raised ValueError: nope"
    )
    assert not check_class_shares(None)


# --- 06: rgb_to_labels -----------------------------------------------------------------


def good_rgb_to_labels(rgb, colors):
    same = (rgb[..., None, :] == np.asarray(colors)).all(-1)
    return np.where(same.any(-1), same.argmax(-1), 255)


def unknown_becomes_background(rgb, colors):
    same = (rgb[..., None, :] == np.asarray(colors)).all(-1)
    return same.argmax(-1)  # 0 where nothing matches


def matches_the_red_channel_only(rgb, colors):
    same = rgb[..., None, 0] == np.asarray(colors)[:, 0]
    return np.where(same.any(-1), same.argmax(-1), 255)


def matches_the_channel_sum(rgb, colors):
    sums = rgb.astype(int).sum(-1)[..., None] == np.asarray(colors).astype(int).sum(-1)
    return np.where(sums.any(-1), sums.argmax(-1), 255)


def test_check_rgb_to_labels():
    assert check_rgb_to_labels(good_rgb_to_labels).message == (
        "Correct! each colour was matched on all three channels, and unknown ones are void."
    )
    for wrong, hint in ((unknown_becomes_background, "must become 255"),
                        (matches_the_red_channel_only, "all three channels"),
                        (matches_the_channel_sum, "all three channels")):  # fmt: skip
        result = check_rgb_to_labels(wrong)
        assert not result and hint in result.message
    assert "raised ZeroDivisionError" in check_rgb_to_labels(lambda rgb, colors: 1 / 0).message
    assert not check_rgb_to_labels(None)
