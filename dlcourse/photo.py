"""Your own photo: read it, segment it, and see what one output unit looks at.

:func:`load_photo` reads a photo with errors that say what went wrong;
:func:`pretrained_model` builds a model with published weights without ever downloading
unless asked; :func:`photo_input` normalises a photo for the network.
:func:`unit_geometry` reads, from a model itself, its backbone's receptive field
(:func:`dlcourse.rf.receptive_field` over the backbone's convolutions and poolings) and
the rates of its ASPP branches (from the head's convolution modules);
:func:`plot_unit_view` draws, on the photo, the receptive field of the output unit
under a chosen pixel and where each ASPP branch's 3x3 taps land.

Used in: 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image, UnidentifiedImageError
from torch import Tensor, nn

from dlcourse.data import IMAGENET_MEAN, IMAGENET_STD
from dlcourse.models import build_model, list_models
from dlcourse.rf import (
    ReceptiveField,
    chain_layers,
    conv_output_size,
    layer_geometry,
    receptive_field,
)
from dlcourse.weights import WEIGHTS, WeightsUnavailable, weights_dir, weights_path

BRANCH_COLORS = ("white", "tab:orange", "tab:green", "tab:red", "tab:purple")


def load_photo(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Read a photo as an ``(H, W, 3)`` uint8 RGB array, shrunk so its longer side is ``max_side``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not an image that Pillow can read.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"load_photo(path={str(path)!r}): no such file; give the path of a JPEG or PNG photo "
            "(in Colab, upload it first)"
        )
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(
            f"load_photo(path={str(path)!r}): not an image Pillow can read ({type(err).__name__}); "
            "give a JPEG or PNG photo"
        ) from None
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR)  # fmt: skip
    return np.asarray(image)


def photo_input(photo: np.ndarray) -> Tensor:
    """An ``(H, W, 3)`` uint8 photo as the normalised ``(3, H, W)`` float tensor the models take."""
    x = torch.from_numpy(np.array(photo, dtype=np.float32)).permute(2, 0, 1) / 255
    mean, std = (
        torch.tensor(IMAGENET_MEAN)[:, None, None],
        torch.tensor(IMAGENET_STD)[:, None, None],
    )
    return (x - mean) / std


def pretrained_model(name: str = "deeplabv3_resnet50", download: bool = False) -> nn.Module:
    """The model ``name`` with torchvision's published weights (21 VOC classes), in eval mode.

    Args:
        name: a registered model with published weights (see :data:`dlcourse.weights.WEIGHTS`).
        download: fetch the weights when they are not in the cache yet; with ``False``
            nothing is downloaded and a missing file raises :class:`WeightsUnavailable`.
    """
    if name not in list_models():
        raise ValueError(
            f"pretrained_model(name={name!r}): unknown model; choose one of {list_models()}"
        )
    published = sorted(n for n in WEIGHTS if n in list_models())
    if name not in published:
        raise ValueError(
            f"pretrained_model(name={name!r}): no published weights for this model; choose one of {published}"
        )
    if not download and not weights_path(name).is_file():
        raise WeightsUnavailable(
            f"the weights of {name} are not in {weights_dir()} and download=False; set the "
            f"download flag to True (about 160 MB, once), or copy {weights_path(name).name} there"
        )
    return build_model(name, weights="default").eval()


# --- what one output unit sees ---------------------------------------------------------


@dataclass(frozen=True)
class UnitGeometry:
    """What a model's output units see, read from the model.

    Attributes:
        rf: the backbone's receptive field (size, jump = output stride, start).
        branches: ``(label, rate)`` per ASPP branch: rate 0 for a 1x1 branch, -1 for
            image pooling (it sees the whole image), else the 3x3 dilation in feature units.
        layers: the backbone's convolutions and poolings, to size its output map.
    """

    rf: ReceptiveField
    branches: tuple[tuple[str, int], ...]
    layers: tuple[nn.Module, ...]

    def output_size(self, size: int) -> int:
        """Side of the backbone's output map for an input side ``size``."""
        for layer in self.layers:
            kernel, stride, dilation, padding = layer_geometry(layer)
            if getattr(layer, "ceil_mode", False):  # PyTorch's rule for pooling with ceil_mode=True
                span = dilation * (kernel - 1) + 1
                out = -(-(size + 2 * padding - span) // stride) + 1
                size = out - 1 if (out - 1) * stride >= size + padding else out
            else:
                size = conv_output_size(size, kernel, stride, padding, dilation)
        return size

    def unit_at(self, pixel: int, size: int) -> int:
        """Index of the output unit whose receptive field is centred nearest to input ``pixel``."""
        index = round((pixel - self.rf.start) / self.rf.jump)
        return int(min(max(index, 0), self.output_size(size) - 1))


def _branch_rates(head: nn.Module) -> tuple[tuple[str, int], ...]:
    for module in head.modules():
        convs = getattr(module, "convs", None)
        if getattr(module, "atrous_rates", None) is None or convs is None:
            continue
        found = []
        for branch in convs:
            if any(isinstance(m, nn.AdaptiveAvgPool2d) for m in branch.modules()):
                found.append(("image pooling", -1))
                continue
            conv = next(m for m in branch.modules() if isinstance(m, nn.Conv2d))
            if conv.kernel_size[0] == 1:
                found.append(("1x1", 0))
            else:
                found.append((f"3x3 rate {conv.dilation[0]}", int(conv.dilation[0])))
        return tuple(found)
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1]
    return tuple((f"{c.kernel_size[0]}x{c.kernel_size[0]} rate {c.dilation[0]}", int(c.dilation[0]))
                 for c in convs[:1])  # fmt: skip


