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

Everything is expressed with tensor operations (integer keys and ``torch.unique`` for
the hash table, ``index_add_`` for splatting, gathers for blur and slice), so it runs on
any device, handles a batch of images at once, and is differentiable with respect to
the values (not the features). The lattice is built once per image and reused for
every class and every mean-field iteration.

Used in: 09.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import torch
from torch import Tensor

_INT64_LIMIT = 2**62


def _elevation_matrix(d: int, dtype: torch.dtype, device: torch.device) -> Tensor:
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




class PermutohedralLattice:
    """A permutohedral lattice built for one set of features; filters any values with it.

    Args:
        features: ``(N, d)`` or ``(B, N, d)`` floating-point features, already divided
            by their standard deviations (e.g. ``x / theta_alpha``). With a batch, each
            image gets its own part of the lattice; points of different images never mix.

    After construction, :meth:`filter` computes, approximately,
    ``out_i = sum_j exp(-|f_i - f_j|^2 / 2) * v_j`` (``j`` in the same image, ``i`` included)
    for values of shape ``(N, C)`` or ``(B, N, C)``.

    Attributes:
        num_points: ``N`` (per image), ``dim``: ``d``, ``num_vertices``: lattice points in use.
    """

    def __init__(self, features: Tensor) -> None:
        if not isinstance(features, Tensor) or not features.is_floating_point():
            raise TypeError("features: expected a floating-point tensor of shape (N, d) or (B, N, d)")
        if features.ndim == 2:
            features = features.unsqueeze(0)
            self.batched = False
        elif features.ndim == 3:
            self.batched = True
        else:
            raise ValueError(f"features: expected shape (N, d) or (B, N, d), got {tuple(features.shape)}")
        if not torch.isfinite(features).all():
            raise ValueError("features: contains NaN or infinite values")
        batch, n, d = features.shape
        if d < 1 or n < 1:
            raise ValueError(f"features: need at least one point and one feature, got {tuple(features.shape)}")
        self.batch_size, self.num_points, self.dim = batch, n, d
        self.device = features.device
        with torch.no_grad(), single_threaded(self.device):
            self._build(features.detach().reshape(batch * n, d).to(torch.float32), batch, n)

    def _build(self, feats: Tensor, batch: int, n: int) -> None:
        d, device = self.dim, self.device
        d1 = d + 1
        # 1. elevate onto the hyperplane, find the closest remainder-0 lattice point
        elevated = feats @ _elevation_matrix(d, torch.float32, device).T  # (P, d+1)
        v = elevated / d1
        up, down = torch.ceil(v) * d1, torch.floor(v) * d1
        rem0 = torch.where(up - elevated < elevated - down, up, down)
        total = torch.div(rem0.sum(dim=1), d1, rounding_mode="floor").long()
        # 2. rank the differences, largest first (ties: the earlier coordinate ranks first)
        diff = (elevated - rem0).T.contiguous()  # (d+1, P)
        ranks = [torch.zeros(diff.shape[1], dtype=torch.long, device=device) for _ in range(d1)]
        for i in range(d1):
            for j in range(i + 1, d1):
                j_first = diff[i] < diff[j]
                ranks[i] += j_first
                ranks[j] += ~j_first
        rank = torch.stack(ranks, dim=1)
        rank = rank + total.unsqueeze(1)
        # 3. bring points that fell off the plane back onto it
        wrap = (rank < 0).long() - (rank > d).long()
        rank = rank + d1 * wrap
        rem0 = rem0.long() + d1 * wrap
        # 4. barycentric weights of the d+1 simplex corners
        delta = (elevated - rem0.to(elevated.dtype)) / d1
        bary = torch.zeros(feats.shape[0], d + 2, dtype=feats.dtype, device=device)
        bary.scatter_add_(1, d - rank, delta)
        bary.scatter_add_(1, d - rank + 1, -delta)
        bary[:, 0] += 1.0 + bary[:, d + 1]
        self.weights = bary[:, :d1].contiguous()  # (P, d+1)
        self._before = self._after = torch.ones(feats.shape[0], 1, dtype=feats.dtype, device=device)
        # 5. the corners: remainder r has key rem0 + r, minus (d+1) where rank > d - r
        image = torch.arange(batch, device=device).repeat_interleave(n)
        self._hash(rem0, rank, image)
        self._find_neighbours()
        # the constant that makes the blur + slice a (nearly) normalised Gaussian
        self.alpha = 1.0 / (1.0 + 2.0 ** (-d))
        self._make_matrices()

    def _hash(self, rem0: Tensor, rank: Tensor, image: Tensor) -> None:
        """Give every distinct (image, corner key) a vertex index in ``self.offsets``."""
        d, d1, device = self.dim, self.dim + 1, rem0.device
        rem0 = rem0[:, :d]  # the last coordinate follows from the others (they sum to 0)
        # corner keys lie in [rem0 - d - 1, rem0 + d]; neighbours move d further
        low = torch.cat([image.new_zeros(1), rem0.min(dim=0).values - 2 * d - 1])
        high = torch.cat([image.max().view(1), rem0.max(dim=0).values + 2 * d])
        span = [int(s) for s in (high - low + 1).tolist()]
        self._packable = math.prod(float(s) for s in span) < _INT64_LIMIT
        r = torch.arange(d1, device=device).view(1, d1)
        if self._packable:
            # packing is linear, so corner r's key is the base key + r * sum(strides) minus
            # (d+1) * (strides of the coordinates whose rank exceeds d - r)
            strides = [math.prod(span[c + 1 :]) for c in range(d + 1)]
            self._strides = torch.tensor(strides[1:], dtype=torch.long, device=device)
            base = image * strides[0] + ((rem0 - low[1:]) * self._strides).sum(dim=1)
            by_rank = torch.zeros(rem0.shape[0], d1, dtype=torch.long, device=device)
            by_rank.scatter_(1, rank[:, :d], self._strides.expand(rem0.shape[0], d))
            dropped = by_rank.flip(1).cumsum(1)  # column r - 1: ranks d - r + 1 .. d
            dropped = torch.cat([torch.zeros_like(dropped[:, :1]), dropped[:, :d]], dim=1)
            packed = base[:, None] + r * int(sum(strides[1:])) - d1 * dropped
            # one sort gives the table, each corner's vertex, and the corners grouped by vertex
            ordered, self._order = torch.sort(packed.reshape(-1))
            first = torch.ones_like(ordered, dtype=torch.bool)
            first[1:] = ordered[1:] != ordered[:-1]
            self._table = ordered[first]
            inverse = torch.empty_like(self._order)
            inverse[self._order] = first.long().cumsum(0) - 1
        else:
            drop = rank[:, None, :d] > d - r[..., None]  # (P, d+1, d)
            keys = rem0[:, None, :] + r[..., None] - d1 * drop.long()
            full = torch.cat([image[:, None, None].expand(-1, d1, 1), keys], dim=2).reshape(-1, d + 1)
            self._table, inverse = torch.unique(full, dim=0, return_inverse=True)
            self._order = torch.argsort(inverse)
        self.num_vertices = self._table.shape[0]
        self.offsets = inverse.view(-1, d1)  # (P, d+1): vertex index of each corner
        counts = torch.bincount(inverse, minlength=self.num_vertices + 1)
        self._crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def _lookup(self, step: Tensor) -> Tensor:
        """Vertex index of every vertex's key + ``step`` (``(d,)``), or ``num_vertices`` if absent."""
        m = self.num_vertices
        if self._packable:
            wanted = self._table + int((step * self._strides).sum())
            pos = torch.searchsorted(self._table, wanted).clamp(max=m - 1)
            found = self._table[pos] == wanted
        else:
            shifted = self._table.clone()
            shifted[:, 1:] += step
            _, inverse = torch.unique(torch.cat([self._table, shifted]), dim=0, return_inverse=True)
            owner = torch.full((int(inverse.max()) + 1,), m, dtype=torch.long, device=step.device)
            owner[inverse[:m]] = torch.arange(m, device=step.device)
            pos = owner[inverse[m:]]
            found = pos < m
        return torch.where(found, pos, torch.full_like(pos, m))

    def _find_neighbours(self) -> None:
        d = self.dim
        self.neighbours = []
        for j in range(d + 1):
            step = torch.ones(d, dtype=torch.long, device=self.device)
            if j < d:
                step[j] = -d
            self.neighbours.append((self._lookup(-step), self._lookup(step)))

    def _make_matrices(self) -> None:
        """Splat and slice (and their transposes) as sparse CSR matrices where supported."""
        self._sparse = self.device.type in ("cpu", "cuda")
        if not self._sparse:
            return
        points, d1, m = self.weights.shape[0], self.dim + 1, self.num_vertices
        cols, order, crow = self.offsets.reshape(-1), self._order, self._crow
        point_rows = torch.arange(0, points * d1 + 1, d1, device=self.device)
        vertex_cols = order // d1
        if points * d1 < 2**31:  # 32-bit indices: the sparse kernels would convert on every call
            cols, crow, point_rows, vertex_cols = (t.int() for t in (cols, crow, point_rows, vertex_cols))
        splat_w = (self.weights * self._before).reshape(-1)
        slice_w = (self.weights * (self.alpha * self._after)).reshape(-1)

        def by_vertex(values: Tensor) -> Tensor:  # (M + 1, P): one row per lattice point
            return torch.sparse_csr_tensor(crow, vertex_cols, values[order], (m + 1, points),
                                           check_invariants=False)  # fmt: skip

        def by_point(values: Tensor) -> Tensor:  # (P, M + 1): one row per point
            return torch.sparse_csr_tensor(point_rows, cols, values, (points, m + 1), check_invariants=False)

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self._matrices = {
                ("splat", False): by_vertex(splat_w), ("splat", True): by_point(splat_w),
                ("slice", False): by_point(slice_w), ("slice", True): by_vertex(slice_w),
            }  # fmt: skip

    def rescale(self, before: Tensor, after: Tensor) -> None:
        """Fold per-point factors into the filter: ``filter(v) = after * K (before * v)``.

        ``before`` and ``after`` have one entry per point (``(N, 1)``, ``(B, N, 1)`` or
        flat); a dense CRF uses ``D^-1/2`` for both (symmetric normalisation).
        """
        points = self.batch_size * self.num_points
        before = before.detach().reshape(points, 1).to(self.weights)
        after = after.detach().reshape(points, 1).to(self.weights)
        self._before, self._after = self._before * before, self._after * after
        self._make_matrices()

    def _check_values(self, values: Tensor) -> Tensor:
        expected = (self.batch_size, self.num_points) if self.batched else (self.num_points,)
        if not isinstance(values, Tensor) or values.ndim != len(expected) + 1:
            raise ValueError(f"values: expected shape {(*expected, 'C')}, got {getattr(values, 'shape', None)}")
        if tuple(values.shape[:-1]) != expected:
            raise ValueError(
                f"values: expected shape {(*expected, 'C')} to match the features, got {tuple(values.shape)}"
            )
        return values.reshape(self.batch_size * self.num_points, values.shape[-1])

    def _to_points(self, grid: Tensor, scale: Tensor) -> Tensor:
        """``out_p = sum_r scale[p, r] * grid[offsets[p, r]]`` -> ``(P, C)``."""
        if self._sparse:
            key = ("slice", False) if scale is self._slice_scale else ("splat", True)
            return self._matrices[key] @ grid
        return (grid[self.offsets] * scale.unsqueeze(2)).sum(dim=1)

    def _to_grid(self, values: Tensor, scale: Tensor) -> Tensor:
        """``grid[offsets[p, r]] += scale[p, r] * values[p]`` -> ``(M + 1, C)``."""
        if self._sparse:
            key = ("splat", False) if scale is self._splat_scale else ("slice", True)
            return self._matrices[key] @ values
        weighted = (values.unsqueeze(1) * scale.unsqueeze(2)).reshape(-1, values.shape[-1])
        grid = values.new_zeros(self.num_vertices + 1, values.shape[-1])
        return grid.index_add(0, self.offsets.reshape(-1), weighted)

    @property
    def _splat_scale(self) -> Tensor:
        if getattr(self, "_splat_cache", None) is None or self._splat_cache[0] is not self._before:
            self._splat_cache = (self._before, self.weights * self._before)
        return self._splat_cache[1]

    @property
    def _slice_scale(self) -> Tensor:
        if getattr(self, "_slice_cache", None) is None or self._slice_cache[0] is not self._after:
            self._slice_cache = (self._after, self.weights * (self.alpha * self._after))
        return self._slice_cache[1]

    def splat(self, values: Tensor) -> Tensor:
        """Spread ``(P, C)`` point values onto the lattice -> ``(M + 1, C)`` (last row stays 0)."""
        with single_threaded(self.device):
            return self._to_grid(values, self._splat_scale)

    def blur(self, grid: Tensor, reverse: bool = False) -> Tensor:
        """Mix every lattice point with its neighbours, ``[1/2, 1, 1/2]`` along each direction.

        Each direction's step is symmetric (``n`` is ``m``'s lower neighbour exactly when
        ``m`` is ``n``'s upper one), so blurring in the reverse order is the transpose.
        """
        order = range(self.dim, -1, -1) if reverse else range(self.dim + 1)
        m = self.num_vertices
        with single_threaded(self.device):
            if torch.is_grad_enabled() and grid.requires_grad:  # out-of-place, for autograd
                for j in order:
                    minus, plus = self.neighbours[j]
                    mixed = grid[:m] + 0.5 * (grid[minus] + grid[plus])
                    grid = torch.cat([mixed, grid[m:]], dim=0)
                return grid
            current, spare = grid.clone(), torch.empty_like(grid)
            spare[m:] = grid[m:]  # the zero row that stands for missing neighbours
            for j in order:
                minus, plus = self.neighbours[j]
                torch.index_select(current, 0, minus, out=spare[:m].view_as(current[:m]))
                spare[:m] += current.index_select(0, plus)
                spare[:m].mul_(0.5).add_(current[:m])
                current, spare = spare, current
        return current

    def slice(self, grid: Tensor) -> Tensor:
        """Read the lattice back at every point -> ``(P, C)``."""
        with single_threaded(self.device):
            return self._to_points(grid, self._slice_scale)

    def _apply(self, values: Tensor, reverse: bool = False, transpose: bool = False) -> Tensor:
        """The filter (or its transpose) of ``(P, C)`` values, without autograd."""
        with torch.no_grad(), single_threaded(self.device):
            if transpose:  # (slice . blur . splat)^T = splat^T . blur_reversed . slice^T
                grid = self._to_grid(values, self._slice_scale)
                return self._to_points(self.blur(grid, reverse=not reverse), self._splat_scale)
            grid = self._to_grid(values, self._splat_scale)
            return self._to_points(self.blur(grid, reverse=reverse), self._slice_scale)

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


class _LatticeFilter(torch.autograd.Function):
    """The lattice filter as one autograd step: backward applies the transposed filter."""

    @staticmethod
    def forward(ctx, values: Tensor, lattice: PermutohedralLattice, reverse: bool) -> Tensor:
        ctx.lattice, ctx.reverse = lattice, reverse
        return lattice._apply(values, reverse=reverse)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return ctx.lattice._apply(grad.contiguous(), reverse=ctx.reverse, transpose=True), None, None


@contextmanager
def single_threaded(device: torch.device):
    """Context manager: run CPU work on one thread, then restore the caller's setting.

    Every step of the filter is a memory-bound sparse product or gather over a few
    megabytes; threads gain little there and, on shared cores, lose a lot waiting for
    each other (measured on 2 busy cores: 2 ms per filter on one thread, 390 ms on two).
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
