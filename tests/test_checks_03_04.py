"""Tests of the lesson 03 (backbone) and 04 (ASPP) checkers: right answers pass, typical
wrong ones fail with a useful hint, and odd inputs get a hint instead of a traceback."""

import pytest
import torch
from torch import nn

from dlcourse import checks
from dlcourse.backbones import MobileNetV3Large
from dlcourse.layers import ConvBNReLU

# --- 03 ------------------------------------------------------------------------------


def test_check_bottleneck_params(capsys):
    # by hand: convs 256*128 + 128*128*9 + 128*512, BNs 2*(128+128+512), shortcut 256*512 + 2*512
    assert checks.check_bottleneck_params(256, 128, 379_392)
    assert checks.check_bottleneck_params(256, 64, 70_400)  # no shortcut needed
    assert "Correct! Bottleneck(256, 128) has 379,392" in capsys.readouterr().out
    assert not checks.check_bottleneck_params(256, 128, 379_392 - 132_096)  # forgot the shortcut
    assert "shortcut" in capsys.readouterr().out
    assert not checks.check_bottleneck_params(256, 128, 245_760)  # convs only
    assert not checks.check_bottleneck_params(256, 128, "many")
    assert not checks.check_bottleneck_params(256, 128, None)
    assert "replace the None" in capsys.readouterr().out


def test_check_stage_dilations(capsys):
    assert checks.check_stage_dilations(16, [1, 2, 2])
    assert checks.check_stage_dilations(8, (2, 4, 4))
    assert checks.check_stage_dilations(32, [1, 1, 1])
    assert not checks.check_stage_dilations(16, [2, 2, 2])  # the first block keeps dilation 1
    assert not checks.check_stage_dilations(8, [4, 4, 4])
    assert not checks.check_stage_dilations(16, [1, 2])
    assert "one dilation per block" in capsys.readouterr().out
    assert not checks.check_stage_dilations(16, 2)  # a number, not a list: a hint, no TypeError
    assert "list of whole numbers" in capsys.readouterr().out


def test_check_downsampling_blocks_accepts_every_geometrically_true_answer(capsys):
    marked = [i for i, b in enumerate(MobileNetV3Large().children()) if getattr(b, "downsamples", False)]
    assert marked == [2, 4, 7, 13]
    assert checks.check_downsampling_blocks(marked)
    assert checks.check_downsampling_blocks([0, 2, 4, 7, 13])  # the stem conv halves too
    assert checks.check_downsampling_blocks((13, 7, 4, 2))  # order does not matter
    capsys.readouterr()
    assert not checks.check_downsampling_blocks([1, 3, 6, 12])  # off by one
    assert not checks.check_downsampling_blocks([2, 4, 7])  # the last stage forgotten
    assert "downsamples" in capsys.readouterr().out
    assert not checks.check_downsampling_blocks(13)
    assert "list of whole numbers" in capsys.readouterr().out


def plan_by_hand(output_stride, blocks):
    """The right answer to lesson 03's coding exercise."""
    stride, dilation, plan = 4, 1, []
    for count in blocks[1:]:
        previous = dilation
        if stride < output_stride:
            stride, first = stride * 2, (2, dilation)
        else:
            dilation *= 2
            first = (1, previous)
        plan.append([first] + [(1, dilation)] * (count - 1))
    return plan


def test_check_stage_plan(capsys):
    assert checks.check_stage_plan(plan_by_hand)
    assert "matches" in capsys.readouterr().out

    def new_dilation_first(output_stride, blocks):  # the MobileNet rule, wrong for ResNet
        plan = plan_by_hand(output_stride, blocks)
        for stage in plan:
            stage[0] = (stage[0][0], stage[-1][1])
        return plan

    assert not checks.check_stage_plan(new_dilation_first)
    assert "first block keeps" in capsys.readouterr().out

    def hard_coded(output_stride, blocks):  # ResNet-50's stage sizes, not the ones asked
        return plan_by_hand(output_stride, (3, 4, 6, 3))

    assert not checks.check_stage_plan(hard_coded)

    def broken(output_stride, blocks):
        raise RuntimeError("oops")

    assert not checks.check_stage_plan(broken)
    assert "raised RuntimeError" in capsys.readouterr().out
    assert not checks.check_stage_plan(None)


