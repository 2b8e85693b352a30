"""Tests of dlcourse.checks.core: the result a check returns, how it renders, and the two skeletons."""

import html
import re

import numpy as np
import pytest
import torch

from dlcourse.checks.core import (
    NOT_ANSWERED,
    REMINDER,
    CheckResult,
    call_for_number,
    call_learner,
    feedback,
    function_name,
    int_list,
    judge,
    judge_function,
    markdown,
    real_number,
    tensor_mismatch,
    whole_number,
)

# --- CheckResult -----------------------------------------------------------------------


def test_check_result_is_truthy_only_when_correct():
    assert CheckResult(True, "ok") and not CheckResult(False, "no")
    assert CheckResult(True, "ok") == True  # noqa: E712 - notebooks may compare with True
    assert CheckResult(True, "a") == CheckResult(True, "b") != CheckResult(False, "a")
    with pytest.raises(TypeError):
        hash(CheckResult(True, "ok"))


def test_the_plain_form_is_the_message():
    result = feedback(False, "", "Each layer adds (k_eff - 1) * jump.")
    assert repr(result) == str(result) == "Not yet. Each layer adds (k_eff - 1) * jump."


def test_the_markdown_form_escapes_and_sets_the_verdict_in_bold():
    result = feedback(
        False, "", "rf_table([(3, 1, 1, 1)]) gave 0 rows; `accumulate` * 2 < $5 | ~x & y"
    )
    assert result._repr_markdown_() == (
        r"**Not yet.** rf\_table(\[(3, 1, 1, 1)\]) gave 0 rows; \`accumulate\` \* 2 \< \$5 \| \~x \& y"
    )
    assert markdown("Correct! RF 24.") == "**Correct!** RF 24."
    assert (
        markdown(REMINDER)
        == "**Not answered yet:** replace the None with your answer and run the cell again."
    )
    assert markdown("no verdict_here") == r"no verdict\_here"


@pytest.mark.parametrize(
    "message",
    [
        REMINDER,
        "Correct! 'dog' is stored as 12 in VOC masks.",
        "Not yet. Start from size 1 and jump 1; each layer adds (k_eff - 1) * jump, then multiplies the jump.",
        "Not yet. k = exp(-|p_i - p_j|^2 / (2 theta_alpha^2) - |I_i - I_j|^2 / (2 theta_beta^2))",
        "Not yet. Q_i(l) = softmax over l of -U_i(l) - w * sum_{j != i} k_ij * (1 - Q_j(l)): <b>no</b> tags",
        "Not yet. Every process runs `accumulate` passes of `batch_size` images; 1 < 2 > 0 & [x](y) #3 $a$",
    ],
)
def test_the_markdown_renders_as_the_same_words(message):
    mistune = pytest.importorskip("mistune")
    rendered = mistune.html(markdown(message))
    assert rendered.startswith("<p><strong>") and "</strong>" in rendered
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip() == message


def test_jupyter_shows_markdown_and_plain_text_and_nothing_else():
    from IPython.core.interactiveshell import InteractiveShell

    data, _ = InteractiveShell.instance().display_formatter.format(feedback(True, "RF 24.", ""))
    assert data == {"text/plain": "Correct! RF 24.", "text/markdown": "**Correct!** RF 24."}


def test_feedback_and_the_reminder():
    assert feedback(True, "it works.", "unused").message == "Correct! it works."
    assert feedback(False, "unused", "try again.").message == "Not yet. try again."
    assert NOT_ANSWERED.message == REMINDER and not NOT_ANSWERED
    assert REMINDER == "Not answered yet: replace the None with your answer and run the cell again."


# --- judge: one value ------------------------------------------------------------------


def test_judge_reminds_reads_compares_and_hints():
    assert judge(None, 12, "yes.", "no.") is NOT_ANSWERED
    assert judge(12, 12, "yes.", "no.").message == "Correct! yes."
    assert judge(np.int64(12), 12, "yes.", "no.") and judge(12.0, 12, "yes.", "no.")
    assert judge(11, 12, "yes.", "no.").message == "Not yet. no."
    assert judge(12.5, 12, "yes.", "no.").message == "Not yet. no."  # not a whole number
    assert (
        judge("12", 12, "yes.", "no.", unreadable="a number, please.").message
        == "Not yet. a number, please."
    )


