"""Lesson 01 on screen (dlcourse.stack_view): the conv chain level by level and its explorer."""

import matplotlib
import pytest
from helpers import figure_texts, frame_pixels
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dlcourse.stack_view import draw_stack, plot_stack, stack_canvas, stack_explorer

matplotlib.use("Agg")


def test_plot_stack():
    fig = plot_stack([(3, 1, 1), (3, 2, 1), (3, 1, 2), (3, 1, 1)])
    text = figure_texts(fig)
    assert "RF 17, jump 2" in text and "RF 5, jump 2" in text
    assert "sees 17 input pixels" in text
    empty = plot_stack([])
    empty.canvas.draw()
    assert "sees 1 input pixel" in figure_texts(empty) and "pixels" not in empty.axes[0].get_title()
    low, high = empty.axes[0].get_xlim()
    ticks = [float(x) for x in empty.axes[0].get_xticks() if low <= x <= high]
    assert ticks == [0.0]  # a chain without layers: one input pixel, no fractional ticks
    with pytest.raises(ValueError, match="stride"):
        plot_stack([(3, 0, 1)])


def test_plot_stack_preview_shows_the_chain_after_the_next_layer():
    fig = plot_stack([(3, 1, 1)], preview=(3, 2, 1))
    text = figure_texts(fig)
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
        sizes.add(frame_pixels(fig).shape)
    assert sizes == {(int(40 * (0.5 * 5 + 1.0)), 380, 3)}
    with pytest.raises(ValueError, match="levels=6"):
        draw_stack(fig, [(3, 1, 1)] * 4, preview=(3, 1, 1))
    with pytest.raises(ValueError, match="levels"):
        stack_canvas(0)


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
