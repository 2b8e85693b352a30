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
    features = {"low": torch.randn(2, 24, 16, 16), "out": torch.randn(2, 64, 4, 4)}
    assert head.uses_features
    assert head.decoder[0][0].in_channels == 256 + 48
    assert head(features).shape == (2, 5, 16, 16)


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
    features = {"low": torch.randn(2, 8, 16, 16), "out": torch.randn(2, 32, 4, 4)}
    with torch.no_grad():
        torch.testing.assert_close(head.eval()(features), decoder(features))


def test_aspp_taps_by_hand():
    from dlcourse.widgets import aspp_taps

    corners, inside = aspp_taps(36, 8, center=(256, 256), image_size=(513, 513))
    assert inside.tolist() == [False] * 4 + [True] + [False] * 4  # 65x65 map: only the centre
    assert corners[4].tolist() == [256, 256] and corners[0].tolist() == [-32, -32]
    _, inside = aspp_taps(6, 16, center=(300, 256), image_size=(600, 512))
    assert inside.all()
    with pytest.raises(ValueError, match="rate"):
        aspp_taps(0, 16, (0, 0), (64, 64))


def test_plot_aspp_and_its_static_explorer():
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    from dlcourse.widgets import aspp_explorer, plot_aspp

    photo = np.zeros((96, 80, 3), dtype=np.uint8)
    fig = plot_aspp(photo, rates=(1, 2, 9), output_stride=16)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert "rate 9: span 304 px,\n1 of 9 taps on the feature map" in labels
    assert labels[-1].startswith("image pooling")
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        plot_aspp(photo, center=(200, 10))
    fig = aspp_explorer(photo, interactive=False)
    assert "output stride 16: 6x5 feature cells" in fig.axes[0].get_title()
    plt.close(fig)
