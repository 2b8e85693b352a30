"""Tests of the lesson 05 (upsampling and decoder) checkers: right answers pass, typical
wrong ones fail with a useful hint, and odd inputs get a hint instead of a traceback."""

import torch
import torch.nn.functional as F

from dlcourse import checks


def test_check_transposed_output_size(capsys):
    assert checks.check_transposed_output_size(33, 32, 16, 8, 528)  # (33 - 1) * 16 - 16 + 32
    assert not checks.check_transposed_output_size(33, 32, 16, 8, 544)  # padding forgotten
    assert not checks.check_transposed_output_size(33, 32, 16, 8, 33 * 16 + 32)
    assert "(size - 1) * stride - 2 * padding + kernel" in capsys.readouterr().out


def test_check_decoder_channels(capsys):
    assert checks.check_decoder_channels(304)
    assert not checks.check_decoder_channels(256)  # the ASPP output alone
    assert not checks.check_decoder_channels(256 + 24)  # the low-level features before projection
    assert "after their 1x1" in capsys.readouterr().out


def test_check_parameter_count(capsys):
    assert checks.check_parameter_count("deeplabv3plus_mobilenet", 11.73)
    assert not checks.check_parameter_count("deeplabv3plus_mobilenet", 11.03)  # the v3 model
    assert not checks.check_parameter_count("deeplabv3plus_mobilenet", 11_727_653)  # not in millions
    assert "divide by one million" in capsys.readouterr().out


def test_check_separable_params(capsys):
    # by hand: 9 * 256 + 256 * 128 = 2,304 + 32,768
    assert checks.check_separable_params(256, 128, 35_072)
    assert "against 294,912" in capsys.readouterr().out
    assert not checks.check_separable_params(256, 128, 9 * 256 * 128)
    assert "dense 3x3" in capsys.readouterr().out
    assert not checks.check_separable_params(256, 128, 9 * 256)
    assert "only the depthwise" in capsys.readouterr().out
    assert not checks.check_separable_params(256, 128, 256 * 128)
    assert "only the pointwise" in capsys.readouterr().out
    assert not checks.check_separable_params(256, 128, "many")
    assert not checks.check_separable_params(256, 128, None)
    assert "replace the None" in capsys.readouterr().out


def separable_by_hand(x, depthwise, pointwise, dilation):
    """The right answer to lesson 05's coding exercise."""
    filtered = F.conv2d(x, depthwise, padding=dilation, dilation=dilation, groups=x.shape[1])
    return F.conv2d(filtered, pointwise)


def test_check_atrous_separable_conv_accepts_the_right_function(capsys):
    assert checks.check_atrous_separable_conv(separable_by_hand)
    assert "3 inputs it had not seen" in capsys.readouterr().out


def test_check_atrous_separable_conv_rejects_typical_mistakes(capsys):
    def no_groups(x, depthwise, pointwise, dilation):
        return F.conv2d(F.conv2d(x, depthwise, padding=dilation, dilation=dilation), pointwise)

    def no_padding(x, depthwise, pointwise, dilation):
        return F.conv2d(F.conv2d(x, depthwise, dilation=dilation, groups=x.shape[1]), pointwise)

    def rate_ignored(x, depthwise, pointwise, dilation):  # keeps the size, but no dilation
        return F.conv2d(F.conv2d(x, depthwise, padding=1, groups=x.shape[1]), pointwise)

    def shifted(x, depthwise, pointwise, dilation):
        return separable_by_hand(x, depthwise, pointwise, dilation).roll(1, dims=-1)

    assert not checks.check_atrous_separable_conv(no_groups)
    assert "groups=C" in capsys.readouterr().out
    assert not checks.check_atrous_separable_conv(no_padding)
    assert "padding r" in capsys.readouterr().out
    assert not checks.check_atrous_separable_conv(rate_ignored)
    assert "values differ" in capsys.readouterr().out
    assert not checks.check_atrous_separable_conv(shifted)
    assert "values differ" in capsys.readouterr().out
    assert not checks.check_atrous_separable_conv(lambda x, d, p, r: None)  # the template
    assert "replace the None" in capsys.readouterr().out
    assert not checks.check_atrous_separable_conv(lambda x, d, p, r: [1, 2])
    assert "not a tensor" in capsys.readouterr().out
    assert not checks.check_atrous_separable_conv(42)
    assert not checks.check_atrous_separable_conv(None)
    assert "replace the None" in capsys.readouterr().out
    assert torch.is_grad_enabled()
