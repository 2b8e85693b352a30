"""The lesson 05 (upsampling and decoder) checkers: right answers pass, typical wrong ones
fail with a useful hint, and odd inputs get a hint instead of a traceback."""

import torch
import torch.nn.functional as F

from dlcourse.checks import (
    check_atrous_separable_conv,
    check_decoder_channels,
    check_parameter_count,
    check_separable_params,
    check_transposed_output_size,
)


def test_check_transposed_output_size():
    result = check_transposed_output_size(33, 32, 16, 8, 528)  # (33 - 1) * 16 - 16 + 32
    assert result.message == "Correct! 33 -> 528."
    assert not check_transposed_output_size(33, 32, 16, 8, 544)  # padding forgotten
    wrong = check_transposed_output_size(33, 32, 16, 8, 33 * 16 + 32)
    assert "(size - 1) * stride - 2 * padding + kernel" in wrong.message
    assert not check_transposed_output_size(33, 32, 16, 8, 528.5)  # not a whole number
    assert not check_transposed_output_size(33, 32, 16, 8, "528")


def test_check_decoder_channels():
    assert check_decoder_channels(304).message.startswith(
        "Correct! 304 = 256 (upsampled ASPP output) + 48"
    )
    assert not check_decoder_channels(256)  # the ASPP output alone
    before = check_decoder_channels(256 + 24)  # the low-level features before projection
    assert "after their 1x1" in before.message
    assert check_decoder_channels(None).message.startswith("Not answered yet")


def test_check_parameter_count():
    assert check_parameter_count("deeplabv3plus_mobilenet", 11.73).message == (
        "Correct! deeplabv3plus_mobilenet has 11.73 M parameters."
    )
    assert not check_parameter_count("deeplabv3plus_mobilenet", 11.03)  # the v3 model
    raw = check_parameter_count("deeplabv3plus_mobilenet", 11_727_653)  # not in millions
    assert "divide by one million" in raw.message


def test_check_separable_params():
    # by hand: 9 * 256 + 256 * 128 = 2,304 + 32,768
    result = check_separable_params(256, 128, 35_072)
    assert result and "against 294,912" in result.message
    assert "dense 3x3" in check_separable_params(256, 128, 9 * 256 * 128).message
    assert "only the depthwise" in check_separable_params(256, 128, 9 * 256).message
    assert "only the pointwise" in check_separable_params(256, 128, 256 * 128).message
    assert "Depthwise: one 3x3 filter" in check_separable_params(256, 128, "many").message
    assert "replace the None" in check_separable_params(256, 128, None).message


def separable_by_hand(x, depthwise, pointwise, dilation):
    """The right answer to lesson 05's coding exercise."""
    filtered = F.conv2d(x, depthwise, padding=dilation, dilation=dilation, groups=x.shape[1])
    return F.conv2d(filtered, pointwise)


def test_check_atrous_separable_conv_accepts_the_right_function():
    result = check_atrous_separable_conv(separable_by_hand)
    assert (
        result.message == "Correct! matches the grouped + 1x1 F.conv2d on 3 inputs it had not seen."
    )


def test_check_atrous_separable_conv_rejects_typical_mistakes():
    def no_groups(x, depthwise, pointwise, dilation):
        return F.conv2d(F.conv2d(x, depthwise, padding=dilation, dilation=dilation), pointwise)

    def no_padding(x, depthwise, pointwise, dilation):
        return F.conv2d(F.conv2d(x, depthwise, dilation=dilation, groups=x.shape[1]), pointwise)

    def rate_ignored(x, depthwise, pointwise, dilation):  # keeps the size, but no dilation
        return F.conv2d(F.conv2d(x, depthwise, padding=1, groups=x.shape[1]), pointwise)

    def shifted(x, depthwise, pointwise, dilation):
        return separable_by_hand(x, depthwise, pointwise, dilation).roll(1, dims=-1)

    assert "groups=C" in check_atrous_separable_conv(no_groups).message
    assert "padding r" in check_atrous_separable_conv(no_padding).message
    assert "values differ" in check_atrous_separable_conv(rate_ignored).message
    assert "values differ" in check_atrous_separable_conv(shifted).message
    template = check_atrous_separable_conv(lambda x, d, p, r: None)  # the exercise as handed out
    assert "replace the None" in template.message
    assert "not a tensor" in check_atrous_separable_conv(lambda x, d, p, r: [1, 2]).message
    assert "Give a function" in check_atrous_separable_conv(42).message
    assert "replace the None" in check_atrous_separable_conv(None).message
    assert torch.is_grad_enabled()
