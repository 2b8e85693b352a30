"""The lesson 03 (backbone) checkers: right answers pass, typical wrong ones fail with a useful
hint, and odd inputs get a hint instead of a traceback."""

import pytest
import torch

from dlcourse.checks import (
    check_bottleneck_params,
    check_downsampling_blocks,
    check_stage_dilations,
    check_stage_plan,
)
from dlcourse.mobilenet import MobileNetV3Large


def test_check_bottleneck_params():
    # by hand: convs 256*128 + 128*128*9 + 128*512, BNs 2*(128+128+512), shortcut 256*512 + 2*512
    result = check_bottleneck_params(256, 128, 379_392)
    assert result.message == "Correct! Bottleneck(256, 128) has 379,392 parameters."
    assert check_bottleneck_params(256, 64, 70_400)  # no shortcut needed
    forgot = check_bottleneck_params(256, 128, 379_392 - 132_096)  # forgot the shortcut
    assert not forgot and "now add the downsample shortcut" in forgot.message
    convs_only = check_bottleneck_params(256, 128, 245_760)
    assert not convs_only and "Add the three convs" in convs_only.message
    assert not check_bottleneck_params(256, 128, "many")
    assert "replace the None" in check_bottleneck_params(256, 128, None).message


def test_check_stage_dilations():
    result = check_stage_dilations(16, [1, 2, 2])
    assert result.message == "Correct! at output stride 16 layer4 uses dilations [1, 2, 2]."
    assert check_stage_dilations(8, (2, 4, 4))
    assert check_stage_dilations(32, [1, 1, 1])
    first = check_stage_dilations(16, [2, 2, 2])  # the first block keeps dilation 1
    assert not first and "its first block keeps the dilation" in first.message
    assert not check_stage_dilations(8, [4, 4, 4])
    assert "one dilation per block" in check_stage_dilations(16, [1, 2]).message
    number = check_stage_dilations(16, 2)  # a number, not a list: a hint, no TypeError
    assert number.message == "Not yet. give a list of whole numbers, e.g. [1, 1, 1]."


def test_check_downsampling_blocks_accepts_every_geometrically_true_answer():
    marked = [
        i for i, b in enumerate(MobileNetV3Large().children()) if getattr(b, "downsamples", False)
    ]
    assert marked == [2, 4, 7, 13]
    result = check_downsampling_blocks(marked)
    assert result.message.startswith("Correct! children [0, 2, 4, 7, 13] halve the resolution")
    assert check_downsampling_blocks([0, 2, 4, 7, 13])  # the stem conv halves too
    assert check_downsampling_blocks((13, 7, 4, 2))  # order does not matter
    assert not check_downsampling_blocks([1, 3, 6, 12])  # off by one
    forgot = check_downsampling_blocks([2, 4, 7])  # the last stage forgotten
    assert not forgot and "downsamples == True" in forgot.message
    assert (
        check_downsampling_blocks(13).message
        == "Not yet. give a list of whole numbers, e.g. [2, 5]."
    )


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


def test_check_stage_plan():
    result = check_stage_plan(plan_by_hand)
    assert (
        result.message
        == "Correct! your plan matches dlcourse.resnet.ResNet for every output stride."
    )

    def new_dilation_first(output_stride, blocks):  # the MobileNet rule, wrong for ResNet
        plan = plan_by_hand(output_stride, blocks)
        for stage in plan:
            stage[0] = (stage[0][0], stage[-1][1])
        return plan

    assert "first block keeps" in check_stage_plan(new_dilation_first).message

    def hard_coded(output_stride, blocks):  # ResNet-50's stage sizes, not the ones asked
        return plan_by_hand(output_stride, (3, 4, 6, 3))

    assert not check_stage_plan(hard_coded)

    def broken(output_stride, blocks):
        raise RuntimeError("oops")

    assert "raised RuntimeError: oops" in check_stage_plan(broken).message
    assert not check_stage_plan(None)


def test_a_template_that_returns_none_is_unanswered():
    assert check_stage_plan(lambda output_stride, blocks: None).message.startswith(
        "Not answered yet"
    )


@pytest.mark.parametrize("answer", [None, "x", 3.5, [1, "a"]])
def test_checks_never_raise_on_odd_answers(answer):
    with torch.device("cpu"):
        for check in (
            lambda a: check_stage_dilations(16, a),
            check_downsampling_blocks,
            lambda a: check_bottleneck_params(256, 64, a),
        ):
            assert not check(answer)
