"""Dilated ResNets (18, 34, 50, 101) that return named features, with torchvision's names.

A residual block adds a shortcut to its layers' output, ``relu(residual(x) + shortcut(x))``
(https://arxiv.org/abs/1512.03385): :class:`BasicBlock` (two 3x3 convs, ResNet-18/34) and
:class:`Bottleneck` (1x1, 3x3, 1x1, ResNet-50/101). :func:`stage_plan` says which stages trade
their stride for dilation at an output stride, :func:`resnet_stage` builds one stage and
:class:`ResNet` the trunk, a :class:`dlcourse.features.FeatureGetter` that returns ``"low"``
(stride 4), ``"aux"`` (stage 3) and ``"out"``. Parameter names follow torchvision's, so its
weights load with ``strict=True``.

Used in: 02, 03, 04, 05.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlcourse.features import FeatureGetter, check_output_stride
from dlcourse.layers import positive_args, positive_int, positive_ints


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias whose padding equals its dilation."""
    return nn.Conv2d(
        in_planes, out_planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
    )


class ResidualBlock(nn.Module):
    """What both ResNet blocks share: their arguments and ``relu(residual(x) + shortcut(x))``.

    A subclass registers its layers in :meth:`build`, in torchvision's order (so that the
    state_dict keys are torchvision's), and runs them in :meth:`residual`; the shortcut is
    ``downsample`` or, where that is ``None``, the input itself.

    Args:
        inplanes: channels of the input.
        planes: width of the block's convs (its output has ``expansion * planes`` channels).
        stride: stride of the conv that strides.
        downsample: shortcut projection (1x1 conv and BN) or ``None``.
        dilation: of the convs that run on the block's output grid.
        first_dilation: of the conv that strides or would have strided; ``None``: the same
            as ``dilation``.
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
        where = type(self).__name__
        positive_args(where, inplanes=inplanes, planes=planes, stride=stride, dilation=dilation)
        if first_dilation is not None:
            first_dilation = positive_int(first_dilation, "first_dilation", where)
        self.build(inplanes, planes, stride, dilation, first_dilation or dilation)
        self.downsample = downsample

    def build(self, inplanes: int, planes: int, stride: int, dilation: int, first: int) -> None:
        """Register the block's layers; ``first`` is the dilation of the conv that strides."""
        raise NotImplementedError

    def residual(self, x: Tensor) -> Tensor:
        """The layers' output before the shortcut is added (and before the last ReLU)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.residual(x)
        out += identity  # in place, as torchvision: saves one allocation per block
        return self.relu(out)


class BasicBlock(ResidualBlock):
    """ResNet-18/34 block (two 3x3 convs), here also with dilation.

    Args as :class:`ResidualBlock`: ``conv2`` runs on the block's output grid and takes
    ``dilation``, ``conv1`` is the conv that strides and takes ``first_dilation``.

    In the first block of a stage whose stride became dilation, ``conv1`` still
    reads the finer input grid, so it keeps the previous dilation, while ``conv2``
    runs after the removed stride and needs the new one: the rule torchvision's
    Bottleneck follows (the strided conv keeps the old rate, all after it the new).

    Shape: ``(N, inplanes, H, W) -> (N, planes, H / stride, W / stride)``.
    """

    expansion = 1

    def build(self, inplanes: int, planes: int, stride: int, dilation: int, first: int) -> None:
        """``conv1``, ``bn1``, ``relu``, ``conv2``, ``bn2``."""
        self.conv1 = conv3x3(inplanes, planes, stride, first)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)

    def residual(self, x: Tensor) -> Tensor:
        """``bn2(conv2(relu(bn1(conv1(x)))))``."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))


class Bottleneck(ResidualBlock):
    """ResNet-50/101 block: 1x1 reduce, 3x3 (strided or dilated), 1x1 expand by 4.

    The stride sits on the 3x3 conv (the "v1.5" layout of torchvision).
    Args as :class:`ResidualBlock`; the 3x3 conv is the one that strides, so it takes
    ``first_dilation`` (the 1x1 convs have no dilation).

    Shape: ``(N, inplanes, H, W) -> (N, 4 * planes, H / stride, W / stride)``.
    """

    expansion = 4

    def build(self, inplanes: int, planes: int, stride: int, dilation: int, first: int) -> None:
        """``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``, ``bn3``, ``relu``."""
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, first)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)

    def residual(self, x: Tensor) -> Tensor:
        """``bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


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
