"""The explorer framework (dlcourse.widgets): controls, the generic wrapper, live figures, ipywidgets 7.7 and 8.

The pieces of a frame (bytes, titles and legends as HTML) are tested in test_frames.py.
"""

import io
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
from helpers import two_panel_figure
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

from dlcourse import widgets
from dlcourse.widgets import LiveFigure, explore, live_explorer, make_controls

matplotlib.use("Agg")
ipywidgets = pytest.importorskip("ipywidgets")


def test_make_controls_takes_ipywidgets_abbreviations():
    made = make_controls({"d": (1, 24), "x": (0.0, 1.0, 0.1), "m": ["a", "b"], "t": True},
                         defaults={"d": 6}, labels={"d": "dilation"})  # fmt: skip
    assert [type(made[n]).__name__ for n in "dxmt"] == [
        "IntSlider",
        "FloatSlider",
        "Dropdown",
        "Checkbox",
    ]
    assert (made["d"].min, made["d"].max, made["d"].value, made["d"].description) == (
        1,
        24,
        6,
        "dilation",
    )
    assert (
        made["x"].step == pytest.approx(0.1) and made["m"].value == "a" and made["t"].value is True
    )
    assert made["t"].description == "t"  # no label given: the keyword
    assert make_controls({"d": (1, 24)})["d"].value == 12  # ipywidgets' own start: the middle
    assert not made["d"].continuous_update and not made["x"].continuous_update  # redraw on release
    slider = ipywidgets.IntSlider(value=3, min=1, max=9, description="kernel size")
    assert make_controls({"k": slider})["k"] is slider and slider.description == "kernel size"
    with pytest.raises(ValueError, match=r"controls\['d'\] = \(5, 1\)"):
        make_controls({"d": (5, 1)})
    with pytest.raises(TypeError, match=r"controls\['d'\]"):
        make_controls({"d": object()})


def test_explore_static_figure_starts_at_the_functions_defaults():
    calls = []

    def plot(rate=6, mode="b"):
        calls.append((rate, mode))
        return plt.figure()

    assert isinstance(
        explore(plot, {"rate": (1, 24), "mode": ["a", "b"]}, interactive=False), Figure
    )
    assert calls == [(6, "b")]
    # no kernel in a test process: the automatic choice is the static figure
    assert not widgets.front_end_available()
    assert isinstance(
        explore(lambda rate, mode: plot(rate, mode), {"rate": (1, 3), "mode": ["c"]}), Figure
    )
    assert calls[-1] == (
        2,
        "c",
    )  # without defaults, ipywidgets' starts: the middle, the first option
    with pytest.raises(ValueError, match="controls"):
        explore(plot, {})
    with pytest.raises(TypeError, match="plot_fn"):
        explore(None, {"rate": (1, 3)})


def test_explore_widgets_redraw():
    calls = []

    def plot(rate=1, mode="a", show=True):
        calls.append((rate, mode, show))
        return plt.figure()

    box = explore(
        plot, {"rate": (1, 24), "mode": ["a", "b"], "show": True}, interactive=True, columns=2
    )
    assert isinstance(box, ipywidgets.VBox)
    assert isinstance(box.controls["rate"], ipywidgets.IntSlider)
    assert len(box.children) == 3  # two rows of controls and the output
    assert calls == [(1, "a", True)]
    box.controls["rate"].value = 7
    box.controls["mode"].value = "b"
    assert calls[-2:] == [(7, "a", True), (7, "b", True)]
    assert plt.get_fignums() == []  # every drawn figure was closed


def test_live_figure_sends_picture_titles_and_legend():
    fig = two_panel_figure()
    live = LiveFigure(fig)
    assert plt.get_fignums() == []  # pyplot will not show it again at the end of the cell
    assert Image.open(io.BytesIO(live.image.value)).size == (200, 100)
    assert "RF 13x13" in live.titles.value and "rate 6" in live.legend.value
    fig.axes[0].set_title("photo\nRF 17x17")  # the next frame's title
    live.refresh()
    assert "RF 17x17" in live.titles.value and "RF 13x13" not in live.titles.value
    assert live.widget.children[0] is live.titles


