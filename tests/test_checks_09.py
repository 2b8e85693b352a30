"""Tests of lesson 09's mean-field checker: the right answers pass, typical mistakes get their hint."""

from __future__ import annotations

import torch

from dlcourse.checks import check_mean_field_update


def paper_update(unary, q, kernel, w):
    """Krähenbühl and Koltun's update, Potts: messages from every j != i."""
    others = kernel - torch.diag(torch.diag(kernel))
    return torch.softmax(-unary - w * others @ (1 - q), dim=1)


def test_the_papers_form_and_its_equivalents_pass(capsys):
    assert check_mean_field_update(paper_update)

    def rewarding_agreement(unary, q, kernel, w):  # the same softmax: 1 - Q differs from -Q by a constant
        others = kernel - torch.diag(torch.diag(kernel))
        return torch.softmax(-unary + w * others @ q, dim=1)

    assert check_mean_field_update(rewarding_agreement)
    assert "the paper's update" in capsys.readouterr().out


def test_including_the_pixel_itself_passes_with_a_note(capsys):
    def with_self(unary, q, kernel, w):
        return torch.softmax(-unary - w * kernel @ (1 - q), dim=1)

    assert check_mean_field_update(with_self)
    assert "pydensecrf" in capsys.readouterr().out


def test_typical_mistakes_fail_with_their_hint(capsys):
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
        assert not check_mean_field_update(wrong)
        assert hint in capsys.readouterr().out, hint
    assert not check_mean_field_update(None)
    assert "Not answered yet" in capsys.readouterr().out
