"""Measuring receptive fields by gradients (dlcourse.rf_measure) against the arithmetic."""

import numpy as np
import pytest
import torch
import torchvision
from helpers import resnet50_stages
from torch import nn

from dlcourse.rf import chain_layers, receptive_field
from dlcourse.rf_measure import MeasuredRF, measure_receptive_field, positive_probe
from dlcourse.taps import footprint


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
        (lambda m: positive_probe("resnet"), TypeError, "model"),
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


def test_a_model_returning_a_dict_is_measured():
    assert measure_receptive_field(_DictModel(), 16).size == (3, 3)


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
    stages = resnet50_stages()
    sizes = {"layer1": 64, "layer2": 128, "layer3": 320, "layer4": 448}
    measured = {name: measure_receptive_field(stages[name], size) for name, size in sizes.items()}
    assert [m.size for m in measured.values()] == [(35, 35), (91, 91), (267, 267), (427, 427)]
    assert not any(m.clipped for m in measured.values())
    # layer4 at 448 px: output 14x14, unit (7, 7) is centred on input pixel 7 * 32 = 224
    assert measured["layer4"].output_index == (7, 7)
    assert measured["layer4"].box == (224 - 213, 224 - 213, 224 + 213, 224 + 213)


def test_measure_does_not_change_the_model():
    stages = resnet50_stages()
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


def test_deeplab_v1_model_receptive_field_matches_the_arithmetic_and_a_measurement():
    from dlcourse.heads import LargeFOVHead
    from dlcourse.vgg import VGG16

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
