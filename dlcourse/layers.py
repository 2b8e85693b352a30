"""The building blocks of DeepLab heads: atrous convolutions, ASPP, decoders, upsampling.

``separable=True`` on :class:`ASPP` and :class:`DeepLabV3PlusHead` swaps their 3x3 convs for
:class:`AtrousSeparableConv2d` (DeepLab-v3+, https://arxiv.org/abs/1802.02611, Sec. 3.1-3.2);
the default keeps torchvision's layout.

Submodule names follow torchvision's ``models.segmentation`` (``convs.N``, ``project``),
so a state_dict moves between the two with ``strict=True``.

Used in: 03, 04, 05, 07.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcourse.features import out_channels


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
        for name, value in [
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("dilation", dilation),
            ("stride", stride),
            ("groups", groups),
        ]:
            positive_int(value, name, "ConvBNReLU")
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
        for name, value in [
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("dilation", dilation),
        ]:
            positive_int(value, name, "AtrousSeparableConv2d")
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


class ASPPPooling(nn.Sequential):
    """The image-level branch of ASPP: global average, 1x1 conv, BN, ReLU, broadcast back.

    DeepLab-v3 (https://arxiv.org/abs/1706.05587), section 3.3. In train mode its
    BatchNorm sees one value per channel and image, so it needs a batch of 2 or more:
    a batch of one raises a ``ValueError`` that says so (a frozen BatchNorm,
    :class:`FrozenBatchNorm2d`, takes any batch).

    Shape: ``(N, C, H, W) -> (N, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] == 1 and any(type(m) is nn.BatchNorm2d for m in self):
            raise ValueError(
                "a batch of 1 image in train mode: the ASPP image-pooling branch's BatchNorm "
                "needs at least 2 values per channel; use a batch of 2 or more, or call model.eval()"
            )
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling of DeepLab-v3: 1x1, three atrous 3x3, image pooling.

    The branches are concatenated and projected back to ``out_channels`` by a 1x1 conv
    (https://arxiv.org/abs/1706.05587, figure 5).

    Args:
        in_channels: channels of the backbone features.
        atrous_rates: rates of the 3x3 branches, e.g. ``(6, 12, 18)`` at output stride 16.
        out_channels: channels of every branch and of the output.
        pooling: include the image-pooling branch.
        separable: make the atrous branches :class:`AtrousSeparableConv2d` (DeepLab-v3+);
            the default ``False`` is DeepLab-v3's and torchvision's dense 3x3 conv.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int],
        out_channels: int = 256,
        pooling: bool = True,
        separable: bool = False,
    ) -> None:
        super().__init__()
        positive_int(in_channels, "in_channels", "ASPP")
        positive_int(out_channels, "out_channels", "ASPP")
        rates = positive_ints(atrous_rates, "atrous_rates", "ASPP")
        branches: list[nn.Module] = [ConvBNReLU(in_channels, out_channels, kernel_size=1)]
        branches += [conv3x3_block(in_channels, out_channels, rate, separable) for rate in rates]
        if pooling:
            branches.append(ASPPPooling(in_channels, out_channels))
        self.atrous_rates = rates
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class ASPPv2(nn.Module):
    """DeepLab-v2's ASPP: parallel atrous 3x3 classifiers whose scores are summed.

    Each branch maps the features straight to class scores
    (https://arxiv.org/abs/1606.00915, figure 4, the ResNet-101 variant).

    Args:
        in_channels: channels of the backbone features.
        num_classes: classes to predict.
        atrous_rates: one branch per rate; ``(6, 12, 18, 24)`` at output stride 8.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.
    """

    def __init__(
        self, in_channels: int, num_classes: int, atrous_rates: Sequence[int] = (6, 12, 18, 24)
    ) -> None:
        super().__init__()
        positive_int(in_channels, "in_channels", "ASPPv2")
        positive_int(num_classes, "num_classes", "ASPPv2")
        self.atrous_rates = positive_ints(atrous_rates, "atrous_rates", "ASPPv2", "(6, 12, 18, 24)")
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=rate, dilation=rate)
            for rate in self.atrous_rates
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([conv(x) for conv in self.convs]).sum(dim=0)


class DeepLabHead(nn.Sequential):
    """torchvision's DeepLab-v3 head: ASPP, a 3x3 conv-BN-ReLU, a 1x1 classifier.

    The paper's head (https://arxiv.org/abs/1706.05587, section 3.3) has no 3x3 layer:
    ASPP (with its 1x1 projection) goes straight to the 1x1 classifier. torchvision adds
    the 3x3 conv-BN-ReLU, and the course keeps it so that torchvision's weights load.

    Args:
        in_channels: channels of ``features["out"]``.
        num_classes: classes to predict.
        atrous_rates: ASPP rates.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.
    """

    def __init__(
        self, in_channels: int, num_classes: int, atrous_rates: Sequence[int] = (12, 24, 36)
    ) -> None:
        positive_int(num_classes, "num_classes", "DeepLabHead")
        rates = positive_ints(atrous_rates, "atrous_rates", "DeepLabHead", "(12, 24, 36)")
        aspp = ASPP(in_channels, rates)
        width = out_channels(aspp)
        super().__init__(
            aspp,
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, num_classes, 1),
        )


