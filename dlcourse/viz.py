"""Pictures of segmentation: the VOC palette, coloured masks, overlays, legends, panels.

Every function here returns arrays or matplotlib figures and prints nothing, so
tests call them directly and lessons decide what to show.

Used in: 00, 01, 02, 04, 05, 06, 08, 09.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dlcourse.voc import VOC_CLASSES, VOC_PALETTE, VOID_COLOR, VOID_INDEX, voc_colormap  # noqa: F401


def to_numpy_image(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """An image as an ``(H, W, 3)`` uint8 array.

    Accepts ``(H, W, 3)`` or ``(H, W)`` arrays and ``(3, H, W)`` tensors; floats
    are read as values in [0, 1] and clipped.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"image: expected shape (H, W, 3), (H, W) or a (3, H, W) tensor, got {image.shape}"
        )
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[..., :3]
    if np.issubdtype(image.dtype, np.floating):
        image = np.clip(np.round(image * 255.0), 0, 255)
    return image.astype(np.uint8)


def _mask_array(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"mask: expected a 2-D label map (H, W), got shape {mask.shape}")
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise TypeError(f"mask: expected integer class indices, got dtype {mask.dtype}")
    return mask.astype(np.int64)


def colorize_mask(
    mask: np.ndarray | torch.Tensor,
    palette: np.ndarray = VOC_PALETTE,
    void_color: Sequence[int] = VOID_COLOR,
) -> np.ndarray:
    """Paint a label map with class colours.

    Args:
        mask: ``(H, W)`` integer class indices in ``0..len(palette)-1``, or 255 for void.
        palette: ``(K, 3)`` uint8 colours, one per class.
        void_color: colour of void (255) pixels.

    Returns:
        ``(H, W, 3)`` uint8 image.

    Raises:
        ValueError: if the mask holds a value that is neither a class nor 255.
    """
    labels = _mask_array(mask)
    palette = np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"palette: expected shape (K, 3), got {palette.shape}")
    num_classes = len(palette)
    bad = (labels < 0) | ((labels >= num_classes) & (labels != VOID_INDEX))
    if bad.any():
        values = np.unique(labels[bad])[:10].tolist()
        raise ValueError(
            f"mask: values {values} are not class indices 0..{num_classes - 1} or void "
            f"{VOID_INDEX}; pass a label map (not an RGB mask or logits), or a palette with "
            "more colours"
        )
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:num_classes] = palette
    lut[VOID_INDEX] = np.asarray(void_color, dtype=np.uint8)
    return lut[labels]


