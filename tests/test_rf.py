"""Receptive-field arithmetic (dlcourse.rf) against hand-derived values."""

import pytest
import torch
import torchvision
from helpers import resnet50_stages
from torch import nn

from dlcourse.rf import (
    ReceptiveField,
    chain_layers,
    conv_output_size,
    effective_kernel,
    layer_geometry,
    receptive_field,
    receptive_fields,
    resnet_layers,
)


def test_effective_kernel():
    assert effective_kernel(3, 1) == 3
    assert effective_kernel(3, 2) == 5
    assert effective_kernel(3, 6) == 13
    assert effective_kernel(1, 24) == 1
    assert effective_kernel(7, 24) == 145


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((7, 3), 5),
        ((7, 3, 1, 0, 2), 3),  # size 7, kernel 3, dilation 2 (PyTorch's formula)
        ((224, 7, 2, 3), 112),  # ResNet stem
        ((112, 3, 2, 1), 56),  # ResNet max pool
        ((65, 3, 1, 12, 12), 65),  # 'same' padding = dilation for a 3x3 kernel
        ((5, 5), 1),
        ((8, 3, 3), 2),
    ],
)
def test_conv_output_size_hand_values(args, expected):
    assert conv_output_size(*args) == expected


def test_conv_output_size_matches_torch():
    x = torch.zeros(1, 1, 23, 23)
    for kernel in (1, 2, 3, 5):
        for stride in (1, 2, 3):
            for dilation in (1, 2, 4):
                for padding in (0, 1, 3):
                    if 23 + 2 * padding < dilation * (kernel - 1) + 1:
                        continue
                    conv = nn.Conv2d(1, 1, kernel, stride, padding, dilation)
                    assert conv(x).shape[-1] == conv_output_size(
                        23, kernel, stride, padding, dilation
                    )


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: conv_output_size(7, 0), "kernel"),
        (lambda: conv_output_size(7, 3, dilation=0), "dilation"),
        (lambda: conv_output_size(7, 3, stride=0), "stride"),
        (lambda: conv_output_size(0, 3), "size"),
        (lambda: conv_output_size(4, 3, dilation=2), "smaller than the effective kernel"),
        (lambda: conv_output_size(7, 3, padding=-1), "padding"),
        (lambda: effective_kernel(0, 1), "kernel"),
        (lambda: effective_kernel(3, 0), "dilation"),
        (lambda: receptive_field([(3, 1, 0)]), "dilation"),
        (lambda: receptive_field([(0, 1, 1)]), "kernel"),
        (lambda: receptive_field([(3, 0, 1)]), "stride"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda m: receptive_field(nn.Conv2d(1, 1, 3)), TypeError, "list of layers"),
        (lambda m: receptive_field(m), TypeError, "chain_layers"),
        (lambda m: receptive_field(5), TypeError, "layers"),
        (lambda m: receptive_field([(3, 1, 1, "same")]), TypeError, "padding"),
        (lambda m: receptive_field([(3, 1)]), TypeError, "cannot read layer"),
        (lambda m: chain_layers([(3, 1, 1)]), TypeError, "nn.Module"),
        (lambda m: resnet_layers((3, 4, 6)), ValueError, "four block counts"),
        (lambda m: resnet_layers(stride_on="7x7"), ValueError, "stride_on"),
        (lambda m: resnet_layers((3, 0, 6, 3)), ValueError, "blocks"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())
    with pytest.raises(error, match=name):
        call(model)


def test_sequential_of_convs_is_still_a_chain():
    convs = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
    assert receptive_field(convs) == receptive_field([(3, 1, 1), (2, 2, 1)])


def test_bad_types_are_rejected():
    with pytest.raises(TypeError, match="kernel"):
        effective_kernel(3.0, 1)
    with pytest.raises(TypeError, match="cannot read layer"):
        receptive_field([nn.ReLU()])
    with pytest.raises(ValueError, match="square"):
        receptive_field([nn.Conv2d(1, 1, (3, 5))])


def test_receptive_field_hand_values():
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 5)]).size == 17
    assert receptive_field([(3, 1, 2)] * 3).size == 13
    assert receptive_field([]) == ReceptiveField(size=1, jump=1, start=0.0)
    # two 3x3 stride-2 convs without padding: size 3 + 2 * 2 = 7, jump 4, start 1 + 1 * 2 = 3
    assert receptive_field([(3, 2, 1), (3, 2, 1)]) == ReceptiveField(size=7, jump=4, start=3.0)
    # the same with padding 1: the first output is centred on input pixel 0
    assert receptive_field([(3, 2, 1, 1), (3, 2, 1, 1)]) == ReceptiveField(7, 4, 0.0)
    # an even kernel centres between pixels
    assert receptive_field([(2, 2, 1)]) == ReceptiveField(2, 2, 0.5)


def test_receptive_fields_history_and_span():
    history = receptive_fields([(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 1, 1)])
    assert [(rf.size, rf.jump) for rf in history] == [(7, 2), (11, 4), (19, 4)]
    assert history[-1].center(2) == 8.0
    assert history[-1].span(2) == (-1.0, 17.0)


