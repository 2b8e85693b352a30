"""Tests of dlcourse.crf_kernels: the CRF's features, the exact Gaussian kernel, the filters."""

from __future__ import annotations

import math

import pytest
import torch
from crf_inputs import blocky_image

from dlcourse.crf_kernels import (
    NAIVE_MAX_PIXELS,
    bilateral_features,
    check_theta,
    check_weight,
    gaussian_kernel,
    make_filter,
    spatial_features,
)


def test_features_are_positions_and_colours_over_their_thetas():
    image = torch.tensor([[[0, 10, 20], [30, 40, 50]]], dtype=torch.uint8)  # 1 x 2 pixels
    features = bilateral_features(image, theta_alpha=2.0, theta_beta=10.0)
    expected = torch.tensor([[0.0, 0.0, 0.0, 1.0, 2.0], [0.5, 0.0, 3.0, 4.0, 5.0]])
    torch.testing.assert_close(features, expected)
    torch.testing.assert_close(
        spatial_features(2, 2, 0.5), torch.tensor([[0.0, 0], [2, 0], [0, 2], [2, 2]])
    )


def test_gaussian_kernel_by_hand():
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    kernel = gaussian_kernel(features)
    # exp(-|f_i - f_j|^2 / 2): distances^2 are 1, 4 and 5
    expected = torch.tensor([[1.0, math.exp(-0.5), math.exp(-2.0)],
                             [math.exp(-0.5), 1.0, math.exp(-2.5)],
                             [math.exp(-2.0), math.exp(-2.5), 1.0]])  # fmt: skip
    torch.testing.assert_close(kernel, expected)


def test_naive_and_lattice_filters_are_normalised_alike():
    # D^-1/2 K D^-1/2 of ones is close to ones where the kernel is nearly flat; the two
    # methods differ by the lattice's few percent (see tests/test_lattice_fast.py)
    features = bilateral_features(blocky_image(10, 12, 0), theta_alpha=3.0, theta_beta=40.0)
    values = torch.rand(120, 2, generator=torch.Generator().manual_seed(0))
    naive = make_filter(features, "naive", weight=2.0)(values)
    lattice = make_filter(features, "lattice", weight=2.0)(values)
    assert naive.shape == lattice.shape == (120, 2)
    assert float((naive - lattice).abs().mean()) < 0.05 * float(naive.abs().mean())


def test_kernel_parameters_and_methods_are_checked_by_name():
    assert check_theta(2, "theta_alpha") == 2.0 and check_weight(0, "w1") == 0.0
    with pytest.raises(ValueError, match="theta_beta=0: must be a positive number"):
        check_theta(0, "theta_beta")
    with pytest.raises(ValueError, match="w2=-1: must be a number >= 0"):
        check_weight(-1, "w2")
    with pytest.raises(ValueError, match="method='exact'"):
        make_filter(torch.zeros(3, 2), "exact")
    with pytest.raises(ValueError, match="method='lattice'"):
        make_filter(torch.zeros(NAIVE_MAX_PIXELS + 1, 2), "naive")
