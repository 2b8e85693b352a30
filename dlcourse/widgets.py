"""Interactive explorers: pure plotting functions and thin ipywidgets wrappers.

Every explorer is a plotting function that takes plain values and returns a
matplotlib figure (tests call it directly, lessons show one static figure from
it) plus a wrapper that puts sliders and dropdowns in front of it.

:func:`explore` is the one generic wrapper. It uses only core widgets that exist
in ipywidgets 7.7 (Colab) and 8 (JupyterLab 4): ``IntSlider``, ``FloatSlider``,
``Dropdown``, ``Checkbox``, ``Button``, ``Output``, ``VBox``/``HBox`` and
``interactive_output``. ipywidgets is imported only inside the wrappers, so the
plotting functions work without it; when it is missing, or no notebook front end
is attached, a wrapper draws one static figure instead and returns it.

The explorers of lessons 01, 02 and 04 keep one figure of fixed size and redraw it in
place: a ``*_canvas`` function draws what no control changes (axes, photo) once, a
``draw_*`` function draws one frame on it, and the wrapper sends the frame as PNG bytes
to an ``Image`` widget (also core in 7.7 and 8). Nothing on the page moves from frame to
frame, and a frame costs one draw (``benchmarks/bench_widgets.py`` times it in a browser).

Used in: 01, 02, 04, 09.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from dlcourse.rf import effective_kernel, footprint, receptive_fields
from dlcourse.viz import to_numpy_image

# --- control specs -------------------------------------------------------------------


@dataclass(frozen=True)
class Slider:
    """An integer or float slider: ``min..max`` in steps of ``step``, starting at ``value``.

    Integers everywhere give an ``IntSlider``; any float gives a ``FloatSlider``.
    """

    min: float
    max: float
    step: float = 1
    value: float | None = None
    description: str | None = None

    def start(self) -> float:
        """The starting value (``value``, else ``min``)."""
        return self.min if self.value is None else self.value


@dataclass(frozen=True)
class Choice:
    """A dropdown over ``options`` (values, or ``(label, value)`` pairs), starting at ``value``."""

    options: Sequence[Any]
    value: Any = None
    description: str | None = None

    def start(self) -> Any:
        """The starting value (``value``, else the first option's value)."""
        if self.value is not None:
            return self.value
        first = self.options[0]
        return first[1] if isinstance(first, tuple) and len(first) == 2 else first


@dataclass(frozen=True)
class Toggle:
    """A checkbox starting at ``value``."""

    value: bool = False
    description: str | None = None

    def start(self) -> bool:
        """The starting value."""
        return self.value


def as_control(name: str, spec: Any) -> Slider | Choice | Toggle:
    """Turn a short-hand control spec into a :class:`Slider`, :class:`Choice` or :class:`Toggle`.

    Accepted short-hands: ``(min, max)``, ``(min, max, step)`` or ``(min, max, step, value)``
    tuples of numbers (a slider); a list of options (a dropdown); a bool (a checkbox).
    """
    if isinstance(spec, Slider | Choice | Toggle):
        return spec
    if isinstance(spec, bool):
        return Toggle(spec)
    if isinstance(spec, list) and spec:
        return Choice(tuple(spec))
    if isinstance(spec, tuple) and 2 <= len(spec) <= 4 and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in spec
    ):
        low, high = spec[0], spec[1]
        step = spec[2] if len(spec) > 2 else 1
        if high < low or step <= 0:
            raise ValueError(
                f"controls[{name!r}] = {spec!r}: a slider needs min <= max and a positive step"
            )
        return Slider(low, high, step, spec[3] if len(spec) > 3 else None)
    raise TypeError(
        f"controls[{name!r}] = {spec!r}: use (min, max[, step[, value]]) for a slider, a list of "
        "options for a dropdown, True/False for a checkbox, or Slider/Choice/Toggle"
    )


def start_values(controls: Mapping[str, Any]) -> dict[str, Any]:
    """The starting value of every control: the keyword arguments of the static figure."""
    return {name: as_control(name, spec).start() for name, spec in controls.items()}


def _make_widget(name: str, control: Slider | Choice | Toggle):
    import ipywidgets as w

    label = control.description or name
    style = {"description_width": "initial"}
    if isinstance(control, Toggle):
        return w.Checkbox(value=control.value, description=label, style=style)
    if isinstance(control, Choice):
        return w.Dropdown(options=list(control.options), value=control.start(),
                          description=label, style=style)  # fmt: skip
    numbers = (control.min, control.max, control.step, control.start())
    kind = w.IntSlider if all(isinstance(v, int) for v in numbers) else w.FloatSlider
    return kind(min=control.min, max=control.max, step=control.step, value=control.start(),
                description=label, continuous_update=False, style=style)  # fmt: skip


