"""The explorer framework: controls in front of a figure that is redrawn in place.

Every explorer of the course is a plotting function that takes plain values and
returns a matplotlib figure (tests call it directly, lessons show one static figure
from it), plus a thin wrapper that puts ipywidgets controls in front of it. Only core
widgets that exist in ipywidgets 7.7 (Colab) and 8 (JupyterLab 4) are used.

* :func:`explore` is the generic wrapper: a plotting function and ipywidgets'
  abbreviations (``(0, 10)`` for a slider, a list for a dropdown, ``True`` for a
  checkbox), like ``ipywidgets.interact``; each move draws a new figure.
* :class:`LiveFigure` is for explorers that must keep up with a slider: one figure of
  fixed size, whose static parts (axes, photo) are drawn once; a frame removes and
  re-adds only its own artists and travels as PNG bytes to an ``Image`` widget, with
  the titles and legends as HTML beside the picture, because text is what matplotlib
  is slowest to draw (:mod:`dlcourse.frames` holds these pieces of a frame).
  :func:`live_explorer` wires controls to it. Nothing on the page moves from frame to frame
  (``benchmarks/bench_widgets.py`` times a frame in a browser).

Without a notebook front end (a script, a test, a static render) every wrapper
returns one static figure at the controls' starting values.

The explorers themselves live next to their topics: :mod:`dlcourse.stack_view`
(lesson 01), :mod:`dlcourse.dilation_view` (02), :mod:`dlcourse.aspp_view` (04),
:mod:`dlcourse.crf_view` (09).

Used in: 10 (and, through the explorers, 01, 02, 04, 09).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dlcourse.frames import figure_jpeg, figure_png, legends_html, titles_html

EXPLORER_DPI = 80  # pixels per inch of an explorer's figure


def front_end_available() -> bool:
    """True when an IPython kernel that can show widgets is running."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_controls(
    controls: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict:
    """ipywidgets for ``controls``: each value a widget or one of ipywidgets' abbreviations.

    The abbreviations are those of ``ipywidgets.interact``: ``(min, max[, step])`` gives a
    slider (an ``IntSlider`` when all are whole numbers), a list a dropdown, a bool a
    checkbox. ``defaults[name]`` is the starting value (else ipywidgets' own: a slider
    starts in the middle) and ``labels[name]`` the label (else ``name``). Sliders send
    their value when released, not while dragged.
    """
    import ipywidgets as w

    defaults, labels = defaults or {}, labels or {}
    made = {}
    for name, abbrev in controls.items():
        if isinstance(abbrev, w.ValueWidget):
            widget = abbrev
        else:
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                widget = w.interactive.widget_from_abbrev(abbrev, default)
            except (TypeError, ValueError) as err:
                raise ValueError(f"controls[{name!r}] = {abbrev!r}: {err}") from None
            if not isinstance(widget, w.ValueWidget):
                raise TypeError(
                    f"controls[{name!r}] = {abbrev!r}: use (min, max[, step]) for a slider, a list of "
                    "options for a dropdown, True/False for a checkbox, or an ipywidgets control"
                )
            widget.description = labels.get(name, name)
        if hasattr(widget, "continuous_update"):
            widget.continuous_update = False
        widget.style = {"description_width": "initial"}
        made[name] = widget
    return made


