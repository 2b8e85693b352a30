"""Tests of dlcourse.lattice: the permutohedral lattice's steps, by hand and as a whole."""

from __future__ import annotations

import pytest
import torch

from dlcourse.lattice import (
    _elevation_matrix,
    barycentric_weights,
    blur,
    elevate,
    enclosing_simplex,
    find_neighbours,
    permutohedral_filter,
    simplex_corners,
    slice_points,
    splat,
    vertex_table,
)


def exact_filter(features: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    kernel = torch.exp(-0.5 * torch.cdist(features.double(), features.double()) ** 2)
    return (kernel @ values.double()).float()


def test_elevation_matrix_maps_onto_the_plane_and_scales_evenly():
    for d in (1, 2, 5):
        matrix = _elevation_matrix(d, torch.float64, torch.device("cpu"))
        assert matrix.shape == (d + 1, d)
        # every elevated point lies on the plane sum(x) = 0
        torch.testing.assert_close(matrix.sum(dim=0), torch.zeros(d, dtype=torch.float64))
        # columns are orthogonal with equal length: sqrt(2/3) (d + 1) (Adams et al. 2010)
        gram = matrix.T @ matrix
        expected = (2.0 / 3.0) * (d + 1) ** 2 * torch.eye(d, dtype=torch.float64)
        torch.testing.assert_close(gram, expected)


def full_keys(corners: torch.Tensor) -> torch.Tensor:
    """Append the implied last coordinate (the coordinates of a lattice point sum to 0)."""
    return torch.cat([corners, -corners.sum(dim=-1, keepdim=True)], dim=-1)


def test_steps_by_hand_for_one_point_in_one_dimension():
    # d = 1: the elevation matrix is sqrt(2/3) * 2 / sqrt(2) * [1, -1] = 1.1547 * [1, -1]
    elevated = elevate(torch.tensor([[0.6]]))
    torch.testing.assert_close(elevated, torch.tensor([[0.69282, -0.69282]]), rtol=1e-4, atol=1e-5)
    rem0, rank = enclosing_simplex(elevated)
    # 0.69 / 2 rounds to 0 in both coordinates: rem0 = (0, 0); the first coordinate of
    # elevated - rem0 is the larger, so it ranks 0
    assert rem0.tolist() == [[0, 0]] and rank.tolist() == [[0, 1]]
    weights = barycentric_weights(elevated, rem0, rank)
    # corners (0, 0) (remainder 0) and (1, -1) (remainder 1); 0.69282 = w1 * 1
    torch.testing.assert_close(
        weights, torch.tensor([[1 - 0.69282, 0.69282]]), rtol=1e-4, atol=1e-5
    )
    assert full_keys(simplex_corners(rem0, rank)).tolist() == [[[0, 0], [1, -1]]]


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_corners_are_lattice_points_whose_weights_rebuild_the_point(d):
    torch.manual_seed(10 + d)
    features = torch.randn(200, d, dtype=torch.float64) * 3
    elevated = elevate(features)
    torch.testing.assert_close(
        elevated.sum(dim=1), torch.zeros(200, dtype=torch.float64)
    )  # on the plane
    rem0, rank = enclosing_simplex(elevated)
    assert sorted(rank[0].tolist()) == list(range(d + 1))  # a permutation of 0..d
    corners = full_keys(simplex_corners(rem0, rank))  # (P, d+1, d+1)
    # corner r has remainder r: every coordinate is r modulo d + 1
    r = torch.arange(d + 1).view(1, d + 1, 1)
    assert bool(((corners - r) % (d + 1) == 0).all())
    weights = barycentric_weights(elevated, rem0, rank)
    assert bool((weights >= -1e-9).all())
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(200, dtype=torch.float64))
    # barycentric: the weighted corners give the point back
    torch.testing.assert_close((weights.unsqueeze(2) * corners.double()).sum(dim=1), elevated)


def test_vertex_table_and_neighbours_by_hand():
    # two points of d = 1 whose simplices share the corner (1, -1)
    corners = torch.tensor([[[0], [1]], [[3], [1]]])  # keys (first coordinate only)
    keys, offsets = vertex_table(corners)
    assert keys.tolist() == [[0], [1], [3]] and offsets.tolist() == [[0, 1], [2, 1]]
    # d = 1 has two directions, steps (-1,) and (+1,) in the key: "minus" is key - step and
    # "plus" key + step, row 3 (the zero row) where no such key exists
    (minus0, plus0), (minus1, plus1) = find_neighbours(keys, 1)
    assert minus0.tolist() == [1, 3, 3] and plus0.tolist() == [3, 0, 3]  # keys + 1 and keys - 1
    assert minus1.tolist() == [3, 0, 3] and plus1.tolist() == [1, 3, 3]  # keys - 1 and keys + 1


def test_splat_blur_slice_by_hand():
    offsets = torch.tensor([[0, 1], [2, 1]])
    weights = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    values = torch.tensor([[4.0], [2.0]])
    grid = splat(values, offsets, weights, 3)
    assert grid.squeeze(1).tolist() == [
        1.0,
        4.0,
        1.0,
        0.0,
    ]  # vertex 1 gets 3 + 1; the extra row stays 0
    neighbours = [
        (torch.tensor([3, 0, 3]), torch.tensor([1, 3, 3]))
    ]  # a chain 0 - 1, vertex 2 alone
    blurred = blur(grid, neighbours)
    assert blurred.squeeze(1).tolist() == [1.0 + 0.5 * 4.0, 4.0 + 0.5 * 1.0, 1.0, 0.0]
    sliced = slice_points(blurred, offsets, weights)
    torch.testing.assert_close(
        sliced, torch.tensor([[0.25 * 3.0 + 0.75 * 4.5], [0.5 * 1.0 + 0.5 * 4.5]])
    )


@pytest.mark.parametrize("d", [2, 5])
def test_the_steps_in_a_row_match_the_exact_gaussian_after_normalising(d):
    # as for the fast lattice (tests/test_lattice_fast.py): a few percent after dividing
    # by the filtered ones
    torch.manual_seed(30 + d)
    features, values = torch.rand(300, d) * 3, torch.rand(300, 2)
    approx = permutohedral_filter(features, values) / permutohedral_filter(
        features, torch.ones(300, 1)
    )
    exact = exact_filter(features, values) / exact_filter(features, torch.ones(300, 1))
    assert float((approx - exact).abs().max()) < {2: 0.02, 5: 0.05}[d]
