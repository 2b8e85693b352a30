"""dlcourse.photo: reading a photo, published weights without surprise downloads, what a unit sees."""

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from PIL import Image

from dlcourse.data import IMAGENET_MEAN, IMAGENET_STD
from dlcourse.models import build_model
from dlcourse.photo import load_photo, photo_input, plot_unit_view, pretrained_model, unit_geometry
from dlcourse.rf_measure import measure_receptive_field
from dlcourse.weights import WeightsUnavailable


def test_load_photo_reads_and_shrinks(tmp_path):
    picture = np.zeros((40, 100, 3), dtype=np.uint8)
    picture[:, 50:] = 200
    Image.fromarray(picture).save(tmp_path / "wide.png")
    assert load_photo(tmp_path / "wide.png").shape == (40, 100, 3)
    small = load_photo(tmp_path / "wide.png", max_side=50)
    assert small.shape == (20, 50, 3) and small.dtype == np.uint8
    Image.fromarray(picture[..., 0]).save(tmp_path / "grey.png")  # grey photos become RGB
    assert load_photo(tmp_path / "grey.png").shape == (40, 100, 3)


def test_load_photo_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load_photo\(path=.*missing.jpg.*no such file"):
        load_photo(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ValueError, match=r"notes.jpg.*not an image"):
        load_photo(tmp_path / "notes.jpg")


def test_photo_input_normalises_like_imagenet():
    photo = np.full((2, 3, 3), 255, dtype=np.uint8)
    x = photo_input(photo)
    assert x.shape == (3, 2, 3)
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    torch.testing.assert_close(x[:, 0, 0], torch.tensor(expected))


def test_pretrained_model_never_downloads_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="download=False"):
        pretrained_model("deeplabv3_resnet50", download=False)
    assert not (tmp_path / "weights").exists() or not any((tmp_path / "weights").iterdir())
    with pytest.raises(ValueError, match=r"pretrained_model\(name='deeplabv9'\): unknown model"):
        pretrained_model("deeplabv9")
    with pytest.raises(ValueError, match="no published weights.*deeplabv3_resnet50"):
        pretrained_model("deeplabv3_resnet18")


def test_unit_geometry_of_resnet18_at_os16_by_hand():
    # stem 7x7/2 -> 7 (jump 2); maxpool 3/2 -> 11 (jump 4); layer1: 4 convs 3x3 -> 11 + 4 * 8 = 43;
    # layer2: 4 convs, the first at jump 4 -> 51, then jump 8 -> 51 + 3 * 16 = 99;
    # layer3: the first at jump 8 -> 115, then jump 16 -> 115 + 3 * 32 = 211;
    # layer4 at OS 16: stride 1, first conv dilation 1 -> 243, three with dilation 2 -> 243 + 3 * 64 = 435
    model = build_model("deeplabv3_resnet18", num_classes=4, output_stride=16)
    geometry = unit_geometry(model)
    assert (geometry.rf.size, geometry.rf.jump) == (435, 16)
    assert geometry.branches == (("1x1", 0), ("3x3 rate 6", 6), ("3x3 rate 12", 12),
                                 ("3x3 rate 18", 18), ("image pooling", -1))  # fmt: skip
    for size in (64, 97, 129):
        with torch.no_grad():
            out = model.backbone(torch.zeros(1, 3, size, size))["out"]
        assert geometry.output_size(size) == out.shape[-1]
    assert (
        geometry.unit_at(0, 64) == 0
        and geometry.unit_at(63, 64) == 3
        and geometry.unit_at(34, 64) == 2
    )


def test_unit_geometry_matches_the_measured_receptive_field():
    model = build_model("deeplabv1_largefov", num_classes=2)
    geometry = unit_geometry(model)
    assert geometry.branches == (("3x3 rate 12", 12),)  # fc6 of LargeFOV
    with torch.no_grad():
        assert (
            geometry.output_size(65) == model.backbone(torch.zeros(1, 3, 65, 65))["out"].shape[-1]
        )
    size = 241  # the centre unit (15 of 31) sees pixels 7 to 233: its whole field fits inside
    measured = measure_receptive_field(model.backbone, size, output_key="out")
    assert not measured.clipped
    assert measured.size == (geometry.rf.size, geometry.rf.size)
    top, _, bottom, _ = measured.box
    assert (top, bottom) == geometry.rf.span(measured.output_index[0])


def test_unit_geometry_refuses_mobilenet_and_other_modules():
    with torch.device("meta"):
        mobile = build_model("deeplabv3_mobilenet_v3_large")
    with pytest.raises(ValueError, match="use a ResNet or VGG model"):
        unit_geometry(mobile)
    with pytest.raises(TypeError, match="backbone \\+ classifier"):
        unit_geometry(torch.nn.Conv2d(3, 3, 3))


def test_plot_unit_view_draws_the_field_and_the_taps():
    model = build_model("deeplabv3_resnet18", num_classes=4, output_stride=16)
    geometry = unit_geometry(model)
    photo = np.zeros((64, 80, 3), dtype=np.uint8)
    fig = plot_unit_view(photo, geometry, 30, 40, labels=np.zeros((64, 80), dtype=np.int64))
    ax = fig.axes[0]
    assert len(fig.axes) == 2
    squares = sorted(round(p.get_width()) for p in ax.patches)
    assert squares == [
        80,
        435,
        435 + 2 * 6 * 16,
        435 + 2 * 12 * 16,
        435 + 2 * 18 * 16,
    ]  # photo border first
    centre = (
        2 * 16
    )  # unit (2, 2) under pixel (30, 40) sits at (32, 32); rate 18 reaches 217 + 288 px from it
    assert ax.get_xlim() == (centre - 217 - 288 - 2, centre + 217 + 288 + 2)
    assert [len(c.get_offsets()) for c in ax.collections] == [9, 9, 9]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"pixel \(64, 0\) is outside the 64x80 photo"):
        plot_unit_view(photo, geometry, 64, 0)
