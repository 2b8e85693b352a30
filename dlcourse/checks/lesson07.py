"""Checkers of lesson 07 (training): the poly schedule, the loss over non-void pixels,
effective batch sizes and gradient accumulation.

Used in: 07.
"""

from __future__ import annotations

import math

from dlcourse.checks.core import (
    CheckResult,
    call_for_number,
    call_learner,
    function_name,
    judge,
    judge_function,
    real_number,
)

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

LOSS_SHAPES = ((2, 4, 5, 6), (3, 6, 4, 4), (1, 3, 7, 3))
"""The ``(N, K, H, W)`` batches :func:`check_pixel_loss` tries."""

SCHEDULES = ((730, 1.3, 37, 0.02), (4100, 0.75, 0, 0.007), (90, 0.9, 12, 0.1))
"""The ``(total, power, warmup, base_lr)`` settings :func:`check_poly_schedule` tries."""


def check_poly_lr(base_lr: float, step: int, total_steps: int, answer: float,
                  power: float = 0.9) -> CheckResult:  # fmt: skip
    """Lesson 07: the poly learning rate ``base_lr * (1 - step / total_steps) ** power``."""
    from dlcourse.optim import PolyLR

    expected = base_lr * PolyLR(total_steps, power)(step)
    return judge(
        answer,
        expected,
        f"at step {step} of {total_steps} the learning rate is {expected:.6g}.",
        "Divide the step by the total, subtract from 1, raise to the power 0.9, "
        "then multiply by the base learning rate.",
        parse=real_number,
        same=lambda given, right: math.isclose(given, right, rel_tol=1e-3, abs_tol=1e-9),
    )


def check_ignored_loss(logits, target, answer: float) -> CheckResult:
    """Lesson 07: the cross-entropy of ``logits`` (N, K, H, W) over non-void pixels of ``target``."""
    from dlcourse.optim import segmentation_loss

    expected = float(segmentation_loss(logits.float(), target.long()))
    return judge(
        answer,
        expected,
        f"the loss is {expected:.4f}: void pixels count neither in the sum nor in the mean.",
        "Take -log_softmax at each pixel's true class, keep only pixels whose label "
        "is not 255, and average over those pixels only.",
        parse=real_number,
        same=lambda given, right: math.isclose(given, right, rel_tol=1e-4, abs_tol=1e-6),
    )


def check_effective_batch(
    batch_size: int, accumulate: int, world_size: int, answer: int
) -> CheckResult:
    """Lesson 07: images behind one optimizer step with accumulation and several GPUs."""
    expected = batch_size * accumulate * world_size
    return judge(
        answer,
        expected,
        f"each optimizer step averages gradients over {expected} images.",
        "Every process runs `accumulate` forward/backward passes of `batch_size` images "
        "before the step, and DDP averages the gradients of all processes.",
    )


def check_pixel_loss(pixel_loss) -> CheckResult:
    """Lesson 07: ``pixel_loss(logits, target)``: cross-entropy over the non-void pixels.

    ``logits`` is ``(N, K, H, W)``, ``target`` ``(N, H, W)`` with void 255. The check
    runs the learner's function on fresh random batches of several shapes
    (:data:`LOSS_SHAPES`) and compares with ``F.cross_entropy(logits, target, ignore_index=255)``.
    """
    return judge_function(
        pixel_loss,
        _pixel_loss_mistake,
        "the same number as F.cross_entropy(..., ignore_index=255) on batches you had not seen.",
        usage="def pixel_loss(logits, target): ...",
    )


