"""Tests of dlcourse.lattice_structure: the packed build finds the step functions' lattice."""

from __future__ import annotations

import pytest
import torch

from dlcourse.lattice import (
    barycentric_weights,
    elevate,
    enclosing_simplex,
    find_neighbours,
    permutohedral_filter,
    simplex_corners,
    vertex_table,
)
from dlcourse.lattice_fast import PermutohedralLattice
from dlcourse.lattice_structure import fast_structure, readable_structure


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


@pytest.mark.parametrize("d", [1, 3, 5])
def test_fast_and_readable_structures_agree(d):
    torch.manual_seed(40 + d)
    rem0, rank = enclosing_simplex(elevate(torch.rand(2, 200, d).reshape(-1, d) * 4))
    image = torch.arange(2).repeat_interleave(200)
    fast, readable = fast_structure(rem0, rank, image), readable_structure(rem0, rank, image)
    assert fast["num_vertices"] == readable["num_vertices"]
    assert torch.equal(fast["offsets"], readable["offsets"])
    assert torch.equal(fast["vertex_crow"], readable["vertex_crow"])
    for pair, other in zip(fast["neighbours"], readable["neighbours"], strict=True):
        assert all(torch.equal(a, b) for a, b in zip(pair, other, strict=True))
    # each vertex lists the same (point, corner) entries, in some order
    for v in range(fast["num_vertices"]):
        start, end = fast["vertex_crow"][v : v + 2].tolist()
        assert sorted(fast["vertex_entries"][start:end].tolist()) == sorted(
            readable["vertex_entries"][start:end].tolist()
        )


def test_packed_keys_that_would_overflow_fall_back_to_none():
    rem0, rank = enclosing_simplex(elevate(torch.rand(50, 5) * 2e4))
    image = torch.zeros(50, dtype=torch.long)
    assert fast_structure(rem0, rank, image) is None
    assert readable_structure(rem0, rank, image)["offsets"].shape == (50, 6)
