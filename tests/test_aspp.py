"""Tests of dlcourse.aspp: ASPP, its image pooling, ASPP-v2 and the v3 head against torchvision."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_
from torch import nn
from torchvision.models.segmentation import deeplabv3 as tv_deeplab

from dlcourse.aspp import ASPP, ASPPPooling, ASPPv2, DeepLabHead
from dlcourse.layers import AtrousSeparableConv2d, ConvBNReLU, freeze_batchnorm


def test_aspp_is_torchvisions_aspp():
    ours = ASPP(16, (2, 4, 6), out_channels=8).eval()
    theirs = randomize_(tv_deeplab.ASPP(16, [2, 4, 6], out_channels=8)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_aspp_without_pooling_has_one_branch_less():
    aspp = ASPP(16, (6, 12, 18), out_channels=8, pooling=False)
    assert len(aspp.convs) == 4
    assert aspp.project[0].in_channels == 4 * 8
    assert [branch[0].dilation for branch in aspp.convs] == [(1, 1), (6, 6), (12, 12), (18, 18)]
    with pytest.raises(ValueError, match="atrous_rates"):
        ASPP(16, ())


def test_aspp_v2_sums_one_classifier_per_rate():
    head = randomize_(ASPPv2(4, 3, (1, 2))).eval()
    x = torch.randn(1, 4, 10, 10)
    expected = sum(
        F.conv2d(x, conv.weight, conv.bias, padding=rate, dilation=rate)
        for conv, rate in zip(head.convs, (1, 2), strict=True)
    )
    torch.testing.assert_close(head(x), expected)
    assert head(x).shape == (1, 3, 10, 10)


def test_image_pooling_refuses_a_batch_of_one_in_train_mode_only_with_batch_norm():
    pool = ASPPPooling(8, 4)
    x = torch.randn(1, 8, 5, 5)
    with pytest.raises(ValueError, match="batch of 1 image in train mode.*model.eval"):
        pool.train()(x)
    assert pool.eval()(x).shape == (1, 4, 5, 5)
    assert pool.train()(torch.randn(2, 8, 5, 5)).shape == (2, 4, 5, 5)
    freeze_batchnorm(pool)  # running statistics: any batch works
    assert pool.train()(x).shape == (1, 4, 5, 5)


def test_deeplab_head_is_torchvisions():
    x = torch.randn(2, 32, 7, 7)
    ours, theirs = DeepLabHead(32, 5, (1, 2, 3)), tv_deeplab.DeepLabHead(32, 5, (1, 2, 3))
    ours.load_state_dict(randomize_(theirs).state_dict(), strict=True)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_the_v3_head_reads_the_aspp_width_from_the_module():
    from dlcourse.features import out_channels

    assert out_channels(ASPP(16, (1, 2), out_channels=8)) == 8
    head = DeepLabHead(16, 3, (1, 2))
    assert [head[1].in_channels, head[1].out_channels, head[2].num_features] == [256, 256, 256]
    assert head[4].in_channels == 256 and head[4].out_channels == 3


def test_paper_head_is_torchvisions_head_without_its_3x3_layer():
    # DeepLab-v3, section 3.3: ASPP (projection included) -> 1x1 conv to the classes
    tv_head = DeepLabHead(2048, 21, (12, 24, 36))
    paper = nn.Sequential(ASPP(2048, (12, 24, 36)), nn.Conv2d(256, 21, 1))
    extra = sum(p.numel() for i in (1, 2, 3) for p in tv_head[i].parameters())
    assert extra == 256 * 256 * 9 + 2 * 256
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(tv_head) - count(paper) == extra


def test_lesson_04_aspp_is_the_package_aspp():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    folder = project_root() / "notebooks"
    aspp = notebook_definitions(folder / "04_aspp.ipynb")["MyASPP"](16, (1, 2, 3), 8).eval()
    package = ASPP(16, (1, 2, 3), 8).eval()
    package.load_state_dict(randomize_(aspp).state_dict(), strict=True)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(package(x), aspp(x))


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: ASPP(64, 12),
            TypeError,
            r"ASPP\(atrous_rates=12\).*sequence.*\(6, 12, 18\)",
        ),
        (lambda: ASPP(64, "6"), TypeError, r"atrous_rates='6'.*sequence"),
        (lambda: ASPP(64, None), TypeError, "atrous_rates=None"),
        (lambda: ASPP(64, ()), ValueError, "one or more"),
        (lambda: ASPP(64, (6, 12.5)), ValueError, "whole number"),
        (lambda: ASPP(64, (0, 6)), ValueError, "whole number >= 1"),
        (lambda: ASPP((64,), (6,)), TypeError, r"in_channels=\(64,\)"),
        (lambda: ASPP(64, (6,), out_channels=0), ValueError, "out_channels=0"),
        (
            lambda: ASPPv2(64, 21, 6),
            TypeError,
            r"ASPPv2\(atrous_rates=6\).*\(6, 12, 18, 24\)",
        ),
        (lambda: ASPPv2(64, 0), ValueError, "num_classes=0"),
        (lambda: DeepLabHead(64, 21, 12), TypeError, r"DeepLabHead\(atrous_rates=12\)"),
        (lambda: DeepLabHead(64, 0), ValueError, "num_classes=0"),
    ],
)
def test_bad_arguments_get_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_rates_may_be_any_sequence_of_whole_numbers():
    assert ASPP(8, [6, 12]).atrous_rates == (6, 12)
    assert ASPP(8, np.array([3, 6])).atrous_rates == (3, 6)
    assert ASPPv2(8, 2, (np.int64(2),)).atrous_rates == (2,)


def test_builders_pass_bad_rates_on_with_a_clear_error():
    from dlcourse.models import build_model

    with torch.device("meta"):
        with pytest.raises(TypeError, match="atrous_rates=12"):
            build_model("deeplabv3_resnet50", atrous_rates=12)
        with pytest.raises(TypeError, match="atrous_rates=6"):
            build_model("deeplabv2_resnet101", atrous_rates=6)
        with pytest.raises(TypeError, match="atrous_rates=6"):
            build_model("deeplabv3plus_resnet18", atrous_rates=6)


def test_separable_aspp_swaps_only_the_3x3_convs():
    dense, sep = ASPP(64, (2, 4)), ASPP(64, (2, 4), separable=True)
    assert [type(b) for b in sep.convs] == [
        ConvBNReLU,
        AtrousSeparableConv2d,
        AtrousSeparableConv2d,
        ASPPPooling,
    ]
    assert [b.depthwise[0].dilation for b in sep.convs[1:3]] == [(2, 2), (4, 4)]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    per_branch = (9 * 64 * 256 + 2 * 256) - (9 * 64 + 2 * 64 + 64 * 256 + 2 * 256)
    assert count(dense) - count(sep) == 2 * per_branch
    x = torch.randn(2, 64, 9, 9)
    assert sep(x).shape == dense(x).shape == (2, 256, 9, 9)


def test_separable_false_keeps_torchvisions_keys():
    assert list(ASPP(16, (2, 4), separable=False).state_dict()) == list(
        tv_deeplab.ASPP(16, [2, 4]).state_dict()
    )
    with pytest.raises(TypeError, match=r"separable='yes'"):
        ASPP(16, (2,), separable="yes")