def unit_geometry(model: nn.Module) -> UnitGeometry:
    """The backbone's receptive field and the ASPP branch rates of a course model.

    The backbone must be a chain of convolutions and poolings with shortcuts (the
    ResNets and VGG-16); MobileNetV3's squeeze-and-excitation blocks pool the whole
    image, so it has no such chain and is refused.
    """
    backbone = getattr(model, "backbone", None)
    if backbone is None or not hasattr(model, "classifier"):
        raise TypeError(
            "unit_geometry(model=...): give a model of dlcourse.models (backbone + classifier)"
        )
    if any(isinstance(m, nn.AdaptiveAvgPool2d) for m in backbone.modules()):
        raise ValueError(
            "unit_geometry: this backbone pools the whole image inside its blocks (MobileNetV3's "
            "squeeze-and-excitation), so one unit sees everything; use a ResNet or VGG model"
        )
    layers = tuple(chain_layers(backbone))
    return UnitGeometry(receptive_field(layers), _branch_rates(model.classifier), layers)


def plot_unit_view(photo: np.ndarray, geometry: UnitGeometry, row: int, col: int,
                   labels: np.ndarray | None = None, zoom_out: bool = True) -> Figure:  # fmt: skip
    """The photo with the receptive field of the output unit nearest ``(row, col)``.

    Draws the backbone's receptive field of that unit (white square), and for each
    atrous ASPP branch of rate ``r`` its nine 3x3 taps, ``r * output stride`` pixels
    apart, with the square that the branch as a whole sees. ``zoom_out`` widens the view
    to show every square whole (they are often larger than the photo); ``labels`` (an
    ``(H, W)`` label map) adds a second panel with the prediction.
    """
    height, width = photo.shape[:2]
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(
            f"plot_unit_view: pixel ({row}, {col}) is outside the {height}x{width} photo"
        )
    rf = geometry.rf
    unit = (geometry.unit_at(row, height), geometry.unit_at(col, width))
    cy, cx = rf.center(unit[0]), rf.center(unit[1])
    panels = 1 if labels is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels + 1.6, 4.4), dpi=80, squeeze=False)
    ax = axes[0, 0]
    ax.imshow(photo)
    half = (rf.size - 1) / 2
    ax.add_patch(Rectangle((cx - half, cy - half), rf.size, rf.size, fill=False, color="white", lw=2,
                           label=f"backbone RF {rf.size} px"))  # fmt: skip
    atrous = [(label, rate) for label, rate in geometry.branches if rate > 0]
    for (label, rate), color in zip(atrous, BRANCH_COLORS[1:], strict=False):
        step = rate * rf.jump
        taps = [(cx + dx * step, cy + dy * step) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        ax.scatter([t[0] for t in taps], [t[1] for t in taps], s=16, color=color, zorder=3)
        side = rf.size + 2 * step
        ax.add_patch(Rectangle((cx - (side - 1) / 2, cy - (side - 1) / 2), side, side, fill=False,
                               color=color, lw=1.2, ls="--", label=f"{label}: {side} px"))  # fmt: skip
    ax.plot([col], [row], "+", color="yellow", markersize=12, markeredgewidth=2)
    reach = (rf.size - 1) / 2 + max([rate * rf.jump for _, rate in atrous], default=0)
    if zoom_out:  # show the whole of every square, with the photo's border for scale
        ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, color="black", lw=1))
        ax.set_xlim(min(-0.5, cx - reach - 2), max(width - 0.5, cx + reach + 2))
        ax.set_ylim(max(height - 0.5, cy + reach + 2), min(-0.5, cy - reach - 2))
    else:
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
    ax.set_title(f"unit {unit} (output stride {rf.jump}) under pixel ({row}, {col})", fontsize=9)
    ax.set_axis_off()
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if labels is not None:
        from dlcourse.viz import colorize_mask

        axes[0, 1].imshow(colorize_mask(labels))
        axes[0, 1].plot([col], [row], "+", color="yellow", markersize=12, markeredgewidth=2)
        axes[0, 1].set_title("prediction", fontsize=9)
        axes[0, 1].set_axis_off()
    fig.tight_layout()
    return fig
