"""Checkers of lesson 01 (receptive fields): RF size, jump, depth, a design and the recursion.

Used in: 01.
"""

from __future__ import annotations

from dlcourse.checks.core import (
    NOT_ANSWERED,
    CheckResult,
    feedback,
    judge,
    judge_function,
    whole_number,
)

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

RF_CHAINS = [
    [(3, 1, 1, 1)],
    [(5, 1, 1, 0), (3, 1, 1, 0)],
    [(3, 2, 1, 0), (3, 1, 2, 2), (2, 2, 1, 0)],
    [(7, 2, 1, 3), (3, 2, 1, 1), (1, 2, 1, 0), (3, 1, 1, 1)],
    [(3, 1, 3, 1), (4, 2, 1, 1), (3, 3, 2, 0), (5, 1, 1, 4)],
]
"""The ``(kernel, stride, dilation, padding)`` chains :func:`check_rf_function` tries."""


def check_rf_size(layers, answer: int) -> CheckResult:
    """Lesson 01: the receptive-field size of a chain of ``(kernel, stride, dilation)`` layers."""
    from dlcourse.rf import receptive_field

    expected = receptive_field(layers).size
    return judge(
        answer,
        expected,
        f"one output unit sees {expected}x{expected} input pixels.",
        "Start from size 1 and jump 1; each layer adds (k_eff - 1) * jump, then multiplies "
        "the jump by its stride.",
    )


def check_jump(layers, answer: int) -> CheckResult:
    """Lesson 01: the jump (cumulative stride) of a chain of ``(kernel, stride, dilation)`` layers."""
    from dlcourse.rf import receptive_field

    expected = receptive_field(layers).jump
    return judge(
        answer,
        expected,
        f"neighbouring outputs are {expected} input pixels apart.",
        "The jump is the product of all strides; kernels and dilations do not change it.",
    )


def check_layers_needed(target: int, answer: int) -> CheckResult:
    """Lesson 01: the fewest stride-1 3x3 convolutions whose RF is at least ``target`` pixels."""
    from dlcourse.rf import receptive_field

    expected = 0
    while receptive_field([(3, 1, 1)] * expected).size < target:
        expected += 1
    return judge(
        answer,
        expected,
        f"{expected} layers reach {receptive_field([(3, 1, 1)] * expected).size} pixels; "
        "linear growth is why deep nets need strides or dilation.",
        "Each stride-1 3x3 conv adds 2 pixels to the RF: solve 1 + 2n >= target for n.",
    )


def check_rf_design(layers, size: int, jump: int, max_layers: int = 3) -> CheckResult:
    """Lesson 01: a chain of at most ``max_layers`` layers with the given RF ``size`` and ``jump``.

    The chain is checked twice: with the arithmetic and by measuring the RF of a
    conv stack built from it.
    """
    if layers is None:
        return NOT_ANSWERED
    from torch import nn

    from dlcourse.rf import receptive_field
    from dlcourse.rf_measure import measure_receptive_field

    try:
        layers = [tuple(layer) for layer in layers]
    except TypeError:
        return feedback(
            False, "", "Give a list of (kernel, stride, dilation) tuples, e.g. [(3, 2, 1)]."
        )
    if not layers or len(layers) > max_layers:
        return feedback(False, "", f"Use between 1 and {max_layers} layers.")
    if any(
        len(layer) != 3 or any(whole_number(v) is None or v < 1 for v in layer) for layer in layers
    ):
        return feedback(
            False, "", "Each layer is a (kernel, stride, dilation) tuple of whole numbers >= 1."
        )
    layers = [tuple(int(v) for v in layer) for layer in layers]
    found = receptive_field(layers)
    modules = []
    for kernel, stride, dilation in layers:
        modules += [
            nn.Conv2d(1, 1, kernel, stride, dilation * (kernel - 1) // 2, dilation),
            nn.ReLU(),
        ]
    measured = measure_receptive_field(nn.Sequential(*modules), 2 * found.size + 8 * found.jump)
    return feedback(
        found.size == size and found.jump == jump and measured.size == (size, size),
        f"RF {found.size} and jump {found.jump}, and the measured RF agrees.",
        f"Your chain has RF {found.size} and jump {found.jump}; a stride early on multiplies "
        "what every later layer adds.",
    )


def check_rf_function(rf_table) -> CheckResult:
    """Lesson 01: ``rf_table(layers)`` returns ``(size, jump, start)`` after every layer.

    ``layers`` are ``(kernel, stride, dilation, padding)`` tuples. The learner's function
    runs on chains it has not seen (:data:`RF_CHAINS`: strides, dilations, too little and
    too much padding) and is compared with :func:`dlcourse.rf.receptive_fields`.
    """
    return judge_function(
        rf_table,
        _rf_table_mistake,
        f"your recursion matches dlcourse.rf on {len(RF_CHAINS)} chains it had not seen.",
        usage="def rf_table(layers): ... return rows",
    )


def _rf_table_mistake(rf_table) -> str | None:
    """The first row of :data:`RF_CHAINS` that ``rf_table`` gets wrong, as a hint."""
    from dlcourse.rf import receptive_fields

    for chain in RF_CHAINS:
        expected = [(rf.size, rf.jump, rf.start) for rf in receptive_fields(chain)]
        try:
            got = [tuple(row) for row in rf_table(list(chain))]
        except Exception as err:  # the learner's code may fail in any way
            return f"rf_table({chain}) raised {type(err).__name__}: {err}"
        if len(got) != len(expected):
            return f"rf_table({chain}) gave {len(got)} rows; give one per layer."
        for number, (row, want) in enumerate(zip(got, expected, strict=True), start=1):
            names = ("size", "jump", "start")
            wrong = [
                n for n, a, b in zip(names, row, want, strict=False) if abs(float(a) - b) > 1e-9
            ]
            if len(row) != 3 or wrong:
                return (
                    f"for {chain}, layer {number}: expected (size, jump, start) = {want}, got {row}. "
                    "Update size and start with the jump of the layer below, and only then multiply "
                    "the jump by the stride; the start moves by ((k_eff - 1) / 2 - padding) * jump."
                )
    return None
