"""Seeing the dense CRF at work: a before/after figure and an explorer with sliders.

:func:`plot_crf` draws a photo, the labels of its unaries and the labels after the CRF;
:func:`crf_explorer` puts sliders in front of it, with a "computing..." line that says
when a new result is on its way and how long the last one took.

Used in: 09.
"""

from __future__ import annotations

import time

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dlcourse.viz import to_numpy_image
from dlcourse.widgets import (
    EXPLORER_DPI,
    LiveFigure,
    front_end_available,
    live_explorer,
    make_controls,
)

EXPLORER_SIZE = (128, 150)
"""The explorer's working resolution (width, height): a quarter of the sample photo's side,
19,200 pixels, chosen so that one update (a CRF of 10 iterations and its redraw) keeps up
with a slider on a 2-core CPU (``benchmarks/widgets.md`` has the measured times)."""

NAMES = {"w1": "w1", "theta_alpha": "θα", "theta_beta": "θβ", "w2": "w2", "theta_gamma": "θγ",
         "iterations": "iterations"}  # fmt: skip
"""How the figure and the sliders name each parameter (the same names in both)."""


def describe(params: dict) -> str:
    """``"w1 = 4, θα = 40 px, ..."``: the parameters as the figure and the sliders name them."""
    units = {"theta_alpha": " px", "theta_beta": " levels", "theta_gamma": " px"}
    return ", ".join(
        f"{NAMES[key]} = {value:g}{units.get(key, '')}" for key, value in params.items()
    )


def crf_canvas(
    image: np.ndarray,
    probs: np.ndarray,
    size: float = 3.2,
    dpi: float | None = None,
    room_for_text: bool = True,
) -> Figure:
    """The parts of :func:`plot_crf`'s figure that no slider changes: the photo and the unaries.

    The third panel holds an empty picture that :func:`draw_crf` fills with each result.

    Args:
        image: ``(H, W, 3)`` uint8 photo.
        probs: ``(C, H, W)`` class probabilities of the same size (C <= 21: VOC colours).
        size: height of each panel in inches.
        dpi: the figure's pixels per inch (matplotlib's default when ``None``).
        room_for_text: leave room for the titles and the parameters under the panels;
            ``False`` for a :class:`dlcourse.widgets.LiveFigure`, which shows titles as HTML.
    """
    from dlcourse.viz import colorize_mask

    photo = to_numpy_image(image)
    unaries = colorize_mask(np.asarray(probs).argmax(0))
    aspect = photo.shape[1] / photo.shape[0]
    width, height = (
        (3 * size * aspect + 0.4, size + 0.8)
        if room_for_text
        else (3 * size * aspect + 0.2, size + 0.1)
    )
    fig, axes = plt.subplots(1, 3, figsize=(width, height), dpi=dpi)
    bottom, top = (0.1, 0.88) if room_for_text else (0.02, 0.98)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=bottom, top=top, wspace=0.03)
    for ax, picture, title in zip(
        axes, (photo, unaries, unaries), ("photo", "unaries (argmax)", ""), strict=True
    ):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(title, fontsize=9, y=1.0)
        ax.set_axis_off()
    fig.parameters = (
        fig.text(0.5, 0.02, "", ha="center", va="bottom", fontsize=9) if room_for_text else None
    )
    fig.kernels = {}  # the CRF's two kernels, kept between frames while their parameters stay (dense_crf's cache)
    return fig


def _settings(params: dict) -> dict:
    """The explorer's start values (:data:`CONTROLS`) updated with ``params``; unknown names refused."""
    unknown = sorted(set(params) - set(CONTROLS))
    if unknown:
        raise TypeError(f"unknown CRF parameters {unknown}: use {list(CONTROLS)}")
    return {**{name: start for name, (_, start, _) in CONTROLS.items()}, **params}


def draw_crf(fig: Figure, photo: np.ndarray, probs: np.ndarray, **params) -> Figure:
    """Run the dense CRF and draw its labels on a :func:`crf_canvas`; returns ``fig``.

    ``params``: ``w1``, ``theta_alpha``, ``theta_beta``, ``w2``, ``theta_gamma`` and
    ``iterations``, as in :func:`dlcourse.crf.dense_crf` (lattice method); those not given
    take the explorer's start values (:data:`CONTROLS`). A kernel whose parameters did not
    change since the last frame is not built again (moving ``iterations`` rebuilds nothing,
    moving θα or w1 only the appearance kernel).
    """
    import torch

    from dlcourse.crf import dense_crf
    from dlcourse.viz import colorize_mask

    kernels = _settings(params)
    iterations = int(kernels.pop("iterations"))
    probs = torch.as_tensor(np.asarray(probs, dtype=np.float32))
    refined = dense_crf(photo, probs, iterations, **kernels, cache=fig.kernels)
    before, after = probs.argmax(0).numpy(), refined.argmax(0).numpy()
    panel = fig.axes[2]
    panel.images[0].set_data(colorize_mask(after))
    panel.set_title(
        f"after {iterations} iterations: {(before != after).mean():.1%} changed", fontsize=9, y=1.0
    )
    if fig.parameters is not None:
        fig.parameters.set_text(describe(kernels))
    return fig


