"""Tests of dlcourse.backbones: torchvision layouts, output strides, dilation rules."""

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from dlcourse import backbones


def dilations(module: nn.Module) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(stride, dilation) of every conv with a kernel larger than 1, in order."""
    return [
        (m.stride, m.dilation)
        for m in module.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)
    ]


def test_check_output_stride_names_the_allowed_values():
    assert backbones.check_output_stride(16) == 16
    with pytest.raises(ValueError, match=r"output_stride=12 .*\(8, 16, 32\)"):
        backbones.check_output_stride(12)
    assert backbones.stage_plan(8) == [False, True, True]
    assert backbones.stage_plan(32) == [False, False, False]


@pytest.mark.parametrize("depth", [18, 50, 101])
def test_resnet_keys_and_shapes_are_torchvisions(depth):
    ours = backbones.resnet(depth).state_dict()
    theirs = getattr(torchvision.models, f"resnet{depth}")().state_dict()
    theirs = {k: v for k, v in theirs.items() if not k.startswith("fc.")}
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_resnet50_matches_torchvision_with_dilation(output_stride):
    ours = backbones.resnet(50, output_stride=output_stride).eval()
    theirs = torchvision.models.resnet50(
        replace_stride_with_dilation=backbones.stage_plan(output_stride)
    )
    theirs.load_state_dict(ours.state_dict(), strict=False)
    getter = IntermediateLayerGetter(theirs, {"layer1": "low", "layer3": "aux", "layer4": "out"})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        mine, reference = ours(x), getter.eval()(x)
    for name in ("low", "aux", "out"):
        torch.testing.assert_close(mine[name], reference[name], rtol=0, atol=1e-5)
    assert mine["out"].shape == (1, 2048, 64 // output_stride, 64 // output_stride)
    assert mine["low"].shape[-1] == 16
    assert dilations(ours) == dilations(theirs)


def test_first_block_of_a_dilated_stage_keeps_the_previous_dilation():
    net = backbones.resnet(50, output_stride=8)
    assert net.layer3[0].conv2.dilation == (1, 1) and net.layer3[0].conv2.stride == (1, 1)
    assert net.layer3[1].conv2.dilation == (2, 2)
    assert net.layer4[0].conv2.dilation == (2, 2)
    assert net.layer4[2].conv2.dilation == (4, 4)
    assert net.layer3[0].downsample[0].stride == (1, 1)


def test_multi_grid_multiplies_the_last_stage_rates():
    net = backbones.resnet(50, output_stride=16, multi_grid=(1, 2, 4))
    assert [block.conv2.dilation[0] for block in net.layer4] == [2, 4, 8]
    net = backbones.resnet(50, output_stride=8, multi_grid=(1, 2, 4))
    assert [block.conv2.dilation[0] for block in net.layer4] == [4, 8, 16]
    with pytest.raises(ValueError, match="one rate per block"):
        backbones.resnet(50, multi_grid=(1, 2))


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_dilated_resnet18_feature_strides(output_stride):
    net = backbones.resnet(18, output_stride=output_stride)
    assert net.channels == {"low": 64, "aux": 256, "out": 512}
    assert net.output_stride == output_stride
    features = net(torch.randn(2, 3, 64, 64))
    assert features["low"].shape == (2, 64, 16, 16)
    aux_stride = min(16, output_stride)
    assert features["aux"].shape == (2, 256, 64 // aux_stride, 64 // aux_stride)
    assert features["out"].shape == (2, 512, 64 // output_stride, 64 // output_stride)


def test_torchvision_refuses_a_dilated_basic_block_and_we_do_not():
    with pytest.raises(NotImplementedError):
        torchvision.models.resnet18(replace_stride_with_dilation=[False, True, True])
    net = backbones.resnet(18, output_stride=8)
    assert net.layer4[1].conv1.dilation == (4, 4) and net.layer4[1].conv1.padding == (4, 4)
    with pytest.raises(ValueError, match="depth"):
        backbones.resnet(26)


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_resnet_is_a_denser_sampling_of_the_strided_one(depth, output_stride):
    """The a trous identity: same weights, OS16/OS8 sampled every 2nd/4th cell = OS32."""
    torch.manual_seed(depth)
    strided = backbones.resnet(depth, output_stride=32).eval()
    for module in strided.modules():  # non-trivial statistics, so BN is not the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    dilated = backbones.resnet(depth, output_stride=output_stride).eval()
    dilated.load_state_dict(strided.state_dict())
    # float64: ResNet-101's random-weight activations reach 1e6, where float32 rounding
    # alone differs by 1; in float64 the identity holds to the last digit.
    strided, dilated = strided.double(), dilated.double()
    # 32k + 1 pixels: every stride-2 layer keeps position 0 and an exact sub-grid
    x = torch.randn(1, 3, 65, 65, dtype=torch.float64)
    with torch.no_grad():
        coarse, dense = strided(x)["out"], dilated(x)["out"]
    step = 32 // output_stride
    assert dense.shape[-1] == (coarse.shape[-1] - 1) * step + 1
    torch.testing.assert_close(dense[..., ::step, ::step], coarse, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("depth", [18, 50])
def test_dilation_leaves_the_receptive_field_unchanged(depth):
    from dlcourse.rf import chain_layers, receptive_field

    sizes = {
        os: receptive_field(chain_layers(backbones.resnet(depth, output_stride=os))).size
        for os in (32, 16, 8)
    }
    expected = {18: 435, 50: 427}[depth]
    assert sizes == {32: expected, 16: expected, 8: expected}


def test_first_block_of_a_dilated_basic_stage_dilates_its_second_conv():
    net = backbones.resnet(18, output_stride=8)
    first = net.layer3[0]
    assert first.conv1.stride == (1, 1) and first.conv1.dilation == (1, 1)
    assert first.conv2.dilation == (2, 2) and first.conv2.padding == (2, 2)
    assert net.layer4[0].conv1.dilation == (2, 2) and net.layer4[0].conv2.dilation == (4, 4)


def test_make_divisible_by_hand():
    assert backbones.make_divisible(18) == 24  # 16 would lose more than 10%
    assert backbones.make_divisible(30) == 32
    assert backbones.make_divisible(240) == 240


def test_mobilenet_v3_large_is_torchvisions_dilated_features():
    ours = backbones.MobileNetV3Large(output_stride=16)
    theirs = torchvision.models.mobilenet_v3_large(dilated=True).features
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape for k in a)
    assert dilations(ours) == dilations(theirs)
    assert ours.positions == {"low": 3, "aux": 4, "out": 16}
    assert ours.channels == {"low": 24, "aux": 40, "out": 960}


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_mobilenet_feature_strides(output_stride):
    net = backbones.MobileNetV3Large(output_stride=output_stride).eval()
    with torch.no_grad():
        features = net(torch.randn(1, 3, 64, 64))
    assert features["low"].shape == (1, 24, 16, 16)
    assert features["aux"].shape == (1, 40, 8, 8)
    assert features["out"].shape == (1, 960, 64 // output_stride, 64 // output_stride)


def test_backbones_are_feature_getters_with_channels_read_from_their_layers():
    from dlcourse.features import FeatureGetter

    with torch.device("meta"):
        res50, vgg = backbones.resnet(50, output_stride=8), backbones.VGG16(output_stride=8)
    assert isinstance(res50, FeatureGetter) and isinstance(vgg.features, FeatureGetter)
    assert res50.return_layers == {"layer1": "low", "layer3": "aux", "layer4": "out"}
    assert res50.channels == {"low": 256, "aux": 1024, "out": 2048}  # 64, 256, 512 planes x 4
    assert vgg.features.return_layers == {"9": "low", "30": "out"}  # pool2 (stride 4), pool5
    assert vgg.channels == {"low": 128, "out": 512}
    assert [type(m).__name__ for m in vgg.features][9] == "MaxPool2d"
    assert list(backbones.MobileNetV3Large().positions.values()) == [3, 4, 16]


def test_vgg16_keys_match_torchvision_and_output_stride_8_dilates_conv5():
    ours = backbones.VGG16(output_stride=8)
    theirs = {k: v.shape for k, v in torchvision.models.vgg16().features.state_dict().items()}
    assert {k.removeprefix("features."): v.shape for k, v in ours.state_dict().items()} == theirs
    assert [m.dilation[0] for m in ours.features if isinstance(m, nn.Conv2d)] == [1] * 10 + [2] * 3
    features = ours(torch.randn(1, 3, 65, 65))
    assert features["low"].shape == (1, 128, 17, 17)
    assert features["out"].shape == (1, 512, 9, 9)
    with torch.no_grad():
        assert backbones.VGG16(output_stride=32)(torch.randn(1, 3, 64, 64))["out"].shape[-1] == 2


def test_lesson_03_bottleneck_is_the_package_block():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    lesson = notebook_definitions(project_root() / "notebooks" / "03_backbone.ipynb")
    mine = lesson["Bottleneck"](64, 32, stride=2, dilation=1, downsample=None).eval()
    package = backbones.Bottleneck(64, 32, stride=2, dilation=1).eval()
    package.load_state_dict(mine.state_dict(), strict=True)
    x = torch.randn(1, 64, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(mine.conv2(mine.conv1(x)), package.conv2(package.conv1(x)))
    assert mine.conv2.stride == package.conv2.stride == (2, 2)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: backbones.resnet(50, multi_grid=2), TypeError, r"multi_grid=2.*\(1, 2, 4\)"),
        (lambda: backbones.resnet(50, multi_grid="124"), TypeError, "multi_grid='124'"),
        (lambda: backbones.resnet(50, multi_grid=(0, 1, 2)), ValueError, "whole number >= 1"),
        (lambda: backbones.resnet(50, multi_grid=(1, 2.5, 4)), ValueError, "whole number"),
        (lambda: backbones.resnet(50, multi_grid=(1, 2)), ValueError, "one rate per block"),
        (lambda: backbones.resnet("50"), ValueError, r"depth='50'.*\(18, 34, 50, 101\)"),
        (lambda: backbones.resnet(50, output_stride=True), ValueError, "output_stride=True"),
        (lambda: backbones.ResNet(backbones.Bottleneck, (3, 4, 6)), ValueError, "exactly 4"),
        (lambda: backbones.ResNet(backbones.Bottleneck, 3), TypeError, r"layers=3.*\(3, 4, 6, 3\)"),
        (lambda: backbones.ResNet(nn.Conv2d, (1, 1, 1, 1)), TypeError, "BasicBlock or Bottleneck"),
        (lambda: backbones.Bottleneck(64, 64, dilation=0), ValueError, r"Bottleneck\(dilation=0\)"),
        (lambda: backbones.BasicBlock(64, 64, stride=0), ValueError, r"BasicBlock\(stride=0\)"),
        (lambda: backbones.BasicBlock(64, 64, first_dilation=0.5), TypeError, "first_dilation"),
        (lambda: backbones.make_divisible(10, 0), ValueError, "divisor=0"),
        (lambda: backbones.MobileNetV3Large(output_stride=4), ValueError, "output_stride=4"),
    ],
)
def test_bad_arguments_get_a_clear_error(build, error, message):
    with torch.device("meta"), pytest.raises(error, match=message):
        build()


def test_builders_pass_bad_multi_grid_on_with_a_clear_error():
    from dlcourse.models import build_model

    with torch.device("meta"), pytest.raises(TypeError, match="multi_grid=2"):
        build_model("deeplabv3_resnet101", output_stride=16, multi_grid=2)


def test_multi_grid_rates_at_output_stride_16_still_grid():
    # DeepLab-v3 section 3.2: unit rates (1, 2, 4) times the stage dilation 2 = (2, 4, 8)
    from dlcourse.taps import footprint

    with torch.device("meta"):
        net = backbones.resnet(101, output_stride=16, multi_grid=(1, 2, 4))
    rates = [b.conv2.dilation[0] for b in net.layer4]
    assert rates == [2, 4, 8]
    reached = footprint(rates)
    assert reached.shape == (29, 29) and reached.sum() == 15 * 15  # only even offsets
    assert footprint((1, 2, 4)).all()  # the same stack on the undilated grid has no holes


def test_dilated_mobilenet_gives_the_formerly_strided_block_the_new_dilation():
    # as torchvision's mobilenet_v3_large(dilated=True): unlike ResNet's rule
    net = backbones.MobileNetV3Large(output_stride=16)
    depthwise = [
        m for m in net.get_submodule("13").modules() if isinstance(m, nn.Conv2d) and m.groups > 1
    ]
    assert [(m.stride[0], m.dilation[0]) for m in depthwise] == [(1, 2)]
    reference = torchvision.models.mobilenet_v3_large(dilated=True).features[13]
    theirs = [m for m in reference.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [(m.stride[0], m.dilation[0]) for m in theirs] == [(1, 2)]


def test_lesson_03_stage_conversion_and_mobilenet_block_are_the_package_ones():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    lesson = notebook_definitions(project_root() / "notebooks" / "03_backbone.ipynb")
    for output_stride in (16, 8):
        with torch.device("meta"):
            by_hand = lesson["dilate_stages"](
                backbones.resnet(101, output_stride=32), output_stride
            )
            package = backbones.resnet(101, output_stride=output_stride)
        assert [str(m) for m in by_hand.modules()] == [str(m) for m in package.modules()]
    mobile = backbones.MobileNetV3Large(output_stride=8).eval()
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
