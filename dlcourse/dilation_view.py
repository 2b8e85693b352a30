"""Lesson 02 on screen: which pixels of a photo one unit of a stack of dilated convolutions reads.

:func:`plot_dilation` draws the pixels of a photo that one output unit of a stack of
dilated convolutions reads, coloured by how many paths reach each, beside a zoom on its
receptive field; :func:`dilation_explorer` puts sliders and a box for per-layer rates in
front of it and redraws one figure in place (:mod:`dlcourse.widgets`).

Used in: 02.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from dlcourse import frames, widgets
from dlcourse.rf import effective_kernel
from dlcourse.taps import footprint
from dlcourse.viz import to_numpy_image


def dilation_canvas(
    image: np.ndarray, size: float = 4.0, dpi: float | None = None, room_for_text: bool = True
) -> Figure:
    """The parts of :func:`plot_dilation`'s figure that no slider changes: two panels, the photo.

    Args:
        image: the photo, ``(H, W, 3)``.
        size: height of the figure in inches.
        dpi: pixels per inch (matplotlib's default when ``None``).
        room_for_text: leave room for the titles; ``False`` for a
            :class:`dlcourse.widgets.LiveFigure`, which shows them as HTML.
    """
    photo = to_numpy_image(image)
    height, width = photo.shape[:2]
    fig, (ax_photo, ax_zoom) = plt.subplots(1, 2, figsize=(size * 2.2, size), dpi=dpi)
    # fixed layout (no tight_layout): the photo stays put whatever the titles say
    fig.subplots_adjust(
        left=0.01, right=0.9, bottom=0.02, top=0.87 if room_for_text else 0.98, wspace=0.04
    )
    panel_width, panel_height = frames.axes_pixels(ax_photo)
    scale = min(panel_width / width, panel_height / height)
    ax_photo.imshow(frames.shrink_photo(photo, scale), interpolation="nearest",
                    extent=(-0.5, width - 0.5, height - 0.5, -0.5))  # fmt: skip
    ax_photo.set_xlim(-0.5, width - 0.5)
    ax_photo.set_ylim(height - 0.5, -0.5)
    for ax in (ax_photo, ax_zoom):
        ax.set_axis_off()
    # the colour bar of the paths, drawn once: a frame only moves its top and shows or hides it
    bar_axes = fig.add_axes((0.915, 0.1, 0.015, 0.7))
    bar_axes.imshow(np.linspace(0, 1, 256)[:, None], cmap="autumn_r", aspect="auto", origin="lower")
    bar_axes.set_xticks([])
    bar_axes.yaxis.tick_right()
    bar_axes.yaxis.set_label_position("right")
    bar_axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    bar_axes.tick_params(labelsize=8)
    bar_axes.set_ylabel("paths to the output (yellow: 1, red: most)", fontsize=9)
    return fig


def _dilation_rates(kernel: int, dilation: int | Sequence[int], layers: int) -> list[int]:
    """The rate of every layer; checks ``kernel`` and every rate."""
    rates = [dilation] * layers if isinstance(dilation, int | np.integer) else list(dilation)
    if not rates:
        raise ValueError("plot_dilation: layers must be at least 1 (or give a list of dilations)")
    for rate in rates:
        effective_kernel(kernel, rate)
    return rates


def draw_dilation(
    fig: Figure,
    photo: np.ndarray,
    kernel: int = 3,
    dilation: int | Sequence[int] = 1,
    layers: int = 1,
    center: tuple[int, int] | None = None,
) -> Figure:
    """Draw one frame of :func:`plot_dilation` on a :func:`dilation_canvas` of ``photo``.

    Removes what the previous frame drew first, so an explorer redraws one figure in place.
    The arguments are those of :func:`plot_dilation`; returns ``fig``.
    """
    rates = _dilation_rates(kernel, dilation, layers)
    counts = footprint(rates, kernel, counts=True)
    rf, half = counts.shape[0], counts.shape[0] // 2
    height, width = photo.shape[:2]
    row, col = (height // 2, width // 2) if center is None else center
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"plot_dilation(center={center}): outside the {height}x{width} image")
    ys, xs = np.nonzero(counts)
    paths = counts[ys, xs]
    ys, xs = ys - half + row, xs - half + col
    frames.clear_frame(fig)
    ax_photo, ax_zoom = fig.axes[:2]
    box = {"fill": False, "edgecolor": "deepskyblue", "linewidth": 1.5}
    frames.tag_frame(fig, ax_photo.add_patch(Rectangle((col - half - 0.5, row - half - 0.5), rf, rf, **box)),
                      ax_photo.scatter(xs, ys, s=4, color="red", marker="s", linewidths=0))  # fmt: skip
    larger = " (larger than the photo)" if rf > min(height, width) else ""
    ax_photo.set_title(f"{len(rates)} x conv {kernel}x{kernel}, dilation {_rates_text(rates)}\n"
                       f"RF {rf}x{rf}{larger}", fontsize=9, y=1.0)  # fmt: skip

    # zoom on the RF (with a margin), never larger than the photo
    view = min(max(rf + 2 * max(2, rf // 8), 9), max(height, width))
    top = int(np.clip(row - view // 2, 0, max(0, height - view)))
    left = int(np.clip(col - view // 2, 0, max(0, width - view)))
    crop = photo[top : top + view, left : left + view]
    bottom, right = top + crop.shape[0] - 0.5, left + crop.shape[1] - 0.5
    frames.tag_frame(fig, ax_zoom.imshow(crop, interpolation="nearest", alpha=0.55,
                                     extent=(left - 0.5, right, bottom, top - 0.5)),
                      ax_zoom.add_patch(Rectangle((col - half - 0.5, row - half - 0.5), rf, rf, **box)))  # fmt: skip
    cell = 72.0 * fig.get_size_inches()[1] * 0.8 / view  # points per input pixel on screen
    side = float(np.clip(cell * 0.85, 2.5, 14.0))
    most = int(paths.max())
    style = {"s": side**2, "marker": "s", "edgecolors": "black", "linewidths": 0.4}
    if most == 1:  # every reached pixel has exactly one path: one colour, no colour bar
        dots = ax_zoom.scatter(xs, ys, color="red", **style)
    else:
        dots = ax_zoom.scatter(xs, ys, c=paths, cmap="autumn_r", vmin=1, vmax=most, **style)
    frames.tag_frame(fig, dots)
    ax_zoom.set_xlim(left - 0.5, right)
    ax_zoom.set_ylim(bottom, top - 0.5)
    one_path = ", one path each" if most == 1 else ""
    ax_zoom.set_title(
        f"zoom: {len(xs)} of {rf * rf} pixels in the box\nreached{one_path}", fontsize=9, y=1.0
    )
    bar_axes = fig.axes[2]
    bar_axes.set_visible(most > 1)
    if most > 1:  # the colour bar: 1 path (yellow) at the bottom to ``most`` (red) at the top
        bar_axes.images[0].set_extent((0, 1, 1, most))
        bar_axes.set_ylim(1, most)
    return fig


def plot_dilation(
    image: np.ndarray,
    kernel: int = 3,
    dilation: int | Sequence[int] = 1,
    layers: int = 1,
    center: tuple[int, int] | None = None,
    size: float = 4.0,
) -> Figure:
    """Which pixels of a photo one output unit of a dilated conv stack reads.

    Left: the photo with the sampled input pixels (coloured by how many paths reach
    them) and the RF box. Right: the tap footprint, one cell per input offset.

    Args:
        image: the photo, ``(H, W, 3)`` (see :func:`dlcourse.viz.to_numpy_image`).
        kernel: kernel size of every layer.
        dilation: one rate for all ``layers`` layers, or one rate per layer (then
            ``layers`` is ignored), e.g. ``(1, 2, 5)``.
        layers: number of stacked stride-1 convolutions.
        center: ``(row, col)`` of the output unit; the image centre by default.
        size: height of the figure in inches.
    """
    photo = to_numpy_image(image)
    _dilation_rates(kernel, dilation, layers)  # bad arguments fail before a figure opens
    fig = dilation_canvas(photo, size)
    try:
        return draw_dilation(fig, photo, kernel, dilation, layers, center)
    except ValueError:
        plt.close(fig)
        raise


def _rates_text(rates: Sequence[int]) -> str:
    return str(rates[0]) if len(set(rates)) == 1 else ",".join(str(r) for r in rates)


def parse_rates(text: str, max_layers: int = 8, max_rate: int = 64) -> tuple[int, ...] | None:
    """Per-layer dilation rates typed as text: ``"1,2,5"`` or ``"1 2 5"`` -> ``(1, 2, 5)``.

    An empty text gives ``None`` (use the sliders). Raises ``ValueError`` naming ``rates``
    when an entry is not a whole number from 1 to ``max_rate`` or there are more than
    ``max_layers`` of them.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_rates(text={text!r}): give the rates as text, e.g. '1,2,5'")
    parts = text.replace(",", " ").split()
    if not parts:
        return None
    if not all(part.isdigit() and 1 <= int(part) <= max_rate for part in parts):
        raise ValueError(f"rates {text!r}: give whole numbers from 1 to {max_rate}, e.g. 1,2,5")
    if len(parts) > max_layers:
        raise ValueError(f"rates {text!r}: at most {max_layers} layers")
    return tuple(int(part) for part in parts)


def dilation_explorer(image: np.ndarray | None = None, *, interactive: bool | None = None):
    """Sliders for kernel size, dilation rate (1-24) and number of layers over a photo,
    and a text box for one rate per layer (e.g. ``1,2,5``) that overrides the two sliders.

    A thin wrapper around :func:`plot_dilation`: it keeps one figure and redraws it in
    place (:func:`draw_dilation`, :class:`dlcourse.widgets.LiveFigure`) when a control
    moves. In a notebook it returns a ``VBox`` with the widgets in ``box.controls``
    (``kernel``, ``dilation``, ``layers``, ``rates``), a status line in ``box.message`` and
    the picture in ``box.image``; without a front end, the static figure at the start.

    Args:
        image: the photo; :func:`dlcourse.samples.sample_photo` by default.
        interactive: see :func:`dlcourse.widgets.explore`.
    """
    import ipywidgets as w

    photo = frames.explorer_photo(image)
    controls = widgets.make_controls({
        "kernel": w.IntSlider(value=3, min=1, max=7, step=2, description="kernel size"),
        "dilation": w.IntSlider(value=1, min=1, max=24, description="dilation"),
        "layers": w.IntSlider(value=1, min=1, max=4, description="layers"),
        "rates": w.Text(value="", placeholder="e.g. 1,2,5", description="rates per layer"),
    })  # fmt: skip
    if interactive is None:
        interactive = widgets.front_end_available()
    if not interactive:
        return plot_dilation(
            photo, *(controls[name].value for name in ("kernel", "dilation", "layers"))
        )
    message = w.Label(value="")
    canvas = dilation_canvas(photo, size=3.8, dpi=widgets.EXPLORER_DPI, room_for_text=False)

    def update() -> None:
        kernel, dilation, layers = (
            controls[name].value for name in ("kernel", "dilation", "layers")
        )
        try:
            per_layer = parse_rates(controls["rates"].value)
        except ValueError as err:
            message.value = f"{err}; showing the sliders' rate instead"
            per_layer = None
        else:
            message.value = (
                ""
                if per_layer is None
                else "the text box overrides the dilation and layers sliders"
            )
        if per_layer is not None:
            dilation, layers = per_layer, len(per_layer)
        draw_dilation(canvas, photo, kernel=kernel, dilation=dilation, layers=layers)

    update()
    items = list(controls.values())
    box = widgets.live_explorer(
        widgets.LiveFigure(canvas, picture="jpeg"),
        controls,
        update,
        [items[:3], [items[3], message]],
    )
    box.message = message
    return box
