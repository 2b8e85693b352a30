"""Tests of dlcourse.models: registry, torchvision equality, shapes, errors, weights, costs."""

import pytest
import torch
from helpers import randomize_ as randomize
from torch import nn
from torchvision.models import segmentation as tv_segmentation

from dlcourse import costs, models
from dlcourse.layers import FrozenBatchNorm2d

REQUIRED = [
    "deeplabv1_largefov", "deeplabv2_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large", "deeplabv3plus_resnet50", "deeplabv3plus_resnet101",
    "deeplabv3plus_mobilenet",
]  # fmt: skip
SMALL = ["deeplabv3_resnet18", "deeplabv3plus_resnet18", "deeplabv3plus_mobilenet",
         "deeplabv3_mobilenet_v3_large"]  # fmt: skip
TORCHVISION = ["deeplabv3_resnet50", "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large"]


def randomize_(module: nn.Module) -> nn.Module:
    return randomize(module, std=0.05)


def test_registry_lists_every_required_model():
    assert set(REQUIRED) <= set(models.list_models())
    assert models.list_models() == sorted(models.list_models())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="deeplabv3plus_mobilenet"):
        models.build_model("deeplabv4")


def test_register_model_rejects_duplicates():
    def deeplabv3_resnet50():
        """A second builder with a taken name."""

    with pytest.raises(ValueError, match="already registered"):
        models.register_model(deeplabv3_resnet50)


@pytest.mark.parametrize("name", TORCHVISION)
def test_same_keys_shapes_and_outputs_as_torchvision(name):
    theirs = getattr(tv_segmentation, name)(
        weights=None, weights_backbone=None, num_classes=7, aux_loss=True
    )
    ours = models.build_model(name, num_classes=7, aux_loss=True)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    ours.load_state_dict(randomize_(theirs).state_dict(), strict=True)
    x = torch.randn(2, 3, 33, 45)
    with torch.no_grad():
        expected, got = theirs.eval()(x), ours.eval()(x)
    for key in ("out", "aux"):
        assert got[key].shape == (2, 7, 33, 45)
        assert (got[key] - expected[key]).abs().max() <= 1e-5


def test_documented_default_output_strides():
    assert models.build_model("deeplabv3_resnet50").output_stride == 8  # as torchvision
    assert models.build_model("deeplabv3_mobilenet_v3_large").output_stride == 16
    assert models.build_model("deeplabv3plus_resnet18").output_stride == 16
    model = models.build_model("deeplabv3_resnet18", output_stride=16)
    assert model.output_stride == 16 and model.classifier[0].atrous_rates == (6, 12, 18)
    assert models.build_model("deeplabv3_resnet18").classifier[0].atrous_rates == (12, 24, 36)


def test_aspp_rates_scale_with_the_output_stride():
    assert models.aspp_rates(16) == (6, 12, 18)
    assert models.aspp_rates(8) == (12, 24, 36)
    assert models.aspp_rates(32) == (3, 6, 9)


@pytest.mark.parametrize("name", sorted(set(models.list_models()) - {"deeplabv2_resnet101",
                                                                     "deeplabv3plus_resnet101",
                                                                     "deeplabv3_resnet101"}))  # fmt: skip
def test_every_model_in_eval_mode(name):
    model = models.build_model(name, num_classes=5).eval()
    with torch.no_grad():
        result = model(torch.randn(1, 3, 64, 64))
    assert set(result) == {"out"}
    assert result["out"].shape == (1, 5, 64, 64)


@pytest.mark.parametrize("name", ["deeplabv2_resnet101", "deeplabv3plus_resnet101"])
def test_resnet101_models_at_output_stride_32(name):
    model = models.build_model(name, num_classes=3, output_stride=32).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32))["out"].shape == (1, 3, 32, 32)


@pytest.mark.parametrize("size", [(321, 321), (513, 400)])
def test_odd_input_sizes_come_back_at_input_resolution(size):
    model = models.build_model("deeplabv3plus_mobilenet", num_classes=4, aux_loss=True).eval()
    with torch.no_grad():
        result = model(torch.randn(1, 3, *size))
    assert result["out"].shape == result["aux"].shape == (1, 4, *size)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_output_stride_of_the_backbone_features(output_stride):
    model = models.build_model("deeplabv3plus_resnet18", output_stride=output_stride).eval()
    with torch.no_grad():
        features = model.backbone(torch.randn(1, 3, 96, 96))
    assert features["out"].shape[-1] == 96 // output_stride
    assert features["low"].shape[-1] == 96 // 4
    rates = {8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}  # 6, 12, 18 times 16 / OS
    assert model.classifier.aspp.atrous_rates == rates[output_stride]


