"""The lesson 09 (CRF) checkers: the right answers pass, typical mistakes get their hint."""

from __future__ import annotations

import math

import torch

from dlcourse.checks import (
    check_bilateral_weight,
    check_mean_field_step,
    check_mean_field_update,
    check_splat_corners,
)


def paper_update(unary, q, kernel, w):
    """Krähenbühl and Koltun's update, Potts: messages from every j != i."""
    others = kernel - torch.diag(torch.diag(kernel))
    return torch.softmax(-unary - w * others @ (1 - q), dim=1)


def test_the_papers_form_and_its_equivalents_pass():
    assert check_mean_field_update(paper_update)

    def rewarding_agreement(
        unary, q, kernel, w
    ):  # the same softmax: 1 - Q differs from -Q by a constant
        others = kernel - torch.diag(torch.diag(kernel))
        return torch.softmax(-unary + w * others @ q, dim=1)

    result = check_mean_field_update(rewarding_agreement)
    assert result and "the paper's update" in result.message


def test_including_the_pixel_itself_passes_with_a_note():
    def with_self(unary, q, kernel, w):
        return torch.softmax(-unary - w * kernel @ (1 - q), dim=1)

    result = check_mean_field_update(with_self)
    assert result and "pydensecrf" in result.message


def test_typical_mistakes_fail_with_their_hint():
    def wrong_sign(unary, q, kernel, w):
        others = kernel - torch.diag(torch.diag(kernel))
        return torch.softmax(-unary + w * others @ (1 - q), dim=1)

    def not_normalised(unary, q, kernel, w):
        others = kernel - torch.diag(torch.diag(kernel))
        return torch.exp(-unary - w * others @ (1 - q))

    for wrong, hint in [(wrong_sign, "upside down"), (not_normalised, "normalise over the labels"),
                        (lambda unary, q, kernel, w: torch.softmax(-unary, dim=1), "unaries alone"),
                        (lambda unary, q, kernel, w: q[:2], "of shape"),
                        (lambda unary, q, kernel, w: 1 / 0, "ZeroDivisionError")]:  # fmt: skip
        result = check_mean_field_update(wrong)
        assert not result and hint in result.message, hint
    result = check_mean_field_update(None)
    assert not result and "Not answered yet" in result.message


# --- the bilateral kernel, one mean-field step, the lattice's corners -------------------

PIXEL_I, PIXEL_J = (
    (40, 12, 200, 180, 150),
    (52, 7, 170, 175, 160),
)  # (x, y, r, g, b), the lesson's pair


def test_check_bilateral_weight():
    expected = math.exp(
        -169 / (2 * 30**2) - 1025 / (2 * 15**2)
    )  # the lesson's worked answer, by hand
    assert abs(expected - 0.0933) < 1e-4
    result = check_bilateral_weight(PIXEL_I, PIXEL_J, 30.0, 15.0, expected)
    assert result.message == "Correct! k = 0.09333."
    assert check_bilateral_weight(
        PIXEL_I, PIXEL_J, 30.0, 15.0, 0.0933
    )  # rounded as the lesson prints it
    unsquared = math.exp(-13 / (2 * 30**2) - math.sqrt(1025) / (2 * 15**2))  # distances not squared
    wrong = check_bilateral_weight(PIXEL_I, PIXEL_J, 30.0, 15.0, unsquared)
    assert not wrong and "square the distances before dividing" in wrong.message
    assert not check_bilateral_weight(PIXEL_I, PIXEL_J, 30.0, 15.0, 0.5)
    assert not check_bilateral_weight((0, 0, 0, 0, 0), (1, 1, 1, 1, 1), 1.0, 1.0, None)


def test_check_mean_field_step():
    def step(unary, kernel, w):
        q = torch.softmax(-unary, dim=1)
        norm = kernel.sum(dim=1, keepdim=True).rsqrt()
        return torch.softmax(-unary + w * norm * (kernel @ (norm * q)), dim=1)

    def unnormalised(unary, kernel, w):
        return torch.softmax(-unary + w * kernel @ torch.softmax(-unary, dim=1), dim=1)

    assert check_mean_field_step(step).message == (
        "Correct! one update: filter Q, weight it, add it to -U, normalise with a softmax."
    )
    assert "D^-1/2" in check_mean_field_step(unnormalised).message
    assert not check_mean_field_step(lambda unary, kernel, w: torch.softmax(-unary, dim=1))
    crashed = check_mean_field_step(lambda unary, kernel, w: 1 / 0)
    assert crashed.message == "Not yet. your function raised ZeroDivisionError: division by zero"
    assert check_mean_field_step(None).message.startswith("Not answered yet")


def test_check_splat_corners():
    assert check_splat_corners(5, 6).message.startswith(
        "Correct! 6 vertices: the corners of the simplex"
    )
    assert not check_splat_corners(5, 5)  # the dimension, not its simplex's corners
    assert not check_splat_corners(5, 2**5)  # a cube's corners
    assert not check_splat_corners(5, 6.5)
    assert check_splat_corners(2, None).message.startswith("Not answered yet")
