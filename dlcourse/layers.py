"""Building blocks of DeepLab heads: conv-BN-ReLU, atrous separable conv, frozen BN, upsampling.

:class:`ConvBNReLU` is the layer every ASPP branch and decoder conv is made of;
:class:`AtrousSeparableConv2d` (DeepLab-v3+, https://arxiv.org/abs/1802.02611, Sec. 3.1-3.2)
is its depthwise-then-pointwise form, and :func:`conv3x3_block` picks one of the two.
:class:`FrozenBatchNorm2d` normalises with the running statistics; :class:`LearnedUpsample`
is a transposed convolution that starts as bilinear upsampling. :func:`positive_int` and
:func:`positive_ints` check the arguments of every module built from these blocks. ASPP
itself is in :mod:`dlcourse.aspp`, the heads in :mod:`dlcourse.heads`.

Used in: 04, 05, 07.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def positive_int(value: object, name: str, where: str) -> int:
    """Return ``value`` as an ``int`` if it is a whole number >= 1; else raise naming ``name``.

    ``where`` is the call the error message shows, e.g. ``"ASPP"``.
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # int, NumPy integers; not floats or strings
    except TypeError:
        raise TypeError(f"{where}({name}={value!r}): {name} takes a whole number >= 1") from None
    if number < 1:
        raise ValueError(f"{where}({name}={value!r}): {name} takes a whole number >= 1")
    return number


def positive_ints(
    values: object, name: str, where: str, example: str = "(6, 12, 18)", length: int | None = None
) -> tuple[int, ...]:
    """Return ``values`` as a tuple of ints >= 1 (``length`` of them, if given); else raise.

    Catches the usual slips: one number instead of a sequence (``12`` for ``(12,)``), a
    string, an empty sequence, fractions, zeros. The message names ``name`` and shows
    ``example``.
    """
    if isinstance(values, str | bytes | dict) or not hasattr(values, "__len__"):
        raise TypeError(
            f"{where}({name}={values!r}): {name} takes a sequence of whole numbers >= 1, "
            f"e.g. {example}"
        )
    if len(values) == 0 or (length is not None and len(values) != length):
        wanted = "one or more" if length is None else f"exactly {length}"
        raise ValueError(
            f"{where}({name}={tuple(values)!r}): give {wanted} whole numbers >= 1, e.g. {example}"
        )
    try:
        return tuple(positive_int(value, name, where) for value in list(values))
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}({name}={tuple(values)!r}): every entry must be a whole number >= 1, "
            f"e.g. {example}"
        ) from None