@pytest.mark.parametrize("name", SMALL + ["deeplabv1_largefov"])
def test_one_training_step_with_a_batch_of_two(name):
    aux = name != "deeplabv1_largefov"
    model = models.build_model(name, num_classes=3, aux_loss=aux).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    result = model(x)
    loss = sum(nn.functional.cross_entropy(v, y) for v in result.values())
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and set(result) == ({"out", "aux"} if aux else {"out"})
    first = next(model.backbone.parameters())  # the loss reaches the very first conv
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_each_head_gets_the_features_it_takes():
    with torch.device("meta"):
        v3plus, v3 = (
            models.build_model("deeplabv3plus_resnet18"),
            models.build_model("deeplabv3_resnet18"),
        )
        v1 = models.build_model("deeplabv1_largefov")
    assert v3plus.head_features == ("out", "low") and v3.head_features == v1.head_features == (
        "out",
    )
    assert v3plus.classifier.low_project[0].in_channels == 64  # ResNet-18's stride-4 features
    with pytest.raises(TypeError, match="head_features='out'"):
        models.SegmentationModel(v3.backbone, v3.classifier, head_features="out")


def test_a_batch_of_one_trains_without_image_pooling():
    model = models.build_model(
        "deeplabv1_largefov", num_classes=2
    ).train()  # no ASPP pooling branch
    assert model(torch.randn(1, 3, 33, 33))["out"].shape == (1, 2, 33, 33)


def test_builders_are_keyword_only_and_documented():
    for name in models.list_models():
        builder = getattr(models, name)
        assert builder.__name__ == name and "arxiv.org/abs/" in builder.__doc__
        with pytest.raises(TypeError):
            builder(21)
    with pytest.raises(
        TypeError, match=r"deeplabv3_resnet18\(\): unknown keywords \['outputstride'\]"
    ):
        models.build_model("deeplabv3_resnet18", outputstride=16)


@pytest.mark.filterwarnings("ignore:for classifier.*copying from a non-meta parameter")
@pytest.mark.parametrize(
    "name", ["deeplabv1_largefov", "deeplabv2_resnet101", "deeplabv3plus_resnet18"]
)
def test_weights_of_another_class_count_are_refused_for_every_head(tmp_path, name):
    with torch.device("meta"):
        saved = models.build_model(name, num_classes=3).classifier.state_dict()
    path = tmp_path / "three_classes.pth"  # only the head: enough to be checked, and small
    torch.save({f"classifier.{k}": torch.zeros(v.shape) for k, v in saved.items()}, path)
    with (
        torch.device("meta"),
        pytest.raises(ValueError, match="predict 3 classes; build with num_classes=3"),
    ):
        models.build_model(name, num_classes=5, weights=str(path))
    with torch.device("meta"), pytest.raises(RuntimeError, match="Missing key.*backbone"):
        models.build_model(
            name, num_classes=3, weights=str(path)
        )  # classes agree: strict load runs


def test_aux_head_is_an_fcn_head_on_stage_3():
    model = models.build_model("deeplabv3_resnet18", num_classes=6, aux_loss=True)
    assert model.aux_classifier[0].in_channels == model.backbone.channels["aux"] == 256
    assert models.build_model("deeplabv3_resnet18").aux_classifier is None
    with pytest.raises(ValueError, match="no auxiliary head"):
        models.build_model("deeplabv1_largefov", aux_loss=True)


def test_frozen_batchnorm_option():
    model = models.build_model("deeplabv3_resnet18", num_classes=3, freeze_bn=True).train()
    bn = model.backbone.bn1
    assert isinstance(bn, FrozenBatchNorm2d) and not bn.weight.requires_grad
    before = bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(bn.running_mean, before)
    assert type(model.classifier[2]) is nn.BatchNorm2d  # the head still learns
    trainable = costs.count_parameters(model, trainable_only=True)
    assert trainable == costs.count_parameters(model) - sum(
        p.numel() for m in model.backbone.modules() if isinstance(m, FrozenBatchNorm2d)
        for p in m.parameters()
    )  # fmt: skip


