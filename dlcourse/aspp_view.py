"""Lesson 04 on screen: where each ASPP branch reads a photo, and the data flow of an ASPP.

:func:`plot_aspp` draws the taps of every branch over a photo at a given output stride
(:func:`dlcourse.taps.aspp_taps` computes them); :func:`aspp_explorer` puts sliders in front
of it and redraws one figure in place (:mod:`dlcourse.widgets`). :func:`plot_aspp_diagram`
draws an ASPP module's branches, merge and output, read from the module itself.

Used in: 04.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dlcourse import frames, widgets
from dlcourse.taps import aspp_taps
from dlcourse.viz import to_numpy_image

ASPP_SMALLEST = 7.0  # screen pixels: a cell drawn smaller than this is drawn this large


def aspp_canvas(
    image: np.ndarray, size: float = 4.0, dpi: float | None = None, room_for_text: bool = True
) -> Figure:
    """The parts of :func:`plot_aspp`'s figure that no control changes: the photo and the padding.

    The axes box is fixed: when the taps reach farther, :func:`draw_aspp` widens the view
    inside the same box, so the legend and the figure never move.

    Args:
        image: the photo, ``(H, W, 3)``.
        size: height of the photo's panel in inches.
        dpi: pixels per inch (matplotlib's default when ``None``).
        room_for_text: leave room for the title and the legend; ``False`` for a
            :class:`dlcourse.widgets.LiveFigure`, which shows them as HTML.
    """
    photo = to_numpy_image(image)
    height, width = photo.shape[:2]
    panel = size * 0.95
    fig_width, fig_height = (
        (panel + 2.9, size + 0.5) if room_for_text else (panel + 0.1, size + 0.1)
    )
    fig, ax = plt.subplots(figsize=(fig_width, fig_height), dpi=dpi)
    ax.set_position((0.05 / fig_width, 0.05 / fig_height, panel / fig_width, size / fig_height))
    ax.set_axis_off()
    far = 40 * max(height, width)  # the zero padding, wider than any view
    ax.add_patch(
        Rectangle((-far, -far), 2 * far + width, 2 * far + height, color="0.85", zorder=-2)
    )
    scale = frames.axes_pixels(ax)[1] / (1.3 * height)  # the photo's share of the smallest view
    ax.imshow(frames.shrink_photo(photo, scale), interpolation="nearest",
              extent=(-0.5, width - 0.5, height - 0.5, -0.5), zorder=0)  # fmt: skip
    return fig


def _at_least(corner: float, side: float, smallest: float) -> tuple[float, float]:
    """A square of ``side`` at ``corner``, grown about its centre to at least ``smallest``."""
    grown = max(side, smallest)
    return corner - (grown - side) / 2, grown


def draw_aspp(
    fig: Figure,
    photo: np.ndarray,
    rates: Sequence[int] = (6, 12, 18),
    output_stride: int = 16,
    pooling: bool = True,
    center: tuple[int, int] | None = None,
) -> Figure:
    """Draw one frame of :func:`plot_aspp` on an :func:`aspp_canvas` of ``photo``; returns ``fig``."""
    height, width = photo.shape[:2]
    row, col = (height // 2, width // 2) if center is None else center
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"plot_aspp(center={center}): outside the {height}x{width} image")
    s = int(output_stride)
    taps = [aspp_taps(int(rate), s, (row, col), (height, width)) for rate in rates]
    reach = [(0, 0), (height, width)]  # photo pixels the view must show
    for corners, _ in taps:
        reach += [tuple(corners.min(axis=0)), tuple(corners.max(axis=0) + s)]
    margin = max(s, int(0.05 * max(height, width)))  # a band of the zero padding around it all
    top, left = min(r for r, _ in reach) - margin, min(c for _, c in reach) - margin
    bottom, right = max(r for r, _ in reach) + margin, max(c for _, c in reach) + margin
    frames.clear_frame(fig)
    ax = fig.axes[0]
    panel_width, panel_height = frames.axes_pixels(ax)
    per_pixel = min(
        panel_width / (right - left), panel_height / (bottom - top)
    )  # screen px per photo px
    # widen the view about its centre to the panel's shape: one photo pixel is square on screen
    middle_x, middle_y = (left + right) / 2, (top + bottom) / 2
    half_x, half_y = panel_width / per_pixel / 2, panel_height / per_pixel / 2
    ax.set_xlim(middle_x - half_x - 0.5, middle_x + half_x - 0.5)
    ax.set_ylim(middle_y + half_y - 0.5, middle_y - half_y - 0.5)
    smallest = ASPP_SMALLEST / per_pixel
    colors = plt.get_cmap("tab10").colors
    drawn = []
    for index, (rate, (corners, inside)) in enumerate(zip(rates, taps, strict=True), start=1):
        color = colors[index % len(colors)]
        for (tap_top, tap_left), valid in zip(corners, inside, strict=True):
            x, side = _at_least(tap_left - 0.5, s, smallest)
            y, _ = _at_least(tap_top - 0.5, s, smallest)
            drawn.append(ax.add_artist(Rectangle((x, y), side, side, facecolor=color if valid else "white",
                                                edgecolor=color, alpha=0.9 if valid else 0.75,
                                                linewidth=1.5 if valid else 1.8,
                                                linestyle="-" if valid else "--")))  # fmt: skip
        span = 2 * int(rate) * s + s
        drawn += ax.plot([], [], "s", color=color, label=f"rate {rate}: span {span} px,\n"
                         f"{int(inside.sum())} of 9 taps on the feature map")  # fmt: skip
    # the 1x1 branch reads the centre cell, which every rate's centre tap shares: draw it on top
    cell_r, cell_c = (row // s) * s, (col // s) * s
    x, ring = _at_least(cell_c - 0.5 - s, 3 * s, 4 * smallest)
    y, _ = _at_least(cell_r - 0.5 - s, 3 * s, 4 * smallest)
    drawn.append(ax.add_artist(Rectangle((x, y), ring, ring, fill=False, edgecolor="white",
                                        linewidth=4.5, zorder=5)))  # fmt: skip
    drawn.append(ax.add_artist(Rectangle((x, y), ring, ring, fill=False, edgecolor=colors[0],
                                        linewidth=2.5, zorder=5)))  # fmt: skip
    x, side = _at_least(cell_c - 0.5, s, 1.5 * smallest)
    y, _ = _at_least(cell_r - 0.5, s, 1.5 * smallest)
    drawn.append(ax.add_artist(Rectangle((x, y), side, side, facecolor=colors[0], edgecolor="white",
                                        linewidth=1.2, zorder=6,
                                        label="1x1: the centre cell (ringed;\nevery rate's centre tap too)")))  # fmt: skip
    if pooling:
        drawn.append(ax.add_artist(Rectangle((-0.5, -0.5), width, height, facecolor=colors[6],
                                            alpha=0.2, edgecolor="none", zorder=4)))  # fmt: skip
        frame = 3 / per_pixel  # just outside the photo, so that it never hides the photo's edge
        drawn.append(ax.add_artist(Rectangle((-0.5 - frame, -0.5 - frame), width + 2 * frame,
                                            height + 2 * frame, fill=False, edgecolor=colors[6],
                                            linewidth=3.5, zorder=4,
                                            label="image pooling:\nthe whole image (tinted, framed)")))  # fmt: skip
    frames.tag_frame(fig, *drawn)
    ax.set_title(f"ASPP at output stride {s}: {-(-height // s)}x{-(-width // s)} feature cells "
                 f"of {s}x{s} px\non a {height}x{width} photo; dashed: taps in the zero padding",
                 fontsize=9, y=1.0)  # fmt: skip
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False, labelspacing=0.9
    )
    return fig


def plot_aspp(
    image: np.ndarray,
    rates: Sequence[int] = (6, 12, 18),
    output_stride: int = 16,
    pooling: bool = True,
    center: tuple[int, int] | None = None,
    size: float = 5.0,
) -> Figure:
    """Each ASPP branch's sampling pattern over a photo, at a given output stride.

    The 1x1 branch reads one feature cell; each 3x3 branch of rate ``r`` reads 9 cells
    ``r`` cells apart (filled squares; hollow dashed ones fall into the padding and
    read zeros). The 1x1 branch's cell is drawn on top (every rate's centre tap reads it
    too); the image-pooling branch reads the whole photo (tinted, framed). The view
    widens until every tap, even one far out in the padding, is in it; a cell too small
    to see at that zoom is drawn a few screen pixels wide.

    Args:
        image: the photo, ``(H, W, 3)``.
        rates: rates of the 3x3 branches.
        output_stride: photo pixels per feature cell (8, 16 or 32).
        pooling: draw the image-pooling branch.
        center: ``(row, col)`` of the output cell in photo pixels; the centre by default.
        size: height of the photo's panel in inches.
    """
    photo = to_numpy_image(image)
    height, width = photo.shape[:2]
    if center is not None and not (0 <= center[0] < height and 0 <= center[1] < width):
        raise ValueError(f"plot_aspp(center={center}): outside the {height}x{width} image")
    return draw_aspp(aspp_canvas(photo, size), photo, rates, output_stride, pooling, center)


def aspp_explorer(image: np.ndarray | None = None, *, interactive: bool | None = None):
    """Sliders for three ASPP rates, a dropdown for the output stride, a pooling checkbox.

    A thin wrapper around :func:`plot_aspp` that redraws one figure in place
    (:func:`draw_aspp`). It starts where the lesson's first figure does: rates 6, 12, 18
    at output stride 16. In a notebook it returns a ``VBox`` with the widgets in
    ``box.controls`` and the figure in ``box.image``; without a front end, the figure
    at the starting values.

    Args:
        image: the photo; :func:`dlcourse.samples.sample_photo` by default.
        interactive: see :func:`dlcourse.widgets.explore`.
    """
    import ipywidgets as w

    photo = frames.explorer_photo(image)
    controls = widgets.make_controls({
        **{f"rate{i}": w.IntSlider(value=rate, min=1, max=36, description=f"rate {i}") for i, rate in ((1, 6), (2, 12), (3, 18))},
        "output_stride": w.Dropdown(options=[8, 16, 32], value=16, description="output stride"),
        "pooling": w.Checkbox(value=True, description="image pooling"),
    })  # fmt: skip
    if interactive is None:
        interactive = widgets.front_end_available()
    if not interactive:
        rates = tuple(controls[f"rate{i}"].value for i in (1, 2, 3))
        return plot_aspp(photo, rates, controls["output_stride"].value, controls["pooling"].value)

    canvas = aspp_canvas(photo, size=5.6, dpi=widgets.EXPLORER_DPI, room_for_text=False)

    def update() -> None:
        rates = tuple(controls[f"rate{i}"].value for i in (1, 2, 3))
        draw_aspp(canvas, photo, rates, controls["output_stride"].value, controls["pooling"].value)

    update()
    items = list(controls.values())
    return widgets.live_explorer(
        widgets.LiveFigure(canvas, picture="jpeg"), controls, update, [items[:3], items[3:]]
    )


def _aspp_branches(aspp) -> tuple[list[str], str, str]:
    """Labels of an ASPP's branches, read from its modules; its merge and output labels."""
    from torch import nn

    labels = []
    for branch in aspp.convs:
        convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
        conv, pooled = convs[0], any(isinstance(m, nn.AdaptiveAvgPool2d) for m in branch.modules())
        if pooled:
            labels.append(
                f"image pooling\nglobal average, 1x1 conv\n-> {conv.out_channels}, upsample"
            )
        elif conv.kernel_size[0] == 1:
            labels.append(f"1x1 conv\n-> {conv.out_channels}")
        else:
            labels.append(f"3x3 conv, rate {conv.dilation[0]}\n-> {conv.out_channels}")
    if hasattr(aspp, "project"):
        project = aspp.project[0]
        return labels, f"concat\n{project.in_channels}", f"1x1 project\n-> {project.out_channels}"
    return labels, "sum", f"{aspp.convs[0].out_channels} class scores"


