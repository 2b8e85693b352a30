"""The two Gaussian kernels of the dense CRF: features, the exact kernel, normalised filters.

A fully connected CRF (Krähenbühl and Koltun, NeurIPS 2011, https://arxiv.org/abs/1210.5644)
compares every pair of pixels through Gaussian kernels ``exp(-|f_i - f_j|^2 / 2)`` of their
features ``f``: :func:`spatial_features` (position over ``theta_gamma``: the smoothness
kernel) and :func:`bilateral_features` (position over ``theta_alpha`` and colour over
``theta_beta``: the appearance kernel). :func:`gaussian_kernel` is the exact ``N x N``
kernel; :func:`make_filter` builds a filter with it (``method="naive"``,
:class:`NaiveFilter`) or with :class:`dlcourse.lattice_fast.PermutohedralLattice`
(``method="lattice"``, :class:`LatticeFilter`). Like the reference C++ code (and its Python
binding ``pydensecrf``), each kernel is normalised symmetrically, ``m = D^-1/2 K D^-1/2 Q``
with ``D = K 1``, and includes the pixel itself. :func:`check_theta` and :func:`check_weight`
check the kernels' widths and weights.

Used in: 09.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlcourse.lattice_fast import PermutohedralLattice

METHODS = ("naive", "lattice")
NAIVE_MAX_PIXELS = 12_000
"""Largest image (in pixels) that ``method="naive"`` accepts: its kernel has N^2 entries."""


def check_theta(value: float, name: str) -> float:
    """A kernel width ``theta_*`` as a float if it is a number > 0; else raise naming ``name``."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name}={value!r}: must be a positive number (a standard deviation in pixels "
                         "or colour levels)")  # fmt: skip
    return float(value)


def check_weight(value: float, name: str) -> float:
    """A kernel weight ``w1`` or ``w2`` as a float if it is a number >= 0; else raise."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name}={value!r}: must be a number >= 0 (0 switches the kernel off)")
    return float(value)


def spatial_features(
    height: int, width: int, theta: float, device=None, dtype=torch.float32
) -> Tensor:
    """Features ``(x / theta, y / theta)`` of every pixel, row by row -> ``(H * W, 2)``."""
    theta = check_theta(theta, "theta")
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                            torch.arange(width, device=device, dtype=dtype), indexing="ij")  # fmt: skip
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1) / theta


def bilateral_features(
    image: Tensor, theta_alpha: float, theta_beta: float, dtype=torch.float32
) -> Tensor:
    """Features ``(x / theta_alpha, y / theta_alpha, r / theta_beta, g / .., b / ..)`` -> ``(H * W, 5)``.

    ``image`` is ``(H, W, 3)`` with colour values on the 0..255 scale.
    """
    height, width = image.shape[:2]
    xy = spatial_features(height, width, theta_alpha, device=image.device, dtype=dtype)
    rgb = image.reshape(-1, 3).to(dtype) / check_theta(theta_beta, "theta_beta")
    return torch.cat([xy, rgb], dim=1)


def gaussian_kernel(features: Tensor) -> Tensor:
    """The exact kernel ``K_ij = exp(-|f_i - f_j|^2 / 2)`` of ``(N, d)`` features -> ``(N, N)``."""
    sq = (features.unsqueeze(1) - features.unsqueeze(0)).pow(2).sum(dim=-1)
    return torch.exp(-0.5 * sq)


class NaiveFilter:
    """Symmetrically normalised exact Gaussian filter ``weight * D^-1/2 K D^-1/2`` (``N^2`` memory)."""

    def __init__(self, features: Tensor, weight: float = 1.0) -> None:
        if features.shape[0] > NAIVE_MAX_PIXELS:
            raise ValueError(f"method='naive': {features.shape[0]} pixels is more than "
                             f"{NAIVE_MAX_PIXELS}; use method='lattice' or a smaller image")  # fmt: skip
        self.kernel = gaussian_kernel(features)
        self.norm = self.kernel.sum(dim=1, keepdim=True).rsqrt()
        self.weight = weight

    def __call__(self, values: Tensor) -> Tensor:
        """Filter ``(N, C)`` values."""
        norm = self.norm.to(values.dtype)
        out = norm * (self.kernel.to(values.dtype) @ (norm * values))
        return out if self.weight == 1.0 else self.weight * out


class LatticeFilter:
    """The same filter as :class:`NaiveFilter`, computed with the permutohedral lattice."""

    def __init__(self, features: Tensor, weight: float = 1.0) -> None:
        self.lattice = PermutohedralLattice(features)
        norm = (self.lattice.filter_ones() + 1e-20).rsqrt()
        self.lattice.rescale(before=norm, after=weight * norm)

    def __call__(self, values: Tensor) -> Tensor:
        """Filter ``(N, C)`` values."""
        return self.lattice.filter(values)


def make_filter(
    features: Tensor, method: str = "lattice", weight: float = 1.0
) -> NaiveFilter | LatticeFilter:
    """A normalised Gaussian filter over ``features`` computed by ``method`` ('naive' or 'lattice').

    ``weight`` multiplies the output (a kernel weight folded into the filter).
    """
    if method == "naive":
        return NaiveFilter(features, weight)
    if method == "lattice":
        return LatticeFilter(features, weight)
    raise ValueError(f"method={method!r}: use one of {METHODS}")
