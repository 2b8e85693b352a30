"""Tests of the lesson 06 and 07 exercise checkers (right answers pass, typical slips fail)
and of ``dlcourse.data.frame_distance``."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse import checks
from dlcourse.data import SYNTHETIC_PALETTE, frame_distance, synthetic_sample
from dlcourse.train import segmentation_loss

# --- 06: flip_pad_crop -----------------------------------------------------------------


def _pad(image, mask, crop, image_fill=0, mask_fill=255):
    dh, dw = max(0, crop - mask.shape[0]), max(0, crop - mask.shape[1])
    return F.pad(image, (0, dw, 0, dh), value=image_fill), F.pad(mask, (0, dw, 0, dh), value=mask_fill)


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
def test_check_flip_pad_crop_accepts_right_answers(answer, capsys):
    state = torch.get_rng_state()
    assert checks.check_flip_pad_crop(answer)
    assert "Correct!" in capsys.readouterr().out
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
def test_check_flip_pad_crop_rejects_typical_slips(answer, hint, capsys):
    assert not checks.check_flip_pad_crop(answer)
    out = capsys.readouterr().out
    assert "Not yet." in out and hint in out


def test_check_flip_pad_crop_unanswered(capsys):
    assert not checks.check_flip_pad_crop(None)
    assert "replace the None" in capsys.readouterr().out


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


def test_check_class_shares(capsys):
    assert checks.check_class_shares(good_class_shares)
    assert "Correct!" in capsys.readouterr().out
    for wrong, hint in ((shares_of_every_pixel, "leave them out of the total"),
                        (bincount_without_minlength, "minlength"),
                        (percentages, "not percentages")):  # fmt: skip
        assert not checks.check_class_shares(wrong)
        assert hint in capsys.readouterr().out
    assert not checks.check_class_shares(None)


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


def test_check_rgb_to_labels(capsys):
    assert checks.check_rgb_to_labels(good_rgb_to_labels)
    assert "Correct!" in capsys.readouterr().out
    for wrong, hint in ((unknown_becomes_background, "must become 255"),
                        (matches_the_red_channel_only, "all three channels"),
                        (matches_the_channel_sum, "all three channels")):  # fmt: skip
        assert not checks.check_rgb_to_labels(wrong)
        assert hint in capsys.readouterr().out
    assert not checks.check_rgb_to_labels(None)


# --- 06: frame_distance ----------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 100])
def test_frame_distance_matches_the_synthetic_frame(size):
    distance = frame_distance(size)
    assert distance.shape == (size, size) and distance.dtype == torch.int64
    image, mask = synthetic_sample(size, np.random.default_rng(size))
    frame = (distance <= 0).numpy()
    colours = {tuple(c) for c in image[frame].tolist()}
    assert len(colours) == 1 and list(colours.pop()) in SYNTHETIC_PALETTE.tolist()
    assert distance.max() == (size - 1) // 2 - max(2, size // 16) + 1
    assert int(distance[size // 2, 0]) == 1 - max(2, size // 16)  # on the frame's outer edge
    assert not (mask[frame] > 0).any()  # shapes never touch the frame


# --- 07: pixel_loss --------------------------------------------------------------------


def good_pixel_loss(logits, target):
    keep = target != 255
    picked = logits.log_softmax(1).gather(1, target.clamp(max=logits.shape[1] - 1)[:, None])[:, 0]
    return -picked[keep].mean()


def mean_over_every_pixel(logits, target):
    keep = target != 255
    picked = logits.log_softmax(1).gather(1, target.clamp(max=logits.shape[1] - 1)[:, None])[:, 0]
    return -(picked * keep).sum() / target.numel()


def summed_loss(logits, target):
    return F.cross_entropy(logits, target, ignore_index=255, reduction="sum")


def softmax_not_log(logits, target):
    keep = target != 255
    picked = logits.softmax(1).gather(1, target.clamp(max=logits.shape[1] - 1)[:, None])[:, 0]
    return -picked[keep].mean()


def test_check_pixel_loss(capsys):
    assert checks.check_pixel_loss(good_pixel_loss)
    assert checks.check_pixel_loss(lambda logits, target: F.cross_entropy(logits, target, ignore_index=255))
    assert capsys.readouterr().out.count("Correct!") == 2
    for wrong, hint in ((mean_over_every_pixel, "divided by every pixel"),
                        (summed_loss, "that is the sum"),
                        (softmax_not_log, "log_softmax")):  # fmt: skip
        assert not checks.check_pixel_loss(wrong)
        assert hint in capsys.readouterr().out
    assert not checks.check_pixel_loss(None)


# --- 07: poly_lr -----------------------------------------------------------------------


def good_poly_lr(step, total, base_lr, power=0.9, warmup=0):
    if step < warmup:
        return base_lr * (0.01 + 0.99 * step / warmup)
    return base_lr * (1 - step / total) ** power


def poly_without_warmup(step, total, base_lr, power=0.9, warmup=0):
    return base_lr * (1 - step / total) ** power


def power_on_the_wrong_term(step, total, base_lr, power=0.9, warmup=0):
    if step < warmup:
        return base_lr * (0.01 + 0.99 * step / warmup)
    return base_lr * (1 - (step / total) ** power)


def warmup_from_zero(step, total, base_lr, power=0.9, warmup=0):
    if step < warmup:
        return base_lr * step / warmup
    return base_lr * (1 - step / total) ** power


def test_check_poly_schedule(capsys):
    assert checks.check_poly_schedule(good_poly_lr)
    assert "Correct!" in capsys.readouterr().out
    for wrong, hint in ((poly_without_warmup, "climbs linearly"),
                        (power_on_the_wrong_term, "not step / total"),
                        (warmup_from_zero, "base_lr / 100"),
                        (lambda step, total, base_lr, power, warmup: base_lr, "expected")):  # fmt: skip
        assert not checks.check_poly_schedule(wrong)
        assert hint in capsys.readouterr().out
    assert not checks.check_poly_schedule(None)


def test_the_checked_settings_differ_from_the_lesson():
    """The lesson's schedule (1000 steps, power 0.9, warmup 50) is not among the checked ones."""
    assert math.isclose(good_poly_lr(500, 1000, 0.01, 0.9, 50), 0.01 * 0.5**0.9)


