"""Lesson 08 on screen: where a segmentation model goes wrong.

:func:`error_map` paints the pixels a prediction gets right, wrong or leaves void
(``ERROR_COLORS``); :func:`show_error_gallery` puts photo, ground truth, prediction and
errors side by side, one row per image (the worst ones by
:func:`dlcourse.inference.rank_images`, say); :func:`plot_confusion` draws a confusion
matrix as a heatmap.

Used in: 07, 08.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor

from dlcourse.viz import VOC_PALETTE, VOID_INDEX, colorize_mask, to_numpy_image

ERROR_COLORS = {"correct": (255, 255, 255), "wrong": (214, 39, 40), "void": (170, 170, 170)}
"""Colours of :func:`error_map`: right pixels white, wrong ones red, void grey."""


def error_map(
    pred: np.ndarray | Tensor, target: np.ndarray | Tensor, ignore_index: int = VOID_INDEX
) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 picture of where ``pred`` differs from ``target`` (see ERROR_COLORS)."""
    pred = np.asarray(pred.cpu() if isinstance(pred, Tensor) else pred)
    target = np.asarray(target.cpu() if isinstance(target, Tensor) else target)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(
            f"error_map: pred {pred.shape} and target {target.shape} must be equal (H, W) label maps"
        )
    picture = np.empty((*target.shape, 3), dtype=np.uint8)
    picture[:] = ERROR_COLORS["correct"]
    picture[pred != target] = ERROR_COLORS["wrong"]
    picture[target == ignore_index] = ERROR_COLORS["void"]
    return picture


def show_error_gallery(
    images: Sequence[np.ndarray | Tensor],
    targets: Sequence[np.ndarray | Tensor],
    preds: Sequence[np.ndarray | Tensor],
    titles: Sequence[str] | None = None,
    palette: np.ndarray = VOC_PALETTE,
) -> Figure:
    """One row per image: photo, ground truth, prediction, errors (red = wrong, grey = void).

    Args:
        images: displayable images (``(H, W, 3)`` uint8 or floats in [0, 1]; see
            :func:`dlcourse.viz.to_numpy_image`), not normalized tensors.
        targets, preds: ``(H, W)`` label maps.
        titles: one line per row (e.g. ``"#12  mIoU 0.31"``).
        palette: class colours.
    """
    if not len(images) == len(targets) == len(preds) or len(images) == 0:
        raise ValueError("show_error_gallery: give equally many (>= 1) images, targets and preds")
    rows = len(images)
    fig, axes = plt.subplots(rows, 4, figsize=(10, 2.6 * rows), squeeze=False)
    for row in range(rows):
        pictures = (
            to_numpy_image(images[row]),
            colorize_mask(targets[row], palette),
            colorize_mask(preds[row], palette),
            error_map(preds[row], targets[row]),
        )
        names = ("image", "ground truth", "prediction", "errors")
        for ax, picture, name in zip(axes[row], pictures, names, strict=True):
            ax.imshow(picture, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(name if row == 0 else "", fontsize=10)
        if titles is not None:
            axes[row, 0].text(-0.05, 0.5, titles[row], transform=axes[row, 0].transAxes,
                              rotation=90, ha="right", va="center", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_confusion(
    confusion: np.ndarray | Tensor,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    ax: plt.Axes | None = None,
) -> Figure:
    """A heatmap of a confusion matrix (rows: truth, columns: prediction).

    Args:
        confusion: ``(K, K)`` pixel counts.
        class_names: K tick labels (default ``0..K-1``).
        normalize: divide each row by its total, so a row reads "where did the pixels
            of this class go" (rows without pixels stay 0).
        ax: draw into this axes instead of a new figure.
    """
    cm = np.asarray(confusion.cpu() if isinstance(confusion, Tensor) else confusion, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion: expected a square (K, K) matrix, got {cm.shape}")
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"plot_confusion: {len(names)} class_names for a {k}x{k} matrix")
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    if ax is None:
        side = 2.5 + 0.35 * k
        _, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    long_names = k > 6 or max(len(name) for name in names) > 4
    ax.set_xticks(
        range(k), names, rotation=40 if long_names else 0, ha="right" if long_names else "center"
    )
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 12:
        for (i, j), value in np.ndenumerate(cm):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * cm.max() else "black")  # fmt: skip
    ax.figure.tight_layout()
    return ax.figure
