"""The lesson 00 checkers: each accepts the right answer and rejects typical wrong ones."""

import numpy as np
import pytest

from dlcourse.checks import (
    check_class_color,
    check_class_index,
    check_color_to_index,
    check_pixel_fraction,
)
from dlcourse.voc import VOC_PALETTE, VOID_INDEX, voc_colormap


def test_check_class_index():
    result = check_class_index("dog", 12)
    assert result and result.message == "Correct! 'dog' is stored as 12 in VOC masks."
    wrong = check_class_index("dog", 11)  # counted from 1 (background forgotten)
    assert not wrong and wrong.message.startswith(
        "Not yet. Class indices are positions in VOC_CLASSES"
    )
    assert not check_class_index("dog", "dog")  # the name, not the index
    assert check_class_index("dog", np.int64(12)) and check_class_index("dog", 12.0)
    unanswered = check_class_index("dog", None)
    assert not unanswered and "replace the None with your answer" in unanswered.message
    with pytest.raises(ValueError, match="not a VOC class"):
        check_class_index("unicorn", 3)


def test_check_class_color():
    result = check_class_color("cat", (64, 0, 0))
    assert result and "RGB (64, 0, 0)" in result.message
    assert check_class_color("cat", VOC_PALETTE[8])
    assert not check_class_color("cat", (0, 0, 64))  # channels reversed (BGR)
    assert not check_class_color("cat", VOC_PALETTE[7])  # the row of the class before
    assert not check_class_color("cat", (64, 0))
    assert not check_class_color("cat", None)


def test_check_pixel_fraction_on_a_tiny_mask():
    mask = np.array([[0, 255], [15, 15]])
    assert check_pixel_fraction(mask, 255, 0.25)
    result = check_pixel_fraction(mask, 15, 0.5)
    assert result.message == "Correct! 50.00% of the 4 pixels have value 15."
    assert not check_pixel_fraction(mask, 15, 0.25)
    with pytest.raises(ValueError, match="empty"):
        check_pixel_fraction(np.zeros((0, 3)), 0, 0.5)


def test_check_pixel_fraction_rejects_labelled_only_and_percentages():
    mask = np.zeros((40, 50), dtype=np.uint8)
    mask[:, :3] = VOID_INDEX  # 6% void
    mask[10:30, 10:30] = 15
    void = float((mask == VOID_INDEX).mean())
    assert check_pixel_fraction(mask, VOID_INDEX, void)
    labelled_only = (mask == VOID_INDEX).sum() / (mask != VOID_INDEX).sum()
    assert not check_pixel_fraction(mask, VOID_INDEX, labelled_only)
    percent = check_pixel_fraction(mask, VOID_INDEX, 100 * void)
    assert not percent and "percentage" in percent.message
    assert not check_pixel_fraction(mask, VOID_INDEX, void + 5e-4)  # 1 pixel per 2000 off
    words = check_pixel_fraction(mask, VOID_INDEX, "six percent")
    assert words.message == "Not yet. Give one number between 0 and 1, not str."
    assert check_pixel_fraction(mask, VOID_INDEX, None).message.startswith("Not answered yet")


def test_check_pixel_fraction_on_the_lesson_mask():
    from dlcourse.samples import sample_mask

    mask = sample_mask()
    void = mask == VOID_INDEX
    assert check_pixel_fraction(mask, VOID_INDEX, void.mean())
    # the labelled-only share differs by less than 1e-3 here: the old tolerance let it pass
    assert not check_pixel_fraction(mask, VOID_INDEX, void.sum() / (~void).sum())


def _color_to_index(rgb):
    index = 0
    for position in range(8):  # bit 7 of each channel holds index bits 0..2, bit 6 bits 3..5, ...
        bit = 7 - position
        for channel in range(3):
            index |= ((int(rgb[channel]) >> bit) & 1) << (3 * position + channel)
    return index


def test_check_color_to_index():
    result = check_color_to_index(_color_to_index)
    assert result.message == "Correct! all 256 palette colours map back to their index."
    table = {tuple(int(v) for v in VOC_PALETTE[i]): i for i in range(21)}
    only_classes = check_color_to_index(lambda rgb: table[tuple(rgb)])  # only the 21 classes
    assert not only_classes and "raised KeyError" in only_classes.message
    bgr = check_color_to_index(lambda rgb: _color_to_index(rgb[::-1]))
    assert not bgr and "color_to_index((192, 128, 128)) returned" in bgr.message
    template = check_color_to_index(lambda rgb: None)  # the exercise as handed out
    assert "returned None, expected 15" in template.message
    assert (
        check_color_to_index(42).message
        == "Not yet. Give a function: def color_to_index(rgb): ... return index"
    )
    assert not check_color_to_index(None)
    colormap = voc_colormap(256)
    assert all(_color_to_index(colormap[i]) == i for i in range(256))
