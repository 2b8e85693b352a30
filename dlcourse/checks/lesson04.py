"""Checkers of lesson 04 (ASPP): a branch's span and taps, the projection's channels, one branch.

Used in: 04.
"""

from __future__ import annotations

import math

from dlcourse.checks.core import NOT_ANSWERED, CheckResult, judge, judge_function

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

BRANCH_CASES = [(5, 7, 3), (3, 4, 11)]
"""The ``(in_channels, out_channels, rate)`` :func:`check_aspp_branch` builds."""


def check_branch_span(rate: int, output_stride: int, answer: int) -> CheckResult:
    """Lesson 04: width in photo pixels of the area a 3x3 ASPP branch reads."""
    from dlcourse.taps import tiled_field_of_view

    expected = tiled_field_of_view(3, rate, jump=output_stride, tile=output_stride)
    centre_to_centre = 2 * rate * output_stride  # the outer taps' own cells left out
    in_cells = 2 * rate + 1
    return judge(
        answer,
        expected,
        f"rate {rate} at output stride {output_stride} reads a {expected} px wide area.",
        "The taps are rate cells apart, so the 3x3 pattern spans 2 * rate + 1 feature cells; "
        "each cell is output_stride photo pixels wide.",
        mistakes={
            centre_to_centre: "Almost: the span is 2 * rate + 1 cells (the two outer taps' cells count too).",
            in_cells: "That is the span in feature cells; multiply by the output stride to get pixels.",
        },
    )


def check_valid_taps(feature_size: int, rate: int, answer: int) -> CheckResult:
    """Lesson 04: taps of the centre cell's 3x3 branch that land on a square feature map."""
    from dlcourse.taps import aspp_taps

    centre = feature_size // 2
    _, inside = aspp_taps(rate, 1, (centre, centre), (feature_size, feature_size))
    expected = int(inside.sum())
    per_axis = math.isqrt(expected)  # a square map around its centre cell: a square of taps
    return judge(
        answer,
        expected,
        f"{expected} of the 9 taps land on the {feature_size}x{feature_size} map; the others "
        "read zero padding.",
        "Per axis, count which of centre - rate, centre, centre + rate lie in "
        "0..feature_size - 1; the 2-D count is that number squared.",
        mistakes={
            per_axis: "That is the count along one axis; the 3x3 pattern is 2-D, so square it."
        },
    )


def check_aspp_channels(
    num_rates: int, branch_channels: int, pooling: bool, answer: int
) -> CheckResult:
    """Lesson 04: channels that enter ASPP's 1x1 projection (the concatenated branches)."""
    from dlcourse.aspp import ASPP

    aspp = ASPP(8, tuple(range(1, num_rates + 1)), branch_channels, pooling=pooling)
    expected = aspp.project[0].in_channels
    return judge(
        answer,
        expected,
        f"{len(aspp.convs)} branches of {branch_channels} channels: {expected} channels.",
        "Count the branches: the 1x1 conv, one per rate, and the image pooling if it is on.",
        mistakes={
            branch_channels: "That is one branch; the projection sees all branches concatenated."
        },
    )


def check_aspp_branch(make_branch) -> CheckResult:
    """Lesson 04: ``make_branch(in_channels, out_channels, rate)`` builds one atrous ASPP branch.

    The branch must be a 3x3 conv (no bias) with dilation ``rate`` and size-keeping
    padding, batch norm and ReLU, with the parameter names of ``dlcourse.layers.ConvBNReLU``.
    The check builds it for sizes and rates the lesson does not use (:data:`BRANCH_CASES`),
    copies the package branch's weights into it and compares the outputs in eval mode.
    """
    return judge_function(
        make_branch,
        _aspp_branch_mistake,
        "your branch computes exactly what dlcourse.layers.ConvBNReLU does.",
    )


def _aspp_branch_mistake(make_branch) -> str | CheckResult | None:
    """The first branch ``make_branch`` builds wrong, as a hint (the reminder for the template)."""
    import torch

    from dlcourse.layers import ConvBNReLU

    generator = torch.Generator().manual_seed(4)
    for in_channels, out_channels, rate in BRANCH_CASES:
        reference = ConvBNReLU(in_channels, out_channels, 3, dilation=rate)
        with torch.no_grad():
            for param in reference.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))
            reference[1].running_mean.copy_(torch.randn(out_channels, generator=generator))
            reference[1].running_var.copy_(torch.rand(out_channels, generator=generator) + 0.5)
        call = f"make_branch({in_channels}, {out_channels}, {rate})"
        try:
            branch = make_branch(in_channels, out_channels, rate)
            if branch is None:  # the exercise's template still returns None
                return NOT_ANSWERED
            mine, theirs = branch.state_dict(), reference.state_dict()
            if list(mine) != list(theirs) or any(mine[k].shape != theirs[k].shape for k in mine):
                return (
                    f"{call} has parameters {[(k, tuple(v.shape)) for k, v in mine.items()]}; "
                    "expected nn.Sequential(nn.Conv2d(..., 3, padding=rate, dilation=rate, "
                    "bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())."
                )
            branch.load_state_dict(theirs)
            branch.eval()
            x = torch.randn(2, in_channels, 13, 17, generator=generator)
            with torch.no_grad():
                got, expected = branch(x), reference.eval()(x)
        except Exception as err:  # the learner's code: report any failure as a hint
            return f"{call} raised {type(err).__name__}: {err}"
        if got.shape != expected.shape:
            return (
                f"{call} maps a 13x17 map to {tuple(got.shape[-2:])}; a branch must keep the "
                "size: padding = rate for a 3x3 conv with dilation rate."
            )
        if not torch.allclose(got, expected, atol=1e-5):
            return (
                f"{call} has the right shapes but computes something else: check the "
                "dilation, the padding and the order conv -> batch norm -> ReLU."
            )
    return None
