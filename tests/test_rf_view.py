"""Lessons 01 and 02 on screen (dlcourse.rf_view): the stack and dilation figures and explorers."""

import matplotlib
import matplotlib.text
import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dlcourse import rf_view
from dlcourse.rf_view import (
    dilation_canvas,
    dilation_explorer,
    draw_dilation,
    draw_stack,
    parse_rates,
    plot_dilation,
    plot_stack,
    stack_canvas,
    stack_explorer,
)
from dlcourse.widgets import figure_png

matplotlib.use("Agg")
PHOTO = np.zeros((60, 80, 3), dtype=np.uint8)


def _texts(fig: Figure) -> str:
    found = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return "\n".join(found)


def test_plot_dilation_titles_and_taps():
    fig = plot_dilation(PHOTO, kernel=3, dilation=2, layers=3)
    text = _texts(fig)
    assert "RF 13x13" in text
    assert "49 of 169" in text
    fig = plot_dilation(PHOTO, kernel=3, dilation=(1, 2, 5))
    assert "dilation 1,2,5" in _texts(fig) and "289 of 289" in _texts(fig)
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
    ] and "one path each" in _texts(fig)
    assert all(
        tuple(c) == (1.0, 0.0, 0.0, 1.0) for c in fig.axes[1].collections[0].get_facecolors()
    )
    fig = plot_dilation(PHOTO, kernel=3, dilation=(1, 2, 5))
    assert all(ax.get_visible() for ax in fig.axes) and "paths to the output" in _texts(fig)
    assert fig.axes[1].collections[0].get_clim() == (1.0, 4.0)  # at most 2 paths per axis: 2 * 2
    assert fig.axes[2].get_ylim() == (1.0, 4.0)  # the colour bar runs from 1 path to the most


def _frame(fig: Figure) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(figure_png(fig))).convert("RGB"))


def test_dilation_redraws_in_place_with_a_fixed_layout():
    photo = np.full((60, 80, 3), 200, dtype=np.uint8)
    fig = dilation_canvas(photo, size=3.0, dpi=50)
    draw_dilation(fig, photo, kernel=3, dilation=1)
    first = _frame(fig)
    artists = [len(ax.get_children()) for ax in fig.axes]
    place = fig.axes[0].get_position().bounds
    # a long title (4 layers, per-layer rates, larger than the photo) must not move the photo
    draw_dilation(fig, photo, kernel=7, dilation=(1, 2, 5, 9), layers=4)
    assert fig.axes[0].get_position().bounds == place
    assert _frame(fig).shape == first.shape == (150, 330, 3)  # 3 x 50 px tall, 2.2 x as wide
    draw_dilation(fig, photo, kernel=3, dilation=1)
    assert [len(ax.get_children()) for ax in fig.axes] == artists  # nothing left behind
    assert np.array_equal(_frame(fig), first)


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


def test_plot_stack():
    fig = plot_stack([(3, 1, 1), (3, 2, 1), (3, 1, 2), (3, 1, 1)])
    text = _texts(fig)
    assert "RF 17, jump 2" in text and "RF 5, jump 2" in text
    assert "sees 17 input pixels" in text
    empty = plot_stack([])
    empty.canvas.draw()
    assert "sees 1 input pixel" in _texts(empty) and "pixels" not in empty.axes[0].get_title()
    low, high = empty.axes[0].get_xlim()
    ticks = [float(x) for x in empty.axes[0].get_xticks() if low <= x <= high]
    assert ticks == [0.0]  # a chain without layers: one input pixel, no fractional ticks
    with pytest.raises(ValueError, match="stride"):
        plot_stack([(3, 0, 1)])


def test_plot_stack_preview_shows_the_chain_after_the_next_layer():
    fig = plot_stack([(3, 1, 1)], preview=(3, 2, 1))
    text = _texts(fig)
    # RF 3 + (3 - 1) x jump 1 = 5; the jump becomes 1 x 2
    assert "sees 3 input pixels; with the next layer (dashed), 5 input pixels" in text
    assert "next: k=3 s=2 d=1: RF 5, jump 2" in text
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["input", "layer 1", "next?"]
    # the coloured input units are those that feed the preview's top unit: 0..4
    assert fig.axes[0].collections[1].get_offsets()[:, 0].tolist() == list(range(5))


def test_stack_canvas_has_one_size_for_every_chain():
    fig = stack_canvas(5, dpi=40)
    sizes = set()
    for chain in ([], [(3, 1, 1)], [(3, 2, 1)] * 3, [(5, 1, 2)] * 4):
        draw_stack(fig, chain)
        sizes.add(_frame(fig).shape)
    assert sizes == {(int(40 * (0.5 * 5 + 1.0)), 380, 3)}
    with pytest.raises(ValueError, match="levels=6"):
        draw_stack(fig, [(3, 1, 1)] * 4, preview=(3, 1, 1))
    with pytest.raises(ValueError, match="levels"):
        stack_canvas(0)


def test_dilation_explorer(monkeypatch):
    assert isinstance(dilation_explorer(PHOTO, interactive=False), Figure)
    pytest.importorskip("ipywidgets")
    calls = []
    real = rf_view.draw_dilation

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(rf_view, "draw_dilation", spy)
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


def test_stack_explorer():
    assert isinstance(stack_explorer(interactive=False), Figure)
    pytest.importorskip("ipywidgets")
    box = stack_explorer([(3, 1, 1)], max_layers=3, interactive=True)
    first = bytes(box.image.value)
    box.controls["dilation"].value = 2  # the sliders move the dashed preview at once
    assert bytes(box.image.value) != first and box.layers == [(3, 1, 1)]
    box.buttons["add layer"].click()
    assert box.layers == [(3, 1, 1), (3, 1, 2)]
    box.buttons["add layer"].click()
    assert len(box.layers) == 3 and box.buttons["add layer"].disabled
    assert "3 of 3 layers, the limit" in box.message.value
    box.buttons["add layer"].click()  # a click that slips through changes nothing
    assert len(box.layers) == 3
    box.buttons["remove last"].click()
    assert len(box.layers) == 2 and not box.buttons["add layer"].disabled
    box.buttons["reset"].click()
    assert box.layers == [(3, 1, 1)]
    box.buttons["remove last"].click()
    assert box.layers == [] and box.buttons["remove last"].disabled
    assert plt.get_fignums() == [1]  # the explorer's own figure is not left to pyplot
    with pytest.raises(ValueError, match="max_layers"):
        stack_explorer(max_layers=0)
    with pytest.raises(ValueError, match="max_layers=1"):
        stack_explorer([(3, 1, 1)] * 2, max_layers=1)


def test_stack_explorer_rapid_clicks_keep_one_size_and_warn_nothing():
    pytest.importorskip("ipywidgets")
    import io
    import warnings

    from PIL import Image

    box = stack_explorer([(3, 1, 1)], interactive=True)
    sizes = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(10):
            box.buttons["add layer"].click()
            sizes.add(Image.open(io.BytesIO(box.image.value)).size)
    assert len(box.layers) == 8 and sizes == {(760, 440)}  # 9.5 x 5.5 inches at 80 dpi


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
