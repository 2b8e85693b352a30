"""Receptive-field arithmetic and measurement (dlcourse.rf) against hand-derived values."""

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from dlcourse.rf import (
    MeasuredRF,
    ReceptiveField,
    chain_layers,
    conv_output_size,
    effective_kernel,
    footprint,
    layer_geometry,
    measure_receptive_field,
    positive_probe,
    receptive_field,
    receptive_fields,
    resnet_layers,
    stack_support,
    tiled_field_of_view,
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
        (lambda: footprint([]), "dilations"),
        (lambda: footprint([1, 2], kernel=[3]), "kernel"),
        (lambda: footprint([1, 0]), "dilation"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        # a batch shape instead of the image side once failed with "too many values to unpack"
        (
            lambda m: measure_receptive_field(m, (1, 3, 64, 64)),
            ValueError,
            "input_size is the image side",
        ),
        (lambda m: measure_receptive_field(m, (64,)), ValueError, "input_size"),
        (lambda m: measure_receptive_field(m, 0), ValueError, "input_size"),
        (lambda m: measure_receptive_field(m, 64.0), ValueError, "input_size"),
        (lambda m: measure_receptive_field(m, 32, output_index=5), ValueError, "output_index"),
        (
            lambda m: measure_receptive_field(m, 32, output_index=(40, 0)),
            ValueError,
            "output_index",
        ),
        (lambda m: measure_receptive_field(m, 32, in_channels=0), ValueError, "in_channels"),
        (
            lambda m: measure_receptive_field(m, 32, probe=False, inputs=np.ones((1, 1, 32, 32))),
            TypeError,
            "inputs",
        ),
        (
            lambda m: measure_receptive_field(m, 32, inputs=torch.ones(1, 1, 32, 32)),
            ValueError,
            "probe=False",
        ),
        (lambda m: measure_receptive_field(lambda x: x, 32), TypeError, "model"),
        (
            lambda m: measure_receptive_field(_DictModel(), 32, output_key="logits"),
            ValueError,
            "output_key",
        ),
        (lambda m: receptive_field(nn.Conv2d(1, 1, 3)), TypeError, "list of layers"),
        (lambda m: receptive_field(m), TypeError, "chain_layers"),
        (lambda m: receptive_field(5), TypeError, "layers"),
        (lambda m: receptive_field([(3, 1, 1, "same")]), TypeError, "padding"),
        (lambda m: receptive_field([(3, 1)]), TypeError, "cannot read layer"),
        (lambda m: chain_layers([(3, 1, 1)]), TypeError, "nn.Module"),
        (lambda m: positive_probe("resnet"), TypeError, "model"),
        (lambda m: footprint(2), TypeError, "dilations"),
        (lambda m: resnet_layers((3, 4, 6)), ValueError, "four block counts"),
        (lambda m: resnet_layers(stride_on="7x7"), ValueError, "stride_on"),
        (lambda m: resnet_layers((3, 0, 6, 3)), ValueError, "blocks"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())
    with pytest.raises(error, match=name):
        call(model)


class _DictModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return {"out": self.conv(x)}


def test_sequential_of_convs_is_still_a_chain():
    convs = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
    assert receptive_field(convs) == receptive_field([(3, 1, 1), (2, 2, 1)])
    assert measure_receptive_field(_DictModel(), 16).size == (3, 3)


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


def _resnet50_stages():
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    stem = [net.conv1, net.bn1, net.relu, net.maxpool]
    stages = {}
    for name in ("layer1", "layer2", "layer3", "layer4"):
        stem.append(getattr(net, name))
        stages[name] = nn.Sequential(*stem)
    return stages


def test_resnet50_analytic():
    stages = _resnet50_stages()
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


def test_resnet_v1_measured():
    # torchvision's ResNet-50 with each stage's stride moved to the first 1x1 conv is ResNet v1
    net = torchvision.models.resnet50(weights=None)
    for name in ("layer2", "layer3", "layer4"):
        block = getattr(net, name)[0]
        block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    body = nn.Sequential(
        net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3
    )
    assert receptive_field(chain_layers(body)).size == 291
    measured = measure_receptive_field(body, 320)
    assert measured.size == (291, 291) and not measured.clipped


def test_resnet50_measured():
    # Input sizes just large enough that the centre unit's RF lies inside the image.
    stages = _resnet50_stages()
    sizes = {"layer1": 64, "layer2": 128, "layer3": 320, "layer4": 448}
    measured = {name: measure_receptive_field(stages[name], size) for name, size in sizes.items()}
    assert [m.size for m in measured.values()] == [(35, 35), (91, 91), (267, 267), (427, 427)]
    assert not any(m.clipped for m in measured.values())
    # layer4 at 448 px: output 14x14, unit (7, 7) is centred on input pixel 7 * 32 = 224
    assert measured["layer4"].output_index == (7, 7)
    assert measured["layer4"].box == (224 - 213, 224 - 213, 224 + 213, 224 + 213)


def test_measure_does_not_change_the_model():
    stages = _resnet50_stages()
    model = stages["layer1"].train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure_receptive_field(model, 64)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 1), (3, 1, 2), (3, 1, 5)],
        [(3, 1, 2), (3, 1, 2), (3, 1, 2)],
        [(5, 2, 1), (3, 1, 1), (3, 2, 3), (1, 1, 1)],
        [(7, 2, 1), (3, 2, 1), (3, 1, 2), (3, 1, 4)],
    ],
)
def test_measured_equals_analytic_on_conv_stacks(layers):
    torch.manual_seed(0)
    modules = []
    for kernel, stride, dilation in layers:
        pad = dilation * (kernel - 1) // 2
        modules += [nn.Conv2d(4 if modules else 3, 4, kernel, stride, pad, dilation),
                    nn.BatchNorm2d(4), nn.ReLU()]  # fmt: skip
    model = nn.Sequential(*modules)
    expected = receptive_field(layers).size
    size = 2 * expected + 16
    result = measure_receptive_field(model, size)
    assert isinstance(result, MeasuredRF)
    assert not result.clipped
    assert result.size == (expected, expected)
    assert result.grad.shape == (size, size)


