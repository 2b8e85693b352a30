"""The lesson 04 (ASPP) checkers: right answers pass, typical wrong ones fail with a useful
hint, and odd inputs get a hint instead of a traceback."""

import pytest
import torch
from torch import nn

from dlcourse.checks import (
    check_aspp_branch,
    check_aspp_channels,
    check_branch_span,
    check_valid_taps,
)
from dlcourse.layers import ConvBNReLU


def test_check_branch_span():
    result = check_branch_span(12, 16, 400)
    assert result.message == "Correct! rate 12 at output stride 16 reads a 400 px wide area."
    assert check_branch_span(36, 8, 584)
    almost = check_branch_span(12, 16, 384)  # 2 * rate cells
    assert not almost and "2 * rate + 1" in almost.message
    cells = check_branch_span(12, 16, 25)  # cells, not pixels
    assert not cells and "multiply by the output stride" in cells.message
    assert not check_branch_span(12, 16, "400 px")


def test_check_valid_taps():
    result = check_valid_taps(33, 18, 1)  # the centre (16) + or - 18 leaves the 33-cell map
    assert (
        result.message
        == "Correct! 1 of the 9 taps land on the 33x33 map; the others read zero padding."
    )
    assert check_valid_taps(33, 6, 9)
    assert check_valid_taps(65, 24, 9) and check_valid_taps(65, 12, 9)
    assert check_valid_taps(
        10, 5, 4
    )  # even side: the centre cell 5 has 0 and 5 + 5 = 10 is outside
    assert not check_valid_taps(33, 18, 9)
    axis = check_valid_taps(9, 3, 3)  # per axis 3, in 2-D 9
    assert not axis and "square it" in axis.message
    assert not check_valid_taps(33, 18, None)


def test_check_aspp_channels():
    result = check_aspp_channels(4, 256, True, 1536)
    assert result.message == "Correct! 6 branches of 256 channels: 1536 channels."
    assert check_aspp_channels(3, 256, True, 1280)
    assert check_aspp_channels(3, 256, False, 1024)
    assert not check_aspp_channels(4, 256, True, 1280)  # rates only + 1x1
    one = check_aspp_channels(4, 256, True, 256)
    assert not one and "concatenated" in one.message


def test_check_aspp_branch():
    def right(in_channels, out_channels, rate):
        return ConvBNReLU(in_channels, out_channels, 3, dilation=rate)

    def by_hand(in_channels, out_channels, rate):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert check_aspp_branch(right).message == (
        "Correct! your branch computes exactly what dlcourse.layers.ConvBNReLU does."
    )
    assert check_aspp_branch(by_hand)

    def no_padding(in_channels, out_channels, rate):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, dilation=rate, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert "keep the size" in check_aspp_branch(no_padding).message

    def padding_one(in_channels, out_channels, rate):  # the usual slip: padding 1, not rate
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, dilation=rate, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert not check_aspp_branch(padding_one)

    def with_bias(in_channels, out_channels, rate):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert "expected nn.Sequential" in check_aspp_branch(with_bias).message

    def undilated(in_channels, out_channels, rate):
        return ConvBNReLU(in_channels, out_channels, 3, dilation=1)

    assert "computes something else" in check_aspp_branch(undilated).message
    assert "raised ZeroDivisionError" in check_aspp_branch(lambda i, o, r: 1 / 0).message
    assert not check_aspp_branch(None)


def test_a_template_that_returns_none_is_unanswered():
    assert check_aspp_branch(lambda in_channels, out_channels, rate: None).message.startswith(
        "Not answered yet"
    )


@pytest.mark.parametrize("answer", [None, "x", 3.5, [1, "a"]])
def test_checks_never_raise_on_odd_answers(answer):
    with torch.device("cpu"):
        for check in (
            lambda a: check_branch_span(6, 16, a),
            lambda a: check_valid_taps(33, 6, a),
            lambda a: check_aspp_channels(3, 256, True, a),
        ):
            assert not check(answer)
