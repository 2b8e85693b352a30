"""Heads on a backbone's features: DeepLab-v1's LargeFOV, the auxiliary FCN head, the v3+ decoder.

:class:`LargeFOVHead` is DeepLab-v1's fc6-fc8 on VGG-16 (https://arxiv.org/abs/1412.7062);
:class:`FCNHead` is the auxiliary head on the ``"aux"`` features; :class:`DeepLabV3PlusHead`
is DeepLab-v3+'s ASPP and decoder over the stride-4 ``"low"`` features
(https://arxiv.org/abs/1802.02611), whose ``separable=True`` makes its 3x3 convs
:class:`~dlcourse.layers.AtrousSeparableConv2d`. DeepLab-v3's head sits with ASPP, in
:mod:`dlcourse.aspp`. Submodule names follow torchvision's, so its weights load with
``strict=True``.

Used in: 03, 05.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcourse.aspp import ASPP
from dlcourse.features import out_channels
from dlcourse.layers import ConvBNReLU, conv3x3_block, positive_args, positive_int, positive_ints


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
        positive_args(
            "LargeFOVHead",
            in_channels=in_channels,
            num_classes=num_classes,
            dilation=dilation,
            channels=channels,
            kernel_size=kernel_size,
        )
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
