"""The permutohedral lattice as a reusable filter: :class:`PermutohedralLattice`.

:class:`PermutohedralLattice` runs the steps of :mod:`dlcourse.lattice` once for a set of
features (the structure from :mod:`dlcourse.lattice_structure`) and then filters any values
with them: splat and slice become weighted sums of gathered rows (``embedding_bag``), the
blur runs in place on scratch buffers, and the lattice is reused for every class and every
mean-field iteration. It handles a batch of images at once, runs on any device, and is
differentiable in the values. :func:`single_threaded` keeps CPU work on one thread.

Used in: 09.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor

from dlcourse.lattice import (
    barycentric_weights,
    blur,
    elevate,
    enclosing_simplex,
    lattice_gain,
    slice_points,
    splat,
)
from dlcourse.lattice_structure import fast_structure, readable_structure


class PermutohedralLattice:
    """A permutohedral lattice built for one set of features; filters any values with it.

    Args:
        features: ``(N, d)`` or ``(B, N, d)`` floating-point features, already divided
            by their standard deviations (e.g. ``x / theta_alpha``). With a batch, each
            image gets its own part of the lattice; points of different images never mix.

    After construction, :meth:`filter` computes, approximately,
    ``out_i = sum_j exp(-|f_i - f_j|^2 / 2) * v_j`` (``j`` in the same image, ``i`` included)
    for values of shape ``(N, C)`` or ``(B, N, C)``. It gives what
    :func:`dlcourse.lattice.permutohedral_filter` gives, faster.

    Attributes:
        num_points: ``N`` (per image), ``dim``: ``d``, ``num_vertices``: lattice points in use,
        ``weights`` and ``offsets``: ``(B * N, d + 1)`` as from
        :func:`~dlcourse.lattice.barycentric_weights` and :func:`~dlcourse.lattice.vertex_table`,
        ``neighbours``: as from :func:`~dlcourse.lattice.find_neighbours`.
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
            structure = fast_structure(rem0, rank, image)
            self._packable = structure is not None
            structure = structure or readable_structure(rem0, rank, image)
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
