"""The permutohedral lattice's structure, built fast: packed integer keys, one pass per simplex.

:func:`fast_structure` finds what :func:`dlcourse.lattice.vertex_table` and
:func:`dlcourse.lattice.find_neighbours` find, faster: points that share a simplex are handled
once, each key is packed into one ``int64`` and keys are matched with a sort and a binary
search instead of row-wise ``unique``. It also lays out the splat as a sparse matrix (the
``(point, corner)`` entries of every vertex). Where the packed keys would overflow,
:func:`readable_structure` builds the same structure from the step functions.
:class:`dlcourse.lattice_fast.PermutohedralLattice` uses one of the two.

Used in: 09.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dlcourse.lattice import find_neighbours, lattice_steps, simplex_corners, vertex_table

_INT64_LIMIT = 2**62


def pack_keys(columns: list[Tensor], low: list[int], span: list[int]) -> Tensor:
    """Integer columns (``k`` tensors of one shape) -> one ``int64`` each; order-preserving."""
    key = columns[0] - low[0]
    for column, lowest, size in zip(columns[1:], low[1:], span[1:], strict=True):
        key = key * size + (column - lowest)
    return key


def fast_structure(rem0: Tensor, rank: Tensor, image: Tensor) -> dict | None:
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
    simplex_key, point_order = torch.sort(pack_keys(columns, low, span))
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
    table, entry_order = torch.sort(pack_keys(columns, corner_low, corner_span).reshape(-1))
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


def readable_structure(rem0: Tensor, rank: Tensor, image: Tensor) -> dict:
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
