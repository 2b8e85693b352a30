"""The explorers (dlcourse.widgets): pure plotting functions, wrappers, ipywidgets 7.7 and 8."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.text
import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dlcourse import widgets
from dlcourse.widgets import (
    Choice,
    Slider,
    Toggle,
    as_control,
    aspp_canvas,
    aspp_explorer,
    dilation_canvas,
    dilation_explorer,
    draw_aspp,
    draw_dilation,
    draw_stack,
    explore,
    figure_png,
    parse_rates,
    plot_dilation,
    plot_stack,
    shrink_photo,
    stack_canvas,
    stack_explorer,
    stack_support,
    start_values,
)

matplotlib.use("Agg")
PHOTO = np.zeros((60, 80, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig: Figure) -> str:
    found = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return "\n".join(found)


def test_as_control_short_hands():
    assert as_control("d", (1, 24)) == Slider(1, 24, 1, None)
    assert as_control("d", (1, 24, 2, 5)).start() == 5
    assert as_control("x", (0.0, 1.0, 0.1)).start() == 0.0
    assert as_control("m", ["a", "b"]) == Choice(("a", "b"))
    assert as_control("m", [("one", 1), ("two", 2)]).start() == 1
    assert as_control("t", True) == Toggle(True)
    assert start_values({"d": (1, 24, 1, 6), "m": ["a", "b"], "t": False}) == {"d": 6, "m": "a", "t": False}
    with pytest.raises(TypeError, match="controls\\['d'\\]"):
        as_control("d", "wide")
    with pytest.raises(ValueError, match="controls\\['d'\\]"):
        as_control("d", (5, 1))


def test_explore_static_fallback():
    calls = []

    def plot(rate, mode):
        calls.append((rate, mode))
        return plt.figure()

    result = explore(plot, {"rate": (1, 24, 1, 6), "mode": ["a", "b"]}, interactive=False)
    assert isinstance(result, Figure)
    assert calls == [(6, "a")]
    # no kernel in a test process: the automatic choice is the static figure
    assert isinstance(explore(plot, {"rate": (1, 3), "mode": ["c"]}), Figure)
    assert calls[-1] == (1, "c")
    with pytest.raises(ValueError, match="controls"):
        explore(plot, {})
    with pytest.raises(TypeError, match="plot_fn"):
        explore(None, {"rate": (1, 3)})


def test_explore_widgets_redraw():
    ipywidgets = pytest.importorskip("ipywidgets")
    calls = []

    def plot(rate, mode, show):
        calls.append((rate, mode, show))
        return plt.figure()

    box = explore(plot, {"rate": (1, 24), "mode": ["a", "b"], "show": True}, interactive=True, columns=2)
    assert isinstance(box, ipywidgets.VBox)
    assert isinstance(box.controls["rate"], ipywidgets.IntSlider)
    assert isinstance(box.controls["mode"], ipywidgets.Dropdown)
    assert isinstance(box.controls["show"], ipywidgets.Checkbox)
    assert len(box.children) == 3  # two rows of controls and the output
    assert calls == [(1, "a", True)]
    box.controls["rate"].value = 7
    box.controls["mode"].value = "b"
    assert calls[-2:] == [(7, "a", True), (7, "b", True)]
    assert plt.get_fignums() == []  # every drawn figure was closed


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
    assert [ax.get_visible() for ax in fig.axes] == [True, True, False] and "one path each" in _texts(fig)
    assert all(tuple(c) == (1.0, 0.0, 0.0, 1.0) for c in fig.axes[1].collections[0].get_facecolors())
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


def test_shrink_photo():
    photo = np.zeros((40, 60, 3), dtype=np.uint8)
    photo[:, 30:] = 200
    small = shrink_photo(photo, 0.5)
    assert small.shape == (20, 30, 3) and small[0, 0, 0] == 0 and small[0, 29, 0] == 200
    assert shrink_photo(photo, 1.5) is photo  # never enlarged


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


def test_stack_support_hand_values():
    # (3,1,1) then (3,1,2): the top unit reads units 0, 2, 4 of layer 1, which read inputs 0..6
    support = stack_support([(3, 1, 1), (3, 1, 2)])
    assert [s.tolist() for s in support] == [list(range(7)), [0, 2, 4], [0]]
    support = stack_support([(3, 2, 1), (3, 1, 1)])
    assert support[0].tolist() == list(range(7)) and support[1].tolist() == [0, 1, 2]
    # a 3x3 conv with dilation 2 on top of a stride-2 layer skips every other unit
    assert stack_support([(1, 2, 1), (3, 1, 2)])[0].tolist() == [0, 4, 8]


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
    real = widgets.draw_dilation

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(widgets, "draw_dilation", spy)
    box = dilation_explorer(PHOTO, interactive=True)
    assert calls == [{"kernel": 3, "dilation": 1, "layers": 1}]
    first = bytes(box.image.value)
    assert first.startswith(b"\x89PNG")
    assert set(box.controls) == {"kernel", "dilation", "layers", "rates"}
    assert box.controls["dilation"].max == 24
    box.controls["dilation"].value = 12
    assert calls[-1] == {"kernel": 3, "dilation": 12, "layers": 1}
    assert bytes(box.image.value) != first
    box.controls["rates"].value = "1,2,5"  # one rate per layer overrides the two sliders
    assert calls[-1] == {"kernel": 3, "dilation": (1, 2, 5), "layers": 3}
    assert "overrides" in box.message.value
    box.controls["rates"].value = "1,two"
    assert calls[-1] == {"kernel": 3, "dilation": 12, "layers": 1} and "whole numbers" in box.message.value
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


def test_plot_aspp_markers_stay_visible():
    photo = np.zeros((600, 512, 3), dtype=np.uint8)
    fig = aspp_canvas(photo, size=5.6, dpi=80)
    draw_aspp(fig, photo, rates=(12, 24, 36), output_stride=32)
    ax = fig.axes[0]
    to_screen = ax.transData.transform
    sides = []
    for patch in ax.patches[1:]:  # after the padding band
        (x0, y0), (x1, y1) = to_screen((patch.get_x(), patch.get_y())), to_screen(
            (patch.get_x() + patch.get_width(), patch.get_y() + patch.get_height()))
        sides.append(min(abs(x1 - x0), abs(y1 - y0)))
    assert min(sides) >= 7.0  # every tap and the 1x1 cell at least 7 screen pixels wide
    # the view shows every tap: rate 36 at OS 32 reaches 1152 px from the centre cell
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= 256 - 1152 and 256 + 1152 + 32 <= x1 and y0 <= 288 - 1152
    place = ax.get_position().bounds
    draw_aspp(fig, photo, rates=(1, 2, 3), output_stride=8, pooling=False)
    assert ax.get_position().bounds == pytest.approx(place) and len(ax.patches) == 1 + 27 + 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-1].startswith("1x1")  # no image pooling entry when it is off


def test_aspp_explorer():
    pytest.importorskip("ipywidgets")
    box = aspp_explorer(PHOTO, interactive=True)
    assert set(box.controls) == {"rate1", "rate2", "rate3", "output_stride", "pooling"}
    assert [box.controls[f"rate{i}"].value for i in (1, 2, 3)] == [6, 12, 18]  # the lesson's figure
    frames = [bytes(box.image.value)]
    box.controls["rate3"].value = 36
    frames.append(bytes(box.image.value))
    box.controls["output_stride"].value = 8
    frames.append(bytes(box.image.value))
    box.controls["pooling"].value = False
    frames.append(bytes(box.image.value))
    assert len(set(frames)) == 4
    import io

    from PIL import Image

    assert len({Image.open(io.BytesIO(frame)).size for frame in frames}) == 1
    assert plt.get_fignums() == []


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


IPYWIDGETS7_SCRIPT = textwrap.dedent(
    """
    import json, matplotlib
    matplotlib.use("Agg")
    import ipywidgets
    import numpy as np
    from matplotlib import pyplot as plt
    from dlcourse import widgets

    photo = np.zeros((60, 80, 3), dtype=np.uint8)
    calls = []
    real = widgets.draw_dilation
    widgets.draw_dilation = lambda *a, **k: calls.append(k) or real(*a, **k)
    box = widgets.dilation_explorer(photo, interactive=True)
    box.controls["dilation"].value = 5
    box.controls["layers"].value = 2
    box.controls["rates"].value = "1,2,5"
    stack = widgets.stack_explorer([(3, 1, 1)], interactive=True)
    stack.controls["stride"].value = 2
    stack.buttons["add layer"].click()
    aspp = widgets.aspp_explorer(photo, interactive=True)
    before = bytes(aspp.image.value)
    aspp.controls["output_stride"].value = 8
    generic = widgets.explore(lambda n, on: plt.figure(), {"n": (0.0, 1.0, 0.5), "on": True},
                              interactive=True)
    generic.controls["n"].value = 0.5
    print("RESULT" + json.dumps({
        "version": ipywidgets.__version__,
        "file": ipywidgets.__file__,
        "calls": calls,
        "stack": stack.layers,
        "aspp_redrawn": bytes(aspp.image.value) != before,
        "kinds": sorted(type(w).__name__ for w in generic.controls.values()),
        "open_figures": len(plt.get_fignums()),
    }))
    """
)


def test_widgets_build_and_redraw_with_ipywidgets_7():
    folder = Path(sys.prefix) / "ipywidgets7"
    if not (folder / "ipywidgets").is_dir():
        pytest.skip(f"no ipywidgets 7.7 copy at {folder}; `make test` installs it there")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", IPYWIDGETS7_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, (
        f"the widgets failed under ipywidgets 7.7 (ipywidgets 7 also needs ipython_genutils in "
        f"{folder}):\n{run.stderr[-3000:]}"
    )
    line = [line for line in run.stdout.splitlines() if "RESULT" in line][-1]
    result = json.loads(line.split("RESULT", 1)[1])
    assert result["version"].startswith("7.7"), result
    assert result["file"].startswith(str(folder)), result
    assert result["calls"] == [
        {"kernel": 3, "dilation": 1, "layers": 1},
        {"kernel": 3, "dilation": 5, "layers": 1},
        {"kernel": 3, "dilation": 5, "layers": 2},
        {"kernel": 3, "dilation": [1, 2, 5], "layers": 3},
    ]
    assert result["stack"] == [[3, 1, 1], [3, 2, 1]]
    assert result["aspp_redrawn"]
    assert result["kinds"] == ["Checkbox", "FloatSlider"]
    assert result["open_figures"] == 0


def test_without_ipywidgets_every_wrapper_draws_a_figure(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    assert not widgets.front_end_available()
    assert isinstance(explore(lambda rate: plt.figure(), {"rate": (1, 3)}), Figure)
    assert isinstance(dilation_explorer(PHOTO), Figure)
    assert isinstance(stack_explorer(), Figure)
    assert isinstance(aspp_explorer(PHOTO), Figure)
