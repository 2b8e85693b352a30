"""Checkers of lesson 05 (upsampling and decoder): transposed convs, the decoder's channels,
parameter counts and the atrous separable convolution.

Used in: 05.
"""

from __future__ import annotations

from dlcourse.checks.core import (
    NOT_ANSWERED,
    CheckResult,
    judge,
    judge_function,
    real_number,
    tensor_mismatch,
)

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

SEPARABLE_CASES = [((1, 3, 9, 9), 4, 2), ((2, 5, 11, 8), 2, 3), ((1, 6, 13, 15), 7, 1)]
"""The ``(N, C, H, W), K, rate`` :func:`check_atrous_separable_conv` tries."""


def check_transposed_output_size(
    size: int, kernel: int, stride: int, padding: int, answer: int
) -> CheckResult:
    """Lesson 05: output side of a ``ConvTranspose2d`` for an input of side ``size``."""
    import torch
    from torch import nn

    with torch.device("meta"):
        up = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding)
        expected = up(torch.empty(1, 1, size, size)).shape[-1]
    return judge(
        answer,
        expected,
        f"{size} -> {expected}.",
        "A transposed conv inverts the conv size formula: "
        "(size - 1) * stride - 2 * padding + kernel.",
    )


def check_decoder_channels(answer: int) -> CheckResult:
    """Lesson 05: channels that enter the first 3x3 conv of the DeepLab-v3+ decoder."""
    from dlcourse.heads import DeepLabV3PlusHead

    expected = DeepLabV3PlusHead(2048, 256, 21).decoder[0][0].in_channels
    return judge(
        answer,
        expected,
        f"{expected} = 256 (upsampled ASPP output) + 48 (projected low-level features).",
        "The decoder concatenates the ASPP output with the low-level features after their 1x1 "
        "projection.",
    )


def check_parameter_count(name: str, answer: float) -> CheckResult:
    """Lesson 05: parameters of ``build_model(name)`` in millions (within 1%)."""
    import torch

    from dlcourse.costs import count_parameters
    from dlcourse.models import build_model

    with torch.device("meta"):
        expected = count_parameters(build_model(name)) / 1e6
    return judge(
        answer,
        expected,
        f"{name} has {expected:.2f} M parameters.",
        "Sum p.numel() over model.parameters() and divide by one million.",
        parse=real_number,
        same=lambda given, right: abs(given - right) <= 0.01 * right,
    )


def check_separable_params(in_channels: int, out_channels: int, answer: int) -> CheckResult:
    """Lesson 05: weights of a 3x3 atrous separable conv (depthwise + pointwise, no BN, no bias)."""
    from dlcourse.layers import AtrousSeparableConv2d

    block = AtrousSeparableConv2d(in_channels, out_channels)
    expected = block.depthwise[0].weight.numel() + block.pointwise[0].weight.numel()
    dense, depthwise, pointwise = (
        9 * in_channels * out_channels,
        9 * in_channels,
        in_channels * out_channels,
    )
    return judge(
        answer,
        expected,
        f"9 x {in_channels} + {in_channels} x {out_channels} = {expected:,} weights, against "
        f"{dense:,} for a dense 3x3 conv.",
        "Depthwise: one 3x3 filter per input channel; pointwise: a 1x1 conv from every input to every output channel.",
        mistakes={
            dense: "That is the dense 3x3 conv; the separable one filters each channel once, then mixes.",
            depthwise: "That is only the depthwise part; add the pointwise 1x1 conv.",
            pointwise: "That is only the pointwise part; add the depthwise 3x3 filters.",
        },
    )


def check_atrous_separable_conv(separable_conv) -> CheckResult:
    """Lesson 05: ``separable_conv(x, depthwise, pointwise, dilation)`` is an atrous separable conv.

    ``x`` is ``(N, C, H, W)``, ``depthwise`` ``(C, 1, 3, 3)``, ``pointwise`` ``(K, C, 1, 1)``;
    the output ``(N, K, H, W)`` keeps the size. The check runs the learner's function on
    shapes and rates the lesson does not use (:data:`SEPARABLE_CASES`) and compares it with
    ``F.conv2d`` (grouped, then 1x1), without batch norm or ReLU.
    """
    return judge_function(
        separable_conv,
        _separable_conv_mistake,
        f"matches the grouped + 1x1 F.conv2d on {len(SEPARABLE_CASES)} inputs it had not seen.",
        usage="def separable_conv(x, depthwise, pointwise, dilation): ...",
    )


def _separable_conv_mistake(separable_conv) -> str | CheckResult | None:
    """The first input ``separable_conv`` gets wrong, as a hint (the reminder for the template)."""
    import torch
    from torch.nn import functional as F

    generator = torch.Generator().manual_seed(5)
    for (n, c, h, w), k_out, rate in SEPARABLE_CASES:
        x = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
        depthwise = torch.randn(c, 1, 3, 3, generator=generator, dtype=torch.float64)
        pointwise = torch.randn(k_out, c, 1, 1, generator=generator, dtype=torch.float64)
        expected = F.conv2d(
            F.conv2d(x, depthwise, padding=rate, dilation=rate, groups=c), pointwise
        )
        case = f"x {tuple(x.shape)}, depthwise {tuple(depthwise.shape)}, pointwise {tuple(pointwise.shape)}, dilation {rate}"
        try:
            got = separable_conv(x.clone(), depthwise.clone(), pointwise.clone(), rate)
        except Exception as err:  # the learner's code may fail in any way
            hint = f"for {case} it raised {type(err).__name__}: {err}"
            if "groups" in str(err) or "expected input" in str(err):
                hint += " (a depthwise conv needs groups=C: one filter per channel)"
            return hint
        if got is None:  # the exercise's template still returns None
            return NOT_ANSWERED
        if not isinstance(got, torch.Tensor):
            return f"for {case} it returned a {type(got).__name__}, not a tensor."
        wrong = tensor_mismatch(
            got, expected, case, "a 3x3 conv with dilation r keeps the size with padding r.",
            "the depthwise conv takes dilation=r, padding=r and groups=C; the pointwise conv then "
            "needs no padding.",
        )  # fmt: skip
        if wrong:
            return wrong
    return None