def plot_crf(
    image: np.ndarray, probs: np.ndarray, *, size: float = 3.2, dpi: int = 100, **params
) -> Figure:
    """A photo, the labels of its unaries, and the labels after the dense CRF.

    Args:
        image: ``(H, W, 3)`` uint8 photo.
        probs: ``(C, H, W)`` class probabilities of the same size (C <= 21: VOC colours).
        size: height of each panel in inches.
        dpi: the figure's pixels per inch.
        params: the CRF's parameters, see :func:`draw_crf`.

    The parameters are written under the panels, so that no title overlaps another.
    """
    photo = to_numpy_image(image)
    return draw_crf(crf_canvas(photo, probs, size, dpi), photo, probs, **params)


def explorer_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The explorer's default photo and probabilities: the sample photo at :data:`EXPLORER_SIZE`."""
    from PIL import Image

    from dlcourse.crf import simulated_probs
    from dlcourse.samples import sample_mask, sample_photo

    image = np.asarray(Image.fromarray(sample_photo()).resize(EXPLORER_SIZE, Image.BILINEAR))
    mask = np.asarray(Image.fromarray(sample_mask()).resize(EXPLORER_SIZE, Image.NEAREST))
    return image, simulated_probs(mask, 21, stride=8, noise=1.0).numpy()


CONTROLS = {
    "w1": ((0.0, 10.0, 0.5), 4.0, "w1 (appearance)"),
    "theta_alpha": ((1, 120), 40, "θα (px)"),
    "theta_beta": ((1, 40), 5, "θβ (levels)"),
    "w2": ((0.0, 10.0, 0.5), 3.0, "w2 (smoothness)"),
    "theta_gamma": ((1, 10), 3, "θγ (px)"),
    "iterations": ((0, 15), 10, "iterations"),
}
"""The explorer's sliders: name -> (ipywidgets abbreviation, start, label). Whole-number
parameters get integer sliders (they show 40, not 40.0)."""


def crf_explorer(image: np.ndarray | None = None, probs: np.ndarray | None = None, *,
                 interactive: bool | None = None):  # fmt: skip
    """Sliders for the dense CRF's w1, θα, θβ, w2, θγ and iterations, over :func:`plot_crf`.

    Keep the image small (the default is the sample photo at :data:`EXPLORER_SIZE`) so that
    every redraw takes a fraction of a second. Sliders redraw on release; while the CRF
    runs, a line above the figure says "computing...", then how long the update took.
    The figure is redrawn in place (:class:`dlcourse.widgets.LiveFigure`): only the third
    panel changes.

    Args:
        image: ``(H, W, 3)`` uint8 photo.
        probs: its ``(C, H, W)`` class probabilities; give both or neither.
        interactive: force the widgets (``True``) or one static figure at the start values
            (``False``); ``None`` decides from :func:`dlcourse.widgets.front_end_available`.

    Returns:
        An ipywidgets ``VBox`` (``.controls``, ``.status``, ``.image``) or a ``Figure``.
    """
    if (image is None) != (probs is None):
        raise ValueError(
            "crf_explorer: give both image and probs, or neither (for the sample photo)"
        )
    if image is None:
        image, probs = explorer_inputs()
    photo = to_numpy_image(image)
    controls = make_controls({name: abbrev for name, (abbrev, _, _) in CONTROLS.items()},
                             defaults={name: start for name, (_, start, _) in CONTROLS.items()},
                             labels={name: label for name, (_, _, label) in CONTROLS.items()})  # fmt: skip
    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return plot_crf(
            photo, probs, **{name: control.value for name, control in controls.items()}, dpi=80
        )

    import ipywidgets as w

    status = w.Label("ready")
    canvas = crf_canvas(photo, probs, dpi=EXPLORER_DPI, room_for_text=False)

    def update() -> None:
        status.value = "computing..."
        start = time.perf_counter()
        draw_crf(
            canvas, photo, probs, **{name: control.value for name, control in controls.items()}
        )
        status.value = f"updated in {1000 * (time.perf_counter() - start):.0f} ms"

    update()
    items = list(controls.values())
    box = live_explorer(
        LiveFigure(canvas, picture="jpeg"), controls, update, [items[:3], items[3:], [status]]
    )
    box.status = status
    return box
