"""Checkers of lesson 00 (setup and tour): VOC class indices, colours and pixel shares.

Used in: 00.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlcourse.checks.core import CheckResult, judge, judge_function, real_number

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.


def check_class_index(name: str, answer: int) -> CheckResult:
    """Lesson 00: the mask value that stands for VOC class ``name``."""
    from dlcourse.voc import VOC_CLASSES

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_index: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_CLASSES.index(name)
    return judge(
        answer,
        expected,
        f"{name!r} is stored as {expected} in VOC masks.",
        "Class indices are positions in VOC_CLASSES, counting from 0 (background).",
    )


def check_class_color(name: str, answer: Sequence[int]) -> CheckResult:
    """Lesson 00: the RGB colour of VOC class ``name`` in the VOC palette."""
    from dlcourse.voc import VOC_CLASSES, VOC_PALETTE

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_color: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_PALETTE[VOC_CLASSES.index(name)]
    return judge(
        answer,
        expected,
        f"{name!r} is drawn as RGB {tuple(int(v) for v in expected)}.",
        "Look the class up in VOC_CLASSES, then take that row of VOC_PALETTE.",
        parse=lambda colour: np.asarray(colour).reshape(-1),
        same=lambda colour, right: colour.shape == (3,) and bool(np.all(colour == right)),
    )


def check_pixel_fraction(mask: np.ndarray, class_index: int, answer: float) -> CheckResult:
    """Lesson 00: the fraction of *all* pixels of ``mask`` that hold ``class_index``.

    The answer must be right to half a pixel: a share of the labelled (non-void)
    pixels only, a percentage or a rounded value is off by more than that.
    """
    mask = np.asarray(mask)
    if mask.size == 0:
        raise ValueError("check_pixel_fraction: the mask is empty")
    expected = float(np.mean(mask == class_index))
    value = real_number(answer)
    if value is not None and 1 < value <= 100:
        hint = "That looks like a percentage; give a fraction between 0 and 1."
    else:
        hint = (
            "Compare the mask with the value (mask == k) and take the mean over the whole mask: "
            "every pixel counts, void ones too, and do not round."
        )
    return judge(
        answer,
        expected,
        f"{expected:.2%} of the {mask.size} pixels have value {class_index}.",
        hint,
        parse=real_number,
        same=lambda given, right: abs(given - right) <= 0.5 / mask.size,
        unreadable=f"Give one number between 0 and 1, not {type(answer).__name__}.",
    )


def check_color_to_index(color_to_index) -> CheckResult:
    """Lesson 00: ``color_to_index((r, g, b))`` undoes the VOC palette's bit spreading.

    Runs the learner's function on all 256 palette colours (not only the 21 classes)
    and compares with :func:`dlcourse.voc.voc_colormap`.
    """
    return judge_function(
        color_to_index,
        _color_to_index_mistake,
        "all 256 palette colours map back to their index.",
        usage="def color_to_index(rgb): ... return index",
    )


def _color_to_index_mistake(color_to_index) -> str | None:
    """The first palette colour that ``color_to_index`` maps wrong, as a hint."""
    from dlcourse.voc import voc_colormap

    colormap = voc_colormap(256)
    order = [15, 8, 0, 255, *range(1, 255)]  # a few telling ones first
    for index in order:
        rgb = tuple(int(v) for v in colormap[index])
        try:
            got = color_to_index(rgb)
        except Exception as err:  # the learner's code may fail in any way
            return f"color_to_index({rgb}) raised {type(err).__name__}: {err}"
        if got is None or int(got) != index:
            return (
                f"color_to_index({rgb}) returned {got!r}, expected {index}. Read bit 7 (128) of red, "
                "green and blue for the three lowest bits of the index, then bit 6 for the next three, "
                "and so on."
            )
    return None
