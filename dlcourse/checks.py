"""Checkers for the lessons' "Your turn" exercises.

Each ``check_*`` function takes the learner's answer, prints whether it is right
(with a hint when it is not) and returns ``True`` or ``False``. Expected values are
computed from the package, not typed in, so the checks and the lessons cannot drift.

Used in: 00-10.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def feedback(correct: bool, success: str, hint: str) -> bool:
    """Print the outcome of a check and return ``correct``."""
    print(f"Correct! {success}" if correct else f"Not yet. {hint}")
    return bool(correct)


# --- 00 setup and tour ---------------------------------------------------------------


def check_class_index(name: str, answer: int) -> bool:
    """Lesson 00: the mask value that stands for VOC class ``name``."""
    from dlcourse.viz import VOC_CLASSES

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_index: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_CLASSES.index(name)
    return feedback(
        answer == expected,
        f"{name!r} is stored as {expected} in VOC masks.",
        "Class indices are positions in VOC_CLASSES, counting from 0 (background).",
    )


def check_class_color(name: str, answer: Sequence[int]) -> bool:
    """Lesson 00: the RGB colour of VOC class ``name`` in the VOC palette."""
    from dlcourse.viz import VOC_CLASSES, VOC_PALETTE

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_color: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_PALETTE[VOC_CLASSES.index(name)]
    answer = np.asarray(answer).reshape(-1)
    return feedback(
        answer.shape == (3,) and bool(np.all(answer == expected)),
        f"{name!r} is drawn as RGB {tuple(int(v) for v in expected)}.",
        "Look the class up in VOC_CLASSES, then take that row of VOC_PALETTE.",
    )


def check_pixel_fraction(mask: np.ndarray, class_index: int, answer: float) -> bool:
    """Lesson 00: the fraction of pixels of ``mask`` labelled ``class_index`` (void counts)."""
    expected = float(np.mean(np.asarray(mask) == class_index))
    return feedback(
        abs(float(answer) - expected) < 1e-3,
        f"{expected:.1%} of the pixels have value {class_index}.",
        "Compare the mask with the class index (mask == k) and take the mean of the result.",
    )