def overlay_mask(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor,
    alpha: float = 0.5,
    palette: np.ndarray = VOC_PALETTE,
    include_background: bool = False,
) -> np.ndarray:
    """Blend class colours onto a photo: ``(1 - alpha) * image + alpha * colour``.

    Args:
        image: ``(H, W, 3)`` photo (see :func:`to_numpy_image` for accepted forms).
        mask: ``(H, W)`` label map of the same height and width.
        alpha: opacity of the colours, in [0, 1].
        palette: class colours.
        include_background: also tint class 0; by default background and void
            pixels keep the photo's colours.

    Returns:
        ``(H, W, 3)`` uint8 image (rounded to the nearest integer).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay_mask(alpha={alpha}): alpha must be in [0, 1]")
    photo = to_numpy_image(image)
    labels = _mask_array(mask)
    if photo.shape[:2] != labels.shape:
        raise ValueError(
            f"overlay_mask: image is {photo.shape[0]}x{photo.shape[1]} (HxW) but mask is "
            f"{labels.shape[0]}x{labels.shape[1]}; resize the mask with nearest-neighbour "
            "interpolation to the image size first"
        )
    colors = colorize_mask(labels, palette).astype(np.float64)
    blended = (1.0 - alpha) * photo.astype(np.float64) + alpha * colors
    tinted = labels != VOID_INDEX
    if not include_background:
        tinted &= labels != 0
    out = photo.copy()
    out[tinted] = np.round(blended[tinted]).astype(np.uint8)
    return out


def legend_handles(
    class_ids: Sequence[int] | None = None,
    class_names: Sequence[str] = VOC_CLASSES,
    palette: np.ndarray = VOC_PALETTE,
) -> list[Patch]:
    """Matplotlib legend patches for ``class_ids`` (all classes when ``None``)."""
    ids = range(len(class_names)) if class_ids is None else class_ids
    handles = []
    for index in ids:
        index = int(index)
        if index == VOID_INDEX:
            handles.append(Patch(color=np.asarray(VOID_COLOR) / 255.0, label="void"))
            continue
        if not 0 <= index < len(class_names):
            raise ValueError(f"class_ids: {index} is not a class index 0..{len(class_names) - 1}")
        handles.append(Patch(color=palette[index] / 255.0, label=class_names[index]))
    return handles


def show_palette(
    class_names: Sequence[str] = VOC_CLASSES, palette: np.ndarray = VOC_PALETTE
) -> Figure:
    """A figure with one labelled swatch per class."""
    n = len(class_names)
    cols = 7
    rows = -(-n // cols)
    fig, ax = plt.subplots(figsize=(cols * 1.6, rows * 0.75))
    for index, name in enumerate(class_names):
        row, col = divmod(index, cols)
        color = palette[index] / 255.0
        ax.add_patch(plt.Rectangle((col, rows - row - 1), 0.95, 0.9, color=color))
        text_color = "white" if color.mean() < 0.45 else "black"
        ax.text(col + 0.47, rows - row - 0.55, f"{index}\n{name}", ha="center", va="center",
                fontsize=8, color=text_color)  # fmt: skip
    ax.set_xlim(0, cols)
    ax.set_ylim(0, rows)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def show_images(
    pictures: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    columns: int | None = None,
    size: float = 2.2,
    fontsize: float = 9,
    dpi: float = 100,
) -> Figure:
    """Pictures side by side in a grid, each with its title and no axes: the lessons' panel figure.

    Args:
        pictures: photos (see :func:`to_numpy_image`) or already-coloured ``(H, W, 3)`` arrays,
            in reading order (left to right, then top to bottom); use :func:`colorize_mask`
            for label maps.
        titles: one title per picture, or ``None``.
        columns: pictures per row; all in one row by default.
        size: height of each panel in inches (the width follows the first picture's aspect).
        fontsize: size of the titles.
        dpi: pixels per inch.
    """
    pictures = [to_numpy_image(picture) for picture in pictures]
    if not pictures:
        raise ValueError("show_images(pictures=[]): give at least one picture")
    if titles is not None and len(titles) != len(pictures):
        raise ValueError(
            f"show_images: {len(titles)} titles for {len(pictures)} pictures; give one title each"
        )
    columns = len(pictures) if columns is None else columns
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"show_images(columns={columns!r}): must be a positive int")
    rows = -(-len(pictures) // columns)
    aspect = pictures[0].shape[1] / pictures[0].shape[0]
    fig, axes = plt.subplots(rows, columns, figsize=(size * aspect * columns, (size + 0.3) * rows),
                             dpi=dpi, squeeze=False)  # fmt: skip
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < len(pictures):
            ax.imshow(pictures[index], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[index], fontsize=fontsize)
    fig.tight_layout()
    return fig


def show_segmentation(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None = None,
    prediction: np.ndarray | torch.Tensor | None = None,
    class_names: Sequence[str] = VOC_CLASSES,
    palette: np.ndarray = VOC_PALETTE,
    legend: bool = True,
    size: float = 3.5,
) -> Figure:
    """Image, ground-truth mask and prediction side by side, with a legend.

    Args:
        image: the photo.
        mask: optional ground-truth label map.
        prediction: optional predicted label map.
        class_names: names for the legend.
        palette: class colours.
        legend: add a legend of the classes that appear.
        size: height of each panel in inches.
    """
    photo = to_numpy_image(image)
    panels = [("image", photo)]
    present: set[int] = set()
    for title, labels in (("ground truth", mask), ("prediction", prediction)):
        if labels is None:
            continue
        labels = _mask_array(labels)
        if labels.shape != photo.shape[:2]:
            raise ValueError(
                f"show_segmentation: {title} is {labels.shape} but the image is {photo.shape[:2]}"
            )
        panels.append((title, colorize_mask(labels, palette)))
        present.update(np.unique(labels).tolist())
    aspect = photo.shape[1] / photo.shape[0]
    fig, axes = plt.subplots(1, len(panels), figsize=(size * aspect * len(panels) + 1.5, size))
    axes = np.atleast_1d(axes)
    for ax, (title, picture) in zip(axes, panels, strict=True):
        ax.imshow(picture)
        ax.set_title(title)
        ax.set_axis_off()
    if legend and present:
        handles = legend_handles(sorted(present), class_names, palette)
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                        frameon=False, fontsize=8)  # fmt: skip
    fig.tight_layout()
    return fig
