"""Checkers of lesson 02 (atrous convolution): output sizes, padding, hybrid rates, conv by unfold.

Used in: 02.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlcourse.checks.core import (
    NOT_ANSWERED,
    CheckResult,
    feedback,
    judge,
    judge_function,
    tensor_mismatch,
)

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

UNFOLD_CASES = [  # (N, C, H, W), (K, k), dilation, padding
    ((1, 1, 9, 9), (1, 3), 2, 0),
    ((2, 3, 11, 9), (5, 3), 2, 2),
    ((1, 2, 12, 10), (4, 5), 3, 6),
    ((3, 4, 8, 13), (2, 3), 1, 1),
    ((1, 3, 15, 15), (6, 3), 4, 1),
]
"""The convolutions :func:`check_conv_by_unfold` tries."""


def check_output_size(size: int, kernel: int, answer: int, stride: int = 1, padding: int = 0,
                      dilation: int = 1) -> CheckResult:  # fmt: skip
    """Lesson 02: the output length of a (dilated) convolution."""
    from dlcourse.rf import conv_output_size

    expected = conv_output_size(size, kernel, stride, padding, dilation)
    return judge(
        answer,
        expected,
        f"{size} pixels in, {expected} out.",
        "Use floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1.",
    )


def check_same_padding(kernel: int, dilation: int, answer: int) -> CheckResult:
    """Lesson 02: the padding that keeps the size of a stride-1 dilated conv with an odd kernel."""
    from dlcourse.rf import effective_kernel

    if kernel % 2 == 0:
        raise ValueError(f"check_same_padding(kernel={kernel}): use an odd kernel size")
    expected = (effective_kernel(kernel, dilation) - 1) // 2
    return judge(
        answer,
        expected,
        f"padding {expected} keeps the size; for a 3x3 kernel the padding equals the dilation.",
        "The effective kernel spans d * (k - 1) + 1 pixels; pad half of what it removes on "
        "each side.",
    )


def check_hybrid_rates(rates, min_rf: int = 25, kernel: int = 3, layers: int = 3) -> CheckResult:
    """Lesson 02: ``layers`` dilation rates whose stack reaches ``min_rf`` pixels without holes."""
    if rates is None:
        return NOT_ANSWERED
    from dlcourse.taps import footprint

    if isinstance(rates, int | np.integer) or not isinstance(rates, Sequence | np.ndarray):
        return feedback(False, "", f"Give {layers} rates as a tuple, e.g. (1, 2, 3).")
    rates = list(rates)
    if len(rates) != layers:
        return feedback(
            False, "", f"Give exactly {layers} rates, one per conv; you gave {len(rates)}."
        )
    if not all(
        isinstance(r, int | np.integer) and not isinstance(r, bool) and r >= 1 for r in rates
    ):
        return feedback(False, "", "Every rate must be a whole number of at least 1.")
    grid = footprint(rates, kernel)
    covered = int(grid.sum())
    return feedback(
        grid.shape[0] >= min_rf and bool(grid.all()),
        f"RF {grid.shape[0]}x{grid.shape[0]} and every one of its {covered} pixels is reached.",
        f"Your rates give RF {grid.shape[0]} (need at least {min_rf}) and reach {covered} of "
        f"{grid.size} pixels; sorted, the rates should start with 1 and each be at most the RF "
        "of the smaller ones (1 + 2 * their sum).",
    )


def check_feature_size(output_stride: int, input_size: int, answer: int) -> CheckResult:
    """Lesson 02: the side of ResNet's last feature map at ``output_stride`` 8, 16 or 32."""
    from dlcourse.rf import conv_output_size

    if output_stride not in (8, 16, 32):
        raise ValueError(f"check_feature_size(output_stride={output_stride}): use 8, 16 or 32")
    size = conv_output_size(input_size, 7, 2, 3)  # stem conv
    size = conv_output_size(size, 3, 2, 1)  # max pool: output stride 4
    for stride_at in (8, 16, 32):  # layer2, layer3, layer4 keep their stride up to output_stride
        if stride_at <= output_stride:
            size = conv_output_size(size, 3, 2, 1)
    return judge(
        answer,
        size,
        f"a {input_size}x{input_size} image gives a {size}x{size} map at output stride "
        f"{output_stride}.",
        "Apply the output-size formula to each stride-2 layer that is left: the stem conv "
        "(k7, p3), the max pool (k3, p1) and a 3x3 (p1) conv for each stride-2 stage.",
    )


def check_conv_by_unfold(conv_by_unfold) -> CheckResult:
    """Lesson 02: ``conv_by_unfold(x, weight, bias, dilation, padding)`` equals ``F.conv2d``.

    Stride 1; ``x`` is ``(N, C, H, W)``, ``weight`` ``(K, C, k, k)``, ``bias`` ``(K,)``.
    The learner's function runs on shapes it has not seen (:data:`UNFOLD_CASES`) with
    convolutions switched off (``F.conv2d`` raises inside the check), so it must use
    ``F.unfold``.
    """
    return judge_function(
        conv_by_unfold,
        _conv_by_unfold_mistake,
        f"matches F.conv2d on {len(UNFOLD_CASES)} convolutions it had not seen.",
        usage="def conv_by_unfold(x, weight, bias, dilation, padding): ...",
    )


def _conv_by_unfold_mistake(conv_by_unfold) -> str | None:
    """The first of :data:`UNFOLD_CASES` that ``conv_by_unfold`` gets wrong, as a hint."""
    import torch
    from torch.nn import functional as F

    generator = torch.Generator().manual_seed(2)
    original = F.conv2d

    def blocked(*args, **kwargs):
        raise RuntimeError("F.conv2d is switched off in this check: build the output from F.unfold")

    for (n, c, h, w), (k_out, k), dilation, padding in UNFOLD_CASES:
        x = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(k_out, c, k, k, generator=generator, dtype=torch.float64)
        bias = torch.randn(k_out, generator=generator, dtype=torch.float64)
        expected = original(x, weight, bias, padding=padding, dilation=dilation)
        F.conv2d = torch.conv2d = blocked
        try:
            got = conv_by_unfold(x, weight, bias, dilation, padding)
        except Exception as err:  # the learner's code may fail in any way
            return (f"for x {tuple(x.shape)}, weight {tuple(weight.shape)}, dilation {dilation}, "
                    f"padding {padding} it raised {type(err).__name__}: {err}")  # fmt: skip
        finally:
            F.conv2d = torch.conv2d = original
        case = f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, dilation {dilation}, padding {padding}"
        if got is None:
            return "conv_by_unfold returned None: return the output tensor."
        try:
            got = torch.as_tensor(got)
        except (TypeError, ValueError, RuntimeError):
            return f"for {case} it returned a {type(got).__name__}, not a tensor."
        wrong = tensor_mismatch(
            got, expected, case, "the output side is H + 2 * padding - dilation * (k - 1).",
            "reshape the weight to (K, C * k * k), multiply with the unfolded columns, add "
            "bias[:, None], then reshape.",
        )  # fmt: skip
        if wrong:
            return wrong
    return None