def front_end_available() -> bool:
    """True when ipywidgets imports and an IPython kernel can show widgets."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show(fig: Figure) -> None:
    """Display ``fig`` once (inside the current ``Output``) and release it."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def explore(
    plot_fn: Callable[..., Figure],
    controls: Mapping[str, Any],
    *,
    interactive: bool | None = None,
    columns: int = 3,
):
    """Put controls in front of a plotting function; redraw its figure whenever one moves.

    Contract:
        * ``plot_fn(**values)`` takes one keyword argument per control and returns a new
          matplotlib ``Figure``; it must not show or print anything itself.
        * ``controls`` maps each keyword to a spec (see :func:`as_control`):
          ``(min, max[, step[, value]])``, a list of options, a bool, or a
          :class:`Slider`/:class:`Choice`/:class:`Toggle`.
        * In a notebook with ipywidgets 7.7 or 8 it returns a ``VBox`` (controls on top,
          an ``Output`` below, built with ``interactive_output``); display it as the last
          expression of a cell. Sliders redraw on release, not while dragging. The
          widgets are reachable as ``box.controls`` (a dict) and the output as
          ``box.output``; every figure is closed after it is displayed.
        * Without ipywidgets or a front end (a script, a test, a static render) it returns
          ``plot_fn(**start_values(controls))``, one figure at the starting values.

    Args:
        plot_fn: the pure plotting function.
        controls: keyword -> control spec.
        interactive: force widgets (``True``) or the static figure (``False``);
            ``None`` decides from :func:`front_end_available`.
        columns: controls per row.
    """
    if not callable(plot_fn):
        raise TypeError(f"explore(plot_fn={plot_fn!r}): plot_fn must be a function returning a Figure")
    if not controls:
        raise ValueError("explore(controls={}): give at least one control, e.g. {'dilation': (1, 24)}")
    if columns < 1:
        raise ValueError(f"explore(columns={columns}): columns must be at least 1")
    specs = {name: as_control(name, spec) for name, spec in controls.items()}
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_fn(**{name: spec.start() for name, spec in specs.items()})

    import ipywidgets as w

    widgets = {name: _make_widget(name, spec) for name, spec in specs.items()}

    def redraw(**values):
        _show(plot_fn(**values))

    output = w.interactive_output(redraw, widgets)
    items = list(widgets.values())
    rows = [w.HBox(items[i : i + columns]) for i in range(0, len(items), columns)]
    box = w.VBox([*rows, output])
    box.controls = widgets
    box.output = output
    return box


# --- live figures: one figure per explorer, redrawn in place -------------------------

EXPLORER_DPI = 80  # pixels per inch of an explorer's figure


def tag_frame(fig: Figure, *artists: Any) -> None:
    """Remember ``artists`` as part of the current frame of ``fig`` (see :func:`clear_frame`)."""
    if not hasattr(fig, "frame_artists"):
        fig.frame_artists = []
    fig.frame_artists.extend(artists)


def clear_frame(fig: Figure) -> None:
    """Remove every artist the previous frame drew; the static parts (axes, photo) stay."""
    for artist in getattr(fig, "frame_artists", []):
        artist.remove()
    fig.frame_artists = []


