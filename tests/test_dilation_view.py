"""Lesson 02 on screen (dlcourse.dilation_view): the dilation figure and its explorer."""

import matplotlib
import numpy as np
import pytest
from helpers import figure_texts, frame_pixels
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dlcourse import dilation_view
from dlcourse.dilation_view import (
    dilation_canvas,
    dilation_explorer,
    draw_dilation,
    parse_rates,
    plot_dilation,
)

matplotlib.use("Agg")
PHOTO = np.zeros((60, 80, 3), dtype=np.uint8)


def test_plot_dilation_titles_and_taps():
    fig = plot_dilation(PHOTO, kernel=3, dilation=2, layers=3)
    text = figure_texts(fig)
    assert "RF 13x13" in text
    assert "49 of 169" in text
    fig = plot_dilation(PHOTO, kernel=3, dilation=(1, 2, 5))
    assert "dilation 1,2,5" in figure_texts(fig) and "289 of 289" in figure_texts(fig)
    # one 3x3 layer with dilation 6: 9 taps, 6 pixels apart, around the centre (30, 40)
    fig = plot_dilation(PHOTO, kernel=3, dilation=6)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert sorted({float(x) for x in offsets[:, 0]}) == [34.0, 40.0, 46.0]
    assert sorted({float(y) for y in offsets[:, 1]}) == [24.0, 30.0, 36.0]


def test_plot_dilation_colour_bar_only_when_paths_differ():
    # one layer: every tap has exactly one path, so there is no 1-2 colour bar and the taps are red
    fig = plot_dilation(PHOTO, kernel=3, dilation=6)
    assert [ax.get_visible() for ax in fig.axes] == [
        True,
        True,
        False,
    ] and "one path each" in figure_texts(fig)
    assert all(
        tuple(c) == (1.0, 0.0, 0.0, 1.0) for c in fig.axes[1].collections[0].get_facecolors()
    )
    fig = plot_dilation(PHOTO, kernel=3, dilation=(1, 2, 5))
    assert all(ax.get_visible() for ax in fig.axes) and "paths to the output" in figure_texts(fig)
    assert fig.axes[1].collections[0].get_clim() == (1.0, 4.0)  # at most 2 paths per axis: 2 * 2
    assert fig.axes[2].get_ylim() == (1.0, 4.0)  # the colour bar runs from 1 path to the most


def test_dilation_redraws_in_place_with_a_fixed_layout():
    photo = np.full((60, 80, 3), 200, dtype=np.uint8)
    fig = dilation_canvas(photo, size=3.0, dpi=50)
    draw_dilation(fig, photo, kernel=3, dilation=1)
    first = frame_pixels(fig)
    artists = [len(ax.get_children()) for ax in fig.axes]
    place = fig.axes[0].get_position().bounds
    # a long title (4 layers, per-layer rates, larger than the photo) must not move the photo
    draw_dilation(fig, photo, kernel=7, dilation=(1, 2, 5, 9), layers=4)
    assert fig.axes[0].get_position().bounds == place
    assert frame_pixels(fig).shape == first.shape == (150, 330, 3)  # 3 x 50 px tall, 2.2 x as wide
    draw_dilation(fig, photo, kernel=3, dilation=1)
    assert [len(ax.get_children()) for ax in fig.axes] == artists  # nothing left behind
    assert np.array_equal(frame_pixels(fig), first)


def test_parse_rates():
    assert parse_rates("1,2,5") == (1, 2, 5)
    assert parse_rates(" 1 2, 9 ") == (1, 2, 9)
    assert parse_rates("") is None and parse_rates("  ") is None
    for bad in ("1,x", "0,1", "1.5", "-1", "1,2,65"):
        with pytest.raises(ValueError, match="rates"):
            parse_rates(bad)
    with pytest.raises(ValueError, match="at most 8"):
        parse_rates("1," * 9)
    with pytest.raises(TypeError, match="text"):
        parse_rates((1, 2, 5))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"kernel": 0}, "kernel"), ({"dilation": 0}, "dilation"), ({"center": (100, 0)}, "center"),
     ({"dilation": []}, "layers")],
)  # fmt: skip
def test_plot_dilation_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        plot_dilation(PHOTO, **kwargs)


def test_dilation_explorer(monkeypatch):
    assert isinstance(dilation_explorer(PHOTO, interactive=False), Figure)
    pytest.importorskip("ipywidgets")
    calls = []
    real = dilation_view.draw_dilation

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(dilation_view, "draw_dilation", spy)
    box = dilation_explorer(PHOTO, interactive=True)
    assert calls == [{"kernel": 3, "dilation": 1, "layers": 1}]
    first = bytes(box.image.value)
    assert first.startswith(b"\xff\xd8")  # a JPEG: the frame is mostly a photo
    assert set(box.controls) == {"kernel", "dilation", "layers", "rates"}
    assert box.controls["dilation"].max == 24
    box.controls["dilation"].value = 12
    assert calls[-1] == {"kernel": 3, "dilation": 12, "layers": 1}
    assert bytes(box.image.value) != first
    box.controls["rates"].value = "1,2,5"  # one rate per layer overrides the two sliders
    assert calls[-1] == {"kernel": 3, "dilation": (1, 2, 5), "layers": 3}
    assert "overrides" in box.message.value
    box.controls["rates"].value = "1,two"
    assert (
        calls[-1] == {"kernel": 3, "dilation": 12, "layers": 1}
        and "whole numbers" in box.message.value
    )
    box.controls["rates"].value = ""
    assert box.message.value == ""
    assert plt.get_fignums() == [1]  # only the static figure of the first line is still open
    assert len(calls) == 5  # one redraw per change, none twice


def test_plot_dilation_speed():
    # an update must feel immediate; generous bound for a busy 2-core machine
    from dlcourse.samples import sample_photo

    photo = sample_photo()
    plt.close(plot_dilation(photo))
    import time

    start = time.perf_counter()
    for dilation in (1, 8, 24):
        plt.close(plot_dilation(photo, kernel=3, dilation=dilation, layers=2))
    assert (time.perf_counter() - start) / 3 < 1.0