# --- 07: accumulate --------------------------------------------------------------------


def good_accumulate(model, images, masks, passes):
    for x, y in zip(images.chunk(passes), masks.chunk(passes), strict=True):
        (segmentation_loss(model(x), y) / passes).backward()


def not_divided(model, images, masks, passes):
    for x, y in zip(images.chunk(passes), masks.chunk(passes), strict=True):
        segmentation_loss(model(x), y).backward()


def zeroes_between_passes(model, images, masks, passes):
    for x, y in zip(images.chunk(passes), masks.chunk(passes), strict=True):
        model.zero_grad()
        (segmentation_loss(model(x), y) / passes).backward()


def also_steps(model, images, masks, passes):
    good_accumulate(model, images, masks, passes)
    torch.optim.SGD(model.parameters(), lr=0.1).step()


def test_check_accumulate(capsys):
    assert checks.check_accumulate(good_accumulate)
    assert "Correct!" in capsys.readouterr().out
    for wrong, hint in ((not_divided, "times too large"),
                        (zeroes_between_passes, "do not zero them"),
                        (also_steps, "the weights changed")):  # fmt: skip
        assert not checks.check_accumulate(wrong)
        assert hint in capsys.readouterr().out
    assert not checks.check_accumulate(None)


def test_lesson_07_checkers(capsys):
    from dlcourse import checks

    assert checks.check_poly_lr(0.007, 7500, 30000, 0.007 * 0.75**0.9)
    assert not checks.check_poly_lr(0.007, 7500, 30000, 0.007 * 0.75)
    assert not checks.check_poly_lr(0.007, 7500, 30000, None)
    assert "Not answered yet" in capsys.readouterr().out
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 2)
    target = torch.tensor([[[0, 255], [1, 2]]])
    kept = -logits.log_softmax(1)[0, [0, 1, 2], [0, 1, 1], [0, 0, 1]].mean()
    assert checks.check_ignored_loss(logits, target, float(kept))
    assert not checks.check_ignored_loss(logits, target, float(kept) * 3 / 4)  # divided by 4
    assert checks.check_effective_batch(4, 2, 4, 32)
    assert not checks.check_effective_batch(4, 2, 4, 8)
