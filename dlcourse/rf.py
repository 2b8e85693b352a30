"""Receptive fields: exact arithmetic for conv/pool stacks, and measurement by gradients.

A unit of a conv net sees a square window of the input, its receptive field (RF).
For a chain of layers with kernel ``k``, stride ``s``, dilation ``d`` and padding
``p`` three numbers describe it, layer by layer (``k_eff = d * (k - 1) + 1``)::

    size  <- size + (k_eff - 1) * jump          RF side in input pixels
    start <- start + ((k_eff - 1) / 2 - p) * jump   centre of output 0's RF
    jump  <- jump * s                           input pixels between neighbouring outputs

starting from ``size = 1, jump = 1, start = 0`` (input pixel ``i`` is centred at ``i``).
:func:`measure_receptive_field` checks the arithmetic on any model by
back-propagating from one output unit; :func:`footprint` shows which offsets a
stack of dilated convolutions actually reaches (the gridding artefact);
:func:`stack_support` which units of a 1-D chain feed one output, and :func:`aspp_taps`
where the taps of an ASPP branch fall in a photo.

Used in: 01, 02, 03, 04, 06, 08.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LayerSpec = tuple[int, int, int] | tuple[int, int, int, int] | nn.Module


def _positive_int(value: object, name: str, where: str) -> int:
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


def tiled_field_of_view(kernel: int, dilation: int = 1, jump: int = 1, tile: int = 1) -> int:
    """Input pixels a dilated conv's taps cover when each tap counts as one ``tile``-pixel cell.

    ``(kernel - 1) * dilation * jump + tile``: the distance from the first tap to the
    last (taps ``dilation * jump`` input pixels apart), plus one tile. Unlike
    :func:`receptive_field` it ignores how far the layers below reach, so it is not a
    receptive field; it is how DeepLab v1 (https://arxiv.org/abs/1412.7062, table 2)
    counts fc6's field of view: taps ``rate * 8`` pixels apart at output stride 8, each
    counted as one 32-pixel cell of VGG-16's pool5 grid. VGG-16's own 7x7 fc6 then covers
    ``6 * 32 + 32 = 224`` pixels, its training crop; a 3x3 fc6 at rate 12 covers
    ``2 * 12 * 8 + 32 = 224`` as well, a 4x4 at rate 4 only 128. With the defaults it is
    :func:`effective_kernel`.
    """
    where = (
        f"tiled_field_of_view(kernel={kernel!r}, dilation={dilation!r}, jump={jump!r}, "
        f"tile={tile!r})"
    )
    span = effective_kernel(kernel, dilation) - 1
    jump = _positive_int(jump, "jump", where)
    tile = _positive_int(tile, "tile", where)
    return span * jump + tile


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


# --- measurement ---------------------------------------------------------------------


@dataclass(frozen=True)
class MeasuredRF:
    """What :func:`measure_receptive_field` found.

    Attributes:
        size: ``(height, width)`` of the smallest box holding every input pixel whose
            gradient is non-zero.
        box: ``(top, left, bottom, right)`` of that box, inclusive, in input pixels.
        grad: ``(H, W)`` gradient magnitude, summed over input channels (float64).
        output_index: ``(row, col)`` of the output unit that was probed.
        clipped: True when the box touches the input border (the RF may be larger
            than the input shows; use a larger input).
    """

    size: tuple[int, int]
    box: tuple[int, int, int, int]
    grad: np.ndarray
    output_index: tuple[int, int]
    clipped: bool


class _DilatedSumPool(nn.Module):
    """Stand-in for a dilated max pool in the probe: a depthwise sum over the same taps."""

    def __init__(self, pool: nn.MaxPool2d):
        super().__init__()
        self.kernel, self.stride, self.dilation, self.padding = layer_geometry(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        weight = x.new_ones(channels, 1, self.kernel, self.kernel) / self.kernel**2
        return F.conv2d(x, weight, None, self.stride, self.padding, self.dilation, channels)


def positive_probe(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on which gradients cannot cancel or vanish (see :func:`measure_receptive_field`).

    Every conv / linear weight becomes ``1 / fan_in`` and every bias 0, batch norms become
    identities in eval mode, and max pools become average pools over the same window
    (a max sends its gradient to one input only). The layout (kernels, strides,
    dilations, paddings) is unchanged, so the RF is too.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"positive_probe(model={model!r}): model must be an nn.Module")
    probe = copy.deepcopy(model).double().eval()

    def convert(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                kernel, stride, dilation, padding = layer_geometry(child)
                if dilation == 1:
                    replacement = nn.AvgPool2d(kernel, stride, padding, ceil_mode=child.ceil_mode)
                elif child.ceil_mode:
                    raise ValueError(
                        f"positive_probe: {name} is a dilated MaxPool2d with ceil_mode=True, "
                        "which the probe cannot mirror; measure with probe=False"
                    )
                else:
                    replacement = _DilatedSumPool(child)
                setattr(parent, name, replacement)
            else:
                convert(child)

    convert(probe)
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, nn.Conv2d | nn.Linear | nn.ConvTranspose2d):
                fan_in = module.weight[0].numel()
                module.weight.fill_(1.0 / fan_in)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                if module.running_mean is not None:
                    module.running_mean.zero_()
                    module.running_var.fill_(1.0)
                if module.affine:
                    module.weight.fill_(1.0)
                    module.bias.zero_()
    return probe


def _in_channels(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise ValueError(
        "measure_receptive_field: the model has no nn.Conv2d to read the input channels "
        "from; pass in_channels=..."
    )


def measure_receptive_field(
    model: nn.Module,
    input_size: int | tuple[int, int],
    *,
    output_index: tuple[int, int] | None = None,
    probe: bool = True,
    inputs: torch.Tensor | None = None,
    in_channels: int | None = None,
    output_key: str = "out",
) -> MeasuredRF:
    """Measure a model's receptive field: back-propagate from one output unit to the input.

    The gradient of output unit ``(row, col)`` (summed over its channels) with respect
    to the input is non-zero only inside that unit's RF; its map is the *effective*
    receptive field (usually Gaussian-like and much smaller than the theoretical RF).

    The measured size is exact when no gradient can cancel or vanish inside the RF.
    With ``probe=True`` (the default) the measurement runs on :func:`positive_probe`'s
    copy with an all-ones input, in float64: every weight and activation is positive,
    so every ReLU passes its gradient, every path adds a positive amount, and the
    support of the gradient is exactly the RF (clipped by the input border). With
    ``probe=False`` the model is used as it is (in eval mode, on ``inputs``), which
    shows its effective RF but can miss RF pixels whose gradient happens to be 0.

    Args:
        model: maps ``(1, C, H, W)`` to ``(1, K, h, w)`` (or a dict holding it under
            ``output_key``).
        input_size: ``H`` or ``(H, W)``; pick it so that the RF of ``output_index`` fits
            inside (``clipped`` tells you when it did not).
        output_index: ``(row, col)`` of the probed output unit; default ``(h // 2, w // 2)``.
        probe: measure the positive probe (exact size) rather than the model itself.
        inputs: a ``(1, C, H, W)`` input for ``probe=False`` (default all ones).
        in_channels: input channels; read from the first ``nn.Conv2d`` when ``None``.
        output_key: key of the output when the model returns a dict.

    Returns:
        A :class:`MeasuredRF`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"measure_receptive_field(model={model!r}): model must be an nn.Module")
    where = f"measure_receptive_field(input_size={input_size!r})"
    if isinstance(input_size, int | np.integer) and not isinstance(input_size, bool):
        input_size = (input_size, input_size)
    if not (isinstance(input_size, tuple | list) and len(input_size) == 2):
        raise ValueError(
            f"{where}: input_size is the image side H or (H, W), e.g. 64 or (64, 96); "
            "batch and channels are added for you (see in_channels)"
        )
    height, width = (_positive_int(v, "input_size", where) for v in input_size)
    if output_index is not None:
        if not (isinstance(output_index, tuple | list) and len(output_index) == 2) or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in output_index
        ):
            raise ValueError(
                f"measure_receptive_field(output_index={output_index!r}): give (row, col) of one "
                "output unit, e.g. (3, 4), or None for the centre"
            )
    if in_channels is not None:
        in_channels = _positive_int(in_channels, "in_channels", "measure_receptive_field")
    channels = in_channels if in_channels is not None else _in_channels(model)
    was_training = model.training
    net = positive_probe(model) if probe else model.eval()
    reference = next(model.parameters(), torch.empty(0))
    dtype = torch.float64 if probe else reference.dtype
    if inputs is None:
        x = torch.ones(1, channels, height, width, dtype=dtype, device=reference.device)
    else:
        if probe:
            raise ValueError("measure_receptive_field: inputs is only used with probe=False")
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(
                f"measure_receptive_field: inputs must be a torch.Tensor of shape "
                f"{(1, channels, height, width)}, got {type(inputs).__name__}"
            )
        if tuple(inputs.shape) != (1, channels, height, width):
            raise ValueError(
                f"measure_receptive_field: inputs has shape {tuple(inputs.shape)}, expected "
                f"{(1, channels, height, width)} from in_channels and input_size"
            )
        x = inputs.detach().clone()
    x.requires_grad_(True)
    try:
        with torch.enable_grad():
            out = net(x)
        if isinstance(out, dict):
            if output_key not in out:
                raise ValueError(
                    f"measure_receptive_field(output_key={output_key!r}): the model returns a dict "
                    f"with keys {sorted(out)}; pass one of them as output_key"
                )
            out = out[output_key]
        if out.ndim != 4:
            raise ValueError(
                f"measure_receptive_field: the model output has shape {tuple(out.shape)}; "
                "expected (1, K, h, w) feature maps"
            )
        rows, cols = out.shape[-2:]
        row, col = (rows // 2, cols // 2) if output_index is None else output_index
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(
                f"measure_receptive_field(output_index={output_index}): outside the "
                f"{rows}x{cols} output map"
            )
        with torch.enable_grad():
            out[0, :, row, col].sum().backward()
    finally:
        if not probe:
            model.train(was_training)
    grad = x.grad[0].abs().sum(0).double().cpu().numpy()
    ys, xs = np.nonzero(grad)
    if len(ys) == 0:
        raise ValueError(
            "measure_receptive_field: the gradient is zero everywhere; with probe=False "
            "try another input, or measure with probe=True"
        )
    top, bottom, left, right = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    clipped = top == 0 or left == 0 or bottom == height - 1 or right == width - 1
    return MeasuredRF(
        size=(bottom - top + 1, right - left + 1),
        box=(top, left, bottom, right),
        grad=grad,
        output_index=(int(row), int(col)),
        clipped=clipped,
    )


# --- footprints ----------------------------------------------------------------------


def footprint(
    dilations: Sequence[int], kernel: int | Sequence[int] = 3, counts: bool = False
) -> np.ndarray:
    """Which input offsets reach one output through a stack of stride-1 dilated convolutions.

    Args:
        dilations: dilation rate of each layer, first layer first.
        kernel: kernel size of every layer, or one per layer.
        counts: return how many paths reach each offset (int64) instead of a boolean map.

    Returns:
        A square ``(R, R)`` map, ``R`` the stack's RF size, centred on the output unit.
        ``(2, 2, 2)`` with 3x3 kernels reaches 49 of its 13x13 = 169 offsets (gridding);
        ``(1, 2, 5)`` reaches all 289 of its 17x17.
    """
    if isinstance(dilations, int | np.integer) or not isinstance(dilations, Iterable):
        raise TypeError(
            f"footprint(dilations={dilations!r}): give one rate per layer as a sequence, "
            f"e.g. ({dilations!r},) for one layer or (1, 2, 5) for three"
        )
    dilations = list(dilations)
    if not dilations:
        raise ValueError("footprint(dilations=[]): give at least one dilation rate, e.g. (1, 2, 5)")
    kernels = [kernel] * len(dilations) if isinstance(kernel, int | np.integer) else list(kernel)
    if len(kernels) != len(dilations):
        raise ValueError(
            f"footprint: got {len(kernels)} kernel sizes for {len(dilations)} dilations; "
            "give one kernel size, or one per layer"
        )
    taps = np.ones(1, dtype=np.int64)
    for k, d in zip(kernels, dilations, strict=True):
        span = effective_kernel(k, d)
        step = np.zeros(span, dtype=np.int64)
        step[::d] = 1
        taps = np.convolve(taps, step)
    paths = np.outer(taps, taps)
    return paths if counts else paths > 0


def stack_support(layers: Sequence[tuple[int, int, int]]) -> list[np.ndarray]:
    """Indices of the units at every level that feed output unit 0 of a 1-D conv chain.

    ``layers`` are ``(kernel, stride, dilation)`` without padding. Entry ``l`` of the
    result holds the unit indices at level ``l`` (0 = input, ``len(layers)`` = output).
    """
    support = [np.zeros(1, dtype=np.int64)]
    for kernel, stride, dilation in reversed(list(layers)):
        taps = np.arange(kernel) * dilation
        support.append(np.unique((support[-1][:, None] * stride + taps[None, :]).ravel()))
    return support[::-1]


def aspp_taps(
    rate: int, output_stride: int, center: tuple[int, int], image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Where the 9 taps of one 3x3 ASPP branch of ``rate`` fall in a photo.

    A feature cell at output stride ``s`` covers ``s x s`` photo pixels; the taps sit
    ``rate`` cells apart around the cell that holds ``center`` (``(row, col)`` in photo
    pixels). Returns ``(corners, inside)``: ``(9, 2)`` top-left photo pixels
    ``(row, col)`` of each tap's cell, and a boolean ``(9,)`` that is False where the
    tap lands in the zero padding outside the feature map.
    """
    if rate < 1 or output_stride < 1:
        raise ValueError(
            f"aspp_taps(rate={rate}, output_stride={output_stride}): both must be >= 1"
        )
    height, width = image_size
    rows, cols = -(-height // output_stride), -(-width // output_stride)  # feature map size
    cell_r, cell_c = center[0] // output_stride, center[1] // output_stride
    offsets = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]) * rate
    cells = offsets + np.array([cell_r, cell_c])
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < rows) & (cells[:, 1] >= 0) & (cells[:, 1] < cols)
    return cells * output_stride, inside
