"""Dilated backbones that return named features: ResNet, MobileNetV3-Large, VGG-16.

Every backbone runs a :class:`dlcourse.features.FeatureGetter` (ResNet and MobileNetV3-Large
are one, VGG-16 has one as its ``features``): ``forward`` runs the layers in order and
returns a dict with ``"low"`` (stride 4, for the v3+ decoder), ``"aux"`` (for the auxiliary
head, when the backbone has one) and ``"out"``; the backbone exposes ``channels`` (name ->
channels, read from its layers) and ``output_stride``. Strides beyond the requested output
stride become dilation, as in DeepLab. Parameter names follow torchvision's, so its
weights load with ``strict=True``.

Used in: 01, 03, 04, 05, 07.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlcourse.features import FeatureGetter
from dlcourse.layers import positive_int, positive_ints

OUTPUT_STRIDES = (8, 16, 32)


def check_output_stride(output_stride: int, allowed: Sequence[int] = OUTPUT_STRIDES) -> int:
    """Return ``output_stride`` if it is one of ``allowed``; raise a ``ValueError`` otherwise."""
    if isinstance(output_stride, bool) or output_stride not in allowed:
        raise ValueError(
            f"output_stride={output_stride!r} is not supported; use one of {tuple(allowed)}"
        )
    return int(output_stride)


# --- ResNet --------------------------------------------------------------------------


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias whose padding equals its dilation."""
    return nn.Conv2d(
        in_planes, out_planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
    )


def _block_args(where, inplanes, planes, stride, dilation, first_dilation) -> int:
    """Check a residual block's arguments; return the dilation of its first 3x3 conv."""
    for name, value in [
        ("inplanes", inplanes),
        ("planes", planes),
        ("stride", stride),
        ("dilation", dilation),
    ]:
        positive_int(value, name, where)
    if first_dilation is None:
        return dilation
    return positive_int(first_dilation, "first_dilation", where)


class BasicBlock(nn.Module):
    """ResNet-18/34 block (two 3x3 convs), here also with dilation.

    https://arxiv.org/abs/1512.03385. Args: ``inplanes``, ``planes``, ``stride``,
    ``downsample`` (shortcut projection or ``None``), ``dilation`` (of the conv that
    runs on the block's output grid, ``conv2``), ``first_dilation`` (of ``conv1``,
    the conv that strides or would have strided; ``None``: the same as ``dilation``).

    In the first block of a stage whose stride became dilation, ``conv1`` still
    reads the finer input grid, so it keeps the previous dilation, while ``conv2``
    runs after the removed stride and needs the new one: the rule torchvision's
    Bottleneck follows (the strided conv keeps the old rate, all after it the new).

    Shape: ``(N, inplanes, H, W) -> (N, planes, H / stride, W / stride)``.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
        first_dilation: int | None = None,
    ) -> None:
        super().__init__()
        first = _block_args("BasicBlock", inplanes, planes, stride, dilation, first_dilation)
        self.conv1 = conv3x3(inplanes, planes, stride, first)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity  # in place, as torchvision: saves one allocation per block
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet-50/101 block: 1x1 reduce, 3x3 (strided or dilated), 1x1 expand by 4.

    The stride sits on the 3x3 conv (the "v1.5" layout of torchvision).
    Args as :class:`BasicBlock`; the 3x3 conv is the one that strides, so it takes
    ``first_dilation`` (the 1x1 convs have no dilation).

    Shape: ``(N, inplanes, H, W) -> (N, 4 * planes, H / stride, W / stride)``.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
        first_dilation: int | None = None,
    ) -> None:
        super().__init__()
        first = _block_args("Bottleneck", inplanes, planes, stride, dilation, first_dilation)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, first)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


def stage_plan(output_stride: int) -> list[bool]:
    """Which of ResNet's stages 2-4 trade their stride for dilation, e.g. 8 -> [False, True, True]."""
    check_output_stride(output_stride)
    return {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}[
        output_stride
    ]


