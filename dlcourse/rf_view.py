"""Lessons 01 and 02 on screen: a conv chain level by level, and the pixels a dilated stack reads.

:func:`plot_stack` draws how one output unit of a 1-D conv chain sees its input
(lesson 01); :func:`plot_dilation` draws which pixels of a photo one unit of a stack of
dilated convolutions reads, and how many paths reach each (lesson 02). Each has an
explorer built on :mod:`dlcourse.widgets` (:func:`stack_explorer`,
:func:`dilation_explorer`) that redraws one figure in place.

Used in: 01, 02.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from dlcourse.rf import effective_kernel, footprint, receptive_fields, stack_support
from dlcourse.viz import to_numpy_image
from dlcourse.widgets import (
    EXPLORER_DPI,
    LiveFigure,
    axes_pixels,
    clear_frame,
    explorer_photo,
    front_end_available,
    live_explorer,
    make_controls,
    shrink_photo,
    tag_frame,
)

# --- lesson 02: dilation explorer ----------------------------------------------------


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
    panel_width, panel_height = axes_pixels(ax_photo)
    scale = min(panel_width / width, panel_height / height)
    ax_photo.imshow(shrink_photo(photo, scale), interpolation="nearest",
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
    clear_frame(fig)
    ax_photo, ax_zoom = fig.axes[:2]
    box = {"fill": False, "edgecolor": "deepskyblue", "linewidth": 1.5}
    tag_frame(fig, ax_photo.add_patch(Rectangle((col - half - 0.5, row - half - 0.5), rf, rf, **box)),
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
    tag_frame(fig, ax_zoom.imshow(crop, interpolation="nearest", alpha=0.55,
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
    tag_frame(fig, dots)
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

    photo = explorer_photo(image)
    controls = make_controls({
        "kernel": w.IntSlider(value=3, min=1, max=7, step=2, description="kernel size"),
        "dilation": w.IntSlider(value=1, min=1, max=24, description="dilation"),
        "layers": w.IntSlider(value=1, min=1, max=4, description="layers"),
        "rates": w.Text(value="", placeholder="e.g. 1,2,5", description="rates per layer"),
    })  # fmt: skip
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_dilation(
            photo, *(controls[name].value for name in ("kernel", "dilation", "layers"))
        )
    message = w.Label(value="")
    canvas = dilation_canvas(photo, size=3.8, dpi=EXPLORER_DPI, room_for_text=False)

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
    box = live_explorer(
        LiveFigure(canvas, picture="jpeg"), controls, update, [items[:3], [items[3], message]]
    )
    box.message = message
    return box


# --- lesson 01: stack explorer -------------------------------------------------------

MANY_UNITS = 800  # above this many units in a row, only those that feed the top unit are drawn


def _pixels(count: int) -> str:
    return f"{count} input pixel" + ("" if count == 1 else "s")


def stack_canvas(levels: int, size: float = 1.0, dpi: float | None = None) -> Figure:
    """An empty figure for :func:`draw_stack` with room for ``levels`` rows (input included).

    The layout is fixed in inches (labels left, layer notes right), so the figure of a
    chain of 2 layers and of 8 layers on the same canvas have the same size.
    """
    if levels < 1:
        raise ValueError(f"stack_canvas(levels={levels}): need at least 1 row, the input")
    width, height = size * 9.5, size * (0.5 * levels + 1.0)
    fig, ax = plt.subplots(figsize=(width, height), dpi=dpi)
    fig.subplots_adjust(left=0.75 * size / width, right=1 - 2.9 * size / width,
                        bottom=0.55 * size / height, top=1 - 0.4 * size / height)  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True, min_n_ticks=1))
    ax.set_xlabel("input pixel")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.levels = levels
    return fig


def _layer_note(layer: tuple[int, int, int], rf) -> str:
    kernel, stride, dilation = layer
    return f"k={kernel} s={stride} d={dilation}: RF {rf.size}, jump {rf.jump}"


def draw_stack(
    fig: Figure,
    layers: Sequence[tuple[int, int, int]],
    preview: tuple[int, int, int] | None = None,
) -> Figure:
    """Draw the chain ``layers`` (and, dashed, the ``preview`` layer on top) on a :func:`stack_canvas`.

    With a preview, the coloured units are those that feed the preview's top unit: the
    figure shows the chain as it would be after adding that layer.
    """
    from matplotlib.collections import LineCollection

    layers = [tuple(int(v) for v in layer[:3]) for layer in layers]
    chain = layers + ([tuple(int(v) for v in preview[:3])] if preview is not None else [])
    history = [None, *receptive_fields(chain)] if chain else [None]
    if len(chain) + 1 > fig.levels:
        raise ValueError(f"draw_stack: {len(chain)} layers need {len(chain) + 1} rows, the canvas "
                         f"has {fig.levels}; make it with stack_canvas(levels={len(chain) + 1})")  # fmt: skip
    support = stack_support(chain)
    total = history[-1].size if chain else 1

    def center(level: int, index: np.ndarray) -> np.ndarray:
        if level == 0:
            return index.astype(np.float64)
        rf = history[level]
        return index * rf.jump + (rf.size - 1) / 2

    clear_frame(fig)
    ax = fig.axes[0]
    segments, dashed, drawn = [], [], []
    for level in range(len(chain) + 1):
        jump = 1 if level == 0 else history[level].jump
        extent = 1 if level == 0 else history[level].size
        every = np.arange(max(1, (total - extent) // jump + 1))
        is_preview = preview is not None and level == len(chain)
        if len(every) <= MANY_UNITS:
            drawn.append(ax.scatter(center(level, every), np.full(len(every), level), s=10,
                                    color="0.8", zorder=1))  # fmt: skip
        color = plt.cm.viridis(level / max(1, len(chain)))
        drawn.append(ax.scatter(center(level, support[level]), np.full(len(support[level]), level),
                                s=22, zorder=3, facecolors="white" if is_preview else color,
                                edgecolors="0.3" if is_preview else color))  # fmt: skip
        if level > 0:
            kernel, stride, dilation = chain[level - 1]
            for unit in support[level]:
                taps = unit * stride + np.arange(kernel) * dilation
                x_top = center(level, np.array([unit]))[0]
                lines = [((x, level - 1), (x_top, level)) for x in center(level - 1, taps)]
                (dashed if is_preview else segments).extend(lines)
            note = _layer_note(chain[level - 1], history[level])
            drawn.append(ax.text(1.01, level, f"next: {note}" if is_preview else note, va="center",
                                 fontsize=9, color="0.35" if is_preview else "black",
                                 transform=ax.get_yaxis_transform()))  # fmt: skip
    drawn.append(
        ax.add_collection(
            LineCollection(segments, colors="0.45", linewidths=0.6, zorder=2), autolim=False
        )
    )
    drawn.append(ax.add_collection(LineCollection(dashed, colors="0.45", linewidths=0.6,
                                                  linestyles="--", zorder=2), autolim=False))  # fmt: skip
    tag_frame(fig, *drawn)
    ax.set_xlim(-0.5 - 0.02 * total, total - 0.5 + 0.02 * total)
    ax.set_ylim(-0.6, fig.levels - 0.4)
    names = ["input", *[f"layer {i}" for i in range(1, len(layers) + 1)]]
    ax.set_yticks(range(len(chain) + 1), names + (["next?"] if preview is not None else []))
    now = history[len(layers)].size if layers else 1
    title = f"one output unit sees {_pixels(now)}"
    if preview is not None:
        title += f"; with the next layer (dashed), {_pixels(total)}"
    ax.set_title(title, fontsize=10, y=1.0)  # y given: no search for decorations to clear
    return fig


def plot_stack(
    layers: Sequence[tuple[int, int, int]],
    preview: tuple[int, int, int] | None = None,
    size: float = 1.0,
) -> Figure:
    """How one output unit of a 1-D conv/pool chain sees its input, level by level.

    Each row is one level (input at the bottom); dots are units placed at the centre
    of their RF in input pixels, coloured ones feed the top unit, lines are the taps.
    The right margin lists each layer's kernel, stride and dilation with the RF size
    and jump after it. A ``preview`` layer is drawn on top, dashed (see :func:`draw_stack`).

    Args:
        layers: ``(kernel, stride, dilation)`` per layer, first layer first.
        preview: one more ``(kernel, stride, dilation)`` layer to show dashed, or ``None``.
        size: scale of the figure.
    """
    chain = [*layers, *([preview] if preview is not None else [])]
    receptive_fields([tuple(layer) for layer in chain])  # bad layers fail before a figure opens
    return draw_stack(stack_canvas(len(chain) + 1, size), layers, preview)


def _stack_status(count: int, max_layers: int) -> str:
    if count >= max_layers:
        return f"{count} of {max_layers} layers, the limit: remove one to add another"
    return f"{count} of {max_layers} layers; the dashed row is the next layer: press add layer to keep it"


def stack_explorer(
    layers: Sequence[tuple[int, int, int]] = ((3, 1, 1),),
    *,
    max_layers: int = 8,
    interactive: bool | None = None,
):
    """Build a conv chain layer by layer and watch its RF and jump grow.

    Sliders pick the next layer's kernel, stride and dilation, shown dashed on top of
    the chain; "add layer" appends it (the button is disabled at ``max_layers``),
    "remove last" drops the top layer, "reset" restores ``layers``. A thin wrapper
    around :func:`plot_stack` that redraws one figure of fixed size in place
    (:func:`draw_stack`); without a front end it returns ``plot_stack(layers)``.
    The returned ``VBox`` keeps the current chain in ``box.layers``, its buttons in
    ``box.buttons``, a status line in ``box.message`` and the figure in ``box.image``.
    """
    initial = [tuple(layer) for layer in layers]
    receptive_fields(initial)  # validates the layers
    if max_layers < 1:
        raise ValueError(f"stack_explorer(max_layers={max_layers}): must be at least 1")
    if len(initial) > max_layers:
        raise ValueError(f"stack_explorer: {len(initial)} layers but max_layers={max_layers}; "
                         "raise max_layers or give fewer layers")  # fmt: skip
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_stack(initial)

    import ipywidgets as w

    current = list(initial)
    sliders = make_controls({name: w.IntSlider(value=start, min=1, max=top, description=name)
                             for name, start, top in (("kernel", 3, 7), ("stride", 1, 3), ("dilation", 1, 6))})  # fmt: skip
    buttons = {name: w.Button(description=name) for name in ("add layer", "remove last", "reset")}
    message = w.Label(value="")
    canvas = stack_canvas(max_layers + 1, dpi=EXPLORER_DPI)

    def next_layer() -> tuple[int, int, int]:
        return tuple(sliders[name].value for name in ("kernel", "stride", "dilation"))

    def update() -> None:
        full = len(current) >= max_layers
        buttons["add layer"].disabled = full
        buttons["remove last"].disabled = not current
        message.value = _stack_status(len(current), max_layers)
        draw_stack(canvas, current, None if full else next_layer())

    def on_click(button) -> None:
        if button.description == "add layer" and len(current) < max_layers:
            current.append(next_layer())
        elif button.description == "remove last" and current:
            current.pop()
        elif button.description == "reset":
            current[:] = initial
        update()
        live.refresh()

    update()
    live = LiveFigure(canvas)
    for button in buttons.values():
        button.on_click(on_click)
    box = live_explorer(
        live, sliders, update, [list(sliders.values()), [*buttons.values(), message]]
    )
    box.layers = current
    box.buttons = buttons
    box.message = message
    return box
