"""Tests of dlcourse.heads: the FCN, LargeFOV and DeepLab-v3+ heads, against torchvision and by hand."""

import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_
from torch import nn
from torchvision.models.segmentation import fcn as tv_fcn

from dlcourse.heads import DeepLabV3PlusHead, FCNHead, LargeFOVHead
from dlcourse.layers import AtrousSeparableConv2d


def test_fcn_head_is_torchvisions():
    x = torch.randn(2, 32, 7, 7)
    ours, theirs = FCNHead(32, 5), tv_fcn.FCNHead(32, 5)
    ours.load_state_dict(randomize_(theirs).state_dict(), strict=True)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_largefov_head_parameter_count_and_dilation():
    head = LargeFOVHead(512, 21)
    assert head[0].dilation == (12, 12) and head[0].padding == (12, 12)
    fc6, fc7, fc8 = 512 * 1024 * 9 + 1024, 1024 * 1024 + 1024, 1024 * 21 + 21
    assert sum(p.numel() for p in head.parameters()) == fc6 + fc7 + fc8 == 5_790_741
    assert head(torch.randn(1, 512, 5, 5)).shape == (1, 21, 5, 5)


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
        head = LargeFOVHead(512, 21, dilation=rate, channels=channels, kernel_size=kernel)
    fc6 = head[0]
    assert (fc6.kernel_size, fc6.dilation) == ((kernel, kernel), (rate, rate))
    assert fc6.padding == (rate * (kernel - 1) // 2,) * 2  # 18, 6, 12, 12
    expected = fc6_weights + channels + channels * channels + channels + channels * 21 + 21
    assert sum(p.numel() for p in head.parameters()) == expected
    with torch.device("meta"):
        assert head(torch.empty(1, 512, 11, 13)).shape == (1, 21, 11, 13)  # the size is kept


def test_largefov_head_fc6_is_a_dilated_conv_and_rejects_uncentred_kernels():
    torch.manual_seed(0)
    head = LargeFOVHead(8, 3, dilation=4, channels=6, kernel_size=4).eval()
    x = torch.randn(1, 8, 9, 9)
    fc6 = F.conv2d(x, head[0].weight, head[0].bias, padding=6, dilation=4)
    expected = head[6](F.relu(head[3](F.relu(fc6))))
    torch.testing.assert_close(head(x), expected)
    default = LargeFOVHead(512, 21)  # unchanged defaults: 3x3, rate 12, 1024 channels
    assert (default[0].kernel_size, default[0].dilation, default[0].out_channels) == (
        (3, 3),
        (12, 12),
        1024,
    )
    with pytest.raises(
        ValueError, match=r"LargeFOVHead\(kernel_size=4, dilation=1\).*even dilation"
    ):
        LargeFOVHead(512, 21, dilation=1, kernel_size=4)
    with pytest.raises(ValueError, match=r"LargeFOVHead\(kernel_size=0\)"):
        LargeFOVHead(512, 21, kernel_size=0)


def test_v3plus_head_decodes_at_the_low_level_resolution():
    head = DeepLabV3PlusHead(64, 24, 5, (1, 2, 3)).eval()
    out, low = torch.randn(2, 64, 4, 4), torch.randn(2, 24, 16, 16)
    assert head.decoder[0][0].in_channels == 256 + 48
    assert head.decoder[2].in_channels == 256
    assert head(out, low).shape == (2, 5, 16, 16)


def test_separable_v3plus_head_swaps_only_the_3x3_convs():
    head = DeepLabV3PlusHead(64, 24, 5, (1, 2, 3), separable=True).eval()
    assert [type(m) for m in head.decoder] == [AtrousSeparableConv2d] * 2 + [nn.Conv2d]
    assert head.decoder[0].depthwise[0].in_channels == 256 + 48
    assert head(torch.randn(1, 64, 4, 4), torch.randn(1, 24, 16, 16)).shape == (1, 5, 16, 16)


def test_lesson_05_decoder_is_the_package_head():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    folder = project_root() / "notebooks"
    decoder = notebook_definitions(folder / "05_upsampling_and_decoder.ipynb")["Decoder"](32, 8, 3)
    head = DeepLabV3PlusHead(32, 8, 3)
    head.load_state_dict(randomize_(decoder.eval()).state_dict(), strict=True)
    out, low = torch.randn(2, 32, 4, 4), torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(head.eval()(out, low), decoder(out, low))


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: DeepLabV3PlusHead(64, 24, 21, 6), TypeError, "atrous_rates=6"),
        (lambda: FCNHead(2, 21), ValueError, "at least 4 channels"),
        (lambda: LargeFOVHead(512, 21, dilation=0), ValueError, "dilation=0"),
    ],
)
def test_bad_arguments_get_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()
