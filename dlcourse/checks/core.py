"""What every checker shares: the result it returns and the two shapes a check takes.

A check of one value (:func:`judge`) reminds the learner while the answer is still
``None``, reads the answer, compares it with the value the package computes and
says "Correct! ..." or "Not yet. <hint>". A check of a function the learner wrote
(:func:`judge_function`) runs it on cases it has not seen and reports the first
mistake. Either way the result renders itself: Jupyter shows
:meth:`CheckResult._repr_markdown_`, a terminal the plain message.

Used in: 00-10.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

REMINDER = "Not answered yet: replace the None with your answer and run the cell again."
"""What a check says while the learner's answer is still ``None``."""

VERDICTS = ("Correct!", "Not yet.", "Not answered yet:")
"""The words a check's message starts with; :func:`markdown` sets them in bold."""

_MARKDOWN_SPECIAL = "\\`*_[]<>#|~$&"


class CheckResult:
    """The outcome of a check: ``bool(result)`` is whether the answer was right.

    The last expression of a notebook cell shows it: Jupyter renders
    :meth:`_repr_markdown_`, a terminal prints ``repr(result)``, the message itself.

    Args:
        correct: whether the answer was right.
        message: what the learner reads, e.g. ``"Not yet. <hint>"``.
    """

    def __init__(self, correct: bool, message: str) -> None:
        self.correct = bool(correct)
        self.message = message

    def __bool__(self) -> bool:
        return self.correct

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CheckResult):
            return self.correct == other.correct
        return self.correct == other

    __hash__ = None

    def __repr__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        return markdown(self.message)


def markdown(message: str) -> str:
    """``message`` as Markdown that renders as the same words, its verdict in bold.

    Characters Markdown would read as formatting (``*``, ``_``, backticks, ``<``,
    ``$`` ...) are escaped, so ``(k_eff - 1) * jump`` stays exactly that on screen.
    """
    escaped = "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in message)
    for verdict in VERDICTS:
        if message.startswith(verdict):
            return f"**{verdict}**{escaped[len(verdict) :]}"
    return escaped


def feedback(correct: bool, success: str, hint: str) -> CheckResult:
    """``Correct! <success>`` or ``Not yet. <hint>``, as a :class:`CheckResult`."""
    message = f"Correct! {success}" if correct else f"Not yet. {hint}"
    return CheckResult(bool(correct), message)


NOT_ANSWERED = CheckResult(False, REMINDER)
"""What a check returns while the learner's answer is still ``None``."""


# --- reading answers -----------------------------------------------------------------


def whole_number(answer: object) -> int | None:
    """``answer`` as an int when it is a whole number (``12``, ``12.0``, ``np.int64(12)``), else ``None``."""
    if isinstance(answer, bool | str | bytes):
        return None
    try:
        value = int(answer)
        return value if value == answer else None
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None


def real_number(answer: object) -> float | None:
    """``answer`` as a float (``0.25``, ``np.float32(0.25)``, a 0-d tensor), else ``None``."""
    if isinstance(answer, bool | str | bytes):
        return None
    try:
        return float(answer)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None


def int_list(answer: object) -> list[int] | None:
    """``answer`` as a list of ints, or ``None`` when it is not a sequence of whole numbers."""
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        return None
    try:
        values = [whole_number(value) for value in answer]
    except TypeError:  # a 0-d array or tensor has __iter__ but cannot be iterated
        return None
    return None if any(value is None for value in values) else values


# --- the two shapes of a check ------------------------------------------------------


