"""Receptive fields: exact arithmetic for conv/pool stacks.

A unit of a conv net sees a square window of the input, its receptive field (RF).
For a chain of layers with kernel ``k``, stride ``s``, dilation ``d`` and padding
``p`` three numbers describe it, layer by layer (``k_eff = d * (k - 1) + 1``)::

    size  <- size + (k_eff - 1) * jump          RF side in input pixels
    start <- start + ((k_eff - 1) / 2 - p) * jump   centre of output 0's RF
    jump  <- jump * s                           input pixels between neighbouring outputs

starting from ``size = 1, jump = 1, start = 0`` (input pixel ``i`` is centred at ``i``).
:func:`dlcourse.rf_measure.measure_receptive_field` checks the arithmetic on any model
by back-propagating from one output unit; :mod:`dlcourse.taps` shows where the taps of
dilated convolutions land (footprints, the taps of an ASPP branch).

Used in: 01, 02, 03, 04, 06, 08.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

LayerSpec = tuple[int, int, int] | tuple[int, int, int, int] | nn.Module


def _positive_int(value: object, name: str, where: str) -> int:
    """``value`` as an ``int`` if it is a whole number >= 1; else raise, naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name}={value} must be at least 1")
    return int(value)


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Side of the window a dilated kernel spans: ``dilation * (kernel - 1) + 1``.

    A 3x3 kernel with dilation 2 spans 5x5 input pixels, with dilation 6 spans 13x13.
    """
    where = f"effective_kernel(kernel={kernel!r}, dilation={dilation!r})"
    kernel = _positive_int(kernel, "kernel", where)
    dilation = _positive_int(dilation, "dilation", where)
    return dilation * (kernel - 1) + 1


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's formula).

    ``floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1``;
    e.g. size 7, kernel 3, dilation 2 gives 3.

    Raises:
        ValueError: when an argument is out of range, or the padded input is smaller
            than the effective kernel (PyTorch would fail too).
    """
    where = (
        f"conv_output_size(size={size!r}, kernel={kernel!r}, stride={stride!r}, "
        f"padding={padding!r}, dilation={dilation!r})"
    )
    size = _positive_int(size, "size", where)
    stride = _positive_int(stride, "stride", where)
    span = effective_kernel(kernel, dilation)
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"{where}: padding must be a non-negative int")
    if size + 2 * padding < span:
        raise ValueError(
            f"{where}: the input (size {size} + 2 * padding {padding} = {size + 2 * padding}) is "
            f"smaller than the effective kernel {span}; use a larger input, more padding, "
            "or a smaller kernel/dilation"
        )
    return (size + 2 * padding - span) // stride + 1


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a unit after a chain of layers.

    Attributes:
        size: side of the RF in input pixels.
        jump: input pixels between neighbouring output units (the cumulative stride).
        start: input coordinate of the centre of output unit 0's RF.
    """

    size: int = 1
    jump: int = 1
    start: float = 0.0

    def center(self, index: int) -> float:
        """Input coordinate of the centre of output unit ``index``'s RF."""
        return self.start + index * self.jump

    def span(self, index: int) -> tuple[float, float]:
        """First and last input coordinate that output unit ``index`` sees (may leave the image)."""
        half = (self.size - 1) / 2
        return self.center(index) - half, self.center(index) + half


def _square(value, name: str, module: nn.Module) -> int:
    if isinstance(value, tuple | list):
        if len(set(value)) != 1:
            raise ValueError(
                f"receptive_field: {type(module).__name__} has {name}={tuple(value)}; only square "
                "kernels, strides, paddings and dilations are supported"
            )
        value = value[0]
    if isinstance(value, str):
        raise ValueError(
            f"receptive_field: {type(module).__name__} has padding={value!r}; give padding as a number"
        )
    return int(value)


def layer_geometry(layer: LayerSpec) -> tuple[int, int, int, int]:
    """``(kernel, stride, dilation, padding)`` of a layer spec.

    A spec is a ``(kernel, stride, dilation)`` tuple (padding 0), a
    ``(kernel, stride, dilation, padding)`` tuple, or an ``nn.Conv2d``,
    ``nn.MaxPool2d`` or ``nn.AvgPool2d``.
    """
    if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
        kernel = _square(layer.kernel_size, "kernel_size", layer)
        stride = _square(layer.stride, "stride", layer)
        padding = _square(layer.padding, "padding", layer)
        dilation = _square(getattr(layer, "dilation", 1), "dilation", layer)
    elif isinstance(layer, tuple | list) and len(layer) in (3, 4):
        kernel, stride, dilation = layer[:3]
        padding = layer[3] if len(layer) == 4 else 0
    else:
        raise TypeError(
            f"receptive_field: cannot read layer {layer!r}; use (kernel, stride, dilation), "
            "(kernel, stride, dilation, padding) or an nn.Conv2d / nn.MaxPool2d / nn.AvgPool2d"
        )
    where = f"receptive_field: layer {tuple(layer) if isinstance(layer, list) else layer!r}"
    kernel = _positive_int(kernel, "kernel", where)
    stride = _positive_int(stride, "stride", where)
    dilation = _positive_int(dilation, "dilation", where)
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer):
        raise TypeError(f"{where}: padding must be an int, got {padding!r}")
    if padding < 0:
        raise ValueError(f"{where}: padding={padding} must be non-negative")
    return kernel, stride, dilation, int(padding)


