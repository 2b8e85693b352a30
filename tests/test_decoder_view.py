"""Tests of dlcourse.decoder_view: the DeepLab-v3+ encoder-decoder drawn from the model."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib import pyplot as plt

from dlcourse import decoder_view


def test_plot_encoder_decoder_labels_the_models_own_sizes():
    from dlcourse.models import build_model

    with torch.device("meta"):
        model = build_model("deeplabv3plus_mobilenet", num_classes=21)
    model.train()
    fig = decoder_view.plot_encoder_decoder(model, 513)
    texts = [t.get_text() for t in fig.axes[0].texts]
    # 513 -> stride 4: 129, stride 16: 33 (MobileNetV3-Large: 24 low-level, 960 high-level channels)
    for label in ["image\n3 x 513 x 513", "backbone\noutput stride 16",
                  "high-level features\n960 x 33 x 33", "ASPP\n256 x 33 x 33",
                  "upsample x4\n256 x 129 x 129", "low-level features\n24 x 129 x 129",
                  "1x1 conv\n48 x 129 x 129", "concat\n304 x 129 x 129",
                  "3x3 conv\n256 x 129 x 129", "classifier\n21 x 129 x 129",
                  "upsample x4\n21 x 513 x 513"]:  # fmt: skip
        assert label in texts, label
    assert texts.count("3x3 conv\n256 x 129 x 129") == 2
    assert len(fig.axes[0].patches) == 12  # one box per tensor and the backbone
    assert model.training  # the forward pass ran in eval mode and restored the mode
    plt.close(fig)


def test_plot_encoder_decoder_follows_the_input_size_and_the_separable_option():
    from dlcourse.models import build_model

    with torch.device("meta"):
        model = build_model("deeplabv3plus_resnet18", num_classes=3, separable=True)
    shapes = decoder_view.encoder_decoder_shapes(model, (64, 96))
    assert shapes["low"] == (1, 64, 16, 24) and shapes["out"] == (1, 512, 4, 6)
    assert shapes["concat"] == (1, 304, 16, 24) and shapes["scores"] == (1, 3, 64, 96)
    fig = decoder_view.plot_encoder_decoder(model, (64, 96))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("3x3 separable conv\n256 x 16 x 24") == 2
    assert "upsample x4\n3 x 64 x 96" in texts
    plt.close(fig)


def test_plot_encoder_decoder_rejects_other_models_and_bad_sizes():
    from dlcourse.models import build_model

    with torch.device("meta"):
        v3 = build_model("deeplabv3_resnet18")
        v3plus = build_model("deeplabv3plus_resnet18")
    with pytest.raises(ValueError, match=r"model=SegmentationModel.*DeepLab-v3\+"):
        decoder_view.plot_encoder_decoder(v3)
    for bad in [0, "513", (64,), (64.5, 64), True]:
        with pytest.raises(ValueError, match="input_size="):
            decoder_view.plot_encoder_decoder(v3plus, bad)
