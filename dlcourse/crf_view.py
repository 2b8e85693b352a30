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
from dlcourse.widgets import Slider, explore, front_end_available

EXPLORER_SIZE = (160, 188)
"""The explorer's working resolution (width, height): a third of the sample photo. At this
size one CRF run (10 iterations, 30,080 pixels) and its redraw take a few tenths of a second
on a 2-core CPU."""

NAMES = {"w1": "w1", "theta_alpha": "θα", "theta_beta": "θβ", "w2": "w2", "theta_gamma": "θγ",
         "iterations": "iterations"}  # fmt: skip
"""How the figure and the sliders name each parameter (the same names in both)."""


def describe(params: dict) -> str:
    """``"w1 = 4, θα = 40 px, ..."``: the parameters as the figure and the sliders name them."""
    units = {"theta_alpha": " px", "theta_beta": " levels", "theta_gamma": " px"}
    return ", ".join(f"{NAMES[key]} = {value:g}{units.get(key, '')}" for key, value in params.items())


def plot_crf(
    image: np.ndarray,
    probs: np.ndarray,
    w1: float = 4.0,
    theta_alpha: float = 40.0,
    theta_beta: float = 5.0,
    w2: float = 3.0,
    theta_gamma: float = 3.0,
    iterations: int = 10,
    size: float = 3.2,
    dpi: int = 100,
) -> Figure:
    """A photo, the labels of its unaries, and the labels after the dense CRF.

    Args:
        image: ``(H, W, 3)`` uint8 photo.
        probs: ``(C, H, W)`` class probabilities of the same size (C <= 21: VOC colours).
        w1, theta_alpha, theta_beta, w2, theta_gamma, iterations: as in
            :func:`dlcourse.crf.dense_crf` (lattice method).
        size: height of each panel in inches.
        dpi: the figure's pixels per inch.

    The parameters are written under the panels, so that no title overlaps another.
    """
    import torch

    from dlcourse.crf import dense_crf
    from dlcourse.viz import colorize_mask

    photo = to_numpy_image(image)
    probs = torch.as_tensor(np.asarray(probs, dtype=np.float32))
    refined = dense_crf(photo, probs, int(iterations), w1=w1, theta_alpha=theta_alpha,
                        theta_beta=theta_beta, w2=w2, theta_gamma=theta_gamma)  # fmt: skip
    before, after = probs.argmax(0).numpy(), refined.argmax(0).numpy()
    changed = float((before != after).mean())
    aspect = photo.shape[1] / photo.shape[0]
    fig, axes = plt.subplots(1, 3, figsize=(3 * size * aspect + 0.4, size + 0.8), dpi=dpi)
    panels = [
        ("photo", photo),
        ("unaries (argmax)", colorize_mask(before)),
        (f"after {int(iterations)} iterations: {changed:.1%} changed", colorize_mask(after)),
    ]
    for ax, (title, picture) in zip(axes, panels, strict=True):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    params = dict(w1=w1, theta_alpha=theta_alpha, theta_beta=theta_beta, w2=w2, theta_gamma=theta_gamma)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.text(0.5, 0.02, describe(params), ha="center", va="bottom", fontsize=9)
    return fig


def explorer_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The explorer's default photo and probabilities: the sample photo at :data:`EXPLORER_SIZE`."""
    from PIL import Image

    from dlcourse.crf import simulated_probs
    from dlcourse.samples import sample_mask, sample_photo

    image = np.asarray(Image.fromarray(sample_photo()).resize(EXPLORER_SIZE, Image.BILINEAR))
    mask = np.asarray(Image.fromarray(sample_mask()).resize(EXPLORER_SIZE, Image.NEAREST))
    return image, simulated_probs(mask, 21, stride=8, noise=1.0).numpy()


CONTROLS = {
    "w1": Slider(0.0, 10.0, 0.5, 4.0, "w1 (appearance)"),
    "theta_alpha": Slider(1, 120, 1, 40, "θα (px)"),
    "theta_beta": Slider(1, 40, 1, 5, "θβ (levels)"),
    "w2": Slider(0.0, 10.0, 0.5, 3.0, "w2 (smoothness)"),
    "theta_gamma": Slider(1, 10, 1, 3, "θγ (px)"),
    "iterations": Slider(0, 15, 1, 10, "iterations"),
}
"""The explorer's sliders; whole-number parameters get integer sliders (they show 40, not 40.0)."""


def crf_explorer(image: np.ndarray | None = None, probs: np.ndarray | None = None, *,
                 interactive: bool | None = None):  # fmt: skip
    """Sliders for the dense CRF's w1, θα, θβ, w2, θγ and iterations, over :func:`plot_crf`.

    Keep the image small (the default is the sample photo at :data:`EXPLORER_SIZE`) so that
    every redraw takes a fraction of a second. Sliders redraw on release; while the CRF
    runs, a line above the figure says "computing...", then how long the update took.

    Args:
        image: ``(H, W, 3)`` uint8 photo.
        probs: its ``(C, H, W)`` class probabilities; give both or neither.
        interactive: force the widgets (``True``) or one static figure at the start values
            (``False``); ``None`` decides from :func:`dlcourse.widgets.front_end_available`.

    Returns:
        An ipywidgets ``VBox`` (``.controls``, ``.status``, ``.output``) or a ``Figure``.
    """
    if (image is None) != (probs is None):
        raise ValueError("crf_explorer: give both image and probs, or neither (for the sample photo)")
    if image is None:
        image, probs = explorer_inputs()
    photo = to_numpy_image(image)

    def draw(**values) -> Figure:
        return plot_crf(photo, probs, dpi=80, **values)

    if interactive is None:
        interactive = front_end_available()
    if not interactive:
        return explore(draw, CONTROLS, interactive=False)
    return _live_explorer(draw)


def _slider(control: Slider):
    """An ipywidgets slider for ``control``: integer when all its numbers are whole."""
    import ipywidgets as w

    numbers = (control.min, control.max, control.step, control.start())
    kind = w.IntSlider if all(isinstance(v, int) for v in numbers) else w.FloatSlider
    return kind(min=control.min, max=control.max, step=control.step, value=control.start(),
                description=control.description, continuous_update=False,
                style={"description_width": "initial"})  # fmt: skip


def _live_explorer(draw):
    """Sliders, a status line ("computing..." while ``draw`` runs, then its time) and the figure."""
    import ipywidgets as w
    from IPython.display import display

    controls = {name: _slider(control) for name, control in CONTROLS.items()}
    status = w.Label("ready")
    output = w.Output()

    def redraw(change=None) -> None:
        status.value = "computing..."
        start = time.perf_counter()
        fig = draw(**{name: control.value for name, control in controls.items()})
        with output:
            output.clear_output(wait=True)
            display(fig)
        plt.close(fig)
        status.value = f"updated in {1000 * (time.perf_counter() - start):.0f} ms"

    for control in controls.values():
        control.observe(redraw, names="value")
    items = list(controls.values())
    box = w.VBox([w.HBox(items[:3]), w.HBox(items[3:]), status, output])
    box.controls, box.status, box.output = controls, status, output
    redraw()
    return box
