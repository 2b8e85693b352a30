"""Small helpers shared by several test files."""

import numpy as np
import torch
from torch import nn


def randomize_(module: nn.Module, std: float = 0.2, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic a random value, so equality means something.

    Weights and biases are drawn from N(0, std); BN running variances from U(0.5, 1.5).
    """
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point:
                if "running_var" in name:
                    tensor.uniform_(0.5, 1.5)
                else:
                    tensor.normal_(0, std)
    return module


def resnet50_stages() -> dict[str, nn.Sequential]:
    """torchvision's ResNet-50 (random weights, seed 0) up to the end of each stage.

    ``{"layer1": stem + layer1, ..., "layer4": stem + layer1 + ... + layer4}``, each an
    ``nn.Sequential`` (batch norms and ReLUs included), for the receptive-field tests.
    """
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    stem = [net.conv1, net.bn1, net.relu, net.maxpool]
    stages = {}
    for name in ("layer1", "layer2", "layer3", "layer4"):
        stem.append(getattr(net, name))
        stages[name] = nn.Sequential(*stem)
    return stages


def figure_texts(fig) -> str:
    """Every text of a matplotlib figure (titles, labels, notes), one per line."""
    import matplotlib.text

    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def frame_pixels(fig) -> np.ndarray:
    """The RGB pixels of ``fig`` as an explorer sends it (:func:`dlcourse.frames.figure_png`)."""
    import io

    from PIL import Image

    from dlcourse.frames import figure_png

    return np.asarray(Image.open(io.BytesIO(figure_png(fig))).convert("RGB"))


def two_panel_figure():
    """A 200 x 100 px figure of two panels with titles, one holding a two-entry legend."""
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    fig, (left, right) = plt.subplots(1, 2, figsize=(4, 2), dpi=50)
    fig.subplots_adjust(left=0.0, right=1.0, wspace=0.0)
    left.set_title("photo\nRF 13x13")
    right.set_title("zoom")
    right.add_patch(
        Rectangle((0, 0), 0.5, 0.5, facecolor="#ff0000", edgecolor="#0000ff", label="rate 6")
    )
    right.add_patch(
        Rectangle((0.5, 0.5), 0.2, 0.2, fill=False, edgecolor="#00ff00", label="image\npooling")
    )
    right.legend()
    return fig


def dilations(module) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(stride, dilation) of every conv of ``module`` with a kernel larger than 1, in order."""
    from torch import nn

    return [
        (m.stride, m.dilation)
        for m in module.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)
    ]
