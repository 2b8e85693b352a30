"""Tests of dlcourse.mobilenet: MobileNetV3-Large against torchvision's dilated features."""

import pytest
import torch
import torchvision
from helpers import dilations
from torch import nn

from dlcourse.mobilenet import MobileNetV3Large, make_divisible


def test_make_divisible_by_hand():
    assert make_divisible(18) == 24  # 16 would lose more than 10%
    assert make_divisible(30) == 32
    assert make_divisible(240) == 240


def test_mobilenet_v3_large_is_torchvisions_dilated_features():
    ours = MobileNetV3Large(output_stride=16)
    theirs = torchvision.models.mobilenet_v3_large(dilated=True).features
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape for k in a)
    assert dilations(ours) == dilations(theirs)
    assert ours.positions == {"low": 3, "aux": 4, "out": 16}
    assert ours.channels == {"low": 24, "aux": 40, "out": 960}


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_mobilenet_feature_strides(output_stride):
    net = MobileNetV3Large(output_stride=output_stride).eval()
    with torch.no_grad():
        features = net(torch.randn(1, 3, 64, 64))
    assert features["low"].shape == (1, 24, 16, 16)
    assert features["aux"].shape == (1, 40, 8, 8)
    assert features["out"].shape == (1, 960, 64 // output_stride, 64 // output_stride)


def test_mobilenet_is_a_feature_getter_with_its_feature_positions():
    from dlcourse.features import FeatureGetter

    net = MobileNetV3Large()
    assert isinstance(net, FeatureGetter)
    assert list(net.positions.values()) == [3, 4, 16]


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: make_divisible(10, 0), ValueError, "divisor=0"),
        (lambda: MobileNetV3Large(output_stride=4), ValueError, "output_stride=4"),
    ],
)
def test_bad_arguments_get_a_clear_error(build, error, message):
    with torch.device("meta"), pytest.raises(error, match=message):
        build()


def test_dilated_mobilenet_gives_the_formerly_strided_block_the_new_dilation():
    # as torchvision's mobilenet_v3_large(dilated=True): unlike ResNet's rule
    net = MobileNetV3Large(output_stride=16)
    depthwise = [
        m for m in net.get_submodule("13").modules() if isinstance(m, nn.Conv2d) and m.groups > 1
    ]
    assert [(m.stride[0], m.dilation[0]) for m in depthwise] == [(1, 2)]
    reference = torchvision.models.mobilenet_v3_large(dilated=True).features[13]
    theirs = [m for m in reference.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [(m.stride[0], m.dilation[0]) for m in theirs] == [(1, 2)]


def test_lesson_03_mobilenet_block_is_the_package_one():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    lesson = notebook_definitions(project_root() / "notebooks" / "03_backbone.ipynb")
    mobile = MobileNetV3Large(output_stride=8).eval()
    block = mobile.get_submodule(
        "7"
    )  # 40 -> 80, 3x3, no SE in the table, but stride 2 -> dilation 2
    mine = lesson["MyInvertedResidual"](40, 3, 240, 80, nn.Hardswish, 2, 2, 64)
    mine.block = nn.Sequential(
        *[m for i, m in enumerate(mine.block) if i != 2]
    )  # block 7 has no SE
    mine.load_state_dict(block.state_dict(), strict=True)
    x = torch.randn(1, 40, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(mine.eval()(x), block(x))