def plot_aspp_diagram(aspp, title: str | None = None, size: float = 3.6) -> Figure:
    """The data flow of an ASPP module, drawn from the module itself.

    Works for :class:`dlcourse.aspp.ASPP` (v3: branches with batch norm and ReLU,
    concatenated, 1x1 projection; an image-pooling branch if it has one) and
    :class:`dlcourse.aspp.ASPPv2` (v2: one classifier per rate, summed). Channel
    counts and rates are read from the convolutions, so the figure cannot drift from code.

    Args:
        aspp: the module.
        title: figure title; the class name by default.
        size: height of the figure in inches.
    """
    from torch import nn

    if not isinstance(getattr(aspp, "convs", None), nn.ModuleList):
        raise TypeError(
            f"plot_aspp_diagram(aspp={type(aspp).__name__}): give an ASPP or ASPPv2 module"
        )
    labels, merge, output = _aspp_branches(aspp)
    in_channels = next(m for m in aspp.convs[0].modules() if isinstance(m, nn.Conv2d)).in_channels
    fig, ax = plt.subplots(figsize=(10, size))
    n = len(labels)
    ys = np.linspace(n - 1, 0, n) if n > 1 else np.zeros(1)
    mid = (n - 1) / 2
    style = {"ha": "center", "va": "center", "fontsize": 8}

    def box(x, y, text, color):
        ax.text(
            x,
            y,
            text,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": color, "edgecolor": "0.3"},
            **style,
        )

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": "0.3"})

    box(0, mid, f"features\n{in_channels} channels", "0.9")
    colors = plt.get_cmap("tab10").colors
    for index, (y, label) in enumerate(zip(ys, labels, strict=True)):
        arrow(0.55, mid, 1.2, y)
        box(2, y, label, (*colors[index % len(colors)][:3], 0.35))
        arrow(2.8, y, 3.7, mid)
    box(4, mid, merge, "white")
    arrow(4.35, mid, 5.25, mid)
    box(5.8, mid, output, "0.9")
    ax.set_xlim(-0.8, 6.6)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_axis_off()
    ax.set_title(title or type(aspp).__name__, fontsize=10)
    fig.tight_layout()
    return fig
