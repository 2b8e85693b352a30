"""Tests of dlcourse.inference: multi-scale + flip prediction, evaluation, ranking."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from dlcourse import inference as I
from dlcourse.metrics import SegmentationMetrics


class ConvNet(nn.Module):
    """A stand-in model with BN (so train/eval mode matters) that returns a dict."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, num_classes, 3, padding=1)
        self.bn = nn.BatchNorm2d(num_classes)
        self.bn.running_mean.uniform_(-0.2, 0.2)

    def forward(self, x):
        return {"out": self.bn(self.conv(x))}


class ChannelArgmax(nn.Module):
    """Predicts class k where input channel k is largest: a model whose answers we choose."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        return self.scale * x


def pairs_from_labels(preds, targets):
    """Images whose channel argmax is ``preds``, paired with ``targets``."""
    return [
        (F.one_hot(p, 3).permute(2, 0, 1).float(), t) for p, t in zip(preds, targets, strict=True)
    ]


def test_predict_single_scale_is_the_softmax_in_eval_mode():
    model = ConvNet().train()
    x = torch.randn(2, 3, 8, 10)
    probs = I.predict(model, x)
    assert model.training is True  # predict gives the mode back
    model.eval()
    with torch.no_grad():
        expected = model(x)["out"].softmax(1)
    torch.testing.assert_close(probs, expected)  # BN used its running statistics
    assert I.predict(model, x[0]).shape == (3, 8, 10)


def test_predict_multiscale_and_flip_by_hand():
    model = ConvNet().eval()
    x = torch.randn(1, 3, 12, 16)
    got = I.predict(model, x, scales=(0.5, 1.5), flip=True)
    parts = []
    with torch.no_grad():
        for scale in (0.5, 1.5):
            small = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
            for mirror in (False, True):
                inp = small.flip(-1) if mirror else small
                logits = model(inp)["out"]
                logits = logits.flip(-1) if mirror else logits
                logits = F.interpolate(logits, size=(12, 16), mode="bilinear", align_corners=False)
                parts.append(logits.softmax(1))
    torch.testing.assert_close(got, sum(parts) / 4)
    torch.testing.assert_close(got.sum(1), torch.ones(1, 12, 16))


def test_predict_rejects_bad_inputs():
    model = ConvNet()
    with pytest.raises(ValueError, match="scales"):
        I.predict(model, torch.randn(3, 8, 8), scales=())
    with pytest.raises(ValueError, match="scales"):
        I.predict(model, torch.randn(3, 8, 8), scales=(1.0, -0.5))
    with pytest.raises(ValueError, match="image"):
        I.predict(model, torch.randn(8, 8))


def test_evaluate_counts_pixels_over_the_whole_set():
    # image 0: 4 pixels, one background pixel called class 1; image 1: perfect, one void pixel
    preds = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[2, 2], [0, 0]])]
    targets = [torch.tensor([[0, 0], [1, 2]]), torch.tensor([[2, 2], [0, 255]])]
    data = pairs_from_labels(preds, targets)
    scores = I.evaluate(ChannelArgmax(), data, num_classes=3)
    # confusion (rows truth): class 0: 2 right + 1 -> 1; class 1: 1 right; class 2: 3 right
    assert scores["confusion"].tolist() == [[2, 1, 0], [0, 1, 0], [0, 0, 3]]
    assert scores["pixel_acc"] == pytest.approx(6 / 7)
    assert scores["iou"].tolist() == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert scores["miou"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert scores["mean_acc"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    batched = I.evaluate(ChannelArgmax(), DataLoader(data, batch_size=2), num_classes=3)
    assert torch.equal(batched["confusion"], scores["confusion"])
    reference = SegmentationMetrics(3)
    for p, t in zip(preds, targets, strict=True):
        reference.update(p[None], t[None])
    assert torch.equal(reference.matrix(), scores["confusion"])
    with pytest.raises(ValueError, match="empty"):
        I.evaluate(ChannelArgmax(), [], num_classes=3)


def test_rank_images_worst_first():
    preds = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[2, 2], [0, 0]])]
    targets = [torch.tensor([[0, 0], [1, 2]]), torch.tensor([[2, 2], [0, 255]])]
    ranked = I.rank_images(ChannelArgmax(), pairs_from_labels(preds, targets), num_classes=3)
    assert [index for index, _ in ranked] == [0, 1]
    assert ranked[0][1] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)  # image 0: IoU 1/2, 1/2, 1
    assert ranked[1][1] == 1.0


def test_with_output_stride_keeps_the_weights():
    from dlcourse.models import build_model

    torch.manual_seed(0)
    model = build_model("deeplabv3_resnet18", num_classes=3, output_stride=16).eval()
    dense = I.with_output_stride("deeplabv3_resnet18", model, 8, num_classes=3)
    assert dense.output_stride == 8 and not dense.training
    for (name, a), b in zip(model.state_dict().items(), dense.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert dense(x)["out"].shape == model(x)["out"].shape == (1, 3, 64, 64)
        same = I.with_output_stride("deeplabv3_resnet18", model, 16, num_classes=3)
        torch.testing.assert_close(same(x)["out"], model(x)["out"])
    with pytest.raises(ValueError, match="num_classes"):
        I.with_output_stride("deeplabv3_resnet18", model, 8, num_classes=5)


def test_evaluate_with_flip_scores_a_real_model():
    torch.manual_seed(0)
    model = ConvNet()
    data = [(torch.randn(3, 8, 8), torch.randint(0, 3, (8, 8))) for _ in range(3)]
    scores = I.evaluate(model, data, num_classes=3, scales=(0.75, 1.0), flip=True)
    assert int(scores["confusion"].sum()) == 3 * 64
    assert 0 <= scores["miou"] <= 1 and not math.isnan(scores["fwiou"])