def test_modules_match_tuples():
    modules = [
        nn.Conv2d(3, 8, 7, stride=2, padding=3),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2),
        nn.AvgPool2d(2),
    ]
    tuples = [(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 2, 2), (2, 2, 1, 0)]
    assert [layer_geometry(m) for m in modules] == [
        (7, 2, 1, 3),
        (3, 2, 1, 1),
        (3, 1, 2, 2),
        (2, 2, 1, 0),
    ]
    assert receptive_field(modules) == receptive_field(tuples)
    # 7 -> 7 + 2 * 2 = 11 -> 11 + 4 * 4 = 27 -> 27 + 1 * 4 = 31; the 2x2 pool centres between pixels
    assert receptive_field(modules) == ReceptiveField(size=31, jump=8, start=2.0)


def test_vgg16_published_receptive_field():
    # VGG-16: conv5_3 sees 196 pixels, pool5 212 (Araujo et al., Distill 2019)
    vgg = torchvision.models.vgg16(weights=None).features
    history = receptive_fields(chain_layers(vgg))
    assert history[-2].size == 196
    assert history[-1].size == 212
    assert history[-1].jump == 32


def test_resnet50_analytic():
    stages = resnet50_stages()
    found = {name: receptive_field(chain_layers(stage)) for name, stage in stages.items()}
    assert [rf.size for rf in found.values()] == [35, 91, 267, 427]
    assert [rf.jump for rf in found.values()] == [4, 8, 16, 32]
    assert all(rf.start == 0.0 for rf in found.values())


def _stage_sizes(stages):
    chain, sizes = [], []
    for name in ("layer1", "layer2", "layer3", "layer4"):
        chain += stages["stem"] if not chain else []
        chain += stages[name]
        sizes.append(receptive_field(chain).size)
    return sizes


def test_resnet_layers_v1_and_v15():
    # torchvision (v1.5: stride on the 3x3 conv) and the Caffe release DeepLab used (stride on the 1x1)
    assert _stage_sizes(resnet_layers((3, 4, 6, 3), "3x3")) == [35, 91, 267, 427]
    assert _stage_sizes(resnet_layers((3, 4, 6, 3), "1x1")) == [35, 99, 291, 483]
    # ResNet-101: only layer3 is longer (23 blocks)
    assert _stage_sizes(resnet_layers((3, 4, 23, 3), "1x1"))[2:] == [
        291 + 17 * 32,
        291 + 17 * 32 + 192,
    ]
    # the v1.5 list is exactly torchvision's chain
    net = torchvision.models.resnet50(weights=None)
    stages = resnet_layers()
    modules = chain_layers(
        nn.Sequential(net.conv1, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
    )
    assert [layer_geometry(m) for m in modules] == [g for layers in stages.values() for g in layers]


VGG_PLAN = [2, "M", 2, "M", 3, "M", 3, "M", 3, "M"]  # convs per block, then a pool


def vgg_layers(pool, fc6, output_stride=32):
    """VGG-16's conv/pool chain as (kernel, stride, dilation, padding); ``pool`` is (kernel, pad)."""
    layers, stride, dilation = [], 1, 1
    for item in VGG_PLAN:
        if item == "M":
            step = 2 if stride < output_stride else 1
            dilation *= 2 // step
            stride *= step
            layers.append((pool[0], step, 1, pool[1]))
        else:
            layers += [(3, 1, dilation, dilation)] * item
    return layers + [fc6]


def test_vgg16_receptive_fields_of_deeplab_v1():
    # the original VGG-16 (2x2 pools): pool5 sees 212 px; fc6 7x7 adds 6 * 32 (404 px) and a
    # 4x4 fc6 adds 3 * 32 (308 px): the "convolutional mode" sizes of arXiv:1412.7062, sec. 3.2
    assert receptive_field(vgg_layers((2, 0), (1, 1, 1, 0))).size == 212
    assert receptive_field(vgg_layers((2, 0), (7, 1, 1, 3))).size == 404
    assert receptive_field(vgg_layers((2, 0), (4, 1, 1, 0))).size == 308
    # DeepLab's VGG-16 (3x3 pools, pool4/pool5 at stride 1, conv5 dilated 2): 5, 7, 15, 19,
    # 43, 51, 99, 115 (pool4 adds 2 * 8), 211 (3 convs * 2 * 2 * 8), 227 (pool5 adds 2 * 8)
    backbone = vgg_layers((3, 1), (1, 1, 1, 0), output_stride=8)
    assert [rf.size for rf in receptive_fields(backbone)][-1] == 227
    assert receptive_field(backbone).jump == 8
    for kernel, rate, size in [(7, 4, 419), (4, 4, 323), (4, 8, 419), (3, 12, 419)]:
        fc6 = (kernel, 1, rate, rate * (kernel - 1) // 2)
        assert receptive_field([*backbone[:-1], fc6]).size == size == 227 + (kernel - 1) * rate * 8
