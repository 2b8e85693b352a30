"""Tests of dlcourse.features: the feature getter against torchvision's, channels read from layers."""

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from dlcourse.features import FeatureGetter, check_output_stride, out_channels


def small_chain() -> list[nn.Module]:
    """conv 3 -> 8, ReLU, stride-2 pool, conv 8 -> 16, BN: features after the pool and the BN."""
    return [
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 1),
        nn.BatchNorm2d(16),
    ]


def test_feature_getter_gives_torchvisions_intermediate_features():
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    wanted = {"layer1": "low", "layer3": "aux", "layer4": "out"}
    trunk = {name: child for name, child in net.named_children() if name not in ("avgpool", "fc")}
    ours = FeatureGetter(trunk, wanted).eval()
    theirs = IntermediateLayerGetter(net, wanted).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got, expected = ours(x), theirs(x)
    assert list(got) == ["low", "aux", "out"] == list(expected)
    for name in got:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)
    assert got["low"].shape == (1, 64, 16, 16) and got["out"].shape == (1, 512, 2, 2)
    assert ours.channels == {"low": 64, "aux": 256, "out": 512}


def test_a_list_of_layers_is_named_like_a_sequential_and_channels_come_from_the_layers():
    chain = small_chain()
    getter = FeatureGetter(chain, {"2": "pooled", "4": "out"})
    assert list(getter.state_dict()) == list(nn.Sequential(*chain).state_dict())
    assert getter.channels == {"pooled": 8, "out": 16}  # the pool keeps the conv's 8 channels
    features = getter.eval()(torch.randn(2, 3, 10, 10))
    assert features["pooled"].shape == (2, 8, 5, 5) and features["out"].shape == (2, 16, 5, 5)


def test_slicing_gives_a_plain_sequential_of_those_layers():
    getter = FeatureGetter(small_chain(), {"2": "pooled", "4": "out"})
    head = getter[:3]
    assert type(head) is nn.Sequential and len(head) == 3
    assert isinstance(getter[1], nn.ReLU)
    x = torch.randn(1, 3, 6, 6)
    torch.testing.assert_close(head(x), getter(x)["pooled"])


def test_out_channels_reads_the_last_conv_or_batch_norm():
    assert out_channels(nn.Conv2d(3, 7, 1)) == 7
    assert out_channels(nn.Sequential(nn.Conv2d(3, 7, 1), nn.BatchNorm2d(7), nn.ReLU())) == 7
    assert out_channels(torchvision.models.resnet50().layer2) == 512  # 128 planes x 4
    assert out_channels(nn.ReLU()) is None
    with pytest.raises(TypeError, match="out_channels"):
        out_channels(7)


def test_check_output_stride_names_the_allowed_values():
    assert check_output_stride(16) == 16
    with pytest.raises(ValueError, match=r"output_stride=12 .*\(8, 16, 32\)"):
        check_output_stride(12)
    with pytest.raises(ValueError, match="output_stride=True"):
        check_output_stride(True)


def test_bad_return_layers_get_a_clear_error():
    with pytest.raises(ValueError, match=r"no layer named \['layer9'\].*'0', '1'"):
        FeatureGetter(small_chain(), {"layer9": "out"})
    with pytest.raises(TypeError, match="return_layers"):
        FeatureGetter(small_chain(), ["4"])
    with pytest.raises(TypeError, match="return_layers"):
        FeatureGetter(small_chain(), {})


def test_lesson_05_feature_getter_is_the_package_one():
    from dlcourse.env import project_root
    from dlcourse.mobilenet import MobileNetV3Large
    from dlcourse.notebook_tools import notebook_definitions
    from dlcourse.resnet import resnet

    lesson = notebook_definitions(project_root() / "notebooks" / "05_upsampling_and_decoder.ipynb")
    x = torch.randn(1, 3, 64, 64)
    for backbone in (
        resnet(18, output_stride=16).eval(),
        MobileNetV3Large(output_stride=16).eval(),
    ):
        by_hand = lesson["MyFeatureGetter"](backbone, backbone.return_layers)
        with torch.no_grad():
            mine, package = by_hand(x), backbone(x)
        assert list(mine) == list(package) == ["low", "aux", "out"]
        for name in package:
            torch.testing.assert_close(mine[name], package[name], rtol=0, atol=0)