def _defaults(plot_fn: Callable[..., Any]) -> dict[str, Any]:
    """The keyword defaults of ``plot_fn``: the controls' starting values, as in ``interact``."""
    try:
        parameters = inspect.signature(plot_fn).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def explore(
    plot_fn: Callable[..., Figure],
    controls: Mapping[str, Any],
    *,
    interactive: bool | None = None,
    columns: int = 3,
):
    """Put controls in front of a plotting function; draw a new figure whenever one moves.

    Contract:
        * ``plot_fn(**values)`` takes one keyword argument per control and returns a new
          matplotlib ``Figure``; it must not show or print anything itself. Its keyword
          defaults are the controls' starting values (as in ``ipywidgets.interact``).
        * ``controls`` maps each keyword to an ipywidgets abbreviation or a widget (see
          :func:`make_controls`).
        * In a notebook it returns a ``VBox`` (controls on top, an ``Output`` below, built
          with ``interactive_output``); display it as the last expression of a cell. The
          widgets are reachable as ``box.controls`` (a dict) and the output as
          ``box.output``; every figure is closed after it is displayed.
        * Without a front end it returns ``plot_fn`` at the starting values, one figure.

    Args:
        plot_fn: the pure plotting function.
        controls: keyword -> abbreviation or widget.
        interactive: force widgets (``True``) or the static figure (``False``);
            ``None`` decides from :func:`front_end_available`.
        columns: controls per row.
    """
    if not callable(plot_fn):
        raise TypeError(
            f"explore(plot_fn={plot_fn!r}): plot_fn must be a function returning a Figure"
        )
    if not controls:
        raise ValueError(
            "explore(controls={}): give at least one control, e.g. {'dilation': (1, 24)}"
        )
    if columns < 1:
        raise ValueError(f"explore(columns={columns}): columns must be at least 1")
    widgets = make_controls(controls, _defaults(plot_fn))
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_fn(**{name: widget.value for name, widget in widgets.items()})

    import ipywidgets as w
    from IPython.display import display

    def redraw(**values):
        fig = plot_fn(**values)
        display(fig)
        plt.close(fig)

    output = w.interactive_output(redraw, widgets)
    items = list(widgets.values())
    rows = [w.HBox(items[i : i + columns]) for i in range(0, len(items), columns)]
    box = w.VBox([*rows, output])
    box.controls = widgets
    box.output = output
    return box


# --- live figures: one figure per explorer, redrawn in place -------------------------


class LiveFigure:
    """A figure shown in a notebook as a picture that is redrawn in place.

    :meth:`refresh` sends the figure's current state: its titles as HTML above the
    picture (:func:`dlcourse.frames.titles_html`), its legends as HTML to its right (:func:`~dlcourse.frames.legends_html`)
    and the rest as PNG bytes (:func:`~dlcourse.frames.figure_png`), or JPEG for a frame that is mostly a
    photo (``picture="jpeg"``, :func:`~dlcourse.frames.figure_jpeg`). The figure keeps its size, so the page
    does not move; pyplot forgets it, so it is not shown a second time at the end of the
    cell. ``widget`` is what to display.
    """

    def __init__(self, fig: Figure, picture: str = "png"):
        import ipywidgets as w

        if picture not in ("png", "jpeg"):
            raise ValueError(
                f"LiveFigure(picture={picture!r}): use 'png' (line drawings) or 'jpeg' (photos)"
            )
        plt.close(fig)
        self.figure = fig
        self.encode = figure_png if picture == "png" else figure_jpeg
        self.titles = w.HTML()
        self.legend = w.HTML()
        self.image = w.Image(format=picture)
        self.widget = w.VBox([self.titles, w.HBox([self.image, self.legend])])
        self.refresh()

    def refresh(self) -> None:
        """Send the figure as it is now."""
        self.titles.value = titles_html(self.figure)
        self.legend.value = legends_html(self.figure)
        self.image.value = self.encode(self.figure)


def live_explorer(
    live: LiveFigure,
    controls: Mapping[str, Any],
    update: Callable[[], None],
    rows: Sequence[Sequence[Any]],
):
    """Lay out ``rows`` of widgets above ``live`` and redraw it whenever a control changes.

    ``update()`` draws the new frame on ``live.figure`` from the controls' values;
    :meth:`LiveFigure.refresh` then sends it. Returns a ``VBox`` with the controls in
    ``box.controls`` and the picture in ``box.image``.
    """
    import ipywidgets as w

    def on_change(change=None) -> None:
        update()
        live.refresh()

    for control in controls.values():
        control.observe(on_change, names="value")
    box = w.VBox([*(w.HBox(list(row)) for row in rows), live.widget])
    box.controls = dict(controls)
    box.image = live.image
    box.live = live
    return box
