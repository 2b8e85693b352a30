"""Tests of dlcourse.resnet: torchvision's layout, output strides, the dilation rules."""

import pytest
import torch
import torchvision
from helpers import dilations
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from dlcourse.resnet import BasicBlock, Bottleneck, ResNet, resnet, stage_plan


def test_stage_plan_names_the_stages_that_dilate():
    assert stage_plan(8) == [False, True, True]
    assert stage_plan(32) == [False, False, False]
    with pytest.raises(ValueError, match=r"output_stride=12 .*\(8, 16, 32\)"):
        stage_plan(12)


@pytest.mark.parametrize("depth", [18, 50, 101])
def test_resnet_keys_and_shapes_are_torchvisions(depth):
    ours = resnet(depth).state_dict()
    theirs = getattr(torchvision.models, f"resnet{depth}")().state_dict()
    theirs = {k: v for k, v in theirs.items() if not k.startswith("fc.")}
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_resnet50_matches_torchvision_with_dilation(output_stride):
    ours = resnet(50, output_stride=output_stride).eval()
    theirs = torchvision.models.resnet50(replace_stride_with_dilation=stage_plan(output_stride))
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
    net = resnet(50, output_stride=8)
    assert net.layer3[0].conv2.dilation == (1, 1) and net.layer3[0].conv2.stride == (1, 1)
    assert net.layer3[1].conv2.dilation == (2, 2)
    assert net.layer4[0].conv2.dilation == (2, 2)
    assert net.layer4[2].conv2.dilation == (4, 4)
    assert net.layer3[0].downsample[0].stride == (1, 1)


def test_multi_grid_multiplies_the_last_stage_rates():
    net = resnet(50, output_stride=16, multi_grid=(1, 2, 4))
    assert [block.conv2.dilation[0] for block in net.layer4] == [2, 4, 8]
    net = resnet(50, output_stride=8, multi_grid=(1, 2, 4))
    assert [block.conv2.dilation[0] for block in net.layer4] == [4, 8, 16]
    with pytest.raises(ValueError, match="one rate per block"):
        resnet(50, multi_grid=(1, 2))


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_dilated_resnet18_feature_strides(output_stride):
    net = resnet(18, output_stride=output_stride)
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
    net = resnet(18, output_stride=8)
    assert net.layer4[1].conv1.dilation == (4, 4) and net.layer4[1].conv1.padding == (4, 4)
    with pytest.raises(ValueError, match="depth"):
        resnet(26)


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_resnet_is_a_denser_sampling_of_the_strided_one(depth, output_stride):
    """The a trous identity: same weights, OS16/OS8 sampled every 2nd/4th cell = OS32."""
    torch.manual_seed(depth)
    strided = resnet(depth, output_stride=32).eval()
    for module in strided.modules():  # non-trivial statistics, so BN is not the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    dilated = resnet(depth, output_stride=output_stride).eval()
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
        os: receptive_field(chain_layers(resnet(depth, output_stride=os))).size
        for os in (32, 16, 8)
    }
    expected = {18: 435, 50: 427}[depth]
    assert sizes == {32: expected, 16: expected, 8: expected}


def test_first_block_of_a_dilated_basic_stage_dilates_its_second_conv():
    net = resnet(18, output_stride=8)
    first = net.layer3[0]
    assert first.conv1.stride == (1, 1) and first.conv1.dilation == (1, 1)
    assert first.conv2.dilation == (2, 2) and first.conv2.padding == (2, 2)
    assert net.layer4[0].conv1.dilation == (2, 2) and net.layer4[0].conv2.dilation == (4, 4)


def test_resnet_is_a_feature_getter_with_channels_read_from_its_layers():
    from dlcourse.features import FeatureGetter

    with torch.device("meta"):
        res50 = resnet(50, output_stride=8)
    assert isinstance(res50, FeatureGetter)
    assert res50.return_layers == {"layer1": "low", "layer3": "aux", "layer4": "out"}
    assert res50.channels == {"low": 256, "aux": 1024, "out": 2048}  # 64, 256, 512 planes x 4


def test_blocks_register_their_layers_in_torchvisions_order():
    from torchvision.models import resnet as tv_resnet

    basic = BasicBlock(64, 64, first_dilation=2)
    assert [name for name, _ in basic.named_children()] == [
        name for name, _ in tv_resnet.BasicBlock(64, 64).named_children()
    ]
    assert basic.conv1.dilation == (2, 2) and basic.conv2.dilation == (1, 1)
    bottleneck = Bottleneck(256, 64)
    assert [name for name, _ in bottleneck.named_children()] == [
        name for name, _ in tv_resnet.Bottleneck(256, 64).named_children()
    ]
    assert list(bottleneck.state_dict()) == list(tv_resnet.Bottleneck(256, 64).state_dict())


def test_lesson_03_bottleneck_is_the_package_block():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    lesson = notebook_definitions(project_root() / "notebooks" / "03_backbone.ipynb")
    mine = lesson["Bottleneck"](64, 32, stride=2, dilation=1, downsample=None).eval()
    package = Bottleneck(64, 32, stride=2, dilation=1).eval()
    package.load_state_dict(mine.state_dict(), strict=True)
    x = torch.randn(1, 64, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(mine.conv2(mine.conv1(x)), package.conv2(package.conv1(x)))
    assert mine.conv2.stride == package.conv2.stride == (2, 2)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: resnet(50, multi_grid=2), TypeError, r"multi_grid=2.*\(1, 2, 4\)"),
        (lambda: resnet(50, multi_grid="124"), TypeError, "multi_grid='124'"),
        (lambda: resnet(50, multi_grid=(0, 1, 2)), ValueError, "whole number >= 1"),
        (lambda: resnet(50, multi_grid=(1, 2.5, 4)), ValueError, "whole number"),
        (lambda: resnet(50, multi_grid=(1, 2)), ValueError, "one rate per block"),
        (lambda: resnet("50"), ValueError, r"depth='50'.*\(18, 34, 50, 101\)"),
        (lambda: resnet(50, output_stride=True), ValueError, "output_stride=True"),
        (lambda: ResNet(Bottleneck, (3, 4, 6)), ValueError, "exactly 4"),
        (lambda: ResNet(Bottleneck, 3), TypeError, r"layers=3.*\(3, 4, 6, 3\)"),
        (lambda: ResNet(nn.Conv2d, (1, 1, 1, 1)), TypeError, "BasicBlock or Bottleneck"),
        (lambda: Bottleneck(64, 64, dilation=0), ValueError, r"Bottleneck\(dilation=0\)"),
        (lambda: BasicBlock(64, 64, stride=0), ValueError, r"BasicBlock\(stride=0\)"),
        (lambda: BasicBlock(64, 64, first_dilation=0.5), TypeError, "first_dilation"),
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
        net = resnet(101, output_stride=16, multi_grid=(1, 2, 4))
    rates = [b.conv2.dilation[0] for b in net.layer4]
    assert rates == [2, 4, 8]
    reached = footprint(rates)
    assert reached.shape == (29, 29) and reached.sum() == 15 * 15  # only even offsets
    assert footprint((1, 2, 4)).all()  # the same stack on the undilated grid has no holes


def test_lesson_03_stage_conversion_is_the_package_one():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    lesson = notebook_definitions(project_root() / "notebooks" / "03_backbone.ipynb")
    for output_stride in (16, 8):
        with torch.device("meta"):
            by_hand = lesson["dilate_stages"](resnet(101, output_stride=32), output_stride)
            package = resnet(101, output_stride=output_stride)
        assert [str(m) for m in by_hand.modules()] == [str(m) for m in package.modules()]
