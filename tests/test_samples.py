"""Tests of dlcourse.samples: the shipped photo and the hand-drawn masks."""

import json

import numpy as np
import pytest

from dlcourse import samples
from dlcourse.viz import VOID_INDEX


def test_sample_photo_is_the_matplotlib_portrait():
    photo = samples.sample_photo()
    assert photo.shape == (600, 512, 3) and photo.dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="no sample file"):
        samples.sample_photo("no_such_photo.jpg")


def test_sample_mask_covers_the_person_with_a_void_border():
    mask = samples.sample_mask()
    assert mask.shape == (600, 512)
    assert set(np.unique(mask).tolist()) == {0, 15, VOID_INDEX}
    assert mask[300, 256] == 15  # her face
    assert mask[100, 30] == 0  # the flag behind her
    assert mask[599, 256] == 15  # her uniform reaches the bottom edge
    person = np.mean(mask == 15)
    assert 0.5 < person < 0.6


def test_rasterize_polygons_fills_squares_exactly():
    objects = [{"class": "cat", "polygon": [[1, 1], [3, 1], [3, 3], [1, 3]]}]
    mask = samples.rasterize_polygons(objects, (5, 5))
    expected = np.zeros((5, 5), dtype=np.uint8)
    expected[1:4, 1:4] = 8
    np.testing.assert_array_equal(mask, expected)
    bordered = samples.rasterize_polygons(objects, (5, 5), void_width=1)
    assert bordered[1, 1] == VOID_INDEX and bordered[2, 2] == 8


def test_rasterize_polygons_rejects_unknown_classes():
    with pytest.raises(ValueError, match="unknown class 'unicorn'"):
        samples.rasterize_polygons(
            [{"class": "unicorn", "polygon": [[0, 0], [1, 0], [1, 1]]}], (2, 2)
        )


def test_load_annotation_reports_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        samples.load_annotation(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        samples.load_annotation(broken)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"width": 2, "height": 2}))
    with pytest.raises(ValueError, match="no 'objects' entry"):
        samples.load_annotation(partial)
    degenerate = tmp_path / "degenerate.json"
    degenerate.write_text(
        json.dumps({"width": 2, "height": 2, "objects": [{"class": "cat", "polygon": [[0, 0]]}]})
    )
    with pytest.raises(ValueError, match="fewer than 3 points"):
        samples.load_annotation(degenerate)