def test_max_pool_is_measured_exactly():
    # A max pool sends its gradient to one input per window; the probe must not lose pixels.
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1)
    )
    assert receptive_field(chain_layers(model)).size == 8
    assert measure_receptive_field(model, 32).size == (8, 8)
    assert measure_receptive_field(model, 32, output_index=(0, 0)).box == (0, 0, 4, 4)


def test_probe_support_is_the_footprint():
    # stride-1 dilated 3x3 convs: the gradient reaches exactly the footprint's offsets,
    # and each offset's gradient is proportional to its number of paths
    for rates in ((2, 2, 2), (1, 2, 5)):
        model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=r, dilation=r) for r in rates])
        rf = receptive_field([(3, 1, r) for r in rates]).size
        result = measure_receptive_field(model, rf + 10)
        top, left, bottom, right = result.box
        window = result.grad[top : bottom + 1, left : right + 1]
        counts = footprint(rates, counts=True)
        assert np.array_equal(window > 0, footprint(rates))
        np.testing.assert_allclose(window, counts / 9.0 ** len(rates), rtol=1e-12)


def test_unprobed_measurement_returns_effective_rf():
    torch.manual_seed(0)
    model = nn.Sequential(
        *[m for _ in range(4) for m in (nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())]
    )
    model[0] = nn.Conv2d(1, 8, 3, padding=1)
    inputs = torch.randn(1, 1, 33, 33)
    result = measure_receptive_field(model, 33, probe=False, inputs=inputs)
    assert result.size[0] <= 9 and result.size[1] <= 9
    assert result.grad.shape == (33, 33)
    with pytest.raises(ValueError, match="inputs"):
        measure_receptive_field(model, 33, inputs=inputs)
    with pytest.raises(ValueError, match="output_index"):
        measure_receptive_field(model, 33, output_index=(40, 0))


def test_clipped_flag():
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(10)])
    assert measure_receptive_field(model, 15).clipped
    assert not measure_receptive_field(model, 25).clipped


def test_positive_probe_layout():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.BatchNorm2d(4), nn.MaxPool2d(3, 2, 1)
    )
    probe = positive_probe(model)
    assert isinstance(probe[2], nn.AvgPool2d)
    assert torch.all(probe[0].weight == 1 / 27)
    assert receptive_field(chain_layers(probe)) == receptive_field(chain_layers(model))
    assert isinstance(model[2], nn.MaxPool2d)


