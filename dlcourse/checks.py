"""Checkers for the lessons' "Your turn" exercises.

Each ``check_*`` function takes the learner's answer, prints whether it is right
(with a hint when it is not) and returns a :class:`CheckResult`, which is truthy
when the answer is right and adds no clutter below the printed message. Expected values are
computed from the package, not typed in, so the checks and the lessons cannot drift.

Used in: 00-10.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class CheckResult:
    """The outcome of a check: ``bool(result)`` is whether the answer was right.

    Notebooks show nothing for it (the check has already printed its message).
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
        return f"CheckResult(correct={self.correct})"

    def _ipython_display_(self) -> None:
        """Display nothing: the message was printed when the check ran."""


def feedback(correct: bool, success: str, hint: str) -> CheckResult:
    """Print the outcome of a check and return it as a :class:`CheckResult`."""
    message = f"Correct! {success}" if correct else f"Not yet. {hint}"
    print(message)
    return CheckResult(bool(correct), message)


def unanswered(answer: object) -> bool:
    """Print a reminder and return ``True`` when the exercise still holds ``None``."""
    if answer is None:
        print("Not answered yet: replace the None with your answer and run the cell again.")
        return True
    return False


NOT_ANSWERED = CheckResult(False, "not answered")
"""What a check returns while the learner's answer is still ``None``."""


# --- 00 setup and tour ---------------------------------------------------------------


def check_class_index(name: str, answer: int) -> CheckResult:
    """Lesson 00: the mask value that stands for VOC class ``name``."""
    from dlcourse.viz import VOC_CLASSES

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_index: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_CLASSES.index(name)
    if unanswered(answer):
        return NOT_ANSWERED
    return feedback(
        answer == expected,
        f"{name!r} is stored as {expected} in VOC masks.",
        "Class indices are positions in VOC_CLASSES, counting from 0 (background).",
    )


def check_class_color(name: str, answer: Sequence[int]) -> CheckResult:
    """Lesson 00: the RGB colour of VOC class ``name`` in the VOC palette."""
    from dlcourse.viz import VOC_CLASSES, VOC_PALETTE

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_color: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_PALETTE[VOC_CLASSES.index(name)]
    if unanswered(answer):
        return NOT_ANSWERED
    answer = np.asarray(answer).reshape(-1)
    return feedback(
        answer.shape == (3,) and bool(np.all(answer == expected)),
        f"{name!r} is drawn as RGB {tuple(int(v) for v in expected)}.",
        "Look the class up in VOC_CLASSES, then take that row of VOC_PALETTE.",
    )


def check_pixel_fraction(mask: np.ndarray, class_index: int, answer: float) -> CheckResult:
    """Lesson 00: the fraction of pixels of ``mask`` labelled ``class_index`` (void counts)."""
    expected = float(np.mean(np.asarray(mask) == class_index))
    if unanswered(answer):
        return NOT_ANSWERED
    return feedback(
        abs(float(answer) - expected) < 1e-3,
        f"{expected:.1%} of the pixels have value {class_index}.",
        "Compare the mask with the class index (mask == k) and take the mean of the result.",
    )
