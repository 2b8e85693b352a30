"""The lesson 07 (training) checkers: right answers pass, typical slips fail with their hint."""

import math

import torch
import torch.nn.functional as F

from dlcourse.checks import (
    check_accumulate,
    check_effective_batch,
    check_ignored_loss,
    check_pixel_loss,
    check_poly_lr,
    check_poly_schedule,
)
from dlcourse.optim import segmentation_loss

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


def test_check_pixel_loss():
    assert check_pixel_loss(good_pixel_loss).message == (
        "Correct! the same number as F.cross_entropy(..., ignore_index=255) on batches you had not seen."
    )
    assert check_pixel_loss(
        lambda logits, target: F.cross_entropy(logits, target, ignore_index=255)
    )
    for wrong, hint in ((mean_over_every_pixel, "divided by every pixel"),
                        (summed_loss, "that is the sum"),
                        (softmax_not_log, "log_softmax")):  # fmt: skip
        result = check_pixel_loss(wrong)
        assert not result and hint in result.message
    assert (
        "return the mean loss as one number"
        in check_pixel_loss(lambda logits, target: "low").message
    )
    assert "Give a function" in check_pixel_loss(0.5).message
    assert not check_pixel_loss(None)


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


def test_check_poly_schedule():
    assert check_poly_schedule(good_poly_lr).message == (
        "Correct! your schedule equals dlcourse.optim.PolyLR on settings you had not seen."
    )
    for wrong, hint in ((poly_without_warmup, "climbs linearly"),
                        (power_on_the_wrong_term, "not step / total"),
                        (warmup_from_zero, "base_lr / 100"),
                        (lambda step, total, base_lr, power, warmup: base_lr, "expected")):  # fmt: skip
        result = check_poly_schedule(wrong)
        assert not result and hint in result.message
    assert not check_poly_schedule(None)


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


def test_check_accumulate():
    assert check_accumulate(good_accumulate).message == (
        "Correct! for a network without batch norm the accumulated gradient is the big batch's."
    )
    for wrong, hint in ((not_divided, "times too large"),
                        (zeroes_between_passes, "do not zero them"),
                        (also_steps, "the weights changed")):  # fmt: skip
        result = check_accumulate(wrong)
        assert not result and hint in result.message
    template = check_accumulate(
        lambda model, images, masks, passes: None
    )  # no backward: zero gradients
    assert "the gradients differ from one pass" in template.message
    assert not check_accumulate(None)


def test_check_poly_lr():
    result = check_poly_lr(0.007, 7500, 30000, 0.007 * 0.75**0.9)
    assert (
        result.message
        == f"Correct! at step 7500 of 30000 the learning rate is {0.007 * 0.75**0.9:.6g}."
    )
    assert not check_poly_lr(0.007, 7500, 30000, 0.007 * 0.75)  # the power forgotten
    assert not check_poly_lr(0.007, 7500, 30000, "fast")
    assert check_poly_lr(0.007, 7500, 30000, None).message.startswith("Not answered yet")


def test_check_ignored_loss():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 2)
    target = torch.tensor([[[0, 255], [1, 2]]])
    kept = -logits.log_softmax(1)[0, [0, 1, 2], [0, 1, 1], [0, 0, 1]].mean()  # by hand: 3 pixels
    result = check_ignored_loss(logits, target, float(kept))
    assert result.message.startswith(f"Correct! the loss is {float(kept):.4f}")
    assert not check_ignored_loss(logits, target, float(kept) * 3 / 4)  # divided by 4


def test_check_effective_batch():
    result = check_effective_batch(4, 2, 4, 32)
    assert result.message == "Correct! each optimizer step averages gradients over 32 images."
    assert not check_effective_batch(4, 2, 4, 8)  # one process
    assert not check_effective_batch(4, 2, 4, 16)  # accumulation forgotten
