"""The permutohedral lattice: fast Gaussian filtering in a high-dimensional feature space.

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

The first half of this module is those steps as small pure functions, in the order a
filter runs them (:func:`elevate`, :func:`enclosing_simplex`, :func:`barycentric_weights`,
:func:`simplex_corners`, :func:`vertex_table`, :func:`find_neighbours`, :func:`splat`,
:func:`blur`, :func:`slice_points`); :func:`permutohedral_filter` chains them. The second
half, :class:`PermutohedralLattice`, builds the same lattice faster (points that share a
simplex are handled once, integer keys are found with a sort, and splat and slice become
weighted sums of gathered rows, ``embedding_bag``) and reuses it for every class and every mean-field iteration. It handles
a batch of images at once, runs on any device, and is differentiable in the values.

Used in: 09.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import Tensor

_INT64_LIMIT = 2**62

# --- the steps, one by one ----------------------------------------------------------------


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


# --- the fast backend -----------------------------------------------------------------------


def _pack(columns: list[Tensor], low: list[int], span: list[int]) -> Tensor:
    """Integer columns (``k`` tensors of one shape) -> one ``int64`` each; order-preserving."""
    key = columns[0] - low[0]
    for column, lowest, size in zip(columns[1:], low[1:], span[1:], strict=True):
        key = key * size + (column - lowest)
    return key


def _fast_structure(rem0: Tensor, rank: Tensor, image: Tensor) -> dict | None:
    """Vertex table, offsets and neighbours through packed integer keys (``None`` if they overflow).

    Points that share a simplex share its corners, so the corners are worked out once per
    distinct simplex (often 3-4 times fewer than points on a photo).
    """
    d1 = rem0.shape[1]
    d = d1 - 1
    lowest, highest = (t.tolist() for t in torch.aminmax(rem0[:, :d], dim=0))
    images = int(image[-1]) + 1  # image is sorted: 0, 0, ..., B - 1
    # 1. one int64 per point naming its simplex: (image, rem0 / (d + 1), rank)
    low = [0] + [v // d1 for v in lowest] + [0] * d
    span = [images] + [(h - v) // d1 + 1 for v, h in zip(lowest, highest, strict=True)] + [d1] * d
    # 2. corner keys lie in [rem0 - d - 1, rem0 + d]; neighbours move d further
    corner_low = [0] + [v - 2 * d - 1 for v in lowest]
    corner_span = [images] + [h - v + 4 * d + 2 for v, h in zip(lowest, highest, strict=True)]
    if (
        math.prod(float(s) for s in span) >= _INT64_LIMIT
        or math.prod(float(s) for s in corner_span) >= _INT64_LIMIT
    ):
        return None
    coarse = torch.div(rem0[:, :d], d1, rounding_mode="floor")
    columns = [image] + list(coarse.unbind(1)) + list(rank[:, :d].unbind(1))
    simplex_key, point_order = torch.sort(_pack(columns, low, span))
    first = torch.ones_like(simplex_key, dtype=torch.bool)
    first[1:] = simplex_key[1:] != simplex_key[:-1]
    point_simplex = torch.empty_like(point_order)
    point_simplex[point_order] = first.long().cumsum(0) - 1
    starts = first.nonzero().squeeze(1)  # where each simplex's points begin in point_order
    counts = torch.diff(starts, append=starts.new_tensor([len(point_order)]))
    # 3. the corners of each distinct simplex, packed, sorted: the vertex table
    one = point_order.index_select(0, starts)  # one point of each simplex
    corners = simplex_corners(rem0.index_select(0, one), rank.index_select(0, one))  # (S, d+1, d)
    columns = [image.index_select(0, one)[:, None].expand(-1, d1)] + list(corners.unbind(2))
    table, entry_order = torch.sort(_pack(columns, corner_low, corner_span).reshape(-1))
    new = torch.ones_like(table, dtype=torch.bool)
    new[1:] = table[1:] != table[:-1]
    vertex_of_entry = new.long().cumsum(0) - 1  # entries (simplex, corner) in table order
    simplex_offsets = torch.empty_like(vertex_of_entry)
    simplex_offsets[entry_order] = vertex_of_entry
    table = table[new]
    m = table.shape[0]
    # 4. neighbours: the packed key of key + step is the packed key + packed step
    strides = [math.prod(corner_span[c + 1 :]) for c in range(1, d1)]
    neighbours = []
    for step in lattice_steps(d):
        pair = []
        for sign in (-1, 1):
            wanted = table + sign * sum(
                int(s) * stride for s, stride in zip(step, strides, strict=True)
            )
            pos = torch.searchsorted(table, wanted).clamp(max=m - 1)
            pair.append(torch.where(table[pos] == wanted, pos, torch.full_like(pos, m)))
        neighbours.append(tuple(pair))
    # 5. the splat matrix's layout: for each vertex, its (point, corner) entries
    simplex_e, corner_e = entry_order // d1, entry_order % d1
    counts_e = counts.index_select(0, simplex_e)
    ends = torch.cumsum(counts_e, 0)
    entry = torch.repeat_interleave(torch.arange(len(entry_order), device=rem0.device), counts_e)
    first_point = (starts.index_select(0, simplex_e) - ends + counts_e).index_select(0, entry)
    points = point_order.index_select(0, first_point + torch.arange(len(entry), device=rem0.device))
    ends = ends[torch.cat([new[1:], new.new_ones(1)])]
    return dict(
        num_vertices=m, offsets=simplex_offsets.view(-1, d1).index_select(0, point_simplex), neighbours=neighbours,
        vertex_crow=torch.cat([ends.new_zeros(1), ends, ends[-1:]]), vertex_cols=points,
        vertex_entries=points * d1 + corner_e.index_select(0, entry),
    )  # fmt: skip


def _readable_structure(rem0: Tensor, rank: Tensor, image: Tensor) -> dict:
    """The same structure from the step functions (row-wise keys; any feature range)."""
    d1 = rem0.shape[1]
    keys, offsets = vertex_table(simplex_corners(rem0, rank), image)
    entry_order = torch.sort(offsets.reshape(-1), stable=True).indices
    counts = torch.bincount(offsets.reshape(-1), minlength=keys.shape[0] + 1)
    return dict(
        num_vertices=keys.shape[0], offsets=offsets, neighbours=find_neighbours(keys, d1 - 1),
        vertex_crow=torch.cat([counts.new_zeros(1), counts.cumsum(0)]), vertex_cols=entry_order // d1,
        vertex_entries=entry_order,
    )  # fmt: skip


class PermutohedralLattice:
    """A permutohedral lattice built for one set of features; filters any values with it.

    Args:
        features: ``(N, d)`` or ``(B, N, d)`` floating-point features, already divided
            by their standard deviations (e.g. ``x / theta_alpha``). With a batch, each
            image gets its own part of the lattice; points of different images never mix.

    After construction, :meth:`filter` computes, approximately,
    ``out_i = sum_j exp(-|f_i - f_j|^2 / 2) * v_j`` (``j`` in the same image, ``i`` included)
    for values of shape ``(N, C)`` or ``(B, N, C)``. It gives what :func:`permutohedral_filter`
    gives, faster.

    Attributes:
        num_points: ``N`` (per image), ``dim``: ``d``, ``num_vertices``: lattice points in use,
        ``weights`` and ``offsets``: ``(B * N, d + 1)`` as from :func:`barycentric_weights`
        and :func:`vertex_table`, ``neighbours``: as from :func:`find_neighbours`.
    """

    def __init__(self, features: Tensor) -> None:
        if not isinstance(features, Tensor) or not features.is_floating_point():
            raise TypeError(
                "features: expected a floating-point tensor of shape (N, d) or (B, N, d)"
            )
        if features.ndim not in (2, 3):
            raise ValueError(
                f"features: expected shape (N, d) or (B, N, d), got {tuple(features.shape)}"
            )
        self.batched = features.ndim == 3
        features = features if self.batched else features.unsqueeze(0)
        if not torch.isfinite(features).all():
            raise ValueError(
                "features: contains NaN or infinite values; check the image and the thetas"
            )
        batch, n, d = features.shape
        if d < 1 or n < 1:
            raise ValueError(
                f"features: need at least one point and one feature, got {tuple(features.shape)}"
            )
        self.batch_size, self.num_points, self.dim = batch, n, d
        self.device = features.device
        with torch.no_grad(), single_threaded(self.device):
            elevated = elevate(features.detach().reshape(batch * n, d).to(torch.float32))
            rem0, rank = enclosing_simplex(elevated)
            self.weights = barycentric_weights(elevated, rem0, rank)
            image = torch.arange(batch, device=self.device).repeat_interleave(n)
            structure = _fast_structure(rem0, rank, image)
            self._packable = structure is not None
            structure = structure or _readable_structure(rem0, rank, image)
        self.num_vertices, self.offsets = structure["num_vertices"], structure["offsets"]
        self.neighbours = structure["neighbours"]
        self._layout = {
            "vertex": (
                structure["vertex_crow"],
                structure["vertex_cols"],
                structure["vertex_entries"],
            )
        }
        self.alpha = lattice_gain(d)
        self._before = self._after = None  # per-point factors (see rescale)
        self._sparse = self.device.type in ("cpu", "cuda")
        self._matrices: dict[tuple[str, str], tuple] = {}

    def rescale(self, before: Tensor, after: Tensor) -> None:
        """Fold per-point factors into the filter: ``filter(v) = after * K (before * v)``.

        ``before`` and ``after`` have one entry per point (``(N, 1)``, ``(B, N, 1)`` or
        flat); a dense CRF uses ``D^-1/2`` for both (symmetric normalisation).
        """
        points = self.batch_size * self.num_points
        before = before.detach().reshape(points, 1).to(self.weights)
        after = after.detach().reshape(points, 1).to(self.weights)
        self._before = before if self._before is None else self._before * before
        self._after = after if self._after is None else self._after * after
        self._matrices = {}

    def corner_weights(self, step: str) -> Tensor:
        """``(P, d + 1)`` weights of ``step`` = ``"splat"`` (``w * before``) or ``"slice"`` (``w * alpha * after``)."""
        if step == "splat":
            return self.weights if self._before is None else self.weights * self._before
        if step == "slice":
            return self.weights * self.alpha * (1.0 if self._after is None else self._after)
        raise ValueError(f"step={step!r}: use 'splat' or 'slice'")

    def _bags(self, step: str, rows: str) -> tuple[Tensor, Tensor | None, Tensor]:
        """``step``'s weights grouped in bags, one per ``"point"`` or per ``"vertex"``.

        Returns ``(indices, bag_starts, weights)`` for :func:`torch.nn.functional.embedding_bag`:
        an output row is the weighted sum of the input rows its bag names (a sparse matrix
        product, done by a kernel made for exactly this; ``bag_starts`` is ``None`` when every
        bag has ``d + 1`` entries).
        """
        if (step, rows) not in self._matrices:
            weights = self.corner_weights(step)
            if rows == "point":
                self._matrices[step, rows] = (self.offsets, None, weights)
            else:
                crow, cols, entries = self._layout["vertex"]
                self._matrices[step, rows] = (
                    cols,
                    crow[:-1],
                    weights.reshape(-1).index_select(0, entries),
                )
        return self._matrices[step, rows]

    def _check_values(self, values: Tensor) -> Tensor:
        expected = (self.batch_size, self.num_points) if self.batched else (self.num_points,)
        if not isinstance(values, Tensor) or values.ndim != len(expected) + 1:
            raise ValueError(
                f"values: expected shape {(*expected, 'C')}, got {getattr(values, 'shape', None)}"
            )
        if tuple(values.shape[:-1]) != expected:
            raise ValueError(
                f"values: expected shape {(*expected, 'C')} to match the features, got {tuple(values.shape)}"
            )
        return values.reshape(self.batch_size * self.num_points, values.shape[-1])

    def to_grid(self, values: Tensor, step: str = "splat") -> Tensor:
        """``(P, C) -> (M + 1, C)``: splat with ``step``'s weights (``"slice"``: the slice's transpose)."""
        if self._sparse:
            indices, starts, weights = self._bags(step, "vertex")
            return torch.nn.functional.embedding_bag(
                indices, values, starts, mode="sum", per_sample_weights=weights
            )
        return splat(values, self.offsets, self.corner_weights(step), self.num_vertices)

    def to_points(self, grid: Tensor, step: str = "slice") -> Tensor:
        """``(M + 1, C) -> (P, C)``: slice with ``step``'s weights (``"splat"``: the splat's transpose)."""
        if self._sparse:
            indices, _, weights = self._bags(step, "point")
            return torch.nn.functional.embedding_bag(
                indices, grid, mode="sum", per_sample_weights=weights
            )
        return slice_points(grid, self.offsets, self.corner_weights(step))

    def splat(self, values: Tensor) -> Tensor:
        """Spread ``(P, C)`` point values onto the lattice -> ``(M + 1, C)`` (last row stays 0)."""
        with single_threaded(self.device):
            return self.to_grid(values, "splat")

    def slice(self, grid: Tensor) -> Tensor:
        """Read the lattice back at every point -> ``(P, C)`` (includes the gain ``alpha``)."""
        with single_threaded(self.device):
            return self.to_points(grid, "slice")

    def blur(self, grid: Tensor, reverse: bool = False) -> Tensor:
        """:func:`blur` with this lattice's neighbours, in place on scratch buffers when no gradient is needed."""
        if torch.is_grad_enabled() and grid.requires_grad:
            return blur(grid, self.neighbours, reverse)
        m = self.num_vertices
        with single_threaded(self.device):
            current, spare = grid.clone(), torch.empty_like(grid)
            spare[m:] = grid[m:]  # the zero row that stands for missing neighbours
            for minus, plus in reversed(self.neighbours) if reverse else self.neighbours:
                torch.index_select(current, 0, minus, out=spare[:m].view_as(current[:m]))
                spare[:m] += current.index_select(0, plus)
                spare[:m].mul_(0.5).add_(current[:m])
                current, spare = spare, current
        return current

    def _apply(self, values: Tensor, reverse: bool = False, transpose: bool = False) -> Tensor:
        """The filter (or its transpose) of ``(P, C)`` values, without autograd."""
        with torch.no_grad(), single_threaded(self.device):
            if transpose:  # (slice . blur . splat)^T = splat^T . blur_reversed . slice^T
                grid = self.to_grid(values, "slice")
                return self.to_points(self.blur(grid, reverse=not reverse), "splat")
            return self.to_points(
                self.blur(self.to_grid(values, "splat"), reverse=reverse), "slice"
            )

    def filter(self, values: Tensor, reverse: bool = False) -> Tensor:
        """Gaussian-filter ``values`` (``(N, C)`` or ``(B, N, C)``) over the features.

        Computes ``after_i * sum_j K_ij before_j v_j`` with ``K`` the lattice's Gaussian
        (``before = after = 1`` unless :meth:`rescale` was called). Returns a tensor of the
        same shape and dtype as ``values``; differentiable in ``values`` (the gradient is the
        transposed filter).
        """
        flat = self._check_values(values)
        out = _LatticeFilter.apply(flat.to(self.weights.dtype), self, reverse)
        return out.to(values.dtype).reshape(values.shape)

    def filter_ones(self) -> Tensor:
        """``filter`` of a column of ones, ``(B * N, 1)``, without building the sparse matrices."""
        with torch.no_grad(), single_threaded(self.device):
            flat = self.offsets.reshape(-1)
            grid = torch.zeros(self.num_vertices + 1, dtype=self.weights.dtype, device=self.device)
            grid.index_add_(0, flat, self.corner_weights("splat").reshape(-1))
            grid = self.blur(grid.unsqueeze(1)).squeeze(1)
            sliced = grid.index_select(0, flat).view_as(self.offsets) * self.corner_weights("slice")
            return sliced.sum(dim=1, keepdim=True)


class _LatticeFilter(torch.autograd.Function):
    """The lattice filter as one autograd step: backward applies the transposed filter."""

    @staticmethod
    def forward(ctx, values: Tensor, lattice: PermutohedralLattice, reverse: bool) -> Tensor:
        ctx.lattice, ctx.reverse = lattice, reverse
        return lattice._apply(values, reverse=reverse)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return (
            ctx.lattice._apply(grad.contiguous(), reverse=ctx.reverse, transpose=True),
            None,
            None,
        )


@contextmanager
def single_threaded(device: torch.device):
    """Context manager: run CPU work on one thread, then restore the caller's setting (also on error).

    Every step of the filter is a memory-bound sparse product or gather over a few
    megabytes; threads gain little there and, on shared cores, lose a lot waiting for
    each other.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
