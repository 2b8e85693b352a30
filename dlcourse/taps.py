"""Where the taps of dilated convolutions land: footprints, supports, fields of view, ASPP taps.

A dilated convolution reads inputs ``dilation`` pixels apart. :func:`footprint` shows
which offsets a stack of stride-1 dilated convolutions actually reaches (the gridding
artefact); :func:`stack_support` which units of a 1-D chain feed one output;
:func:`tiled_field_of_view` how DeepLab v1 counts fc6's field of view; and
:func:`aspp_taps` where the taps of an ASPP branch fall in a photo. The receptive-field
arithmetic itself is :mod:`dlcourse.rf`.

Used in: 01, 02, 03, 04, 08.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from dlcourse.rf import _positive_int, effective_kernel


def tiled_field_of_view(kernel: int, dilation: int = 1, jump: int = 1, tile: int = 1) -> int:
    """Input pixels a dilated conv's taps cover when each tap counts as one ``tile``-pixel cell.

    ``(kernel - 1) * dilation * jump + tile``: the distance from the first tap to the
    last (taps ``dilation * jump`` input pixels apart), plus one tile. Unlike
    :func:`dlcourse.rf.receptive_field` it ignores how far the layers below reach, so it
    is not a receptive field; it is how DeepLab v1 (https://arxiv.org/abs/1412.7062, table 2)
    counts fc6's field of view: taps ``rate * 8`` pixels apart at output stride 8, each
    counted as one 32-pixel cell of VGG-16's pool5 grid. VGG-16's own 7x7 fc6 then covers
    ``6 * 32 + 32 = 224`` pixels, its training crop; a 3x3 fc6 at rate 12 covers
    ``2 * 12 * 8 + 32 = 224`` as well, a 4x4 at rate 4 only 128. With the defaults it is
    :func:`effective_kernel`.
    """
    where = (
        f"tiled_field_of_view(kernel={kernel!r}, dilation={dilation!r}, jump={jump!r}, "
        f"tile={tile!r})"
    )
    span = effective_kernel(kernel, dilation) - 1
    jump = _positive_int(jump, "jump", where)
    tile = _positive_int(tile, "tile", where)
    return span * jump + tile


def footprint(
    dilations: Sequence[int], kernel: int | Sequence[int] = 3, counts: bool = False
) -> np.ndarray:
    """Which input offsets reach one output through a stack of stride-1 dilated convolutions.

    Args:
        dilations: dilation rate of each layer, first layer first.
        kernel: kernel size of every layer, or one per layer.
        counts: return how many paths reach each offset (int64) instead of a boolean map.

    Returns:
        A square ``(R, R)`` map, ``R`` the stack's RF size, centred on the output unit.
        ``(2, 2, 2)`` with 3x3 kernels reaches 49 of its 13x13 = 169 offsets (gridding);
        ``(1, 2, 5)`` reaches all 289 of its 17x17.
    """
    if isinstance(dilations, int | np.integer) or not isinstance(dilations, Iterable):
        raise TypeError(
            f"footprint(dilations={dilations!r}): give one rate per layer as a sequence, "
            f"e.g. ({dilations!r},) for one layer or (1, 2, 5) for three"
        )
    dilations = list(dilations)
    if not dilations:
        raise ValueError("footprint(dilations=[]): give at least one dilation rate, e.g. (1, 2, 5)")
    kernels = [kernel] * len(dilations) if isinstance(kernel, int | np.integer) else list(kernel)
    if len(kernels) != len(dilations):
        raise ValueError(
            f"footprint: got {len(kernels)} kernel sizes for {len(dilations)} dilations; "
            "give one kernel size, or one per layer"
        )
    taps = np.ones(1, dtype=np.int64)
    for k, d in zip(kernels, dilations, strict=True):
        span = effective_kernel(k, d)
        step = np.zeros(span, dtype=np.int64)
        step[::d] = 1
        taps = np.convolve(taps, step)
    paths = np.outer(taps, taps)
    return paths if counts else paths > 0


def stack_support(layers: Sequence[tuple[int, int, int]]) -> list[np.ndarray]:
    """Indices of the units at every level that feed output unit 0 of a 1-D conv chain.

    ``layers`` are ``(kernel, stride, dilation)`` without padding. Entry ``l`` of the
    result holds the unit indices at level ``l`` (0 = input, ``len(layers)`` = output).
    """
    support = [np.zeros(1, dtype=np.int64)]
    for kernel, stride, dilation in reversed(list(layers)):
        taps = np.arange(kernel) * dilation
        support.append(np.unique((support[-1][:, None] * stride + taps[None, :]).ravel()))
    return support[::-1]


def aspp_taps(
    rate: int, output_stride: int, center: tuple[int, int], image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Where the 9 taps of one 3x3 ASPP branch of ``rate`` fall in a photo.

    A feature cell at output stride ``s`` covers ``s x s`` photo pixels; the taps sit
    ``rate`` cells apart around the cell that holds ``center`` (``(row, col)`` in photo
    pixels). Returns ``(corners, inside)``: ``(9, 2)`` top-left photo pixels
    ``(row, col)`` of each tap's cell, and a boolean ``(9,)`` that is False where the
    tap lands in the zero padding outside the feature map.
    """
    if rate < 1 or output_stride < 1:
        raise ValueError(
            f"aspp_taps(rate={rate}, output_stride={output_stride}): both must be >= 1"
        )
    height, width = image_size
    rows, cols = -(-height // output_stride), -(-width // output_stride)  # feature map size
    cell_r, cell_c = center[0] // output_stride, center[1] // output_stride
    offsets = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]) * rate
    cells = offsets + np.array([cell_r, cell_c])
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < rows) & (cells[:, 1] >= 0) & (cells[:, 1] < cols)
    return cells * output_stride, inside