class FCNHead(nn.Sequential):
    """The auxiliary head: 3x3 conv to ``in_channels // 4``, BN, ReLU, dropout, 1x1 classifier.

    Args:
        in_channels: channels of ``features["aux"]``.
        num_classes: classes to predict.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        positive_int(num_classes, "num_classes", "FCNHead")
        if positive_int(in_channels, "in_channels", "FCNHead") < 4:
            raise ValueError(f"FCNHead(in_channels={in_channels}): needs at least 4 channels")
        inter = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter, num_classes, 1),
        )


class LargeFOVHead(nn.Sequential):
    """DeepLab-v1 LargeFOV: fc6 as a 3x3 conv with dilation 12 (1024 channels), fc7, fc8.

    https://arxiv.org/abs/1412.7062, section 3.1 and table 2. ``kernel_size`` and
    ``dilation`` build the paper's other fc6 variants too: its table 2 compares 7x7 at
    rate 4 (VGG-16's fc6, 4096 channels), 4x4 at rates 4 and 8, and 3x3 at rate 12.
    fc6 pads by ``dilation * (kernel_size - 1) // 2``, so the output keeps its size.

    Args:
        in_channels: channels of the VGG-16 features (512).
        num_classes: classes to predict.
        dilation: atrous rate of fc6 (the paper's "input stride").
        channels: width of fc6 and fc7.
        kernel_size: side of fc6's kernel; ``dilation * (kernel_size - 1)`` must be even.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dilation: int = 12,
        channels: int = 1024,
        kernel_size: int = 3,
    ) -> None:
        for name, value in [
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("dilation", dilation),
            ("channels", channels),
            ("kernel_size", kernel_size),
        ]:
            positive_int(value, name, "LargeFOVHead")
        span = dilation * (kernel_size - 1)
        if span % 2:
            raise ValueError(
                f"LargeFOVHead(kernel_size={kernel_size}, dilation={dilation}): the kernel spans "
                f"{span + 1} pixels, which no padding centres; use an odd kernel_size or an even "
                "dilation"
            )
        super().__init__(
            nn.Conv2d(in_channels, channels, kernel_size, padding=span // 2, dilation=dilation),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(channels, num_classes, 1),
        )


class DeepLabV3PlusHead(nn.Module):
    """DeepLab-v3+ head: ASPP on ``out``, a decoder that mixes in the stride-4 ``low`` features.

    The low-level features are projected to 48 channels, the ASPP output is upsampled
    to their size, both are concatenated and refined by two 3x3 convs
    (https://arxiv.org/abs/1802.02611, figure 2). It takes two of the backbone's features,
    ``out`` and ``low`` (the model passes them: ``head_features=("out", "low")``).

    Args:
        in_channels: channels of ``features["out"]``.
        low_channels: channels of ``features["low"]``.
        num_classes: classes to predict.
        atrous_rates: ASPP rates.
        low_projection: channels the low-level features are reduced to.
        separable: use :class:`AtrousSeparableConv2d` for ASPP's atrous branches and the
            decoder's two 3x3 convs, as the paper's Xception models do (Sec. 3.2, Table 5).

    Shape: ``(N, in_channels, h, w), (N, low_channels, H/4, W/4) -> (N, num_classes, H/4, W/4)``.
    """

    def __init__(
        self,
        in_channels: int,
        low_channels: int,
        num_classes: int,
        atrous_rates: Sequence[int] = (6, 12, 18),
        low_projection: int = 48,
        separable: bool = False,
    ) -> None:
        super().__init__()
        positive_int(num_classes, "num_classes", "DeepLabV3PlusHead")
        positive_int(low_channels, "low_channels", "DeepLabV3PlusHead")
        positive_int(low_projection, "low_projection", "DeepLabV3PlusHead")
        rates = positive_ints(atrous_rates, "atrous_rates", "DeepLabV3PlusHead")
        self.aspp = ASPP(in_channels, rates, separable=separable)
        self.low_project = ConvBNReLU(low_channels, low_projection, kernel_size=1)
        width = out_channels(self.aspp)
        joined = width + out_channels(self.low_project)  # the concatenation: 256 + 48
        self.decoder = nn.Sequential(
            conv3x3_block(joined, width, 1, separable),
            conv3x3_block(width, width, 1, separable),
            nn.Conv2d(width, num_classes, 1),
        )

    def forward(self, x: Tensor, low: Tensor) -> Tensor:
        low = self.low_project(low)
        x = self.aspp(x)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.decoder(torch.cat([x, low], dim=1))


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
