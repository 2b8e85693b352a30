"""Tests of dlcourse.layers: conv-BN-ReLU, atrous separable conv, upsampling, frozen BN."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_
from torch import nn

from dlcourse import layers


@pytest.mark.parametrize(("kernel", "dilation"), [(1, 1), (3, 1), (3, 2), (3, 6), (5, 3)])
def test_conv_bn_relu_keeps_the_size_at_stride_1(kernel, dilation):
    block = layers.ConvBNReLU(3, 4, kernel, dilation=dilation)
    assert block[0].padding == (dilation * (kernel - 1) // 2,) * 2
    assert block(torch.randn(2, 3, 13, 10)).shape == (2, 4, 13, 10)


def test_conv_bn_relu_rejects_an_even_kernel():
    with pytest.raises(ValueError, match="odd kernel"):
        layers.ConvBNReLU(3, 4, 2)


def test_bilinear_kernel_values_by_hand():
    kernel = layers.bilinear_kernel(2, 2)
    ramp = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert kernel.shape == (2, 1, 4, 4)
    torch.testing.assert_close(kernel[1, 0], ramp[:, None] * ramp[None, :])
    with pytest.raises(ValueError, match="even factor"):
        layers.bilinear_kernel(2, 3)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_learned_upsample_starts_as_bilinear_away_from_the_border(factor):
    up = layers.LearnedUpsample(3, factor)
    x = torch.randn(1, 3, 6, 7)
    with torch.no_grad():
        ours = up(x)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape == (1, 3, 6 * factor, 7 * factor)
    inner = (..., slice(factor, -factor), slice(factor, -factor))
    torch.testing.assert_close(ours[inner], reference[inner])


def test_freeze_batchnorm_uses_running_statistics_in_train_mode():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    randomize_(net)
    keys = list(net.state_dict())
    before = net[1].running_mean.clone()
    x = torch.randn(2, 3, 8, 8)
    expected = net.eval()(x)
    layers.freeze_batchnorm(net).train()
    torch.testing.assert_close(net(x), expected)
    assert isinstance(net[1], layers.FrozenBatchNorm2d)
    assert not net[1].weight.requires_grad and net[0].weight.requires_grad
    assert list(net.state_dict()) == keys
    torch.testing.assert_close(net[1].running_mean, before)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: layers.ConvBNReLU(4, 4, 3, dilation=0), ValueError, "dilation=0"),
        (lambda: layers.ConvBNReLU(4, 4, 3.0), TypeError, "kernel_size=3.0"),
        (lambda: layers.LearnedUpsample(4, 3), ValueError, r"LearnedUpsample\(factor=3\)"),
        (lambda: layers.bilinear_kernel(0, 2), ValueError, "channels=0"),
        (
            lambda: layers.AtrousSeparableConv2d(4, 4, dilation=0),
            ValueError,
            r"AtrousSeparableConv2d\(dilation=0\)",
        ),
        (lambda: layers.AtrousSeparableConv2d(4, 4, kernel_size=2), ValueError, "odd kernel"),
        (lambda: layers.conv3x3_block(4, 4, 1, separable="yes"), TypeError, r"separable='yes'"),
    ],
)
def test_bad_arguments_get_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_positive_args_names_the_first_bad_keyword_in_order():
    layers.positive_args("Block", channels=3, rate=np.int64(2))
    with pytest.raises(ValueError, match=r"Block\(rate=0\): rate takes a whole number >= 1"):
        layers.positive_args("Block", channels=3, rate=0, width=-1)
    with pytest.raises(TypeError, match=r"Block\(channels=2.5\)"):
        layers.positive_args("Block", channels=2.5, rate=0)


# --- atrous separable convolution (DeepLab-v3+, Sec. 3.1-3.2) ------------------------


def test_depthwise_conv_is_a_grouped_conv_and_a_loop_of_one_channel_convs():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 11, 9)
    depthwise = nn.Conv2d(3, 3, 3, padding=2, dilation=2, groups=3, bias=False)
    by_channel = torch.cat(
        [
            F.conv2d(x[:, c : c + 1], depthwise.weight[c : c + 1], padding=2, dilation=2)
            for c in range(3)
        ],
        dim=1,
    )
    with torch.no_grad():
        torch.testing.assert_close(depthwise(x), by_channel)
    assert depthwise.weight.shape == (3, 1, 3, 3)  # one 3x3 filter per channel: 27 weights


def test_depthwise_then_pointwise_is_one_conv_with_the_composed_weights():
    # without BN and ReLU in between, pointwise(depthwise(x)) is a dense conv whose
    # weight is W[o, c] = P[o, c] * D[c]: a rank-1 kernel per (output, input) pair
    torch.manual_seed(1)
    x = torch.randn(1, 4, 10, 12, dtype=torch.float64)
    depth = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    point = torch.randn(5, 4, 1, 1, dtype=torch.float64)
    two_steps = F.conv2d(F.conv2d(x, depth, padding=3, dilation=3, groups=4), point)
    composed = point[:, :, 0, 0, None, None] * depth[None, :, 0]
    assert composed.shape == (5, 4, 3, 3)
    torch.testing.assert_close(two_steps, F.conv2d(x, composed, padding=3, dilation=3))


def test_atrous_separable_conv_layout_and_parameter_count_by_hand():
    sep = layers.AtrousSeparableConv2d(304, 256, dilation=6)
    depthwise, pointwise = sep.depthwise[0], sep.pointwise[0]
    assert depthwise.groups == 304 and depthwise.weight.shape == (304, 1, 3, 3)
    assert depthwise.dilation == (6, 6) and depthwise.padding == (6, 6)
    assert pointwise.weight.shape == (256, 304, 1, 1)
    leaves = [type(m) for m in sep.modules() if not list(m.children())]
    assert leaves == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2  # BN and ReLU after each conv
    assert list(sep.state_dict())[:2] == ["depthwise.0.weight", "depthwise.1.weight"]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # convs 9 * 304 + 304 * 256, BNs 2 * 304 + 2 * 256
    assert count(sep) == 2_736 + 77_824 + 608 + 512 == 81_680
    assert count(layers.ConvBNReLU(304, 256, 3)) == 9 * 304 * 256 + 512 == 700_928
    assert sep(torch.randn(2, 304, 9, 7)).shape == (2, 256, 9, 7)


def test_atrous_separable_conv_multiply_adds_by_hand():
    from dlcourse.costs import count_flops

    sep = layers.AtrousSeparableConv2d(8, 16, dilation=2)
    dense = layers.ConvBNReLU(8, 16, 3, dilation=2)
    pixels = 10 * 10
    # count_flops feeds a 3-channel image: wrap each block behind a fixed 3 -> 8 1x1 conv
    stem = 2 * 3 * 8 * pixels
    assert (
        count_flops(nn.Sequential(nn.Conv2d(3, 8, 1), sep), (10, 10)) - stem
        == 2 * (9 * 8 + 8 * 16) * pixels
    )
    assert (
        count_flops(nn.Sequential(nn.Conv2d(3, 8, 1), dense), (10, 10)) - stem
        == 2 * 9 * 8 * 16 * pixels
    )


def test_lesson_05_separable_block_and_trimap_by_hand_are_the_packages():
    from dlcourse.env import project_root
    from dlcourse.metrics import boundary_band, trimap_iou
    from dlcourse.notebook_tools import notebook_definitions

    lesson = notebook_definitions(project_root() / "notebooks" / "05_upsampling_and_decoder.ipynb")
    mine = randomize_(lesson["SeparableBlock"](6, 10, 4)).eval()
    package = layers.AtrousSeparableConv2d(6, 10, dilation=4).eval()
    package.load_state_dict(mine.state_dict(), strict=True)
    x = torch.randn(2, 6, 12, 9)
    with torch.no_grad():
        torch.testing.assert_close(package(x), mine(x))

    torch.manual_seed(3)
    target = torch.randint(0, 3, (20, 24))
    target[5:9, 4:15] = 255
    pred = torch.randint(0, 3, (20, 24))
    for b in (0, 1, 3):
        band = lesson["band_by_hand"](target, b)
        assert torch.equal(band, boundary_band(target, b))
        assert lesson["iou_in_band"](pred, target, band, 3) == pytest.approx(
            trimap_iou(pred, target, b, 3)
        )
