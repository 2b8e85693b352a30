"""Lesson 04 on screen (dlcourse.aspp_view): the ASPP taps over a photo, its explorer, the diagram."""

import io

import matplotlib
import numpy as np
import pytest
from matplotlib import pyplot as plt
from PIL import Image
from torch import nn

from dlcourse.aspp import ASPP, ASPPv2
from dlcourse.aspp_view import aspp_canvas, aspp_explorer, draw_aspp

matplotlib.use("Agg")
PHOTO = np.zeros((60, 80, 3), dtype=np.uint8)


def test_plot_aspp_markers_stay_visible():
    photo = np.zeros((600, 512, 3), dtype=np.uint8)
    fig = aspp_canvas(photo, size=5.6, dpi=80)
    draw_aspp(fig, photo, rates=(12, 24, 36), output_stride=32)
    ax = fig.axes[0]
    to_screen = ax.transData.transform
    sides = []
    for patch in ax.patches[1:]:  # after the padding band
        (x0, y0), (x1, y1) = (
            to_screen((patch.get_x(), patch.get_y())),
            to_screen((patch.get_x() + patch.get_width(), patch.get_y() + patch.get_height())),
        )
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
    assert len({Image.open(io.BytesIO(frame)).size for frame in frames}) == 1
    assert plt.get_fignums() == []


def test_plot_aspp_and_its_static_explorer():
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    from dlcourse.aspp_view import aspp_explorer, plot_aspp

    photo = np.zeros((96, 80, 3), dtype=np.uint8)
    fig = plot_aspp(photo, rates=(1, 2, 9), output_stride=16)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert "rate 9: span 304 px,\n1 of 9 taps on the feature map" in labels
    assert labels[-1].startswith("image pooling")
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        plot_aspp(photo, center=(200, 10))
    fig = aspp_explorer(photo, interactive=False)
    assert "output stride 16: 6x5 feature cells" in fig.axes[0].get_title()
    plt.close(fig)


def test_plot_aspp_shows_every_tap_and_the_aspp_diagram_reads_the_module():
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    from dlcourse.aspp_view import plot_aspp, plot_aspp_diagram
    from dlcourse.taps import aspp_taps

    photo = np.zeros((96, 80, 3), dtype=np.uint8)
    fig = plot_aspp(photo, rates=(1, 2, 9), output_stride=16)
    ax = fig.axes[0]
    corners, _ = aspp_taps(9, 16, (48, 40), (96, 80))
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= corners[:, 1].min() and corners[:, 1].max() + 16 <= x1  # no tap off the canvas
    assert y0 <= corners[:, 0].min() and corners[:, 0].max() + 16 <= y1
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[-2].startswith("1x1") and labels[-1].startswith("image pooling")
    plt.close(fig)

    fig = plot_aspp_diagram(ASPP(40, (3, 5)))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "features\n40 channels" in texts and "concat\n1024" in texts
    assert "3x3 conv, rate 5\n-> 256" in texts and any(t.startswith("image pooling") for t in texts)
    plt.close(fig)
    fig = plot_aspp_diagram(ASPPv2(40, 7, (2, 4)))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "sum" in texts and "7 class scores" in texts and "3x3 conv, rate 4\n-> 7" in texts
    plt.close(fig)
    with pytest.raises(TypeError, match="ASPP or ASPPv2"):
        plot_aspp_diagram(nn.Conv2d(1, 1, 1))