# --- 04 ------------------------------------------------------------------------------


def test_check_branch_span(capsys):
    assert checks.check_branch_span(12, 16, 400)
    assert checks.check_branch_span(36, 8, 584)
    assert not checks.check_branch_span(12, 16, 384)  # 2 * rate cells
    assert "2 * rate + 1" in capsys.readouterr().out
    assert not checks.check_branch_span(12, 16, 25)  # cells, not pixels
    assert "multiply by the output stride" in capsys.readouterr().out
    assert not checks.check_branch_span(12, 16, "400 px")


def test_check_valid_taps(capsys):
    assert checks.check_valid_taps(33, 18, 1)
    assert checks.check_valid_taps(33, 6, 9)
    assert checks.check_valid_taps(65, 24, 9)
    assert not checks.check_valid_taps(33, 18, 9)
    assert not checks.check_valid_taps(9, 3, 3)  # per axis 3, in 2-D 9
    assert "square it" in capsys.readouterr().out
    assert not checks.check_valid_taps(33, 18, None)


def test_check_aspp_channels(capsys):
    assert checks.check_aspp_channels(4, 256, True, 1536)
    assert checks.check_aspp_channels(3, 256, True, 1280)
    assert checks.check_aspp_channels(3, 256, False, 1024)
    assert not checks.check_aspp_channels(4, 256, True, 1280)  # rates only + 1x1
    assert not checks.check_aspp_channels(4, 256, True, 256)
    assert "concatenated" in capsys.readouterr().out


def test_check_aspp_branch(capsys):
    def right(in_channels, out_channels, rate):
        return ConvBNReLU(in_channels, out_channels, 3, dilation=rate)

    def by_hand(in_channels, out_channels, rate):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert checks.check_aspp_branch(right)
    assert checks.check_aspp_branch(by_hand)
    capsys.readouterr()

    def no_padding(in_channels, out_channels, rate):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, dilation=rate, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert not checks.check_aspp_branch(no_padding)
    assert "keep the size" in capsys.readouterr().out

    def padding_one(in_channels, out_channels, rate):  # the usual slip: padding 1, not rate
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, dilation=rate, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert not checks.check_aspp_branch(padding_one)

    def with_bias(in_channels, out_channels, rate):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    assert not checks.check_aspp_branch(with_bias)
    assert "expected nn.Sequential" in capsys.readouterr().out

    def undilated(in_channels, out_channels, rate):
        return ConvBNReLU(in_channels, out_channels, 3, dilation=1)

    assert not checks.check_aspp_branch(undilated)
    assert "computes something else" in capsys.readouterr().out
    assert not checks.check_aspp_branch(None)


@pytest.mark.parametrize("answer", [None, "x", 3.5, [1, "a"]])
def test_checks_never_raise_on_odd_answers(answer, capsys):
    with torch.device("cpu"):
        for check in (
            lambda a: checks.check_stage_dilations(16, a),
            checks.check_downsampling_blocks,
            lambda a: checks.check_bottleneck_params(256, 64, a),
            lambda a: checks.check_branch_span(6, 16, a),
            lambda a: checks.check_valid_taps(33, 6, a),
            lambda a: checks.check_aspp_channels(3, 256, True, a),
        ):
            assert not check(answer)


def test_coding_checkers_treat_a_template_that_returns_none_as_unanswered(capsys):
    assert not checks.check_stage_plan(lambda output_stride, blocks: None)
    assert not checks.check_aspp_branch(lambda in_channels, out_channels, rate: None)
    assert capsys.readouterr().out.count("replace the None") == 2
