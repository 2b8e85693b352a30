"""PASCAL VOC's classes and colours: plain constants, no plotting library needed.

Data loading (and every DataLoader worker) imports these, so they live apart from
:mod:`dlcourse.viz` and its matplotlib.

Used in: 00, 06, 08, 09.
"""

from __future__ import annotations

import numpy as np

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
"""The 21 PASCAL VOC classes; a mask value is an index into this tuple."""

VOID_INDEX = 255
"""Mask value for 'void': object borders and ambiguous pixels, ignored by losses and metrics."""

VOID_COLOR = (224, 224, 192)
"""The colour VOC's PNG masks use for :data:`VOID_INDEX`."""


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: ``n`` RGB colours as an ``(n, 3)`` uint8 array.

    Colour ``i`` spreads the bits of ``i`` over the three channels, highest bits
    first, which is how VOC's devkit (``VOClabelcolormap.m``) builds its palette:
    1 -> (128, 0, 0), 2 -> (0, 128, 0), 3 -> (128, 128, 0), 15 -> (192, 128, 128).
    """
    if not 1 <= n <= 256:
        raise ValueError(f"voc_colormap(n={n}): n must be between 1 and 256")
    colors = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colors[index] = (r, g, b)
    return colors


VOC_PALETTE: np.ndarray = voc_colormap(len(VOC_CLASSES))
"""The 21 class colours, a ``(21, 3)`` uint8 array aligned with :data:`VOC_CLASSES`."""
VOC_PALETTE.flags.writeable = False