def test_judge_tries_the_typical_mistakes_in_order_with_the_same_comparison():
    mistakes = {24: "cells, not pixels.", 25: "one short.", 12: "never shown: the answer wins."}
    assert judge(24, 12, "yes.", "no.", mistakes=mistakes).message == "Not yet. cells, not pixels."
    assert judge(12, 12, "yes.", "no.", mistakes=mistakes)

    def close(given, right):
        return abs(given - right) < 0.01

    first = {1.0: "first.", 1.001: "second."}
    assert (
        judge(1.005, 5.0, "", "no.", parse=real_number, same=close, mistakes=first).message
        == "Not yet. first."
    )
    assert judge(4.995, 5.0, "yes.", "no.", parse=real_number, same=close)


# --- judge_function: a function the learner wrote -------------------------------------


def test_judge_function_reminds_asks_for_a_function_and_reports_the_first_mistake():
    def mistake(function):
        return None if function(2) == 4 else f"function(2) gave {function(2)}"

    assert judge_function(None, mistake, "squares.") is NOT_ANSWERED
    assert judge_function(lambda x: x * x, mistake, "squares.").message == "Correct! squares."
    assert (
        judge_function(lambda x: x + 1, mistake, "squares.").message
        == "Not yet. function(2) gave 3"
    )
    assert (
        judge_function(42, mistake, "", usage="def f(x): ...").message
        == "Not yet. Give a function: def f(x): ..."
    )
    with pytest.raises(TypeError):  # without usage, the check itself decides what to do with it
        judge_function(42, mistake, "")


def test_judge_function_passes_a_finished_result_through():
    assert judge_function(lambda x: None, lambda f: NOT_ANSWERED, "") is NOT_ANSWERED
    noted = feedback(True, "right, with a note.", "")
    assert judge_function(lambda x: x, lambda f: noted, "plain.") is noted


def test_call_learner_turns_an_error_into_a_hint():
    assert call_learner(lambda a, b: a + b, 1, 2) == (3, None)
    assert call_learner(lambda: 1 / 0) == (
        None,
        "your function raised ZeroDivisionError: division by zero",
    )

    def pad_mask():
        raise ValueError("bad")

    assert (
        call_learner(pad_mask, who=function_name(pad_mask))[1] == "pad_mask raised ValueError: bad"
    )
    assert function_name(lambda: 0) == "<lambda>" and function_name(42) == "your function"


# --- reading answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(12, 12), (12.0, 12), (np.int64(12), 12), (np.float32(3.0), 3), (torch.tensor(7), 7),
     (12.5, None), ("12", None), (True, None), (None, None), (float("nan"), None), (float("inf"), None),
     ([1, 2], None), (torch.tensor([1, 2]), None)],
)  # fmt: skip
def test_whole_number(answer, expected):
    assert whole_number(answer) == expected


def test_real_number():
    assert (
        real_number(0.25) == 0.25
        and real_number(np.float32(0.5)) == 0.5
        and real_number(torch.tensor(2.0)) == 2.0
    )
    assert real_number(3) == 3.0
    assert real_number("0.25") is None and real_number(True) is None and real_number([0.25]) is None


def test_int_list():
    assert int_list([1, 2, 2]) == [1, 2, 2] and int_list((2.0, np.int64(4))) == [2, 4]
    assert int_list(np.array([3, 1])) == [3, 1] and int_list([]) == []
    for odd in (2, "12", [1, "a"], [1, 2.5], [True, 2], None, np.array(3), torch.tensor(3)):
        assert int_list(odd) is None


def test_tensor_mismatch_names_shape_then_values():
    expected = torch.arange(6.0).reshape(2, 3)
    assert tensor_mismatch(expected.clone(), expected, "x", "shape hint", "value hint") == ""
    assert tensor_mismatch(expected.T, expected, "x", "shape hint", "value hint") == (
        "for x expected shape (2, 3), got (3, 2); shape hint"
    )
    assert tensor_mismatch(expected + 1e-3, expected, "x", "shape hint", "value hint") == (
        "for x the shape is right but the values differ: value hint"
    )
    assert (
        tensor_mismatch(expected.int(), expected, "x", "s", "v") == ""
    )  # the dtype does not matter


def test_call_for_number_reads_the_answer_as_a_float_or_says_what_to_return():
    import numpy as np
    import torch

    assert call_for_number(lambda: 0.25) == (0.25, None)
    assert call_for_number(lambda: np.float32(0.5)) == (0.5, None)
    assert call_for_number(lambda x: torch.tensor(x), 2.0) == (2.0, None)
    assert call_for_number(lambda: "0.25") == (None, "return one number, got str.")
    assert call_for_number(lambda: [1, 2], asks="the learning rate as one number") == (
        None,
        "return the learning rate as one number, got list.",
    )
    assert call_for_number(lambda: True) == (None, "return one number, got bool.")
    assert call_for_number(lambda: 1 / 0, who="miou") == (
        None,
        "miou raised ZeroDivisionError: division by zero",
    )
