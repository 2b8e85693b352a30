"""Tests of dlcourse.checks: the exercise checkers say right from wrong."""

import numpy as np
import pytest

from dlcourse import checks
from dlcourse.viz import VOC_PALETTE


def test_check_result_is_truthy_only_when_correct():
    assert checks.CheckResult(True, "ok") and not checks.CheckResult(False, "no")
    assert checks.CheckResult(True, "ok") == True  # noqa: E712
    assert repr(checks.CheckResult(False, "no")) == "CheckResult(correct=False)"


def test_check_class_index(capsys):
    assert checks.check_class_index("dog", 12)
    assert "Correct! 'dog' is stored as 12" in capsys.readouterr().out
    assert not checks.check_class_index("dog", 11)
    assert "Not yet." in capsys.readouterr().out
    assert not checks.check_class_index("dog", None)
    assert "replace the None" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not a VOC class"):
        checks.check_class_index("unicorn", 3)


def test_check_class_color(capsys):
    assert checks.check_class_color("cat", (64, 0, 0))
    assert checks.check_class_color("cat", VOC_PALETTE[8])
    assert not checks.check_class_color("cat", (0, 0, 64))
    assert not checks.check_class_color("cat", (64, 0))
    assert "RGB (64, 0, 0)" in capsys.readouterr().out


def test_check_pixel_fraction():
    mask = np.array([[0, 255], [15, 15]])
    assert checks.check_pixel_fraction(mask, 255, 0.25)
    assert checks.check_pixel_fraction(mask, 15, 0.5)
    assert not checks.check_pixel_fraction(mask, 15, 0.25)