def test_live_explorer_redraws_once_per_change():
    fig, ax = plt.subplots(figsize=(2, 2), dpi=40)
    controls = make_controls({"n": (1, 5)}, defaults={"n": 1})
    drawn = []

    def update():
        ax.set_title(f"n = {controls['n'].value}")
        drawn.append(controls["n"].value)

    update()
    box = live_explorer(LiveFigure(fig), controls, update, [list(controls.values())])
    first = bytes(box.image.value)
    controls["n"].value = 4
    assert drawn == [1, 4] and "n = 4" in box.live.titles.value
    assert bytes(box.image.value) == first  # only the title changed, and it is HTML now


def test_every_explorer_draws_a_figure_without_a_front_end():
    from dlcourse.aspp_view import aspp_explorer
    from dlcourse.dilation_view import dilation_explorer
    from dlcourse.stack_view import stack_explorer

    photo = np.zeros((60, 80, 3), dtype=np.uint8)
    assert isinstance(dilation_explorer(photo), Figure)
    assert isinstance(stack_explorer(), Figure)
    assert isinstance(aspp_explorer(photo), Figure)


IPYWIDGETS7_SCRIPT = textwrap.dedent(
    """
    import json, matplotlib
    matplotlib.use("Agg")
    import ipywidgets
    import numpy as np
    from matplotlib import pyplot as plt
    from dlcourse import aspp_view, dilation_view, stack_view, widgets
    from dlcourse.crf_view import crf_explorer

    photo = np.zeros((60, 80, 3), dtype=np.uint8)
    calls = []
    real = dilation_view.draw_dilation
    dilation_view.draw_dilation = lambda *a, **k: calls.append(k) or real(*a, **k)
    box = dilation_view.dilation_explorer(photo, interactive=True)
    box.controls["dilation"].value = 5
    box.controls["layers"].value = 2
    box.controls["rates"].value = "1,2,5"
    stack = stack_view.stack_explorer([(3, 1, 1)], interactive=True)
    stack.controls["stride"].value = 2
    stack.buttons["add layer"].click()
    aspp = aspp_view.aspp_explorer(photo, interactive=True)
    before = bytes(aspp.image.value)
    aspp.controls["output_stride"].value = 8
    crf = crf_explorer(photo, np.full((2, 60, 80), 0.5, dtype=np.float32), interactive=True)
    crf.controls["iterations"].value = 2
    generic = widgets.explore(lambda n=0.5, on=True: plt.figure(), {"n": (0.0, 1.0, 0.5), "on": True},
                              interactive=True)
    generic.controls["n"].value = 1.0
    print("RESULT" + json.dumps({
        "version": ipywidgets.__version__,
        "file": ipywidgets.__file__,
        "calls": calls,
        "stack": stack.layers,
        "aspp_redrawn": bytes(aspp.image.value) != before,
        "aspp_legend": "rate 6" in aspp.live.legend.value,
        "crf_status": crf.status.value,
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
    assert result["aspp_redrawn"] and result["aspp_legend"]
    assert result["crf_status"].startswith("updated in ")
    assert result["kinds"] == ["Checkbox", "FloatSlider"]
    assert result["open_figures"] == 0


def test_live_figure_sends_a_photo_frame_as_jpeg():
    fig = two_panel_figure()
    live = LiveFigure(
        fig, picture="jpeg"
    )  # pyplot forgets the figure: the JPEG is drawn all the same
    frame = bytes(live.image.value)
    assert frame.startswith(b"\xff\xd8") and live.image.format == "jpeg"
    assert Image.open(io.BytesIO(frame)).size == (200, 100)
    with pytest.raises(ValueError, match="picture='gif'"):
        LiveFigure(two_panel_figure(), picture="gif")
