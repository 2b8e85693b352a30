"""The permutohedral lattice, step by step: fast Gaussian filtering in a feature space.

A dense CRF needs, for every pixel ``i``, the sum ``sum_j exp(-|f_i - f_j|^2 / 2) v_j``
over all pixels ``j``, where ``f`` are per-pixel features (position, or position and
colour). Done directly that is ``N^2`` work. Adams, Baek and Davis (Eurographics 2010,
https://graphics.stanford.edu/papers/permutohedral/) embed the features in the
permutohedral lattice and replace the sum by three cheap steps:

1. **splat**: each point spreads its value onto the ``d + 1`` corners of the lattice
   simplex that contains it, with barycentric weights;
2. **blur**: each lattice point is mixed with its two neighbours, ``[1/2, 1, 1/2]``,
   along each of the ``d + 1`` lattice directions in turn;
3. **slice**: each point reads the blurred values back from its corners, with the
   same weights.

This module is those steps as small pure functions, in the order a filter runs them
(:func:`elevate`, :func:`enclosing_simplex`, :func:`barycentric_weights`,
:func:`simplex_corners`, :func:`vertex_table`, :func:`find_neighbours`, :func:`splat`,
:func:`blur`, :func:`slice_points`); :func:`permutohedral_filter` chains them.
:class:`dlcourse.lattice_fast.PermutohedralLattice` builds the same lattice faster and
reuses it for every filtering.

Used in: 09.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def elevation_matrix(d: int, dtype=torch.float32, device=None) -> Tensor:
    """The ``(d + 1, d)`` matrix that maps features onto the plane ``sum(x) = 0`` in R^(d+1).

    Its rows include the scale that makes the lattice blur match a unit-variance
    Gaussian in feature space (Adams et al. 2010, p. 5-6).
    """
    inv_std = math.sqrt(2.0 / 3.0) * (d + 1)
    scale = torch.tensor(
        [inv_std / math.sqrt((i + 1) * (i + 2)) for i in range(d)], dtype=torch.float64
    )
    matrix = torch.zeros(d + 1, d, dtype=torch.float64)
    matrix[0] = scale
    for j in range(1, d + 1):
        matrix[j, j:] = scale[j:]
        matrix[j, j - 1] = -j * scale[j - 1]
    return matrix.to(dtype=dtype, device=device)


_elevation_matrix = elevation_matrix  # the name the first edition of the tests used


def elevate(features: Tensor) -> Tensor:
    """Lift ``(P, d)`` features onto the lattice's plane: ``(P, d) -> (P, d + 1)``."""
    d = features.shape[1]
    return features @ elevation_matrix(d, features.dtype, features.device).T


def enclosing_simplex(elevated: Tensor) -> tuple[Tensor, Tensor]:
    """The simplex that holds each point: ``(P, d + 1) -> rem0 (P, d + 1), rank (P, d + 1)``.

    ``rem0`` is the simplex's corner of remainder 0 (integer coordinates, multiples of
    ``d + 1``, summing to 0); ``rank[p, i]`` orders the coordinates of ``elevated - rem0``,
    0 for the largest (ties: the earlier coordinate first). Both are ``int64``.
    """
    d1 = elevated.shape[1]
    scaled = elevated / d1
    up, down = torch.ceil(scaled) * d1, torch.floor(scaled) * d1
    rem0 = torch.where(up - elevated < elevated - down, up, down)
    total = torch.div(rem0.sum(dim=1), d1, rounding_mode="floor").long()
    diff = (elevated - rem0).T.contiguous()  # (d+1, P): one row per coordinate
    ranks = [torch.zeros(diff.shape[1], dtype=torch.long, device=diff.device) for _ in range(d1)]
    for i in range(d1):
        for j in range(i + 1, d1):
            j_first = diff[i] < diff[j]
            ranks[i] += j_first
            ranks[j] += ~j_first
    rank = torch.stack(ranks, dim=1) + total.unsqueeze(1)
    # points whose rounding left the plane sum(x) = 0 are moved back onto it
    wrap = (rank < 0).long() - (rank > d1 - 1).long()
    return rem0.long() + d1 * wrap, rank + d1 * wrap


def barycentric_weights(elevated: Tensor, rem0: Tensor, rank: Tensor) -> Tensor:
    """Each point's weights on its simplex's ``d + 1`` corners: ``-> (P, d + 1)``, rows sum to 1.

    Column ``r`` is the weight of the corner of remainder ``r`` (:func:`simplex_corners`).
    """
    points, d1 = elevated.shape
    delta = (elevated - rem0.to(elevated.dtype)) / d1
    bary = torch.zeros(points, d1 + 1, dtype=elevated.dtype, device=elevated.device)
    bary.scatter_add_(1, d1 - 1 - rank, delta)
    bary.scatter_add_(1, d1 - rank, -delta)
    bary[:, 0] += 1.0 + bary[:, d1]
    return bary[:, :d1].contiguous()


def simplex_corners(rem0: Tensor, rank: Tensor) -> Tensor:
    """Integer keys of each simplex's corners: ``(P, d + 1) -> (P, d + 1, d)``.

    Corner ``r`` is ``rem0 + r`` in every coordinate, minus ``d + 1`` in the coordinates
    whose rank exceeds ``d - r``. The last coordinate is left out: it follows from the
    others, since every lattice point's coordinates sum to 0.
    """
    d1 = rem0.shape[1]
    r = torch.arange(d1, device=rem0.device).view(1, d1, 1)
    dropped = rank[:, None, : d1 - 1] > (d1 - 1) - r  # (P, d+1, d)
    return rem0[:, None, : d1 - 1] + r - d1 * dropped.long()