def receptive_fields(layers: Iterable[LayerSpec]) -> list[ReceptiveField]:
    """The receptive field after each layer of a chain (see :func:`receptive_field`)."""
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential | nn.ModuleList):
        raise TypeError(
            f"receptive_field(layers={type(layers).__name__}(...)): layers must be a list of layers; "
            "wrap a single layer in a list, or pass chain_layers(model) for a whole model"
        )
    if isinstance(layers, nn.Sequential | nn.ModuleList):
        layers = list(layers)
        unreadable = [
            m for m in layers if not isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d)
        ]
        if unreadable:
            raise TypeError(
                f"receptive_field(layers=...): the module list holds {type(unreadable[0]).__name__}, "
                "which is not a conv or pool; pass chain_layers(model) to keep only those"
            )
    if not isinstance(layers, Iterable) or isinstance(layers, str):
        raise TypeError(
            f"receptive_field(layers={layers!r}): give a list of (kernel, stride, dilation[, padding]) "
            "tuples or conv/pool modules, e.g. [(3, 1, 1), (3, 2, 1)]"
        )
    rf = ReceptiveField()
    history = []
    for layer in layers:
        kernel, stride, dilation, padding = layer_geometry(layer)
        span = effective_kernel(kernel, dilation)
        rf = ReceptiveField(
            size=rf.size + (span - 1) * rf.jump,
            jump=rf.jump * stride,
            start=rf.start + ((span - 1) / 2 - padding) * rf.jump,
        )
        history.append(rf)
    return history


def receptive_field(layers: Iterable[LayerSpec]) -> ReceptiveField:
    """Receptive field of the last layer of a chain of convolutions and poolings.

    Args:
        layers: ``(kernel, stride, dilation)`` tuples, ``(kernel, stride, dilation,
            padding)`` tuples, or ``nn.Conv2d`` / ``nn.MaxPool2d`` / ``nn.AvgPool2d``
            modules, in the order they are applied (padding only moves ``start``).

    Returns:
        A :class:`ReceptiveField` with ``size``, ``jump`` and ``start``; an empty chain
        gives size 1, jump 1, start 0. Three 3x3 convs with dilations 1, 2, 5 give size 17.
    """
    history = receptive_fields(layers)
    return history[-1] if history else ReceptiveField()


def chain_layers(module: nn.Module, skip: Sequence[str] = ("downsample",)) -> list[nn.Module]:
    """The convolutions and poolings of ``module`` in registration order, for :func:`receptive_field`.

    Submodules whose own name is in ``skip`` are left out with everything inside them:
    ResNet's ``downsample`` shortcut runs beside the main path and has a smaller RF, so
    the main path alone decides the RF. Only meaningful for networks that run their
    registered layers as one chain plus such shortcuts (VGG, ResNet).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"chain_layers(module={module!r}): give an nn.Module (a model or one of its stages); "
            "a list of layer tuples goes straight to receptive_field"
        )
    if isinstance(skip, str):
        skip = (skip,)
    found: list[nn.Module] = []

    def visit(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if name in skip:
                continue
            if isinstance(child, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
                found.append(child)
            else:
                visit(child)

    visit(module)
    return found


def resnet_layers(
    blocks: Sequence[int] = (3, 4, 6, 3), stride_on: str = "3x3"
) -> dict[str, list[tuple[int, int, int, int]]]:
    """The main-path layers of a bottleneck ResNet, stage by stage, for :func:`receptive_field`.

    Each bottleneck block is a 1x1, a 3x3 and a 1x1 conv; the first block of
    ``layer2``-``layer4`` halves the resolution. Where it does so is the one
    difference between two common ResNets:

    * ``stride_on="3x3"``: torchvision's "ResNet v1.5" puts the stride on the 3x3 conv;
      ResNet-50's stages then see 35, 91, 267 and 427 pixels.
    * ``stride_on="1x1"``: the original Caffe release of He et al. (2016), which
      DeepLab v1/v2 start from, puts it on the first 1x1 conv; the 3x3 convs of the
      stage then already see the new, doubled jump: 35, 99, 291 and 483 pixels.

    Args:
        blocks: blocks per stage; ``(3, 4, 6, 3)`` is ResNet-50, ``(3, 4, 23, 3)`` ResNet-101.
        stride_on: ``"3x3"`` or ``"1x1"``.

    Returns:
        ``{"stem": [...], "layer1": [...], ..., "layer4": [...]}``, each a list of
        ``(kernel, stride, dilation, padding)`` tuples; concatenate the stages in order
        to get the chain up to a stage.
    """
    if stride_on not in ("3x3", "1x1"):
        raise ValueError(
            f'resnet_layers(stride_on={stride_on!r}): use "3x3" (torchvision) or "1x1" (Caffe)'
        )
    blocks = list(blocks) if isinstance(blocks, Sequence) and not isinstance(blocks, str) else None
    if blocks is None or len(blocks) != 4:
        raise ValueError(
            "resnet_layers(blocks=...): give four block counts, e.g. (3, 4, 6, 3) for ResNet-50"
        )
    for count in blocks:
        _positive_int(count, "blocks", f"resnet_layers(blocks={tuple(blocks)})")
    stages: dict[str, list[tuple[int, int, int, int]]] = {"stem": [(7, 2, 1, 3), (3, 2, 1, 1)]}
    for index, count in enumerate(blocks):
        stride = 1 if index == 0 else 2
        first = (
            [(1, stride, 1, 0), (3, 1, 1, 1)]
            if stride_on == "1x1"
            else [(1, 1, 1, 0), (3, stride, 1, 1)]
        )
        layers = [*first, (1, 1, 1, 0)]
        layers += [(1, 1, 1, 0), (3, 1, 1, 1), (1, 1, 1, 0)] * (count - 1)
        stages[f"layer{index + 1}"] = layers
    return stages
