"""MobileNetV3-Large's feature layers, dilated past an output stride, with torchvision's names.

:class:`InvertedResidual` is the MobileNetV3 block (https://arxiv.org/abs/1905.02244): a 1x1
expansion, a depthwise conv, optional :class:`SqueezeExcitation` and a 1x1 projection, built
from :func:`conv_bn_act`; :func:`make_divisible` rounds its widths. :class:`MobileNetV3Large`
stacks the blocks of :data:`MOBILENET_V3_LARGE` as a :class:`dlcourse.features.FeatureGetter`
that returns ``"low"``, ``"aux"`` and ``"out"``; parameter names follow torchvision's, so its
weights load with ``strict=True``.

Used in: 03, 05.
"""

from __future__ import annotations

from torch import Tensor, nn

from dlcourse.features import FeatureGetter, check_output_stride
from dlcourse.layers import positive_int


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor``, never below 90% of it (MobileNet's rule)."""
    positive_int(divisor, "divisor", "make_divisible")
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_act(
    in_ch: int,
    out_ch: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.Hardswish,
) -> nn.Sequential:
    """Conv (no bias), BatchNorm (eps 1e-3, momentum 0.01) and an optional activation."""
    padding = (kernel - 1) // 2 * dilation
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_ch, out_ch, kernel, stride, padding, dilation=dilation, groups=groups, bias=False
        ),
        nn.BatchNorm2d(out_ch, eps=0.001, momentum=0.01),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention: global average, 1x1 squeeze, ReLU, 1x1 excite, hard sigmoid, scale.

    https://arxiv.org/abs/1709.01507. Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class InvertedResidual(nn.Module):
    """MobileNetV3 block: 1x1 expand, depthwise kxk (strided or dilated), optional SE, 1x1 project.

    https://arxiv.org/abs/1905.02244. ``downsamples`` marks a block that halves the
    resolution in the undilated network; stage boundaries are found from it.

    Shape: ``(N, in_ch, H, W) -> (N, out_ch, H / stride, W / stride)``.
    """

    def __init__(
        self,
        in_ch: int,
        kernel: int,
        expanded: int,
        out_ch: int,
        use_se: bool,
        activation: type[nn.Module],
        stride: int,
        dilation: int,
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expanded != in_ch:
            layers.append(conv_bn_act(in_ch, expanded, 1, activation=activation))
        layers.append(
            conv_bn_act(
                expanded,
                expanded,
                kernel,
                1 if dilation > 1 else stride,
                dilation,
                groups=expanded,
                activation=activation,
            )
        )
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4)))
        layers.append(conv_bn_act(expanded, out_ch, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = out_ch
        self.downsamples = stride > 1

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out += x
        return out


# in, kernel, expanded, out, SE, activation, stride (table 1 of the MobileNetV3 paper)
MOBILENET_V3_LARGE = [
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
]


class MobileNetV3Large(FeatureGetter):
    """MobileNetV3-Large's feature layers (children ``"0"`` .. ``"16"``) with an output stride.

    Once the running stride reaches ``output_stride``, a block that would downsample
    keeps stride 1 and doubles the dilation of its own and later depthwise convs. This is
    torchvision's rule (``mobilenet_v3_large(dilated=True)``), not ResNet's: the formerly
    strided conv takes the new dilation at once, so the dilated network is not an exact
    denser sampling of the strided one.
    ``"low"`` is the last stride-4 block, ``"aux"`` the first block of the stride-8
    stage (as torchvision's DeepLab-v3 uses), ``"out"`` the final 1x1 conv (960 channels);
    the stages are found from the blocks' ``downsamples``, not from fixed indices.

    Args:
        output_stride: 8, 16 or 32.

    Shape: ``(N, 3, H, W) -> {"low": (N, 24, H/4, W/4), "aux": (N, 40, H/8, W/8), "out": ...}``.
    """

    def __init__(self, output_stride: int = 16) -> None:
        check_output_stride(output_stride)
        act = {"RE": nn.ReLU, "HS": nn.Hardswish}
        blocks: list[nn.Module] = [conv_bn_act(3, 16, 3, stride=2)]
        stride, dilation = 2, 1
        for in_ch, kernel, expanded, out_ch, se, name, block_stride in MOBILENET_V3_LARGE:
            if block_stride > 1 and stride >= output_stride:
                dilation *= block_stride
            elif block_stride > 1:
                stride *= block_stride
            blocks.append(
                InvertedResidual(
                    in_ch, kernel, expanded, out_ch, se, act[name], block_stride, dilation
                )
            )
        blocks.append(conv_bn_act(160, 960, 1))
        starts = [i for i, b in enumerate(blocks) if getattr(b, "downsamples", False)]
        wanted = {starts[1] - 1: "low", starts[1]: "aux", len(blocks) - 1: "out"}
        super().__init__(blocks, {str(index): name for index, name in wanted.items()})
        self.output_stride = output_stride
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def positions(self) -> dict[str, int]:
        """Index of the block behind each feature: ``{"low": 3, "aux": 4, "out": 16}``."""
        return {name: int(index) for index, name in self.return_layers.items()}