def positive_args(where: str, **values: object) -> None:
    """Check that every keyword's value is a whole number >= 1, in the order given.

    ``positive_args("ConvBNReLU", in_channels=3, dilation=0)`` raises as
    :func:`positive_int` does for the first value that is not, naming its keyword.
    """
    for name, value in values.items():
        positive_int(value, name, where)


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias), BatchNorm, ReLU; padding keeps the size at stride 1.

    Padding is ``dilation * (kernel_size - 1) // 2``, so a 3x3 conv with dilation ``r``
    pads by ``r`` and a stride-1 layer keeps ``H`` and ``W``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: odd kernel size.
        dilation: atrous rate.
        stride: convolution stride.
        groups: 1 for a full conv, ``in_channels`` for a depthwise one.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H', W')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        positive_args(
            "ConvBNReLU",
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            dilation=dilation,
            stride=stride,
            groups=groups,
        )
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvBNReLU(kernel_size={kernel_size}): use an odd kernel size")
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class AtrousSeparableConv2d(nn.Sequential):
    """Atrous separable convolution: a depthwise 3x3 atrous conv, then a pointwise 1x1 conv.

    The depthwise conv filters each input channel on its own (``groups=in_channels``)
    with dilation ``dilation``; the pointwise 1x1 conv then mixes the channels. Each is
    followed by BatchNorm and ReLU, as in DeepLab-v3+'s Xception models and its reference
    implementation (https://arxiv.org/abs/1802.02611, Sec. 3.1 and 3.2). Parameters of the
    convs: ``9 * in_channels + in_channels * out_channels`` instead of
    ``9 * in_channels * out_channels`` for a :class:`ConvBNReLU` with a 3x3 kernel.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: odd kernel size of the depthwise conv.
        dilation: atrous rate of the depthwise conv.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1
    ) -> None:
        positive_args(
            "AtrousSeparableConv2d",
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            dilation=dilation,
        )
        if kernel_size % 2 != 1:
            raise ValueError(
                f"AtrousSeparableConv2d(kernel_size={kernel_size}): use an odd kernel size"
            )
        super().__init__()
        self.depthwise = ConvBNReLU(
            in_channels, in_channels, kernel_size, dilation=dilation, groups=in_channels
        )
        self.pointwise = ConvBNReLU(in_channels, out_channels, kernel_size=1)


def conv3x3_block(in_channels: int, out_channels: int, dilation: int, separable: bool) -> nn.Module:
    """A 3x3 conv-BN-ReLU with ``dilation``: :class:`AtrousSeparableConv2d` if ``separable``,
    else :class:`ConvBNReLU`."""
    if not isinstance(separable, bool):
        raise TypeError(f"separable={separable!r}: give True or False")
    block = AtrousSeparableConv2d if separable else ConvBNReLU
    return block(in_channels, out_channels, 3, dilation=dilation)


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that always uses its running statistics and never learns.

    Same state_dict keys as ``nn.BatchNorm2d`` (so weights still load strictly); useful
    when batches are too small for reliable statistics. Build it with :func:`freeze_batchnorm`.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Turn every ``nn.BatchNorm2d`` inside ``module`` into a :class:`FrozenBatchNorm2d`, in place.

    The affine parameters stop requiring gradients. Returns ``module``.
    """
    for child in module.modules():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = FrozenBatchNorm2d
            for param in child.parameters():
                param.requires_grad_(False)
    return module


def bilinear_kernel(channels: int, factor: int) -> Tensor:
    """Weights that make a ``ConvTranspose2d`` upsample by ``factor`` bilinearly.

    The kernel is ``2 * factor`` wide and the same for every channel (one channel in, one
    out per group), as in FCN (https://arxiv.org/abs/1411.4038). With stride ``factor``
    and padding ``factor // 2`` it matches ``F.interpolate(mode="bilinear")`` away from the border.

    Returns:
        ``(channels, 1, 2 * factor, 2 * factor)`` tensor.
    """
    positive_int(channels, "channels", "bilinear_kernel")
    if positive_int(factor, "factor", "bilinear_kernel") < 2 or factor % 2:
        raise ValueError(f"bilinear_kernel(factor={factor}): use an even factor >= 2")
    size = 2 * factor
    center = factor - 0.5
    steps = torch.arange(size, dtype=torch.float32)
    ramp = 1 - (steps - center).abs() / factor
    return (ramp[:, None] * ramp[None, :]).expand(channels, 1, size, size).clone()


class LearnedUpsample(nn.ConvTranspose2d):
    """A depthwise transposed convolution that starts as bilinear upsampling by ``factor``.

    Args:
        channels: channels in and out (one filter per channel).
        factor: an even upsampling factor.

    Shape: ``(N, channels, H, W) -> (N, channels, factor * H, factor * W)``.
    """

    def __init__(self, channels: int, factor: int) -> None:
        positive_int(channels, "channels", "LearnedUpsample")
        if positive_int(factor, "factor", "LearnedUpsample") < 2 or factor % 2:
            raise ValueError(f"LearnedUpsample(factor={factor}): use an even factor >= 2")
        kernel = bilinear_kernel(channels, factor)
        super().__init__(
            channels,
            channels,
            2 * factor,
            stride=factor,
            padding=factor // 2,
            groups=channels,
            bias=False,
        )
        with torch.no_grad():
            self.weight.copy_(kernel)