def figure_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes at its own size and dpi.

    No tight bounding box: every frame of an explorer has the same pixel size and the
    same layout, so nothing on the page moves, and one draw makes one frame. A low
    compression level keeps the encoding cheap (the bytes travel only to the browser).
    """
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def shrink_photo(photo: np.ndarray, scale: float) -> np.ndarray:
    """``photo`` resized by ``scale`` (a box filter) when ``scale < 1``, else unchanged.

    A photo drawn at the size it has on screen costs a fraction of resampling the full
    photo at every frame; the figure's coordinates stay in photo pixels (``extent``).
    """
    if scale >= 1:
        return photo
    from PIL import Image

    height, width = photo.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.BOX))


def _axes_pixels(ax) -> tuple[float, float]:
    """Width and height of ``ax`` in pixels of its figure."""
    fig = ax.figure
    box = ax.get_position()
    width, height = fig.get_size_inches() * fig.dpi
    return box.width * width, box.height * height


def _live_image(fig: Figure):
    """An ipywidgets ``Image`` that shows ``fig``; it keeps its size from frame to frame."""
    import ipywidgets as w

    plt.close(fig)  # the explorer owns the figure: pyplot must not show it at the end of the cell
    return w.Image(value=figure_png(fig), format="png")


# --- lesson 02: dilation explorer ----------------------------------------------------


def dilation_canvas(image: np.ndarray, size: float = 4.0, dpi: float | None = None) -> Figure:
    """The parts of :func:`plot_dilation`'s figure that no slider changes: two panels, the photo.

    Args:
        image: the photo, ``(H, W, 3)``.
        size: height of the figure in inches.
        dpi: pixels per inch (matplotlib's default when ``None``).
    """
    photo = to_numpy_image(image)
    height, width = photo.shape[:2]
    fig, (ax_photo, ax_zoom) = plt.subplots(1, 2, figsize=(size * 2.2, size), dpi=dpi)
    # fixed layout (no tight_layout): the photo stays put whatever the titles say
    fig.subplots_adjust(left=0.01, right=0.9, bottom=0.02, top=0.87, wspace=0.04)
    panel_width, panel_height = _axes_pixels(ax_photo)
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
                       f"RF {rf}x{rf}{larger}", fontsize=9)  # fmt: skip

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
    ax_zoom.set_title(f"zoom: {len(xs)} of {rf * rf} pixels in the box\nreached{one_path}", fontsize=9)
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


def _photo_or_sample(image: np.ndarray | None) -> np.ndarray:
    """``image`` as an (H, W, 3) uint8 array; the course's sample photo when ``None``."""
    if image is None:
        from dlcourse.samples import sample_photo

        image = sample_photo()
    return to_numpy_image(image)


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
    place (:func:`draw_dilation`) when a control moves. In a notebook it returns a ``VBox``
    with the widgets in ``box.controls`` (``kernel``, ``dilation``, ``layers``, ``rates``),
    a status line in ``box.message`` and the figure, an ``Image`` widget, in ``box.image``;
    without a front end it returns the static figure at the starting values.

    Args:
        image: the photo; :func:`dlcourse.samples.sample_photo` by default.
        interactive: see :func:`explore`.
    """
    photo = _photo_or_sample(image)
    sliders = {
        "kernel": Slider(1, 7, 2, 3, "kernel size"),
        "dilation": Slider(1, 24, 1, 1, "dilation"),
        "layers": Slider(1, 4, 1, 1, "layers"),
    }
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_dilation(photo, **start_values(sliders))

    import ipywidgets as w

    controls = {name: _make_widget(name, spec) for name, spec in sliders.items()}
    controls["rates"] = w.Text(value="", placeholder="e.g. 1,2,5", description="rates per layer",
                               continuous_update=False, style={"description_width": "initial"})  # fmt: skip
    message = w.Label(value="")
    canvas = dilation_canvas(photo, size=4.2, dpi=EXPLORER_DPI)

    def redraw(change=None) -> None:
        kernel, dilation, layers = (controls[name].value for name in ("kernel", "dilation", "layers"))
        try:
            per_layer = parse_rates(controls["rates"].value)
        except ValueError as err:
            message.value = f"{err}; showing the sliders' rate instead"
            per_layer = None
        else:
            message.value = "" if per_layer is None else "the text box overrides the dilation and layers sliders"
        if per_layer is not None:
            dilation, layers = per_layer, len(per_layer)
        draw_dilation(canvas, photo, kernel=kernel, dilation=dilation, layers=layers)
        if change is not None:
            image.value = figure_png(canvas)

    redraw()
    image = _live_image(canvas)
    for control in controls.values():
        control.observe(redraw, names="value")
    items = list(controls.values())
    box = w.VBox([w.HBox(items[:3]), w.HBox([items[3], message]), image])
    box.controls = controls
    box.message = message
    box.image = image
    return box


# --- lesson 01: stack explorer -------------------------------------------------------

MANY_UNITS = 800  # above this many units in a row, only those that feed the top unit are drawn


def stack_support(layers: Sequence[tuple[int, int, int]]) -> list[np.ndarray]:
    """Indices of the units at every level that feed output unit 0 of a 1-D conv chain.

    ``layers`` are ``(kernel, stride, dilation)`` without padding. Entry ``l`` of the
    result holds the unit indices at level ``l`` (0 = input, ``len(layers)`` = output).
    """
    support = [np.zeros(1, dtype=np.int64)]
    for kernel, stride, dilation in reversed(list(layers)):
        taps = np.arange(kernel) * dilation
        support.append(np.unique((support[-1][:, None] * stride + taps[None, :]).ravel()))
    return support[::-1]


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
    drawn.append(ax.add_collection(LineCollection(segments, colors="0.45", linewidths=0.6, zorder=2)))
    drawn.append(ax.add_collection(LineCollection(dashed, colors="0.45", linewidths=0.6,
                                                  linestyles="--", zorder=2)))  # fmt: skip
    tag_frame(fig, *drawn)
    ax.set_xlim(-0.5 - 0.02 * total, total - 0.5 + 0.02 * total)
    ax.set_ylim(-0.6, fig.levels - 0.4)
    names = ["input", *[f"layer {i}" for i in range(1, len(layers) + 1)]]
    ax.set_yticks(range(len(chain) + 1), names + (["next?"] if preview is not None else []))
    now = history[len(layers)].size if layers else 1
    title = f"one output unit sees {_pixels(now)}"
    if preview is not None:
        title += f"; with the next layer (dashed), {_pixels(total)}"
    ax.set_title(title, fontsize=10)
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
    sliders = {
        "kernel": _make_widget("kernel", Slider(1, 7, 1, 3)),
        "stride": _make_widget("stride", Slider(1, 3, 1, 1)),
        "dilation": _make_widget("dilation", Slider(1, 6, 1, 1)),
    }
    buttons = {name: w.Button(description=name) for name in ("add layer", "remove last", "reset")}
    message = w.Label(value="")
    canvas = stack_canvas(max_layers + 1, dpi=EXPLORER_DPI)

    def next_layer() -> tuple[int, int, int]:
        return tuple(sliders[name].value for name in ("kernel", "stride", "dilation"))

    def redraw(change=None) -> None:
        full = len(current) >= max_layers
        buttons["add layer"].disabled = full
        buttons["remove last"].disabled = not current
        message.value = _stack_status(len(current), max_layers)
        draw_stack(canvas, current, None if full else next_layer())
        if change is not None:
            image.value = figure_png(canvas)

    def on_click(button) -> None:
        if button.description == "add layer" and len(current) < max_layers:
            current.append(next_layer())
        elif button.description == "remove last" and current:
            current.pop()
        elif button.description == "reset":
            current[:] = initial
        redraw(button)

    redraw()
    image = _live_image(canvas)
    for button in buttons.values():
        button.on_click(on_click)
    for slider in sliders.values():
        slider.observe(redraw, names="value")
    box = w.VBox([w.HBox(list(sliders.values())), w.HBox([*buttons.values(), message]), image])
    box.layers = current
    box.controls = sliders
    box.buttons = buttons
    box.message = message
    box.image = image
    return box


# --- lesson 04: ASPP explorer --------------------------------------------------------


def aspp_taps(
    rate: int, output_stride: int, center: tuple[int, int], image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Where the 9 taps of one 3x3 ASPP branch of ``rate`` fall in a photo.

    A feature cell at output stride ``s`` covers ``s x s`` photo pixels; the taps sit
    ``rate`` cells apart around the cell that holds ``center`` (``(row, col)`` in photo
    pixels). Returns ``(corners, inside)``: ``(9, 2)`` top-left photo pixels
    ``(row, col)`` of each tap's cell, and a boolean ``(9,)`` that is False where the
    tap lands in the zero padding outside the feature map.
    """
    if rate < 1 or output_stride < 1:
        raise ValueError(f"aspp_taps(rate={rate}, output_stride={output_stride}): both must be >= 1")
    height, width = image_size
    rows, cols = -(-height // output_stride), -(-width // output_stride)  # feature map size
    cell_r, cell_c = center[0] // output_stride, center[1] // output_stride
    offsets = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]) * rate
    cells = offsets + np.array([cell_r, cell_c])
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < rows) & (cells[:, 1] >= 0) & (cells[:, 1] < cols)
    return cells * output_stride, inside


