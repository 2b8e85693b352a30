"""Tests of dlcourse.layers: ASPP and heads against torchvision, upsampling, frozen BN."""

import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_
from torch import nn
from torchvision.models.segmentation import deeplabv3 as tv_deeplab
from torchvision.models.segmentation import fcn as tv_fcn

from dlcourse import layers


@pytest.mark.parametrize(("kernel", "dilation"), [(1, 1), (3, 1), (3, 2), (3, 6), (5, 3)])
def test_conv_bn_relu_keeps_the_size_at_stride_1(kernel, dilation):
    block = layers.ConvBNReLU(3, 4, kernel, dilation=dilation)
    assert block[0].padding == (dilation * (kernel - 1) // 2,) * 2
    assert block(torch.randn(2, 3, 13, 10)).shape == (2, 4, 13, 10)


def test_conv_bn_relu_rejects_an_even_kernel():
    with pytest.raises(ValueError, match="odd kernel"):
        layers.ConvBNReLU(3, 4, 2)


def test_aspp_is_torchvisions_aspp():
    ours = layers.ASPP(16, (2, 4, 6), out_channels=8).eval()
    theirs = randomize_(tv_deeplab.ASPP(16, [2, 4, 6], out_channels=8)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_aspp_without_pooling_has_one_branch_less():
    aspp = layers.ASPP(16, (6, 12, 18), out_channels=8, pooling=False)
    assert len(aspp.convs) == 4
    assert aspp.project[0].in_channels == 4 * 8
    assert [branch[0].dilation for branch in aspp.convs] == [(1, 1), (6, 6), (12, 12), (18, 18)]
    with pytest.raises(ValueError, match="atrous_rates"):
        layers.ASPP(16, ())


def test_deeplab_and_fcn_heads_are_torchvisions():
    x = torch.randn(2, 32, 7, 7)
    for ours, theirs in [
        (layers.DeepLabHead(32, 5, (1, 2, 3)), tv_deeplab.DeepLabHead(32, 5, (1, 2, 3))),
        (layers.FCNHead(32, 5), tv_fcn.FCNHead(32, 5)),
    ]:
        ours.load_state_dict(randomize_(theirs).state_dict(), strict=True)
        ours.eval(), theirs.eval()
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_aspp_v2_sums_one_classifier_per_rate():
    head = randomize_(layers.ASPPv2(4, 3, (1, 2))).eval()
    x = torch.randn(1, 4, 10, 10)
    expected = sum(
        F.conv2d(x, conv.weight, conv.bias, padding=rate, dilation=rate)
        for conv, rate in zip(head.convs, (1, 2), strict=True)
    )
    torch.testing.assert_close(head(x), expected)
    assert head(x).shape == (1, 3, 10, 10)


def test_largefov_head_parameter_count_and_dilation():
    head = layers.LargeFOVHead(512, 21)
    assert head[0].dilation == (12, 12) and head[0].padding == (12, 12)
    fc6, fc7, fc8 = 512 * 1024 * 9 + 1024, 1024 * 1024 + 1024, 1024 * 21 + 21
    assert sum(p.numel() for p in head.parameters()) == fc6 + fc7 + fc8 == 5_790_741
    assert head(torch.randn(1, 512, 5, 5)).shape == (1, 21, 5, 5)


def test_v3plus_head_decodes_at_the_low_level_resolution():
    head = layers.DeepLabV3PlusHead(64, 24, 5, (1, 2, 3)).eval()
    out, low = torch.randn(2, 64, 4, 4), torch.randn(2, 24, 16, 16)
    assert head.decoder[0][0].in_channels == 256 + 48
    assert head.decoder[2].in_channels == 256
    assert head(out, low).shape == (2, 5, 16, 16)


def test_heads_read_the_aspp_width_from_the_module():
    from dlcourse.features import out_channels

    assert out_channels(layers.ASPP(16, (1, 2), out_channels=8)) == 8
    head = layers.DeepLabHead(16, 3, (1, 2))
    assert [head[1].in_channels, head[1].out_channels, head[2].num_features] == [256, 256, 256]
    assert head[4].in_channels == 256 and head[4].out_channels == 3


def test_image_pooling_refuses_a_batch_of_one_in_train_mode_only_with_batch_norm():
    pool = layers.ASPPPooling(8, 4)
    x = torch.randn(1, 8, 5, 5)
    with pytest.raises(ValueError, match="batch of 1 image in train mode.*model.eval"):
        pool.train()(x)
    assert pool.eval()(x).shape == (1, 4, 5, 5)
    assert pool.train()(torch.randn(2, 8, 5, 5)).shape == (2, 4, 5, 5)
    layers.freeze_batchnorm(pool)  # running statistics: any batch works
    assert pool.train()(x).shape == (1, 4, 5, 5)


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


def test_lessons_04_and_05_heads_are_the_package_heads():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    folder = project_root() / "notebooks"
    aspp = notebook_definitions(folder / "04_aspp.ipynb")["MyASPP"](16, (1, 2, 3), 8).eval()
    package = layers.ASPP(16, (1, 2, 3), 8).eval()
    package.load_state_dict(randomize_(aspp).state_dict(), strict=True)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(package(x), aspp(x))

    decoder = notebook_definitions(folder / "05_upsampling_and_decoder.ipynb")["Decoder"](32, 8, 3)
    head = layers.DeepLabV3PlusHead(32, 8, 3)
    head.load_state_dict(randomize_(decoder.eval()).state_dict(), strict=True)
    out, low = torch.randn(2, 32, 4, 4), torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(head.eval()(out, low), decoder(out, low))


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: layers.ASPP(64, 12),
            TypeError,
            r"ASPP\(atrous_rates=12\).*sequence.*\(6, 12, 18\)",
        ),
        (lambda: layers.ASPP(64, "6"), TypeError, r"atrous_rates='6'.*sequence"),
        (lambda: layers.ASPP(64, None), TypeError, "atrous_rates=None"),
        (lambda: layers.ASPP(64, ()), ValueError, "one or more"),
        (lambda: layers.ASPP(64, (6, 12.5)), ValueError, "whole number"),
        (lambda: layers.ASPP(64, (0, 6)), ValueError, "whole number >= 1"),
        (lambda: layers.ASPP((64,), (6,)), TypeError, r"in_channels=\(64,\)"),
        (lambda: layers.ASPP(64, (6,), out_channels=0), ValueError, "out_channels=0"),
        (
            lambda: layers.ASPPv2(64, 21, 6),
            TypeError,
            r"ASPPv2\(atrous_rates=6\).*\(6, 12, 18, 24\)",
        ),
        (lambda: layers.ASPPv2(64, 0), ValueError, "num_classes=0"),
        (lambda: layers.DeepLabHead(64, 21, 12), TypeError, r"DeepLabHead\(atrous_rates=12\)"),
        (lambda: layers.DeepLabHead(64, 0), ValueError, "num_classes=0"),
        (lambda: layers.DeepLabV3PlusHead(64, 24, 21, 6), TypeError, "atrous_rates=6"),
        (lambda: layers.ConvBNReLU(4, 4, 3, dilation=0), ValueError, "dilation=0"),
        (lambda: layers.ConvBNReLU(4, 4, 3.0), TypeError, "kernel_size=3.0"),
        (lambda: layers.FCNHead(2, 21), ValueError, "at least 4 channels"),
        (lambda: layers.LargeFOVHead(512, 21, dilation=0), ValueError, "dilation=0"),
        (lambda: layers.LearnedUpsample(4, 3), ValueError, r"LearnedUpsample\(factor=3\)"),
        (lambda: layers.bilinear_kernel(0, 2), ValueError, "channels=0"),
    ],
)
def test_bad_arguments_get_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_rates_may_be_any_sequence_of_whole_numbers():
    import numpy as np

    assert layers.ASPP(8, [6, 12]).atrous_rates == (6, 12)
    assert layers.ASPP(8, np.array([3, 6])).atrous_rates == (3, 6)
    assert layers.ASPPv2(8, 2, (np.int64(2),)).atrous_rates == (2,)


