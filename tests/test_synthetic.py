"""Tests of dlcourse.synthetic: the layout, determinism, labels that follow the frame colour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dlcourse.data import VOCDataset
from dlcourse.files import load_classes
from dlcourse.synthetic import (
    SYNTHETIC_CLASSES,
    SYNTHETIC_PALETTE,
    frame_distance,
    make_synthetic,
    synthetic_sample,
)


def test_make_synthetic_layout_and_determinism(tmp_path, synthetic):
    assert (synthetic / "ImageSets/Segmentation/train.txt").read_text().split() == [
        f"syn_{i:05d}" for i in range(12)
    ]
    assert len((synthetic / "ImageSets/Segmentation/val.txt").read_text().split()) == 4
    again = make_synthetic(tmp_path / "again", n_train=12, n_val=4, size=48, seed=3)
    other = make_synthetic(tmp_path / "other", n_train=12, n_val=4, size=48, seed=4)
    first = sorted((synthetic / "SegmentationClass").iterdir())
    assert len(first) == 16
    for path in first + sorted((synthetic / "JPEGImages").iterdir()):
        relative = path.relative_to(synthetic)
        assert path.read_bytes() == (again / relative).read_bytes()
    assert any(
        (synthetic / "JPEGImages" / p.name).read_bytes() != p.read_bytes()
        for p in (other / "JPEGImages").iterdir()
    )
    spec = load_classes(synthetic / "classes.json")
    assert spec["names"] == list(SYNTHETIC_CLASSES)
    np.testing.assert_array_equal(spec["colors"], SYNTHETIC_PALETTE)


def test_synthetic_labels_follow_the_frame_colour(synthetic):
    dataset = VOCDataset(synthetic, "train")
    assert dataset.class_names == SYNTHETIC_CLASSES and dataset.num_classes == 4
    for index in range(len(dataset)):
        image, mask = dataset[index]
        with Image.open(dataset.pairs[index][1]) as png:
            assert png.mode == "P"
        objects = set(mask.unique().tolist()) - {0, 255}
        assert len(objects) == 1  # one object class per image ...
        (k,) = objects
        # ... the class whose colour is the frame
        assert image[:, 0, 0].tolist() == SYNTHETIC_PALETTE[k].tolist()
        assert (mask == 255).any()  # object borders are void
        # the shapes stay clear of the frame by about a quarter of the image
        rows, cols = torch.nonzero(mask == k, as_tuple=True)
        assert rows.min() >= 48 * 0.19 and cols.max() <= 48 * 0.81


def test_make_synthetic_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        make_synthetic(tmp_path, n_train=0)
    with pytest.raises(ValueError, match="size"):
        make_synthetic(tmp_path, n_train=1, size=16)


@pytest.mark.parametrize("size", [32, 64, 100])
def test_frame_distance_matches_the_synthetic_frame(size):
    distance = frame_distance(size)
    assert distance.shape == (size, size) and distance.dtype == torch.int64
    image, mask = synthetic_sample(size, np.random.default_rng(size))
    frame = (distance <= 0).numpy()
    colours = {tuple(c) for c in image[frame].tolist()}
    assert len(colours) == 1 and list(colours.pop()) in SYNTHETIC_PALETTE.tolist()
    assert distance.max() == (size - 1) // 2 - max(2, size // 16) + 1
    assert int(distance[size // 2, 0]) == 1 - max(2, size // 16)  # on the frame's outer edge
    assert not (mask[frame] > 0).any()  # shapes never touch the frame
