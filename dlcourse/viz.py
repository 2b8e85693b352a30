"""Pictures of segmentation: the VOC palette, coloured masks, overlays, legends, and the
DeepLab-v3+ encoder-decoder drawn from a model's own feature sizes.

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
from matplotlib.patches import FancyBboxPatch, Patch
from torch import nn

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


# --- the DeepLab-v3+ encoder-decoder, drawn from the model --------------------------


def _size_pair(input_size: object) -> tuple[int, int]:
    """``input_size`` as ``(H, W)``: one whole number for a square, or two."""
    sizes = (input_size, input_size) if isinstance(input_size, int | np.integer) else input_size
    try:
        height, width = (int(v) for v in sizes)  # type: ignore[union-attr]
        ok = all(float(v).is_integer() for v in sizes) and min(height, width) >= 1
    except (TypeError, ValueError):
        ok = False
    if isinstance(input_size, bool) or not ok:
        raise ValueError(
            f"plot_encoder_decoder(input_size={input_size!r}): give the image side, e.g. 513, "
            "or (height, width)"
        )
    return height, width


def _shape_text(shape: Sequence[int]) -> str:
    """``(N, C, H, W)`` as ``"C x H x W"``."""
    return " x ".join(str(int(v)) for v in shape[1:])


def _conv_name(block: nn.Module) -> str:
    """A short name for a conv block: ``"3x3 conv"``, ``"3x3 separable conv"``, ``"1x1 conv"``."""
    conv = next(m for m in block.modules() if isinstance(m, nn.Conv2d))
    kernel = f"{conv.kernel_size[0]}x{conv.kernel_size[1]}"
    return f"{kernel} separable conv" if hasattr(block, "depthwise") else f"{kernel} conv"


def encoder_decoder_shapes(
    model: nn.Module, input_size: object = 513
) -> dict[str, tuple[int, ...]]:
    """The tensor shapes inside a DeepLab-v3+ model, read by one eval forward pass with hooks.

    Args:
        model: a model with ``backbone`` (returning ``{"low", "out"}``) and a ``classifier``
            with ``aspp``, ``low_project`` and ``decoder``, such as
            ``build_model("deeplabv3plus_mobilenet")``; a model on the ``meta`` device works.
        input_size: side of a square image, or ``(height, width)``.

    Returns:
        ``{"image", "low", "out", "aspp", "low_project", "concat", "decoder.0", ...,
        "scores"}``, each an ``(N, C, H, W)`` shape.
    """
    head = getattr(model, "classifier", None)
    parts = ("aspp", "low_project", "decoder")
    if not hasattr(model, "backbone") or not all(hasattr(head, part) for part in parts):
        raise ValueError(
            f"plot_encoder_decoder(model={type(model).__name__}): expected a DeepLab-v3+ model "
            "(a backbone and a classifier with aspp, low_project and decoder), e.g. "
            'build_model("deeplabv3plus_mobilenet")'
        )
    height, width = _size_pair(input_size)
    shapes: dict[str, tuple[int, ...]] = {"image": (1, 3, height, width)}

    def keep(name):
        def hook(_module, _inputs, output):
            if isinstance(output, dict):
                shapes.update({key: tuple(value.shape) for key, value in output.items()})
            else:
                shapes[name] = tuple(output.shape)

        return hook

    def keep_input(_module, inputs):
        shapes["concat"] = tuple(inputs[0].shape)

    handles = [model.backbone.register_forward_hook(keep("backbone"))]
    handles += [getattr(head, name).register_forward_hook(keep(name)) for name in parts[:2]]
    handles.append(head.decoder[0].register_forward_pre_hook(keep_input))
    handles += [
        block.register_forward_hook(keep(f"decoder.{index}"))
        for index, block in enumerate(head.decoder)
    ]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            result = model(torch.zeros(1, 3, height, width, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    shapes["scores"] = tuple((result["out"] if isinstance(result, dict) else result).shape)
    return shapes


def plot_encoder_decoder(model: nn.Module, input_size: object = 513) -> Figure:
    """Boxes and arrows of DeepLab-v3+ (the paper's figure 2), labelled ``C x H x W``.

    Every size comes from :func:`encoder_decoder_shapes`, a forward pass of ``model`` on a
    ``1 x 3 x H x W`` image, so the picture cannot drift from the code. Top row: the
    encoder (backbone, high-level features, ASPP, x4 upsampling); middle: the low-level
    features and their 1x1 projection, joined by the concatenation; bottom, right to left:
    the decoder convs, the classifier and the final upsampling.
    """
    shapes = encoder_decoder_shapes(model, input_size)
    head = model.classifier
    blocks = list(head.decoder)
    image, low, out, aspp = shapes["image"], shapes["low"], shapes["out"], shapes["aspp"]
    concat = shapes["concat"]
    up = (1, aspp[1], concat[2], concat[3])
    stride = getattr(model, "output_stride", None) or round(image[2] / out[2])
    boxes = {  # name: (column, row, label, colour)
        "image": (0, 0, f"image\n{_shape_text(image)}", "#eeeeee"),
        "backbone": (1, 0, f"backbone\noutput stride {stride}", "#dbe8f6"),
        "out": (2, 0, f"high-level features\n{_shape_text(out)}", "#dbe8f6"),
        "aspp": (3, 0, f"ASPP\n{_shape_text(aspp)}", "#dbe8f6"),
        "up": (4, 0, f"upsample x{round(concat[2] / aspp[2])}\n{_shape_text(up)}", "#eeeeee"),
        "low": (1, 1, f"low-level features\n{_shape_text(low)}", "#fde9d2"),
        "low_project": (2, 1, f"1x1 conv\n{_shape_text(shapes['low_project'])}", "#fde9d2"),
        "concat": (4, 1, f"concat\n{_shape_text(concat)}", "#e3f1de"),
    }
    for index, block in enumerate(blocks):
        name = "classifier" if index == len(blocks) - 1 else _conv_name(block)
        label = f"{name}\n{_shape_text(shapes[f'decoder.{index}'])}"
        boxes[f"decoder.{index}"] = (4 - index, 2, label, "#e3f1de")
    scores = shapes["scores"]
    last = shapes[f"decoder.{len(blocks) - 1}"]
    factor = round(scores[2] / last[2])
    boxes["scores"] = (4 - len(blocks), 2, f"upsample x{factor}\n{_shape_text(scores)}", "#eeeeee")
    columns = max(col for col, *_ in boxes.values()) + 1
    fig, ax = plt.subplots(figsize=(2.3 * columns, 4.6))
    width, height = 0.84, 0.56

    def centre(name):
        col, row, *_ = boxes[name]
        return col, -row

    for col, row, label, colour in boxes.values():
        ax.add_patch(
            FancyBboxPatch(
                (col - width / 2, -row - height / 2),
                width,
                height,
                boxstyle="round,pad=0.02",
                facecolor=colour,
                edgecolor="#555555",
            )
        )
        ax.text(col, -row, label, ha="center", va="center", fontsize=8.5)
    order = ["image", "backbone", "out", "aspp", "up", "concat"]
    links = list(zip(order, order[1:], strict=False))
    links += [
        ("backbone", "low"),
        ("low", "low_project"),
        ("low_project", "concat"),
        ("concat", "decoder.0"),
    ]
    chain = [f"decoder.{index}" for index in range(len(blocks))] + ["scores"]
    links += list(zip(chain, chain[1:], strict=False))
    for start, end in links:
        (x0, y0), (x1, y1) = centre(start), centre(end)
        dx, dy = np.sign(x1 - x0), np.sign(y1 - y0)
        ax.annotate(
            "",
            xy=(x1 - dx * width / 2, y1 - dy * height / 2),
            xytext=(x0 + dx * width / 2, y0 + dy * height / 2),
            arrowprops={"arrowstyle": "->", "color": "#333333"},
        )
    ax.text(-0.45, 0.45, "encoder", fontsize=9, style="italic", color="#555555")
    ax.text(-0.45, -1.55, "decoder", fontsize=9, style="italic", color="#555555")
    ax.set_xlim(-0.55, columns - 0.45)
    ax.set_ylim(-2.45, 0.6)
    ax.set_axis_off()
    ax.set_title(f"DeepLab-v3+ on a {image[2]}x{image[3]} image (channels x height x width)")
    fig.tight_layout()
    return fig