def test_builders_pass_bad_rates_on_with_a_clear_error():
    from dlcourse.models import build_model

    with torch.device("meta"):
        with pytest.raises(TypeError, match="atrous_rates=12"):
            build_model("deeplabv3_resnet50", atrous_rates=12)
        with pytest.raises(TypeError, match="atrous_rates=6"):
            build_model("deeplabv2_resnet101", atrous_rates=6)
        with pytest.raises(TypeError, match="atrous_rates=6"):
            build_model("deeplabv3plus_resnet18", atrous_rates=6)


def test_paper_head_is_torchvisions_head_without_its_3x3_layer():
    # DeepLab-v3, section 3.3: ASPP (projection included) -> 1x1 conv to the classes
    tv_head = layers.DeepLabHead(2048, 21, (12, 24, 36))
    paper = nn.Sequential(layers.ASPP(2048, (12, 24, 36)), nn.Conv2d(256, 21, 1))
    extra = sum(p.numel() for i in (1, 2, 3) for p in tv_head[i].parameters())
    assert extra == 256 * 256 * 9 + 2 * 256
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(tv_head) - count(paper) == extra


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


def test_separable_aspp_and_head_swap_only_the_3x3_convs():
    dense, sep = layers.ASPP(64, (2, 4)), layers.ASPP(64, (2, 4), separable=True)
    assert [type(b) for b in sep.convs] == [
        layers.ConvBNReLU,
        layers.AtrousSeparableConv2d,
        layers.AtrousSeparableConv2d,
        layers.ASPPPooling,
    ]
    assert [b.depthwise[0].dilation for b in sep.convs[1:3]] == [(2, 2), (4, 4)]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    per_branch = (9 * 64 * 256 + 2 * 256) - (9 * 64 + 2 * 64 + 64 * 256 + 2 * 256)
    assert count(dense) - count(sep) == 2 * per_branch
    x = torch.randn(2, 64, 9, 9)
    assert sep(x).shape == dense(x).shape == (2, 256, 9, 9)

    head = layers.DeepLabV3PlusHead(64, 24, 5, (1, 2, 3), separable=True).eval()
    assert [type(m) for m in head.decoder] == [layers.AtrousSeparableConv2d] * 2 + [nn.Conv2d]
    assert head.decoder[0].depthwise[0].in_channels == 256 + 48
    assert head(torch.randn(1, 64, 4, 4), torch.randn(1, 24, 16, 16)).shape == (1, 5, 16, 16)


