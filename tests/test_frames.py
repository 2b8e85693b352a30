"""The pieces of a live explorer's frame (dlcourse.frames): artists, bytes, titles and legends as HTML."""

import io

import matplotlib
import numpy as np
import pytest
from helpers import two_panel_figure
from matplotlib import pyplot as plt
from PIL import Image

from dlcourse.frames import (
    axes_pixels,
    clear_frame,
    explorer_photo,
    figure_jpeg,
    figure_png,
    legends_html,
    shrink_photo,
    tag_frame,
    titles_html,
)
from dlcourse.samples import sample_photo

matplotlib.use("Agg")


def test_titles_and_legends_travel_as_html():
    fig = two_panel_figure()
    titles = titles_html(fig)
    # each title over its own axes: 4 in x 50 dpi = 200 px wide, two panels of 100 px
    assert "left:0px;width:100px" in titles and "left:100px;width:100px" in titles
    assert "photo<br>RF 13x13" in titles and "zoom" in titles
    assert not any(ax.title.get_visible() for ax in fig.axes)  # not drawn into the picture any more
    legend = legends_html(fig)
    assert "background:#ff0000;border:2px solid #0000ff" in legend and "rate 6" in legend
    assert "background:transparent;border:2px solid #00ff00" in legend
    assert "image<br>pooling" in legend
    assert fig.axes[1].get_legend() is None
    escaped, ax = plt.subplots()
    ax.set_title("<script>alert(1)</script>")
    assert "<script" not in titles_html(escaped) and "&lt;script&gt;" in titles_html(escaped)
    plt.close("all")


def test_a_frame_removes_only_its_own_artists():
    fig, ax = plt.subplots()
    static = ax.plot([0, 1], [0, 1])[0]
    tag_frame(fig, ax.plot([0, 1], [1, 0])[0], ax.text(0.5, 0.5, "frame"))
    assert len(ax.lines) == 2 and len(ax.texts) == 1
    clear_frame(fig)
    assert list(ax.lines) == [static] and len(ax.texts) == 0
    clear_frame(fig)  # nothing left to remove: a no-op
    assert list(ax.lines) == [static]
    plt.close(fig)


def test_figure_bytes_keep_the_figure_size():
    fig = plt.figure(figsize=(3, 2), dpi=40)
    assert Image.open(io.BytesIO(figure_png(fig))).size == (120, 80)
    jpeg = figure_jpeg(fig)
    assert jpeg.startswith(b"\xff\xd8") and Image.open(io.BytesIO(jpeg)).size == (120, 80)
    plt.close(fig)


def test_axes_pixels_and_shrink_photo():
    fig = two_panel_figure()
    # 200 x 100 px, two panels side by side; matplotlib's default margins keep 0.77 of the height
    assert axes_pixels(fig.axes[0]) == pytest.approx((100.0, 77.0))
    plt.close(fig)
    photo = np.zeros((40, 60, 3), dtype=np.uint8)
    photo[:, 30:] = 200
    small = shrink_photo(photo, 0.5)
    assert small.shape == (20, 30, 3) and small[0, 0, 0] == 0 and small[0, 29, 0] == 200
    assert shrink_photo(photo, 1.5) is photo  # never enlarged


def test_explorer_photo_is_the_sample_photo_or_yours():
    assert np.array_equal(explorer_photo(), sample_photo())
    mine = np.full((8, 9, 3), 7, dtype=np.uint8)
    assert np.array_equal(explorer_photo(mine), mine)
