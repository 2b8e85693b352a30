"""Reading and checking files (dlcourse.files): images, masks, class colours and the classes file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dlcourse.files import (
    check_pair,
    colors_to_labels,
    load_classes,
    read_image,
    read_mask,
    write_classes,
)
from dlcourse.voc import VOC_PALETTE, VOID_COLOR, voc_colormap


def test_read_image_gives_rgb_channels_first(tmp_path):
    pixels = np.zeros((4, 5, 3), dtype=np.uint8)
    pixels[1, 2] = (10, 20, 30)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.shape == (3, 4, 5) and image.dtype == torch.uint8
    assert image[:, 1, 2].tolist() == [10, 20, 30]
    Image.fromarray(pixels[..., 0]).save(tmp_path / "grey.png")  # grey-scale becomes RGB
    assert read_image(tmp_path / "grey.png").shape == (3, 4, 5)
    with pytest.raises(FileNotFoundError, match=r"image file .*missing\.jpg does not exist"):
        read_image(tmp_path / "missing.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg is not a readable image .*re-download"):
        read_image(tmp_path / "broken.jpg")


def test_read_mask_keeps_palette_and_grey_indices(tmp_path):
    labels = np.array([[0, 15, 255], [3, 3, 0]], dtype=np.uint8)
    palette_png = Image.fromarray(labels, mode="P")
    palette_png.putpalette(voc_colormap(256).reshape(-1).tolist())
    palette_png.save(tmp_path / "p.png")
    Image.fromarray(labels).save(tmp_path / "grey.png")
    for name in ("p.png", "grey.png"):
        mask = read_mask(tmp_path / name)
        assert mask.dtype == torch.int64 and mask.tolist() == labels.tolist()


def test_read_mask_looks_rgb_colours_up(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = VOC_PALETTE[15]  # person
    rgb[1, 2] = VOID_COLOR
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert read_mask(tmp_path / "rgb.png", VOC_PALETTE).tolist() == [[15, 0, 0], [0, 0, 255]]
    assert read_mask(tmp_path / "rgb.png", VOC_PALETTE, void=99)[1, 2] == 99
    with pytest.raises(ValueError, match=r"rgb\.png is a RGB image; save masks as palette"):
        read_mask(tmp_path / "rgb.png")  # no class colours given


def test_colors_to_labels_names_unknown_colours():
    rgb = np.array([[VOC_PALETTE[1], VOC_PALETTE[20], VOID_COLOR]], dtype=np.uint8)
    assert colors_to_labels(rgb, VOC_PALETTE).tolist() == [[1, 20, 255]]
    with pytest.raises(ValueError, match=r"my.png: colours \[\(1, 2, 3\)\] are not in the class"):
        colors_to_labels(np.array([[[1, 2, 3]]], dtype=np.uint8), VOC_PALETTE, "my.png")


def test_check_pair_refuses_wrong_sizes_and_values():
    image = torch.zeros(3, 2, 3, dtype=torch.uint8)
    good = torch.tensor([[0, 1, 255], [2, 2, 0]])
    check_pair(image, good, num_classes=3, mask_path="m.png")  # classes 0..2 and void pass
    with pytest.raises(ValueError, match=r"m\.png is \(2, 2\) \(HxW\) but its image is \(2, 3\)"):
        check_pair(image, good[:, :2], num_classes=3, mask_path="m.png")
    with pytest.raises(ValueError, match=r"holds values \[3\] .* 0\.\.2 nor void 255"):
        check_pair(image, torch.tensor([[0, 3, 0], [0, 0, 0]]), num_classes=3, mask_path="m.png")
    with pytest.raises(ValueError, match=r"holds values \[255\] .* nor void 99"):
        check_pair(image, good, num_classes=3, mask_path="m.png", void_index=99)


def test_classes_file_round_trip_and_errors(tmp_path):
    colors = np.array([[0, 0, 0], [255, 200, 0]], dtype=np.uint8)
    path = write_classes(tmp_path / "classes.json", ["ground", "road"], colors, void=99)
    spec = load_classes(path)
    assert spec["names"] == ["ground", "road"] and spec["void"] == 99
    assert spec["colors"].dtype == np.uint8 and spec["colors"].tolist() == colors.tolist()
    default = load_classes(write_classes(tmp_path / "voc.json", ["a", "b", "c"]))
    assert default["colors"].tolist() == VOC_PALETTE[:3].tolist() and default["void"] == 255
    with pytest.raises(FileNotFoundError, match="write one with write_classes"):
        load_classes(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_classes(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text('{"names": ["a", "b"], "colors": [[0, 0, 0]]}')
    with pytest.raises(ValueError, match="'names' and 'colors' lists of the same length"):
        load_classes(tmp_path / "short.json")
