"""Tests of dlcourse.vgg: VGG-16's conv layers with torchvision's names, dilated as in DeepLab-v1."""

import pytest
import torch
import torchvision
from torch import nn

from dlcourse.vgg import VGG16


def test_vgg16_keys_match_torchvision_and_output_stride_8_dilates_conv5():
    ours = VGG16(output_stride=8)
    theirs = {k: v.shape for k, v in torchvision.models.vgg16().features.state_dict().items()}
    assert {k.removeprefix("features."): v.shape for k, v in ours.state_dict().items()} == theirs
    assert [m.dilation[0] for m in ours.features if isinstance(m, nn.Conv2d)] == [1] * 10 + [2] * 3
    features = ours(torch.randn(1, 3, 65, 65))
    assert features["low"].shape == (1, 128, 17, 17)
    assert features["out"].shape == (1, 512, 9, 9)
    with torch.no_grad():
        assert VGG16(output_stride=32)(torch.randn(1, 3, 64, 64))["out"].shape[-1] == 2


def test_vgg16_features_are_a_feature_getter_with_channels_read_from_its_layers():
    from dlcourse.features import FeatureGetter

    with torch.device("meta"):
        vgg = VGG16(output_stride=8)
    assert isinstance(vgg.features, FeatureGetter)
    assert vgg.features.return_layers == {"9": "low", "30": "out"}  # pool2 (stride 4), pool5
    assert vgg.channels == {"low": 128, "out": 512}
    assert [type(m).__name__ for m in vgg.features][9] == "MaxPool2d"


def test_vgg16_names_the_output_strides_it_takes():
    with pytest.raises(ValueError, match=r"output_stride=4 .*\(8, 16, 32\)"):
        VGG16(output_stride=4)