def resnet_stage(
    block: type[BasicBlock | Bottleneck],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
    dilation: int,
    dilate: bool,
    multi_grid: Sequence[int] | None = None,
) -> tuple[nn.Sequential, int]:
    """One ResNet stage (torchvision's ``_make_layer``) and the dilation after it.

    A stage that must not downsample (``dilate``) gets stride 1 and multiplies the running
    ``dilation`` by ``stride``; its first block keeps the previous dilation on the conv that
    would have strided. With ``multi_grid``, block ``i`` uses ``dilation * multi_grid[i]``.
    The shortcut projection (``downsample``) is made when the shape changes.
    """
    previous = dilation
    if dilate:
        dilation, stride = dilation * stride, 1
    width = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != width:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
        )
    rates, first_dilation = [dilation] * blocks, previous
    if multi_grid is not None:
        rates = [dilation * unit for unit in multi_grid]
        first_dilation = rates[0]
    units = [block(inplanes, planes, stride, downsample, rates[0], first_dilation)]
    units += [block(width, planes, dilation=rate) for rate in rates[1:]]
    return nn.Sequential(*units), dilation


class ResNet(FeatureGetter):
    """A ResNet trunk with a chosen output stride; returns ``low``, ``aux`` and ``out`` features.

    A stage that must not downsample gets stride 1 and multiplies the dilation by 2.
    As in torchvision, its first block keeps the previous dilation and the others
    use the new one. With ``multi_grid`` (DeepLab-v3's ``(1, 2, 4)``), block ``i`` of
    the last stage uses ``dilation * multi_grid[i]`` instead.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        output_stride: 8, 16 or 32.
        multi_grid: unit rates of the last stage's blocks, or ``None``.

    Shape: ``(N, 3, H, W) -> {"low": stride 4, "aux": stage 3, "out": stride output_stride}``.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        output_stride: int = 32,
        multi_grid: Sequence[int] | None = None,
    ) -> None:
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"ResNet(block={block!r}): use BasicBlock or Bottleneck")
        layers = positive_ints(layers, "layers", "ResNet", "(3, 4, 6, 3)", length=4)
        dilate = stage_plan(output_stride)
        if multi_grid is not None:
            multi_grid = positive_ints(multi_grid, "multi_grid", "ResNet", "(1, 2, 4)")
            if len(multi_grid) != layers[3]:
                raise ValueError(
                    f"multi_grid={multi_grid}: give one rate per block of the last stage "
                    f"({layers[3]} blocks), e.g. (1, 2, 4)"
                )
        trunk: dict[str, nn.Module] = {
            "conv1": nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
            "bn1": nn.BatchNorm2d(64),
            "relu": nn.ReLU(inplace=True),
            "maxpool": nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        }
        inplanes, dilation = 64, 1
        plan = zip((64, 128, 256, 512), layers, (1, 2, 2, 2), [False, *dilate], strict=True)
        for index, (planes, blocks, stride, dilated) in enumerate(plan, start=1):
            grid = multi_grid if index == 4 else None
            trunk[f"layer{index}"], dilation = resnet_stage(
                block, inplanes, planes, blocks, stride, dilation, dilated, grid
            )
            inplanes = planes * block.expansion
        super().__init__(trunk, {"layer1": "low", "layer3": "aux", "layer4": "out"})
        self.output_stride = output_stride
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


RESNET_LAYERS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


def resnet(depth: int, output_stride: int = 32, multi_grid: Sequence[int] | None = None) -> ResNet:
    """ResNet-18, -34, -50 or -101 with the given output stride (see :class:`ResNet`)."""
    if isinstance(depth, bool) or depth not in RESNET_LAYERS:
        raise ValueError(f"resnet(depth={depth!r}): use one of {tuple(RESNET_LAYERS)}")
    block, layers = RESNET_LAYERS[depth]
    return ResNet(block, layers, output_stride=output_stride, multi_grid=multi_grid)


# --- MobileNetV3-Large ---------------------------------------------------------------


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


# --- VGG-16 --------------------------------------------------------------------------


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