def test_footprint_gridding():
    grid = footprint((2, 2, 2))
    assert grid.shape == (13, 13)
    assert grid.sum() == 49
    assert grid[::2, ::2].all() and not grid[1::2, :].any()
    assert footprint((1, 2, 5)).shape == (17, 17)
    assert footprint((1, 2, 5)).sum() == 289
    counts = footprint((1, 2, 5), counts=True)
    assert counts.sum() == 3**6  # every one of the 3^3 x 3^3 paths ends somewhere
    assert counts.max() == 4 and counts[0, 0] == 1 and counts[8, 8] == 1
    assert footprint([6]).sum() == 9
    assert footprint([1, 1], kernel=[3, 5]).shape == (7, 7)


def test_tiled_field_of_view_gives_deeplab_v1_table_2_column():
    # arXiv:1412.7062 table 2 "receptive field": (kernel - 1) * rate * 8 + 32
    assert tiled_field_of_view(7, 4, jump=8, tile=32) == 6 * 32 + 32 == 224  # DeepLab-CRF-7x7
    assert tiled_field_of_view(4, 4, jump=8, tile=32) == 3 * 32 + 32 == 128  # DeepLab-CRF
    assert tiled_field_of_view(4, 8, jump=8, tile=32) == 3 * 64 + 32 == 224  # DeepLab-CRF-4x4
    assert tiled_field_of_view(3, 12, jump=8, tile=32) == 2 * 96 + 32 == 224  # LargeFOV
    assert tiled_field_of_view(3, 2) == effective_kernel(3, 2) == 5
    with pytest.raises(ValueError, match=r"tiled_field_of_view\(.*tile=0\).*tile=0"):
        tiled_field_of_view(3, 12, 8, 0)
    with pytest.raises(ValueError, match="dilation=0"):
        tiled_field_of_view(3, 0)


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


def test_deeplab_v1_model_receptive_field_matches_the_arithmetic_and_a_measurement():
    from dlcourse.backbones import VGG16
    from dlcourse.layers import LargeFOVHead

    with torch.device("meta"):
        model = nn.Sequential(VGG16(output_stride=8).features, LargeFOVHead(512, 21))
    chain = chain_layers(model)
    assert receptive_field(chain).size == 419 and receptive_field(chain).jump == 8
    # the same geometry with one channel per layer, probed by gradients
    thin = nn.Sequential(
        *[
            nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation)
            if isinstance(m, nn.Conv2d)
            else nn.MaxPool2d(m.kernel_size, m.stride, m.padding)
            for m in chain
        ]
    )
    measured = measure_receptive_field(thin, 8 * 60 + 1)
    assert measured.size == (419, 419) and not measured.clipped


def test_stack_support_hand_values():
    # (3,1,1) then (3,1,2): the top unit reads units 0, 2, 4 of layer 1, which read inputs 0..6
    support = stack_support([(3, 1, 1), (3, 1, 2)])
    assert [s.tolist() for s in support] == [list(range(7)), [0, 2, 4], [0]]
    support = stack_support([(3, 2, 1), (3, 1, 1)])
    assert support[0].tolist() == list(range(7)) and support[1].tolist() == [0, 1, 2]
    # a 3x3 conv with dilation 2 on top of a stride-2 layer skips every other unit
    assert stack_support([(1, 2, 1), (3, 1, 2)])[0].tolist() == [0, 4, 8]


def test_aspp_taps_by_hand():
    from dlcourse.rf import aspp_taps

    corners, inside = aspp_taps(36, 8, center=(256, 256), image_size=(513, 513))
    assert inside.tolist() == [False] * 4 + [True] + [False] * 4  # 65x65 map: only the centre
    assert corners[4].tolist() == [256, 256] and corners[0].tolist() == [-32, -32]
    _, inside = aspp_taps(6, 16, center=(300, 256), image_size=(600, 512))
    assert inside.all()
    with pytest.raises(ValueError, match="rate"):
        aspp_taps(0, 16, (0, 0), (64, 64))
