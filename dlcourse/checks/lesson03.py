"""Checkers of lesson 03 (backbone): bottleneck parameters, dilations, downsampling, the stage plan.

Used in: 03.
"""

from __future__ import annotations

from dlcourse.checks.core import NOT_ANSWERED, CheckResult, int_list, judge, judge_function

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

PLAN_BLOCKS = [(1, 2, 5, 2), (2, 1, 3, 4)]
"""Stage sizes :func:`check_stage_plan` tries (not ResNet-50's, which the lesson uses)."""


def check_bottleneck_params(inplanes: int, planes: int, answer: int) -> CheckResult:
    """Lesson 03: parameters of a ResNet bottleneck block (convs, BN, shortcut projection)."""
    from torch import nn

    from dlcourse.resnet import Bottleneck

    downsample = None
    if inplanes != 4 * planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, 4 * planes, 1, bias=False), nn.BatchNorm2d(4 * planes)
        )
    block = Bottleneck(inplanes, planes, downsample=downsample)
    expected = sum(p.numel() for p in block.parameters())
    without_shortcut = expected - sum(
        p.numel() for p in (downsample or nn.Sequential()).parameters()
    )
    return judge(
        answer,
        expected,
        f"Bottleneck({inplanes}, {planes}) has {expected:,} parameters.",
        "Add the three convs (in*out*k*k, no bias), two parameters per BatchNorm channel, and "
        "a 1x1 conv + BN shortcut when inplanes != 4 * planes.",
        mistakes={
            without_shortcut: "Right for the three convs and their batch norms; now add the downsample shortcut."
        },
    )


def check_stage_dilations(output_stride: int, answer) -> CheckResult:
    """Lesson 03: the dilation of each of the 3 blocks of ResNet-50's last stage."""
    import torch

    from dlcourse.resnet import resnet

    with torch.device("meta"):
        net = resnet(50, output_stride=output_stride)
    expected = [block.conv2.dilation[0] for block in net.layer4]
    values = int_list(answer)
    hint = (
        "A dilated stage doubles the dilation, but its first block keeps the dilation the "
        "previous stage ended with."
    )
    if values is not None and len(values) != len(expected):
        hint = f"layer4 has {len(expected)} blocks: give one dilation per block."
    return judge(
        answer,
        expected,
        f"at output stride {output_stride} layer4 uses dilations {expected}.",
        hint,
        parse=int_list,
        unreadable="give a list of whole numbers, e.g. [1, 1, 1].",
    )


def check_downsampling_blocks(answer) -> CheckResult:
    """Lesson 03: indices of the MobileNetV3-Large children that halve the resolution.

    The stem conv (child 0) has stride 2 too, so the answer is right with or without it;
    the order does not matter.
    """
    import torch

    from dlcourse.mobilenet import MobileNetV3Large

    with torch.device("meta"):
        net = MobileNetV3Large(output_stride=32)
    halving = [
        i
        for i, child in enumerate(net.children())
        if any(m.stride[0] > 1 for m in child.modules() if isinstance(m, torch.nn.Conv2d))
    ]
    marked = [i for i, b in enumerate(net.children()) if getattr(b, "downsamples", False)]
    return judge(
        answer,
        (halving, marked),
        f"children {halving} halve the resolution: the stem conv (0) and the blocks {marked} "
        "that start a new stage.",
        "Loop over enumerate(net.children()) and keep the indices whose block has "
        "downsamples == True (the stem conv, child 0, may be included or left out).",
        parse=int_list,
        same=lambda given, right: sorted(set(given)) in right,
        unreadable="give a list of whole numbers, e.g. [2, 5].",
    )


def check_stage_plan(plan_fn) -> CheckResult:
    """Lesson 03: ``plan_fn(output_stride, blocks)`` gives the (stride, dilation) of every 3x3 conv.

    ``blocks`` is the number of blocks in each of ResNet's four stages; the function
    returns three lists (stages 2, 3, 4) of ``(stride, dilation)`` pairs, one per block.
    The check runs it on stage sizes the lesson does not use (:data:`PLAN_BLOCKS`) and
    compares with :class:`dlcourse.resnet.ResNet`.
    """
    return judge_function(
        plan_fn,
        _stage_plan_mistake,
        "your plan matches dlcourse.resnet.ResNet for every output stride.",
    )


def _stage_plan_mistake(plan_fn) -> str | CheckResult | None:
    """The first stage plan ``plan_fn`` gets wrong, as a hint (the reminder for the template)."""
    import torch

    from dlcourse.resnet import Bottleneck, ResNet

    for blocks in PLAN_BLOCKS:
        for output_stride in (32, 16, 8):
            with torch.device("meta"):
                net = ResNet(Bottleneck, blocks, output_stride=output_stride)
            expected = [
                [(b.conv2.stride[0], b.conv2.dilation[0]) for b in getattr(net, f"layer{i}")]
                for i in (2, 3, 4)
            ]
            try:
                plan = plan_fn(output_stride, blocks)
                if plan is None:  # the exercise's template still returns None
                    return NOT_ANSWERED
                got = [[tuple(int(v) for v in pair) for pair in stage] for stage in plan]
            except Exception as err:  # the learner's code: report any failure as a hint
                return f"plan_fn({output_stride}, {blocks}) raised {type(err).__name__}: {err}"
            if got != expected:
                return (
                    f"for output_stride={output_stride}, blocks={blocks} the package gives "
                    f"{expected}, your function {got}. Keep stride 2 until the running stride "
                    "reaches the output stride; after that, stride 1 and the dilation doubles, "
                    "but a stage's first block keeps the dilation from before."
                )
    return None