ASPP_SMALLEST = 7.0  # screen pixels: a cell drawn smaller than this is drawn this large


def aspp_canvas(image: np.ndarray, size: float = 4.0, dpi: float | None = None) -> Figure:
    """The parts of :func:`plot_aspp`'s figure that no control changes: the photo and the padding.

    The axes box is fixed: when the taps reach farther, :func:`draw_aspp` widens the view
    inside the same box, so the legend and the figure never move.

    Args:
        image: the photo, ``(H, W, 3)``.
        size: height of the photo's panel in inches.
        dpi: pixels per inch (matplotlib's default when ``None``).
    """
    photo = to_numpy_image(image)
    height, width = photo.shape[:2]
    panel = size * 0.95
    fig_width, fig_height = panel + 2.9, size + 0.5
    fig, ax = plt.subplots(figsize=(fig_width, fig_height), dpi=dpi)
    ax.set_position((0.05 / fig_width, 0.05 / fig_height, panel / fig_width, size / fig_height))
    ax.set_axis_off()
    far = 40 * max(height, width)  # the zero padding, wider than any view
    ax.add_patch(Rectangle((-far, -far), 2 * far + width, 2 * far + height, color="0.85", zorder=-2))
    scale = _axes_pixels(ax)[1] / (1.3 * height)  # the photo's share of the smallest view
    ax.imshow(shrink_photo(photo, scale), interpolation="nearest",
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
    clear_frame(fig)
    ax = fig.axes[0]
    panel_width, panel_height = _axes_pixels(ax)
    per_pixel = min(panel_width / (right - left), panel_height / (bottom - top))  # screen px per photo px
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
    tag_frame(fig, *drawn)
    ax.set_title(f"ASPP at output stride {s}: {-(-height // s)}x{-(-width // s)} feature cells "
                 f"of {s}x{s} px\non a {height}x{width} photo; dashed: taps in the zero padding",
                 fontsize=9)  # fmt: skip
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False, labelspacing=0.9)
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
        interactive: see :func:`explore`.
    """
    photo = _photo_or_sample(image)
    specs = {
        "rate1": Slider(1, 36, 1, 6, "rate 1"),
        "rate2": Slider(1, 36, 1, 12, "rate 2"),
        "rate3": Slider(1, 36, 1, 18, "rate 3"),
        "output_stride": Choice([8, 16, 32], 16, "output stride"),
        "pooling": Toggle(True, "image pooling"),
    }
    start = start_values(specs)
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_aspp(photo, (start["rate1"], start["rate2"], start["rate3"]),
                         start["output_stride"], start["pooling"])  # fmt: skip

    import ipywidgets as w

    controls = {name: _make_widget(name, spec) for name, spec in specs.items()}
    canvas = aspp_canvas(photo, size=5.6, dpi=EXPLORER_DPI)

    def redraw(change=None) -> None:
        values = {name: control.value for name, control in controls.items()}
        rates = (values["rate1"], values["rate2"], values["rate3"])
        draw_aspp(canvas, photo, rates, values["output_stride"], values["pooling"])
        if change is not None:
            image.value = figure_png(canvas)

    redraw()
    image = _live_image(canvas)
    for control in controls.values():
        control.observe(redraw, names="value")
    items = list(controls.values())
    box = w.VBox([w.HBox(items[:3]), w.HBox(items[3:]), image])
    box.controls = controls
    box.image = image
    return box


def _aspp_branches(aspp) -> tuple[list[str], str, str]:
    """Labels of an ASPP's branches, read from its modules; its merge and output labels."""
    from torch import nn

    labels = []
    for branch in aspp.convs:
        convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
        conv, pooled = convs[0], any(isinstance(m, nn.AdaptiveAvgPool2d) for m in branch.modules())
        if pooled:
            labels.append(f"image pooling\nglobal average, 1x1 conv\n-> {conv.out_channels}, upsample")
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

    Works for :class:`dlcourse.layers.ASPP` (v3: branches with batch norm and ReLU,
    concatenated, 1x1 projection; an image-pooling branch if it has one) and
    :class:`dlcourse.layers.ASPPv2` (v2: one classifier per rate, summed). Channel
    counts and rates are read from the convolutions, so the figure cannot drift from code.

    Args:
        aspp: the module.
        title: figure title; the class name by default.
        size: height of the figure in inches.
    """
    from torch import nn

    if not isinstance(getattr(aspp, "convs", None), nn.ModuleList):
        raise TypeError(f"plot_aspp_diagram(aspp={type(aspp).__name__}): give an ASPP or ASPPv2 module")
    labels, merge, output = _aspp_branches(aspp)
    in_channels = next(m for m in aspp.convs[0].modules() if isinstance(m, nn.Conv2d)).in_channels
    fig, ax = plt.subplots(figsize=(10, size))
    n = len(labels)
    ys = np.linspace(n - 1, 0, n) if n > 1 else np.zeros(1)
    mid = (n - 1) / 2
    style = {"ha": "center", "va": "center", "fontsize": 8}

    def box(x, y, text, color):
        ax.text(x, y, text, bbox={"boxstyle": "round,pad=0.4", "facecolor": color, "edgecolor": "0.3"},
                **style)

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
