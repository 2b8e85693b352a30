"""The lesson 01 checkers: each accepts the right answer and rejects typical wrong ones."""

from dlcourse.checks import (
    check_jump,
    check_layers_needed,
    check_rf_design,
    check_rf_function,
    check_rf_size,
)
from dlcourse.checks.lesson01 import RF_CHAINS
from dlcourse.rf import receptive_fields

VGG_LIKE = [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)]


def test_check_rf_size():
    result = check_rf_size(VGG_LIKE, 24)
    assert result and result.message == "Correct! one output unit sees 24x24 input pixels."
    assert not check_rf_size(VGG_LIKE, 15)  # every layer adds k - 1, ignoring the jump
    assert not check_rf_size(VGG_LIKE, 32)  # grown with the new jump instead of the old
    wrong = check_rf_size(VGG_LIKE, 16)
    assert not wrong and wrong.message.startswith("Not yet. Start from size 1 and jump 1")
    assert not check_rf_size(VGG_LIKE, 24.5)
    unanswered = check_rf_size(VGG_LIKE, None)
    assert not unanswered and "replace the None" in unanswered.message


def test_check_jump():
    assert check_jump(VGG_LIKE, 4)
    assert not check_jump(VGG_LIKE, 2)
    assert not check_jump(VGG_LIKE, 8)


def test_check_layers_needed():
    result = check_layers_needed(100, 50)
    assert result and result.message.startswith("Correct! 50 layers reach 101 pixels")
    assert not check_layers_needed(100, 49)  # RF 99: one short
    assert not check_layers_needed(100, 49.5)
    assert check_layers_needed(224, 112)  # the lesson's exercise: 1 + 2 * 112 = 225


def test_check_rf_design():
    result = check_rf_design([(3, 2, 1), (3, 2, 1), (3, 1, 1)], size=15, jump=4)
    assert result and result.message == "Correct! RF 15 and jump 4, and the measured RF agrees."
    assert check_rf_design([(7, 2, 1), (3, 2, 1), (2, 1, 1)], size=15, jump=4)
    too_many = check_rf_design([(3, 1, 1)] * 7, size=15, jump=1)
    assert not too_many and too_many.message == "Not yet. Use between 1 and 3 layers."
    small = check_rf_design([(3, 2, 1), (3, 2, 1)], size=15, jump=4)  # RF 7
    assert not small and small.message.startswith("Not yet. Your chain has RF 7 and jump 4")
    assert not check_rf_design([(3, 1, 1), (3, 2, 1), (3, 2, 1)], size=15, jump=4)  # RF 9
    assert not check_rf_design([(3, 2, 1, 1)], size=15, jump=4)  # four numbers per layer
    assert (
        "list of (kernel, stride, dilation) tuples" in check_rf_design(7, size=15, jump=4).message
    )
    assert not check_rf_design(None, size=15, jump=4)


def _rf_table(layers):
    size, jump, start, rows = 1, 1, 0.0, []
    for kernel, stride, dilation, padding in layers:
        span = dilation * (kernel - 1) + 1
        size, start, jump = (
            size + (span - 1) * jump,
            start + ((span - 1) / 2 - padding) * jump,
            jump * stride,
        )
        rows.append((size, jump, start))
    return rows


def test_check_rf_function():
    result = check_rf_function(_rf_table)
    assert (
        result.message
        == f"Correct! your recursion matches dlcourse.rf on {len(RF_CHAINS)} chains it had not seen."
    )
    assert check_rf_function(
        lambda layers: [(r.size, r.jump, r.start) for r in receptive_fields(layers)]
    )

    def jump_first(layers):  # multiplies the jump before growing the size
        size, jump, start, rows = 1, 1, 0.0, []
        for kernel, stride, dilation, padding in layers:
            jump *= stride
            span = dilation * (kernel - 1) + 1
            size, start = size + (span - 1) * jump, start + ((span - 1) / 2 - padding) * jump
            rows.append((size, jump, start))
        return rows

    def no_padding(layers):  # forgets that padding moves the start
        return _rf_table([(k, s, d, 0) for k, s, d, _ in layers])

    assert "layer 1: expected (size, jump, start)" in check_rf_function(jump_first).message
    assert not check_rf_function(no_padding)
    assert (
        "gave 1 rows" in check_rf_function(lambda layers: _rf_table(layers)[-1:]).message
    )  # only the last row
    assert "raised ZeroDivisionError" in check_rf_function(lambda layers: 1 / 0).message
    template = check_rf_function(lambda layers: [])  # the exercise as handed out
    assert template.message == "Not yet. rf_table([(3, 1, 1, 1)]) gave 0 rows; give one per layer."
    assert (
        check_rf_function(3).message
        == "Not yet. Give a function: def rf_table(layers): ... return rows"
    )
    assert not check_rf_function(None)
