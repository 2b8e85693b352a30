"""Checkers of lesson 10 (capstone): the Pareto front, median-frequency class weights and
torchvision's GFLOPS column.

Used in: 10.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks.core import CheckResult, judge, judge_function, real_number

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

PARETO_CASES = [
    ([5.0, 1.0, 3.0, 2.0, 4.0], [60.0, 40.0, 65.0, 55.0, 70.0]),
    ([2.0, 2.0, 1.0, 6.0, 3.0, 6.0], [50.0, 50.0, 30.0, 80.0, 49.0, 75.0]),
    ([4.0, 1.0, 2.0], [10.0, 20.0, 15.0]),
    ([7.0], [33.0]),
]
"""The ``(costs, scores)`` point sets :func:`check_pareto_front` tries: ties, a dominated
cheapest point, one point."""

PIXEL_COUNTS = [np.array([9000, 600, 300, 100]), np.array([5000, 0, 2500, 1250, 250])]
"""The per-class pixel counts :func:`check_class_weights` tries (one class absent)."""


def check_pareto_front(front_fn) -> CheckResult:
    """Lesson 10: ``front_fn(costs, scores)`` returns the Pareto front's indices, cheapest first.

    Tried on point sets the lesson does not show (:data:`PARETO_CASES`), against
    :func:`dlcourse.family.pareto_front`.
    """
    return judge_function(
        front_fn,
        _pareto_front_mistake,
        f"it agrees with dlcourse.family.pareto_front on {len(PARETO_CASES)} point sets.",
        usage="def my_pareto_front(costs, scores): ...",
    )


def _pareto_front_mistake(front_fn) -> str | None:
    """The first point set whose front ``front_fn`` gets wrong, as a hint."""
    from dlcourse.family import pareto_front

    for costs, scores in PARETO_CASES:
        expected = pareto_front(costs, scores)
        case = f"costs {costs}, scores {scores}"
        try:
            got = front_fn(list(costs), list(scores))
        except Exception as err:  # the learner's code may fail in any way
            return f"for {case} it raised {type(err).__name__}: {err}"
        try:
            got = [int(i) for i in got]
        except (TypeError, ValueError):
            return f"for {case} it returned {got!r}; return a list of indices"
        if got == expected:
            continue
        reversed_cost = pareto_front([-c for c in costs], scores)
        if sorted(got) == sorted(expected):
            return f"the right points, in the wrong order: sort them by cost, cheapest first ({expected})."
        if sorted(got) == sorted(reversed_cost):
            return (
                f"for {case} you treated a higher cost as better; lower cost and higher score win."
            )
        if set(got) < set(expected) and len(got) == 1:
            return (
                f"for {case} you returned one point; the front holds every point that no other beats "
                f"on both cost and score ({expected})."
            )
        if set(got) < set(expected):
            return (
                f"for {case} point(s) {sorted(set(expected) - set(got))} are missing: a point is beaten "
                "only by one at least as cheap AND at least as good, better in one of the two "
                "(two equal points are both kept)."
            )
        return (
            f"for {case} point(s) {sorted(set(got) - set(expected))} are beaten by a point that is "
            "at least as cheap and at least as good."
        )
    return None


def check_class_weights(weights_fn) -> CheckResult:
    """Lesson 10: ``weights_fn(pixels)`` returns median-frequency class weights.

    Compared, on pixel counts the lesson does not use (:data:`PIXEL_COUNTS`), with
    :meth:`dlcourse.masks.MaskReport.class_weights`.
    """
    return judge_function(
        weights_fn,
        _class_weights_mistake,
        "median(freq) / freq over the classes that occur, 0 for absent ones.",
        usage="def my_class_weights(pixels): ...",
    )


def _class_weights_mistake(weights_fn) -> str | None:
    """The first pixel counts whose weights ``weights_fn`` gets wrong, as a hint."""
    from pathlib import Path

    from dlcourse.masks import MaskReport

    for pixels in PIXEL_COUNTS:
        expected = MaskReport(Path("."), len(pixels), 0, pixels=pixels.copy()).class_weights()
        try:
            got = np.asarray(weights_fn(pixels.copy()), dtype=np.float64)
        except Exception as err:  # the learner's code may fail in any way
            return f"for pixels {pixels.tolist()} it raised {type(err).__name__}: {err}"
        if got.shape != expected.shape:
            return f"for pixels {pixels.tolist()} expected {len(pixels)} weights, got shape {got.shape}"
        if np.allclose(got, expected, atol=1e-6):
            continue
        freq = pixels / pixels.sum()
        present = freq > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.allclose(got[present], (1 / freq)[present]):
                return "That is plain inverse frequency; divide the median frequency by each class's frequency."
            if np.allclose(got[present], (freq / np.median(freq[present]))[present]):
                return "Upside down: a rare class must get a weight above 1, median / frequency."
            if np.allclose(got[present], (np.median(freq) / freq)[present]):
                return "Take the median over the classes that occur only; an absent class would pull it down."
            if not np.all(np.isfinite(got)):
                return "A class with no pixels must get weight 0, not infinity or NaN."
        return f"for pixels {pixels.tolist()} expected {np.round(expected, 3).tolist()}, got {np.round(got, 3).tolist()}."
    return None


def check_torchvision_gflops(flops_g: float, answer) -> CheckResult:
    """Lesson 10: torchvision's "GFLOPS" column for a model that ``FlopCounterMode`` counts at ``flops_g`` GFLOPs."""
    doubled = 2 * flops_g
    return judge(
        answer,
        flops_g / 2,
        f"{flops_g / 2:.3f}: half of {flops_g} GFLOPs.",
        "torchvision's column counts multiply-adds; FlopCounterMode counts 2 FLOPs per multiply-add.",
        parse=real_number,
        same=lambda given, right: abs(given - right) < 0.01,
        mistakes={
            flops_g: "That is FlopCounterMode's own count; torchvision's column counts multiply-adds, half as many.",
            doubled: "The other way round: one multiply-add is 2 FLOPs, so the multiply-adds are half the FLOPs.",
        },
        unreadable=f"give a number, not {answer!r}",
    )
