"""Checkers of lesson 09 (CRF): the bilateral kernel, one mean-field update (two exercises)
and the corners a pixel splats onto in the permutohedral lattice.

Used in: 09.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks.core import CheckResult, feedback, judge, judge_function, real_number

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.


def check_bilateral_weight(
    pixel_i, pixel_j, theta_alpha: float, theta_beta: float, answer: float
) -> CheckResult:
    """Lesson 09: the appearance kernel between two pixels ``(x, y, r, g, b)`` (without w1)."""
    import torch

    from dlcourse.crf_kernels import gaussian_kernel

    i, j = np.asarray(pixel_i, dtype=np.float64), np.asarray(pixel_j, dtype=np.float64)
    scale = np.array([theta_alpha] * 2 + [theta_beta] * 3, dtype=np.float64)
    features = torch.from_numpy(np.stack([i / scale, j / scale]))
    expected = float(gaussian_kernel(features)[0, 1])
    return judge(
        answer,
        expected,
        f"k = {expected:.4g}.",
        "k = exp(-|p_i - p_j|^2 / (2 theta_alpha^2) - |I_i - I_j|^2 / (2 theta_beta^2)), with "
        "p = (x, y) and I = (r, g, b); square the distances before dividing.",
        parse=real_number,
        same=lambda given, right: abs(given - right) <= 1e-4 + 1e-3 * right,
    )


def check_mean_field_step(step_fn) -> CheckResult:
    """Lesson 09: a function ``step_fn(unary, kernel, w) -> Q`` doing one Potts mean-field update.

    ``unary`` is ``(N, C)``, ``kernel`` the ``(N, N)`` Gaussian kernel, ``w`` the weight;
    the kernel is normalised symmetrically and ``Q`` starts as ``softmax(-unary)``. The
    expected update is :func:`dlcourse.crf.mean_field` with a
    :class:`dlcourse.crf_kernels.NaiveFilter`.
    """
    return judge_function(
        step_fn,
        _mean_field_step_mistake,
        "one update: filter Q, weight it, add it to -U, normalise with a softmax.",
    )


def _mean_field_step_mistake(step_fn) -> str | None:
    """What is wrong with ``step_fn``'s update on a fresh 12-pixel problem, as a hint."""
    import torch

    from dlcourse.crf import mean_field
    from dlcourse.crf_kernels import NaiveFilter, gaussian_kernel

    generator = torch.Generator().manual_seed(9)
    features = torch.rand(12, 2, generator=generator) * 3
    unary = torch.rand(12, 4, generator=generator) * 3
    kernel = gaussian_kernel(features)
    expected = torch.softmax(mean_field(unary, [NaiveFilter(features)], [2.5], None, 1), dim=1)
    try:
        got = torch.as_tensor(step_fn(unary.clone(), kernel.clone(), 2.5), dtype=torch.float32)
    except Exception as err:  # the learner's code: report any failure as a hint
        return f"your function raised {type(err).__name__}: {err}"
    if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4):
        return None
    return ("Q = softmax(-U); D = kernel.sum(1); m = D^-1/2 * (kernel @ (D^-1/2 * Q)); "
            "return softmax(-U + w * m) (Potts: the label's own message counts positively).")  # fmt: skip


def check_splat_corners(dim: int, answer: int) -> CheckResult:
    """Lesson 09: how many lattice vertices one pixel splats onto, for ``dim``-D features."""
    expected = dim + 1
    return judge(
        answer,
        expected,
        f"{expected} vertices: the corners of the simplex that holds the point, so splatting "
        f"costs {expected} x C multiply-adds per pixel, not N x C.",
        "The permutohedral lattice tiles space with simplices; a simplex in d dimensions has "
        "d + 1 corners.",
    )


# --- the mean-field update as Krähenbühl and Koltun write it -------------------------


