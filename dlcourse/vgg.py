"""VGG-16's conv layers as DeepLab-v1 uses them: 3x3 pools, dilated conv5, named features.

Past the output stride a pool keeps stride 1 and the convs after it dilate
(https://arxiv.org/abs/1412.7062); parameter names follow torchvision's ``features.N``, so its
weights load with ``strict=True``. DeepLab-v1's head on it is
:class:`dlcourse.heads.LargeFOVHead`.

Used in: 03.
"""

from __future__ import annotations

from torch import Tensor, nn

from dlcourse.features import FeatureGetter, check_output_stride


class VGG16(nn.Module):
    """VGG-16's conv layers as DeepLab-v1 uses them (``features.N`` names as torchvision's).

    Pools are 3x3 with padding 1; past the output stride they keep stride 1, and the
    conv5 layers after a removed stride get dilation 2 (https://arxiv.org/abs/1412.7062).
    ``features`` is a :class:`~dlcourse.features.FeatureGetter`: ``"low"`` is the pool
    that reaches stride 4, ``"out"`` the last pool.

    Args:
        output_stride: 8 (DeepLab-v1), 16 or 32.

    Shape: ``(N, 3, H, W) -> {"low": (N, 128, H/4, W/4), "out": (N, 512, H/os, W/os)}``.
    """

    PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, output_stride: int = 8) -> None:
        super().__init__()
        check_output_stride(output_stride)
        self.output_stride = output_stride
        layers: list[nn.Module] = []
        in_ch, stride, dilation, low = 3, 1, 1, None
        for item in self.PLAN:
            if item == "M":
                if stride < output_stride:
                    stride *= 2
                    layers.append(nn.MaxPool2d(3, stride=2, padding=1))
                else:
                    dilation *= 2
                    layers.append(nn.MaxPool2d(3, stride=1, padding=1))
                if stride == 4 and low is None:
                    low = len(layers) - 1
            else:
                layers.append(nn.Conv2d(in_ch, item, 3, padding=dilation, dilation=dilation))
                layers.append(nn.ReLU(inplace=True))
                in_ch = item
        self.features = FeatureGetter(layers, {str(low): "low", str(len(layers) - 1): "out"})
        self.channels = self.features.channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.features(x)
