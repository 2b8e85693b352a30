"""dlcourse.costs: counts derived by hand, torchvision's published figures, error messages."""

import pytest
import torch
from torch import nn

from dlcourse import costs
from dlcourse.models import build_model


def test_a_convolution_counted_by_hand():
    conv = nn.Conv2d(3, 4, 3, padding=1)  # 3*9 multiply-adds per output value
    p = costs.profile(conv, (8, 8))
    assert p.params == 4 * 3 * 9 + 4
    assert p.macs == 3 * 9 * 4 * 8 * 8
    assert p.flops == 2 * p.macs
    assert p.input_size == (8, 8)
    assert costs.activation_bytes(conv, 8) == 4 * 8 * 8 * 4  # float32 output of the one leaf
    assert "0.00 GMACs" in str(p)


def test_a_dilated_convolution_costs_the_same():
    plain, dilated = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 3, padding=4, dilation=4)
    assert costs.profile(plain, 16).macs == costs.profile(dilated, 16).macs == 3 * 9 * 8 * 16 * 16


@pytest.mark.parametrize(
    ("name", "params", "gmacs"),
    [  # torchvision's published "num_params" and "_ops" (520x520, aux head on)
        ("deeplabv3_resnet50", 42_004_074, 178.722),
        ("deeplabv3_resnet101", 60_996_202, 258.743),
        ("deeplabv3_mobilenet_v3_large", 11_029_328, 10.452),
    ],
)
def test_torchvisions_published_counts(name, params, gmacs):
    with torch.device("meta"):  # shapes only: the count needs no weights
        model = build_model(name, aux_loss=True)
    p = costs.profile(model, (520, 520))
    assert p.params == params
    assert p.gmacs == pytest.approx(gmacs, rel=5e-3)
    assert abs(p.gmacs - gmacs) < 1e-3  # in fact equal to torchvision's three decimals


def test_profile_leaves_the_model_alone():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    costs.profile(model, 4)
    assert model.training and next(model.parameters()).device.type == "cpu"
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_latency_is_measured_with_the_benchmark_timer():
    conv = nn.Conv2d(3, 4, 3).train()
    result = costs.latency(conv, 16, repeats=3, warmup=1, threads=1)
    assert result.median_ms > 0 and result.runs == 3 and result.threads == 1
    assert result.device == "cpu" and "1 CPU threads" in str(result)
    assert conv.training  # restored
    assert costs.latency_ms(conv, 16, repeats=2) > 0


@pytest.mark.parametrize("bad", [(1, 3, 64, 64), "513", (0, 5), 2.5])
def test_input_size_errors_name_the_argument(bad):
    with pytest.raises((TypeError, ValueError), match="input_size"):
        costs.profile(nn.Conv2d(3, 1, 1), bad)


def test_saved_for_backward_counted_by_hand():
    # conv keeps its input, batch norm its input (the conv's output) and its batch mean and
    # 1/std, ReLU its output; the weights and running statistics are not counted
    h = w = 8
    expected = 4 * 2 * (3 * h * w + 4 * h * w + 4 * h * w) + 2 * 4 * 4
    for inplace in (False, True):  # an in-place ReLU keeps the batch norm's output: once
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace))
        assert costs.saved_for_backward_bytes(model, (h, w), batch=2) == expected
    # a frozen layer keeps nothing for its weights' gradient
    frozen = nn.Conv2d(3, 4, 3, padding=1).requires_grad_(False)
    assert costs.saved_for_backward_bytes(frozen, 8, batch=2) == 0


def test_saved_for_backward_grows_with_the_batch_and_leaves_the_model_alone():
    model = build_model("deeplabv3_resnet18", num_classes=3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    two, four, six = (costs.saved_for_backward_bytes(model, 65, batch=b) for b in (2, 4, 6))
    # each picture adds the same bytes; batch norm's per-channel statistics do not grow
    assert 0 < four - two == six - four < two
    assert not model.training and next(model.parameters()).device.type == "cpu"
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    with torch.device("meta"):  # a ResNet-101 at the papers' size costs no memory to count
        at_8, at_16 = (build_model("deeplabv3_resnet101", output_stride=s) for s in (8, 16))
    # output stride 8 keeps 4 times as many values in its last two stages
    assert costs.saved_for_backward_bytes(at_8, 513) > 1.5 * costs.saved_for_backward_bytes(
        at_16, 513
    )
    with pytest.raises(ValueError, match="batch"):
        costs.saved_for_backward_bytes(model, 65, batch=0)


def test_training_memory_needs_a_gpu():
    with pytest.raises(RuntimeError, match="saved_for_backward_bytes"):
        costs.training_step_memory(nn.Conv2d(3, 1, 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_memory_on_a_gpu():
    conv = nn.Conv2d(3, 8, 3, padding=1).cuda()
    peak = costs.training_step_memory(conv, (64, 64), batch=2)
    assert peak >= 2 * 8 * 64 * 64 * 4  # at least the output it keeps
    model = build_model("deeplabv3_resnet18", num_classes=3).cuda()
    peak = costs.training_step_memory(model, (129, 129), batch=2)
    assert costs.saved_for_backward_bytes(model, (129, 129), batch=2) <= peak  # it is a floor
