"""The lesson 02 checkers: each accepts the right answer and rejects typical wrong ones."""

import pytest
import torch
from torch.nn import functional as F

from dlcourse.checks import (
    check_conv_by_unfold,
    check_feature_size,
    check_hybrid_rates,
    check_output_size,
    check_same_padding,
)
from dlcourse.checks.lesson02 import UNFOLD_CASES


def test_check_output_size():
    result = check_output_size(20, 3, 12, dilation=4)
    assert result and result.message == "Correct! 20 pixels in, 12 out."
    assert not check_output_size(20, 3, 18, dilation=4)  # dilation ignored
    assert not check_output_size(20, 3, 16, dilation=4)  # span taken as 4 * 3 + 1
    assert check_output_size(20, 3, 10, stride=2, padding=1)


def test_check_same_padding():
    assert check_same_padding(5, 3, 6)
    assert not check_same_padding(5, 3, 3)  # padding = dilation only holds for 3x3
    assert not check_same_padding(5, 3, 2)  # dilation ignored
    assert not check_same_padding(5, 3, None)
    with pytest.raises(ValueError, match="odd"):
        check_same_padding(4, 1, 1)


def test_check_hybrid_rates():
    result = check_hybrid_rates((1, 3, 8), min_rf=25)
    assert (
        result and result.message == "Correct! RF 25x25 and every one of its 625 pixels is reached."
    )
    assert check_hybrid_rates((1, 3, 9))
    assert not check_hybrid_rates((1, 2, 5), min_rf=25)  # solid, but RF 17
    holes = check_hybrid_rates((1, 4, 8), min_rf=25)  # RF 27 with holes
    assert not holes and "reach 441 of 729" in holes.message
    assert not check_hybrid_rates((2, 4, 8), min_rf=25)  # multi-grid at OS16: holes
    assert not check_hybrid_rates((1,) * 12, min_rf=25)  # solid RF 25, but twelve layers
    assert "Give exactly 3 rates" in check_hybrid_rates((1, 3, 8, 1), min_rf=25).message
    assert "whole number of at least 1" in check_hybrid_rates((1, 3.5, 8), min_rf=25).message
    assert "as a tuple" in check_hybrid_rates(12, min_rf=25).message
    assert not check_hybrid_rates(None)
    assert check_hybrid_rates((1, 2, 5, 12), min_rf=41, layers=4)  # the lesson's exercise: RF 41


def test_check_feature_size():
    assert [
        bool(check_feature_size(os, 513, side)) for os, side in ((8, 65), (16, 33), (32, 17))
    ] == [True] * 3
    assert check_feature_size(16, 321, 21)  # the lesson's exercise
    assert not check_feature_size(8, 513, 64)  # 513 / 8 rounded down
    assert not check_feature_size(8, 513, 129)  # one stride-2 stage too few
    assert not check_feature_size(8, 513, None)
    with pytest.raises(ValueError, match="8, 16 or 32"):
        check_feature_size(4, 513, 129)


def _conv_by_unfold(x, weight, bias, dilation, padding):
    n, _, h, w = x.shape
    k_out, _, k, _ = weight.shape
    cols = F.unfold(x, k, dilation=dilation, padding=padding)
    side_h, side_w = h + 2 * padding - dilation * (k - 1), w + 2 * padding - dilation * (k - 1)
    return (weight.reshape(k_out, -1) @ cols + bias[:, None]).reshape(n, k_out, side_h, side_w)


def test_check_conv_by_unfold():
    result = check_conv_by_unfold(_conv_by_unfold)
    assert (
        result.message
        == f"Correct! matches F.conv2d on {len(UNFOLD_CASES)} convolutions it had not seen."
    )
    # calling the convolution is switched off inside the check
    blocked = check_conv_by_unfold(lambda x, w, b, d, p: F.conv2d(x, w, b, padding=p, dilation=d))
    assert not blocked and "F.conv2d is switched off" in blocked.message
    assert F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3)).item() == 9.0  # restored
    no_bias = check_conv_by_unfold(lambda x, w, b, d, p: _conv_by_unfold(x, w, b * 0, d, p))
    assert "the values differ" in no_bias.message
    no_padding = check_conv_by_unfold(lambda x, w, b, d, p: _conv_by_unfold(x, w, b, d, 0))
    assert "expected shape" in no_padding.message
    assert not check_conv_by_unfold(None)
    template = check_conv_by_unfold(lambda x, w, b, d, p: None)  # the exercise as handed out
    assert template.message == "Not yet. conv_by_unfold returned None: return the output tensor."
    assert (
        "returned a str, not a tensor" in check_conv_by_unfold(lambda x, w, b, d, p: "out").message
    )
    assert "Give a function" in check_conv_by_unfold(7).message
