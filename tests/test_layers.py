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


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: layers.ASPP(64, 12), TypeError, r"ASPP\(atrous_rates=12\).*sequence.*\(6, 12, 18\)"),
        (lambda: layers.ASPP(64, "6"), TypeError, r"atrous_rates='6'.*sequence"),
        (lambda: layers.ASPP(64, None), TypeError, "atrous_rates=None"),
        (lambda: layers.ASPP(64, ()), ValueError, "one or more"),
        (lambda: layers.ASPP(64, (6, 12.5)), ValueError, "whole number"),
        (lambda: layers.ASPP(64, (0, 6)), ValueError, "whole number >= 1"),
        (lambda: layers.ASPP((64,), (6,)), TypeError, r"in_channels=\(64,\)"),
        (lambda: layers.ASPP(64, (6,), out_channels=0), ValueError, "out_channels=0"),
        (lambda: layers.ASPPv2(64, 21, 6), TypeError, r"ASPPv2\(atrous_rates=6\).*\(6, 12, 18, 24\)"),
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


def test_plot_aspp_shows_every_tap_and_the_aspp_diagram_reads_the_module():
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    from dlcourse.widgets import aspp_taps, plot_aspp, plot_aspp_diagram

    photo = np.zeros((96, 80, 3), dtype=np.uint8)
    fig = plot_aspp(photo, rates=(1, 2, 9), output_stride=16)
    ax = fig.axes[0]
    corners, _ = aspp_taps(9, 16, (48, 40), (96, 80))
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= corners[:, 1].min() and corners[:, 1].max() + 16 <= x1  # no tap off the canvas
    assert y0 <= corners[:, 0].min() and corners[:, 0].max() + 16 <= y1
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[-2].startswith("1x1") and labels[-1].startswith("image pooling")
    plt.close(fig)

    fig = plot_aspp_diagram(layers.ASPP(40, (3, 5)))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "features\n40 channels" in texts and "concat\n1024" in texts
    assert "3x3 conv, rate 5\n-> 256" in texts and any(t.startswith("image pooling") for t in texts)
    plt.close(fig)
    fig = plot_aspp_diagram(layers.ASPPv2(40, 7, (2, 4)))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "sum" in texts and "7 class scores" in texts and "3x3 conv, rate 4\n-> 7" in texts
    plt.close(fig)
    with pytest.raises(TypeError, match="ASPP or ASPPv2"):
        plot_aspp_diagram(nn.Conv2d(1, 1, 1))
