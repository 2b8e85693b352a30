"""Measuring a receptive field by gradients: back-propagate from one output unit to the input.

The gradient of one output unit with respect to the input is non-zero only inside that
unit's receptive field, so :func:`measure_receptive_field` checks the arithmetic of
:mod:`dlcourse.rf` on any model. By default it measures :func:`positive_probe`'s copy of
the model, on which no gradient can cancel or vanish, so the size it finds is exact;
with ``probe=False`` it shows the model's own *effective* receptive field.

Used in: 01, 04.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlcourse.rf import _positive_int, layer_geometry


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