def _mean_field_problems():
    """Fresh problems for :func:`check_mean_field_update`: sizes and values the lesson never shows."""
    import torch

    from dlcourse.crf_kernels import gaussian_kernel

    generator = torch.Generator().manual_seed(2011)
    for pixels, classes in ((7, 3), (15, 4), (11, 6)):
        features = torch.rand(pixels, 3, generator=generator, dtype=torch.float64) * 2
        kernel = gaussian_kernel(features)
        unary = torch.rand(pixels, classes, generator=generator, dtype=torch.float64) * 3
        q = torch.softmax(
            torch.randn(pixels, classes, generator=generator, dtype=torch.float64), dim=1
        )
        yield unary, q, kernel, float(torch.rand(1, generator=generator)) * 3 + 0.5


def check_mean_field_update(update_fn) -> CheckResult:
    """Lesson 09: ``update_fn(unary, q, kernel, w) -> Q``, one Potts mean-field update.

    Krähenbühl and Koltun (2011, eq. 4 with the Potts model):
    ``Q_i(l) ∝ exp(-U_i(l) - w sum_{j != i} k_ij sum_{l' != l} Q_j(l'))``. Including ``j = i``
    (as pydensecrf's filters do) is accepted too, and so is the equivalent
    ``softmax(-U + w sum_{j != i} k_ij Q_j)``. Checked on problems the lesson never shows.
    """
    return judge_function(
        update_fn,
        _mean_field_update_mistake,
        "the paper's update: messages from every other pixel, weighted by the kernel.",
    )


def _mean_field_update_mistake(update_fn) -> str | CheckResult | None:
    """``None`` for the paper's update, a right answer with a note for j = i included, else a hint."""
    import torch

    forms = {"j != i": None, "j = i included": None}
    for unary, q, kernel, w in _mean_field_problems():
        others = kernel - torch.diag(torch.diag(kernel))
        paper = torch.softmax(-unary - w * others @ (1 - q), dim=1)
        with_self = torch.softmax(-unary - w * kernel @ (1 - q), dim=1)
        try:
            got = torch.as_tensor(
                update_fn(unary.clone(), q.clone(), kernel.clone(), w), dtype=torch.float64
            )
        except Exception as err:  # the learner's code: report any failure as a hint
            return f"your function raised {type(err).__name__}: {err}"
        if got.shape != paper.shape:
            return (
                f"return Q of shape {tuple(paper.shape)} (pixels, classes), got {tuple(got.shape)}"
            )
        for name, expected in (("j != i", paper), ("j = i included", with_self)):
            ok = torch.allclose(got, expected, atol=1e-6)
            forms[name] = ok if forms[name] is None else forms[name] and ok
    if forms["j != i"]:
        return None
    if forms["j = i included"]:
        return feedback(True, "with the pixel's own message too (j = i), as pydensecrf computes it; the paper "
                        "leaves it out (subtract the diagonal of the kernel).", "")  # fmt: skip
    unary, q, kernel, w = next(_mean_field_problems())
    got = torch.as_tensor(
        update_fn(unary.clone(), q.clone(), kernel.clone(), w), dtype=torch.float64
    )
    others = kernel - torch.diag(torch.diag(kernel))
    if torch.allclose(got, torch.softmax(-unary + w * others @ (1 - q), dim=1), atol=1e-6):
        return "The sign is upside down: disagreeing neighbours must raise the energy, so subtract w * k (1 - Q)."
    if torch.allclose(got, torch.exp(-unary - w * others @ (1 - q)), atol=1e-6):
        return "Almost: normalise over the labels (a softmax), so that each pixel's Q sums to 1."
    if torch.allclose(got, torch.softmax(-unary, dim=1), atol=1e-6):
        return (
            "That is softmax(-U), the unaries alone: add the messages w * sum_j k_ij (1 - Q_j(l))."
        )
    return ("Q_i(l) = softmax over l of -U_i(l) - w * sum_{j != i} k_ij * (1 - Q_j(l)): a label pays for every "
            "neighbour that does not share it.")  # fmt: skip
