"""Atrous Spatial Pyramid Pooling: DeepLab-v3's ASPP, its image pooling, v2's ASPP, the v3 head.

:class:`ASPP` (https://arxiv.org/abs/1706.05587, figure 5) runs a 1x1 conv, atrous 3x3
convs and image pooling side by side and projects their concatenation; :class:`ASPPv2`
(https://arxiv.org/abs/1606.00915, figure 4) sums one classifier per rate;
:class:`DeepLabHead` is torchvision's DeepLab-v3 head around ASPP. ``separable=True`` on
:class:`ASPP` swaps the atrous 3x3 convs for :class:`~dlcourse.layers.AtrousSeparableConv2d`
(DeepLab-v3+, https://arxiv.org/abs/1802.02611, Sec. 3.1-3.2); the default keeps
torchvision's layout.

Submodule names follow torchvision's ``models.segmentation`` (``convs.N``, ``project``),
so a state_dict moves between the two with ``strict=True``.

Used in: 04, 05.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcourse.features import out_channels
from dlcourse.layers import ConvBNReLU, conv3x3_block, positive_int, positive_ints


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