def _pixel_loss_mistake(pixel_loss) -> str | None:
    """The first random batch whose loss ``pixel_loss`` gets wrong, as a hint."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(707)
    for n, k, h, w in LOSS_SHAPES:
        logits = 3 * torch.randn(n, k, h, w, generator=generator)
        target = torch.randint(0, k, (n, h, w), generator=generator)
        target[torch.rand(n, h, w, generator=generator) < 0.35] = 255
        expected = F.cross_entropy(logits, target, ignore_index=255)
        got, hint = call_learner(
            pixel_loss, logits.clone(), target.clone(), who=function_name(pixel_loss)
        )
        if hint:
            return hint
        try:
            got = torch.as_tensor(got, dtype=torch.float64).reshape(())
        except (TypeError, ValueError, RuntimeError):
            return "return the mean loss as one number (a 0-d tensor or a float)."
        if not torch.isclose(got, expected.double(), rtol=1e-4, atol=1e-6):
            kept = int((target != 255).sum())
            if torch.isclose(got * target.numel() / kept, expected.double(), rtol=1e-4):
                return ("you divided by every pixel; the void pixels count neither in the sum "
                        "nor in the number you divide by.")  # fmt: skip
            if torch.isclose(got / kept, expected.double(), rtol=1e-4):
                return "that is the sum; take the mean over the non-void pixels."
            return ("take log_softmax over the classes (dim=1), pick each pixel's true class "
                    "with gather, keep the pixels whose target is not 255, and average "
                    "minus those values.")  # fmt: skip
    return None


def check_poly_schedule(poly_lr) -> CheckResult:
    """Lesson 07: ``poly_lr(step, total, base_lr, power, warmup)``: warmup, then poly decay.

    For ``step < warmup`` the rate climbs linearly from ``base_lr / 100`` to ``base_lr``;
    from ``warmup`` on it is ``base_lr * (1 - step / total) ** power``. The check
    compares the learner's function with :class:`dlcourse.optim.PolyLR` on settings the
    lesson does not use (:data:`SCHEDULES`).
    """
    return judge_function(
        poly_lr,
        _poly_schedule_mistake,
        "your schedule equals dlcourse.optim.PolyLR on settings you had not seen.",
        usage="def poly_lr(step, total, base_lr, power, warmup): ...",
    )


def _poly_schedule_mistake(poly_lr) -> str | None:
    """The first step of :data:`SCHEDULES` where ``poly_lr`` is off, as a hint."""
    from dlcourse.optim import PolyLR

    for total, power, warmup, base_lr in SCHEDULES:
        schedule = PolyLR(total, power, warmup)
        for step in sorted({0, 1, warmup // 2, max(warmup - 1, 0), warmup, warmup + 3, total // 2,
                            total - 1}):  # fmt: skip
            expected = base_lr * schedule(step)
            got, hint = call_for_number(
                poly_lr,
                step,
                total,
                base_lr,
                power,
                warmup,
                who=function_name(poly_lr),
                asks="the learning rate as one number",
            )
            if hint:
                return hint
            if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
                where = (f"at step {step} of {total} (power {power}, warmup {warmup}, "
                         f"base_lr {base_lr}) expected {expected:.6g}, got {got:.6g}")  # fmt: skip
                if step < warmup and math.isclose(got, base_lr * (1 - step / total) ** power):
                    return f"{where}: during the first `warmup` steps the rate climbs linearly."
                if step < warmup and math.isclose(got, base_lr * step / warmup, abs_tol=1e-12):
                    return f"{where}: the warmup starts at base_lr / 100, not at 0."
                if step >= warmup and math.isclose(got, base_lr * (1 - (step / total) ** power)):
                    return f"{where}: raise (1 - step / total) to the power, not step / total."
                return (f"{where}; warmup: base_lr * (0.01 + 0.99 * step / warmup); "
                        "afterwards base_lr * (1 - step / total) ** power.")  # fmt: skip
    return None


def check_accumulate(accumulate) -> CheckResult:
    """Lesson 07: ``accumulate(model, images, masks, passes)`` leaves the whole batch's gradient.

    The learner's function splits the batch into ``passes`` equal micro-batches, runs
    forward and backward on each, and must leave in every ``.grad`` the gradient of
    ``segmentation_loss`` over the whole batch, as one pass would (the check's model has
    no batch norm and its masks no void pixels, so the two agree exactly). It starts
    from zeroed gradients and takes no optimizer step.
    """
    return judge_function(
        accumulate,
        _accumulate_mistake,
        "for a network without batch norm the accumulated gradient is the big batch's.",
        usage="def accumulate(model, images, masks, passes): ...",
    )


def _accumulate_mistake(accumulate) -> str | None:
    """What is wrong with the gradients ``accumulate`` leaves, as a hint."""
    import torch
    from torch import nn

    from dlcourse.optim import segmentation_loss

    generator = torch.Generator().manual_seed(77)
    for batch, passes in ((6, 3), (8, 2)):
        torch.manual_seed(batch)
        model = nn.Sequential(
            nn.Conv2d(3, 5, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(5, 4, 1)
        )
        images = torch.randn(batch, 3, 6, 6, generator=generator)
        masks = torch.randint(0, 4, (batch, 6, 6), generator=generator)
        segmentation_loss(model(images), masks).backward()
        expected = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        before = [p.detach().clone() for p in model.parameters()]
        _, hint = call_learner(
            accumulate, model, images.clone(), masks.clone(), passes, who=function_name(accumulate)
        )
        if hint:
            return hint
        if any(
            not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before, strict=True)
        ):
            return "the weights changed; only accumulate the gradients, the optimizer step comes after."
        grads = [p.grad for p in model.parameters()]
        if any(g is None for g in grads):
            return "some parameters have no .grad; call loss.backward() on every micro-batch."
        if all(torch.allclose(g, e, atol=1e-6) for g, e in zip(grads, expected, strict=True)):
            continue
        if all(
            torch.allclose(g, passes * e, atol=1e-5) for g, e in zip(grads, expected, strict=True)
        ):
            return (f"the gradient is {passes} times too large: divide each micro-batch's loss "
                    "by the number of passes before backward().")  # fmt: skip
        return ("the gradients differ from one pass over the whole batch; do not zero them "
                "between micro-batches, and run every image exactly once: "
                "images.chunk(passes) splits the batch.")  # fmt: skip
    return None
