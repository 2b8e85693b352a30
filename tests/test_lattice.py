"""Tests of dlcourse.lattice: the permutohedral lattice against the exact Gaussian filter."""

from __future__ import annotations

import math

import pytest
import torch

from dlcourse.lattice import (
    PermutohedralLattice,
    _elevation_matrix,
    barycentric_weights,
    blur,
    elevate,
    enclosing_simplex,
    find_neighbours,
    lattice_gain,
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


@pytest.mark.parametrize("d, batch", [(1, 1), (2, 1), (3, 2), (5, 1), (5, 3)])
def test_fast_lattice_equals_the_step_functions(d, batch):
    # The fast build groups points by simplex and packs keys into integers, but must find the
    # same lattice: same vertex numbering (both sort keys row by row), same offsets, weights
    # and neighbours, and the same filter up to float rounding (a different summation order:
    # rtol 1e-5).
    torch.manual_seed(20 + d)
    features = torch.rand(batch, 300, d) * 4
    lattice = PermutohedralLattice(features)
    assert lattice._packable
    flat = features.reshape(-1, d)
    elevated = elevate(flat)
    rem0, rank = enclosing_simplex(elevated)
    image = torch.arange(batch).repeat_interleave(300)
    keys, offsets = vertex_table(simplex_corners(rem0, rank), image)
    assert lattice.num_vertices == keys.shape[0]
    assert torch.equal(lattice.offsets, offsets)
    torch.testing.assert_close(lattice.weights, barycentric_weights(elevated, rem0, rank))
    for (minus, plus), (minus_fast, plus_fast) in zip(
        find_neighbours(keys, d), lattice.neighbours, strict=True
    ):
        assert torch.equal(minus, minus_fast) and torch.equal(plus, plus_fast)
    values = torch.rand(batch, 300, 4)
    fast = lattice.filter(values)
    for b in range(batch):
        torch.testing.assert_close(
            fast[b], permutohedral_filter(features[b], values[b]), rtol=1e-5, atol=1e-6
        )


def test_splat_and_slice_are_named_and_transposes_of_each_other():
    torch.manual_seed(8)
    lattice = PermutohedralLattice(torch.rand(150, 3) * 3)
    u, g = torch.rand(150, 2), torch.rand(lattice.num_vertices + 1, 2)
    gain = lattice_gain(3)
    torch.testing.assert_close(
        lattice.splat(u), splat(u, lattice.offsets, lattice.weights, lattice.num_vertices)
    )
    torch.testing.assert_close(
        lattice.slice(g), gain * slice_points(g, lattice.offsets, lattice.weights)
    )
    # <to_grid(u, "slice"), g> = <u, slice(g)>: the slice's transpose, chosen by name
    torch.testing.assert_close(
        (lattice.to_grid(u, "slice") * g).sum(), (u * lattice.slice(g)).sum()
    )
    torch.testing.assert_close(
        (lattice.to_points(g, "splat") * u).sum(), (g * lattice.splat(u)).sum()
    )
    with pytest.raises(ValueError, match="step='blur'"):
        lattice.to_grid(u, "blur")


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_barycentric_weights_are_a_partition_of_unity(d):
    torch.manual_seed(d)
    lattice = PermutohedralLattice(torch.rand(300, d) * 4)
    assert lattice.weights.shape == (300, d + 1)
    assert bool((lattice.weights >= -1e-6).all())
    torch.testing.assert_close(lattice.weights.sum(dim=1), torch.ones(300))
    assert lattice.offsets.shape == (300, d + 1)
    assert 0 < lattice.num_vertices <= 300 * (d + 1)
    # the d + 1 corners of a point's simplex are distinct lattice points
    assert all(len(set(row.tolist())) == d + 1 for row in lattice.offsets)


def test_a_point_alone_keeps_its_value_up_to_the_lattice_gain():
    # one point: splat, blur and slice only ever see that point, so the output is
    # alpha * sum_r w_r * (blurred grid at corner r), a fixed gain times the value
    lattice = PermutohedralLattice(torch.tensor([[0.3, -1.2]]))
    out = lattice.filter(torch.tensor([[2.0, -4.0]]))
    gain = out[0, 0] / 2.0
    torch.testing.assert_close(out, torch.tensor([[2.0, -4.0]]) * gain)
    assert 0.3 < float(gain) <= 1.0


@pytest.mark.parametrize("d, rel", [(2, 0.02), (5, 0.05)])
def test_normalised_filter_matches_the_exact_gaussian(d, rel):
    # The lattice approximates exp(-|f_i - f_j|^2 / 2) by linear interpolation on a
    # simplex grid and a [1/2, 1, 1/2] blur, so its kernel differs from the Gaussian by
    # a smooth, nearly constant factor; after dividing by the filtered ones (as a dense
    # CRF does) the two agree to a few percent (measured: 0.5% for d=2, 2.6% for d=5).
    torch.manual_seed(0)
    features = torch.rand(400, d) * 3
    values = torch.rand(400, 3)
    lattice = PermutohedralLattice(features)
    approx = lattice.filter(values) / lattice.filter(torch.ones(400, 1))
    exact = exact_filter(features, values) / exact_filter(features, torch.ones(400, 1))
    assert float((approx - exact).abs().max()) < rel


def test_filter_is_linear_and_reverse_order_is_its_transpose():
    torch.manual_seed(1)
    lattice = PermutohedralLattice(torch.rand(200, 3) * 5)
    u, v = torch.rand(200, 2), torch.rand(200, 2)
    torch.testing.assert_close(lattice.filter(2 * u + v), 2 * lattice.filter(u) + lattice.filter(v))
    # splat and slice share their weights and each 1-D blur is symmetric, so blurring the
    # directions in reverse order gives the transpose: <u, L v> = <L^T u, v>
    forward = (u * lattice.filter(v)).sum()
    torch.testing.assert_close(forward, (lattice.filter(u, reverse=True) * v).sum())
    # the directions do not commute exactly where lattice points are missing
    assert float((forward - (lattice.filter(u) * v).sum()).abs()) < 0.01 * float(forward)


def test_batched_lattice_equals_one_lattice_per_image():
    torch.manual_seed(2)
    features = torch.rand(3, 150, 4) * 4
    values = torch.rand(3, 150, 5)
    batched = PermutohedralLattice(features).filter(values)
    assert batched.shape == (3, 150, 5)
    for b in range(3):
        single = PermutohedralLattice(features[b]).filter(values[b])
        torch.testing.assert_close(batched[b], single)


def test_sparse_and_gather_paths_agree():
    torch.manual_seed(3)
    lattice = PermutohedralLattice(torch.rand(250, 5) * 6)
    values = torch.rand(250, 4)
    sparse = lattice.filter(values)
    lattice._sparse = False
    torch.testing.assert_close(lattice.filter(values), sparse, rtol=1e-5, atol=1e-6)
    lattice.rescale(torch.full((250, 1), 2.0), torch.full((250, 1), 0.5))
    torch.testing.assert_close(lattice.filter(values), sparse, rtol=1e-5, atol=1e-6)


def test_wide_feature_ranges_use_the_row_hash():
    # features so spread out that packed int64 keys would overflow: rows are hashed instead
    torch.manual_seed(4)
    features = torch.rand(120, 5) * 2e4
    lattice = PermutohedralLattice(features)
    assert not lattice._packable
    values = torch.rand(120, 2)
    # points this far apart do not interact: each keeps its value times the lone-point gain
    out = lattice.filter(values)
    gain = out / values
    assert float(gain.std()) < 0.2 * float(gain.mean())


def test_gradient_is_the_transposed_filter():
    torch.manual_seed(5)
    lattice = PermutohedralLattice(torch.rand(100, 2) * 3)
    values = torch.rand(100, 3, requires_grad=True)
    weights = torch.rand(100, 3)
    (lattice.filter(values) * weights).sum().backward()
    torch.testing.assert_close(
        values.grad, lattice.filter(weights, reverse=True), rtol=1e-5, atol=1e-5
    )


def test_lattice_size_grows_as_the_features_spread():
    torch.manual_seed(6)
    points = torch.rand(500, 2)
    sizes = [PermutohedralLattice(points * scale).num_vertices for scale in (1, 4, 16)]
    assert sizes[0] < sizes[1] < sizes[2]
    # a d-dim point touches d + 1 vertices, so 500 points never need more than 1500
    assert sizes[2] <= 1500 and math.isfinite(sizes[2])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="features"):
        PermutohedralLattice(torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="features"):
        PermutohedralLattice(torch.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        PermutohedralLattice(torch.tensor([[0.0, float("nan")]]))
    lattice = PermutohedralLattice(torch.rand(10, 2))
    with pytest.raises(ValueError, match="values"):
        lattice.filter(torch.rand(9, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    torch.manual_seed(7)
    features, values = torch.rand(300, 5) * 4, torch.rand(300, 3)
    cpu = PermutohedralLattice(features).filter(values)
    gpu = PermutohedralLattice(features.cuda()).filter(values.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
