"""Tests of dlcourse.lattice_fast: the reusable lattice filter against the exact Gaussian filter."""

from __future__ import annotations

import math

import pytest
import torch

from dlcourse.lattice import lattice_gain, slice_points, splat
from dlcourse.lattice_fast import PermutohedralLattice, single_threaded


def exact_filter(features: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    kernel = torch.exp(-0.5 * torch.cdist(features.double(), features.double()) ** 2)
    return (kernel @ values.double()).float()


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


def test_single_threaded_restores_the_thread_count_also_after_an_error():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with single_threaded(torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="oops"), single_threaded(torch.device("cpu")):
            raise RuntimeError("oops")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    torch.manual_seed(7)
    features, values = torch.rand(300, 5) * 4, torch.rand(300, 3)
    cpu = PermutohedralLattice(features).filter(values)
    gpu = PermutohedralLattice(features.cuda()).filter(values.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