def judge(
    answer: object,
    expected: object,
    success: str,
    hint: str,
    *,
    parse: Callable[[object], object] = whole_number,
    same: Callable[[object, object], bool] = operator.eq,
    mistakes: Mapping[object, str] | None = None,
    unreadable: str | None = None,
) -> CheckResult:
    """The skeleton of a check of one value: remind, read, compare, give feedback.

    Args:
        answer: what the learner wrote; ``None`` until they answer (the reminder).
        expected: the right value, computed from the package.
        success: the sentence after "Correct!".
        hint: the sentence after "Not yet.".
        parse: reads ``answer`` into the form of ``expected``, ``None`` when it cannot;
            the default, :func:`whole_number`, accepts ``12``, ``12.0``, ``np.int64(12)``.
        same: whether the read answer is ``expected`` (``==`` unless given, e.g. a tolerance).
        mistakes: ``{typical wrong value: its own hint}``, tried in order with ``same``.
        unreadable: the hint when ``parse`` cannot read the answer (default ``hint``).
    """
    if answer is None:
        return NOT_ANSWERED
    value = parse(answer)
    if value is None:
        return feedback(False, success, hint if unreadable is None else unreadable)
    if same(value, expected):
        return feedback(True, success, hint)
    for wrong, its_hint in (mistakes or {}).items():
        if same(value, wrong):
            return feedback(False, success, its_hint)
    return feedback(False, success, hint)


def judge_function(
    function: object,
    first_mistake: Callable[[Callable], str | CheckResult | None],
    success: str,
    *,
    usage: str | None = None,
) -> CheckResult:
    """The skeleton of a check of a function the learner wrote.

    Args:
        function: the learner's function; ``None`` until they write it (the reminder).
        first_mistake: runs ``function`` on the check's cases and returns ``None`` when
            it is right, else a hint, or a :class:`CheckResult` to return as it is (the
            reminder when the exercise's template still returns ``None``, or a right
            answer with a note).
        success: the sentence after "Correct!".
        usage: how the function is called, e.g. ``"def rf_table(layers): ..."``; when
            given, an answer that is not callable gets "Give a function: <usage>".
    """
    if function is None:
        return NOT_ANSWERED
    if usage is not None and not callable(function):
        return feedback(False, success, f"Give a function: {usage}")
    mistake = first_mistake(function)
    if isinstance(mistake, CheckResult):
        return mistake
    if mistake is None:
        return feedback(True, success, "")
    return feedback(False, success, mistake)


# --- running the learner's code --------------------------------------------------------


def call_learner(
    function: Callable, *args, who: str = "your function"
) -> tuple[object, str | None]:
    """Call the learner's ``function``: ``(result, None)``, or ``(None, hint)`` when it raised.

    The hint reads "<who> raised <error>"; the learner's code may fail in any way.
    """
    try:
        return function(*args), None
    except Exception as err:  # the learner's code may fail in any way
        return None, f"{who} raised {type(err).__name__}: {err}"


def call_for_number(
    function: Callable, *args, who: str = "your function", asks: str = "one number"
) -> tuple[float | None, str | None]:
    """Call the learner's ``function`` for a number: ``(value, None)`` or ``(None, hint)``.

    The hint says the function raised (see :func:`call_learner`) or, when its answer is
    not a number (:func:`real_number`), "return <asks>, got <type>.".
    """
    got, failed = call_learner(function, *args, who=who)
    if failed is not None:
        return None, failed
    value = real_number(got)
    if value is None:
        return None, f"return {asks}, got {type(got).__name__}."
    return value, None


def function_name(function: object) -> str:
    """The learner's function's own name, for hints ("your function" for a nameless one)."""
    return getattr(function, "__name__", "your function")


def tensor_mismatch(got, expected, case: str, shape_hint: str, value_hint: str) -> str:
    """What is wrong with a learner's tensor ``got`` for ``case`` ("" when it matches ``expected``)."""
    import torch

    if got.shape != expected.shape:
        return f"for {case} expected shape {tuple(expected.shape)}, got {tuple(got.shape)}; {shape_hint}"
    if not torch.allclose(got.to(expected.dtype), expected, atol=1e-8, rtol=1e-6):
        return f"for {case} the shape is right but the values differ: {value_hint}"
    return ""