def test_channels_last_gives_the_same_outputs():
    model = models.build_model("deeplabv3plus_resnet18", num_classes=3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)["out"]
        fast = models.build_model("deeplabv3plus_resnet18", num_classes=3, channels_last=True)
        fast.load_state_dict(model.state_dict())
        got = fast.eval()(x.to(memory_format=torch.channels_last))["out"]
    assert fast.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_bad_inputs_raise_clear_errors():
    model = models.build_model("deeplabv3_resnet18", output_stride=16).eval()
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match="smaller than the output stride 16"):
        model(torch.randn(1, 3, 12, 64))
    with pytest.raises(ValueError, match="batch of 2 or more"):
        model.train()(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"output_stride=4 .*\(8, 16, 32\)"):
        models.build_model("deeplabv3_resnet18", output_stride=4)
    with pytest.raises(ValueError, match="num_classes"):
        models.build_model("deeplabv3_resnet18", num_classes=0)


@pytest.mark.parametrize(("name", "factory"), [("deeplabv3_resnet18", "resnet18"),
                                               ("deeplabv3plus_mobilenet", "mobilenet_v3_large")])  # fmt: skip
def test_imagenet_backbone_weights_from_a_local_file(tmp_path, name, factory):
    import torchvision

    classifier = randomize_(getattr(torchvision.models, factory)())
    path = tmp_path / f"{factory}.pth"
    torch.save(classifier.state_dict(), path)
    model = models.build_model(name, weights_backbone=str(path))
    first = model.backbone.conv1 if factory == "resnet18" else model.backbone.get_submodule("0.0")
    own = classifier.conv1 if factory == "resnet18" else classifier.features[0][0]
    torch.testing.assert_close(first.weight, own.weight)


def test_multi_grid_through_the_builder():
    model = models.build_model("deeplabv3plus_resnet50", output_stride=16, multi_grid=(1, 2, 4))
    assert [block.conv2.dilation[0] for block in model.backbone.layer4] == [2, 4, 8]
    with pytest.raises(ValueError, match="only ResNet"):
        models.build_model("deeplabv3plus_mobilenet", multi_grid=(1, 2, 4))


def test_atrous_rates_must_be_a_sequence_for_every_builder():
    with pytest.raises(TypeError, match=r"deeplabv1_largefov\(atrous_rates=12\)"):
        models.build_model("deeplabv1_largefov", atrous_rates=12)
    assert models.build_model("deeplabv1_largefov", atrous_rates=(12,)).classifier is not None


def test_separable_v3plus_saves_the_hand_derived_parameters_and_flops():
    def saved(c_in, c_out):  # dense 3x3 conv-BN minus depthwise conv-BN + pointwise conv-BN
        return (9 * c_in * c_out + 2 * c_out) - (9 * c_in + 2 * c_in + c_in * c_out + 2 * c_out)

    with torch.device("meta"):
        dense = models.build_model("deeplabv3plus_mobilenet")
        sep = models.build_model("deeplabv3plus_mobilenet", separable=True)
    # MobileNetV3-Large: 960 channels into ASPP (three atrous branches), decoder 304 -> 256 -> 256
    expected = 3 * saved(960, 256) + saved(304, 256) + saved(256, 256)
    assert expected == 7_007_280
    assert costs.count_parameters(dense) - costs.count_parameters(sep) == expected
    assert costs.count_parameters(sep) == 4_720_373
    assert list(dense.backbone.state_dict()) == list(sep.backbone.state_dict())
    # FLOPs at 64x64: the decoder runs at 16x16, ASPP at 4x4 (2 FLOPs per multiply-add)
    dense_macs = 9 * 304 * 256 + 9 * 256 * 256
    sep_macs = 9 * 304 + 304 * 256 + 9 * 256 + 256 * 256
    decoder = 2 * (dense_macs - sep_macs) * 16 * 16
    aspp = 3 * 2 * (9 * 960 * 256 - (9 * 960 + 960 * 256)) * 4 * 4
    assert costs.count_flops(dense, (64, 64)) - costs.count_flops(sep, (64, 64)) == decoder + aspp


def test_separable_option_builds_a_working_model_and_only_for_v3plus():
    model = models.build_model("deeplabv3plus_resnet18", num_classes=3, separable=True).eval()
    assert type(model.classifier.decoder[0]).__name__ == "AtrousSeparableConv2d"
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 48))["out"].shape == (1, 3, 64, 48)
    with pytest.raises(ValueError, match=r"separable=True: deeplabv3_resnet50 .* deeplabv3plus_"):
        models.build_model("deeplabv3_resnet50", separable=True)
    with pytest.raises(TypeError, match=r"deeplabv3plus_mobilenet\(separable=1\)"):
        models.build_model("deeplabv3plus_mobilenet", separable=1)
    assert (
        type(models.build_model("deeplabv3_resnet18", separable=False).classifier[0]).__name__
        == "ASPP"
    )