def test_separable_false_keeps_torchvisions_keys():
    assert list(layers.ASPP(16, (2, 4), separable=False).state_dict()) == list(
        tv_deeplab.ASPP(16, [2, 4]).state_dict()
    )
    with pytest.raises(TypeError, match=r"separable='yes'"):
        layers.ASPP(16, (2,), separable="yes")
    with pytest.raises(ValueError, match=r"AtrousSeparableConv2d\(dilation=0\)"):
        layers.AtrousSeparableConv2d(4, 4, dilation=0)
    with pytest.raises(ValueError, match="odd kernel"):
        layers.AtrousSeparableConv2d(4, 4, kernel_size=2)


@pytest.mark.parametrize(
    ("kernel", "rate", "channels", "fc6_weights"),
    [
        (7, 4, 4096, 7 * 7 * 512 * 4096),
        (4, 4, 4096, 4 * 4 * 512 * 4096),
        (4, 8, 4096, 4 * 4 * 512 * 4096),
        (3, 12, 1024, 3 * 3 * 512 * 1024),
    ],
)
def test_largefov_head_builds_the_fc6_variants_of_deeplab_v1_table_2(
    kernel, rate, channels, fc6_weights
):
    # arXiv:1412.7062 table 2: fc6 kernel and input stride (rate); fc7 and fc8 are 1x1 convs
    with torch.device("meta"):
        head = layers.LargeFOVHead(512, 21, dilation=rate, channels=channels, kernel_size=kernel)
    fc6 = head[0]
    assert (fc6.kernel_size, fc6.dilation) == ((kernel, kernel), (rate, rate))
    assert fc6.padding == (rate * (kernel - 1) // 2,) * 2  # 18, 6, 12, 12
    expected = fc6_weights + channels + channels * channels + channels + channels * 21 + 21
    assert sum(p.numel() for p in head.parameters()) == expected
    with torch.device("meta"):
        assert head(torch.empty(1, 512, 11, 13)).shape == (1, 21, 11, 13)  # the size is kept


def test_largefov_head_fc6_is_a_dilated_conv_and_rejects_uncentred_kernels():
    torch.manual_seed(0)
    head = layers.LargeFOVHead(8, 3, dilation=4, channels=6, kernel_size=4).eval()
    x = torch.randn(1, 8, 9, 9)
    fc6 = F.conv2d(x, head[0].weight, head[0].bias, padding=6, dilation=4)
    expected = head[6](F.relu(head[3](F.relu(fc6))))
    torch.testing.assert_close(head(x), expected)
    default = layers.LargeFOVHead(512, 21)  # unchanged defaults: 3x3, rate 12, 1024 channels
    assert (default[0].kernel_size, default[0].dilation, default[0].out_channels) == (
        (3, 3),
        (12, 12),
        1024,
    )
    with pytest.raises(
        ValueError, match=r"LargeFOVHead\(kernel_size=4, dilation=1\).*even dilation"
    ):
        layers.LargeFOVHead(512, 21, dilation=1, kernel_size=4)
    with pytest.raises(ValueError, match=r"LargeFOVHead\(kernel_size=0\)"):
        layers.LargeFOVHead(512, 21, kernel_size=0)


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
