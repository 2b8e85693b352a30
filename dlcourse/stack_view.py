"""Lesson 01 on screen: how one output unit of a conv chain sees its input, level by level.

:func:`plot_stack` draws a 1-D conv/pool chain one level per row: the units that feed
the top unit, the taps between them, and each layer's RF and jump;
:func:`stack_explorer` builds the chain layer by layer with sliders and buttons and
redraws one figure in place (:mod:`dlcourse.widgets`).

Used in: 01.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dlcourse import frames, widgets
from dlcourse.rf import receptive_fields
from dlcourse.taps import stack_support

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

    frames.clear_frame(fig)
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
    frames.tag_frame(fig, *drawn)
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
        interactive = widgets.front_end_available()
    if not interactive:
        return plot_stack(initial)

    import ipywidgets as w

    current = list(initial)
    sliders = widgets.make_controls({name: w.IntSlider(value=start, min=1, max=top, description=name)
                                     for name, start, top in (("kernel", 3, 7), ("stride", 1, 3), ("dilation", 1, 6))})  # fmt: skip
    buttons = {name: w.Button(description=name) for name in ("add layer", "remove last", "reset")}
    message = w.Label(value="")
    canvas = stack_canvas(max_layers + 1, dpi=widgets.EXPLORER_DPI)

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
    live = widgets.LiveFigure(canvas)
    for button in buttons.values():
        button.on_click(on_click)
    box = widgets.live_explorer(
        live, sliders, update, [list(sliders.values()), [*buttons.values(), message]]
    )
    box.layers = current
    box.buttons = buttons
    box.message = message
    return box