def vertex_table(corners: Tensor, image: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Number the distinct lattice points: ``(P, d + 1, d) -> keys (M, d), offsets (P, d + 1)``.

    ``offsets[p, r]`` is the row of ``keys`` that holds corner ``r`` of point ``p``. With
    ``image`` (``(P,)``, which image each point belongs to) the keys get a leading column
    holding the image, ``(M, d + 1)``, so that images never share a lattice point. Keys
    come out sorted, row by row.
    """
    points, d1, d = corners.shape
    rows = corners.reshape(-1, d)
    if image is not None:
        rows = torch.cat([image.repeat_interleave(d1).unsqueeze(1), rows], dim=1)
    keys, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return keys, inverse.view(points, d1)


def lattice_steps(d: int, device=None) -> list[Tensor]:
    """The ``d + 1`` lattice directions as ``(d,)`` integer steps of the keys.

    Direction ``j`` adds ``d + 1`` to coordinate ``j`` and subtracts 1 from all others
    (written for the last coordinate's sake as ``+1`` everywhere, ``-d`` at ``j``); the
    direction of the implied last coordinate is ``+1`` everywhere.
    """
    steps = []
    for j in range(d + 1):
        step = torch.ones(d, dtype=torch.long, device=device)
        if j < d:
            step[j] = -d
        steps.append(step)
    return steps


def _find_rows(keys: Tensor, wanted: Tensor) -> Tensor:
    """Row of ``keys`` equal to each row of ``wanted``, or ``len(keys)`` where none is."""
    m = keys.shape[0]
    _, inverse = torch.unique(torch.cat([keys, wanted]), dim=0, return_inverse=True)
    owner = torch.full((int(inverse.max()) + 1,), m, dtype=torch.long, device=keys.device)
    owner[inverse[:m]] = torch.arange(m, device=keys.device)
    return owner[inverse[m:]]


def find_neighbours(keys: Tensor, d: int) -> list[tuple[Tensor, Tensor]]:
    """Each lattice point's two neighbours along each direction: ``keys (M, d[+1]) -> d + 1 pairs``.

    Pair ``j`` holds ``(minus, plus)``, two ``(M,)`` row indices of ``keys - step_j`` and
    ``keys + step_j``; ``M`` (the extra zero row of a grid) where that point is absent.
    The step moves only the last ``d`` columns (a leading image column stays).
    """
    neighbours = []
    for step in lattice_steps(d, keys.device):
        shift = torch.cat([step.new_zeros(keys.shape[1] - d), step])
        neighbours.append((_find_rows(keys, keys - shift), _find_rows(keys, keys + shift)))
    return neighbours


def splat(values: Tensor, offsets: Tensor, weights: Tensor, num_vertices: int) -> Tensor:
    """Spread point values onto the lattice: ``(P, C) -> (M + 1, C)`` (the last row stays 0).

    ``grid[offsets[p, r]] += weights[p, r] * values[p]``.
    """
    channels = values.shape[1]
    weighted = (values.unsqueeze(1) * weights.unsqueeze(2)).reshape(-1, channels)
    grid = values.new_zeros(num_vertices + 1, channels)
    return grid.index_add(0, offsets.reshape(-1), weighted)


def blur(grid: Tensor, neighbours: list[tuple[Tensor, Tensor]], reverse: bool = False) -> Tensor:
    """Mix every lattice point with its neighbours, ``[1/2, 1, 1/2]``, one direction after another.

    ``(M + 1, C) -> (M + 1, C)``. Each direction is symmetric (``n`` is ``m``'s lower
    neighbour exactly when ``m`` is ``n``'s upper one), so the reverse order is the transpose.
    """
    m = grid.shape[0] - 1
    for minus, plus in reversed(neighbours) if reverse else neighbours:
        mixed = grid[:m] + 0.5 * (grid[minus] + grid[plus])
        grid = torch.cat([mixed, grid[m:]], dim=0)
    return grid


def slice_points(grid: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
    """Read the lattice back at every point: ``(M + 1, C) -> (P, C)``, ``sum_r weights[p, r] grid[offsets[p, r]]``."""
    return (grid[offsets] * weights.unsqueeze(2)).sum(dim=1)


def lattice_gain(d: int) -> float:
    """The factor ``1 / (1 + 2^-d)`` that brings splat, blur and slice close to a unit Gaussian."""
    return 1.0 / (1.0 + 2.0 ** (-d))


def permutohedral_filter(features: Tensor, values: Tensor) -> Tensor:
    """All the steps in a row: ``out_i ~ sum_j exp(-|f_i - f_j|^2 / 2) v_j``, ``(P, d), (P, C) -> (P, C)``."""
    elevated = elevate(features)
    rem0, rank = enclosing_simplex(elevated)
    weights = barycentric_weights(elevated, rem0, rank)
    keys, offsets = vertex_table(simplex_corners(rem0, rank))
    grid = splat(values, offsets, weights, keys.shape[0])
    grid = blur(grid, find_neighbours(keys, features.shape[1]))
    return lattice_gain(features.shape[1]) * slice_points(grid, offsets, weights)
