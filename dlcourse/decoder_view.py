"""Lesson 05 on screen: the DeepLab-v3+ encoder-decoder, drawn from a model's own tensor sizes.

:func:`encoder_decoder_shapes` pushes one image through a DeepLab-v3+ model with hooks
and reads the shape of every tensor on the way (backbone, ASPP, low-level projection,
decoder); :func:`plot_encoder_decoder` draws the paper's figure 2 from those shapes, so
the picture cannot drift from the code.

Used in: 05.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import nn


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
