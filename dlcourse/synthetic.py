"""The synthetic set: grey shapes whose class is told only by a coloured frame far from them.

A model labels a shape right only when its receptive field reaches the frame, so
this small set, written in seconds as a VOC-layout folder, shows what dilation and
ASPP buy. :func:`synthetic_sample` draws one picture, :func:`make_synthetic` writes
the set and :func:`frame_distance` tells how far each pixel is from the frame.

Used in: 06, 07, 08.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from dlcourse.files import write_classes
from dlcourse.voc import VOID_INDEX, voc_colormap

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "background",
    "red-frame shape",
    "green-frame shape",
    "olive-frame shape",
)
"""Classes of :func:`make_synthetic`: a shape takes the class whose colour frames its image."""

SYNTHETIC_PALETTE: np.ndarray = voc_colormap(len(SYNTHETIC_CLASSES))
"""Colours of :data:`SYNTHETIC_CLASSES` (the first VOC colours; also the frame colours)."""


def synthetic_sample(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image ``(size, size, 3)`` uint8 and its label map ``(size, size)`` uint8.

    Grey shapes on a grey, noisy background; a coloured frame around the image
    decides the class of every shape (class k has frame colour ``SYNTHETIC_PALETTE[k]``).
    The shapes sit in the middle, so a pixel of a shape only learns its class from
    pixels about ``size / 3`` away. Shape borders (1 px) are void (255), as in VOC.
    """
    if size < 32:
        raise ValueError(f"size={size}: synthetic images need size >= 32")
    k = int(rng.integers(1, len(SYNTHETIC_CLASSES)))
    frame = max(2, size // 16)
    image = np.full((size, size, 3), 128.0) + rng.normal(0, 18, (size, size, 3))
    image[:frame], image[-frame:], image[:, :frame], image[:, -frame:] = (SYNTHETIC_PALETTE[k],) * 4
    label = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(label)
    for _ in range(int(rng.integers(1, 4))):
        r = float(rng.uniform(size * 0.08, size * 0.16))
        cx, cy = rng.uniform(size * 0.35, size * 0.65, 2)
        box = [cx - r, cy - r, cx + r, cy + r]
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=k)
    mask = np.asarray(label).copy()
    inside = mask > 0
    image[inside] = 72.0 + rng.normal(0, 18, (int(inside.sum()), 3))
    edge = np.zeros_like(inside)
    edge[1:] |= inside[1:] != inside[:-1]
    edge[:-1] |= inside[1:] != inside[:-1]
    edge[:, 1:] |= inside[:, 1:] != inside[:, :-1]
    edge[:, :-1] |= inside[:, 1:] != inside[:, :-1]
    mask[edge & inside] = VOID_INDEX
    return np.clip(np.round(image), 0, 255).astype(np.uint8), mask


def frame_distance(size: int) -> torch.Tensor:
    """How far each pixel of a ``size`` x ``size`` synthetic picture is from its frame.

    The distance is in the max-norm (that of a square receptive field) to the nearest
    frame pixel of :func:`synthetic_sample`: 1 just inside the frame, 0 or less on it.
    A unit centred on a pixel with a receptive field ``S`` pixels wide sees the frame
    when ``distance <= (S - 1) // 2``.

    Returns:
        An ``(size, size)`` int64 tensor.
    """
    frame = max(2, size // 16)  # the frame width synthetic_sample draws
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    edge = torch.stack([rows, cols, size - 1 - rows, size - 1 - cols]).amin(0)
    return edge - (frame - 1)


def make_synthetic(root: str | Path, n_train: int = 200, n_val: int = 50, size: int = 64,
                   seed: int = 0) -> Path:  # fmt: skip
    """Write the synthetic set as a VOC-layout folder (PNG images, palette PNG masks).

    The class of each shape depends on the coloured frame far from it, so a model
    needs a receptive field of about the image size (dilation, ASPP) to label it.
    Train on it without random scaling or cropping (``train_transforms(size,
    scale_range=None)``, which only flips): a crop that cuts the frame away removes
    the only evidence of the class.

    Args:
        root: folder to write (created); ``JPEGImages/``, ``SegmentationClass/``,
            ``ImageSets/Segmentation/{train,val}.txt`` and ``classes.json`` go inside.
        n_train, n_val: number of training and validation images.
        size: side of the square images in pixels (>= 32).
        seed: the same seed writes the same files.

    Returns:
        ``root`` as a Path; read it with ``VOCDataset(root, split="train")``.
    """
    if n_train < 1 or n_val < 0:
        raise ValueError(
            f"make_synthetic(n_train={n_train}, n_val={n_val}): need n_train >= 1, n_val >= 0"
        )
    root = Path(root)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    flat_palette = voc_colormap(256).reshape(-1).tolist()
    splits = {"train": [f"syn_{i:05d}" for i in range(n_train)],
              "val": [f"syn_{i:05d}" for i in range(n_train, n_train + n_val)]}  # fmt: skip
    for split, ids in splits.items():
        for item in ids:
            image, mask = synthetic_sample(size, rng)
            Image.fromarray(image).save(root / "JPEGImages" / f"{item}.png")
            png = Image.fromarray(mask)
            png.putpalette(flat_palette)  # turns the grey image into a palette ("P") PNG
            png.save(root / "SegmentationClass" / f"{item}.png")
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text(
            "".join(i + "\n" for i in ids)
        )
    write_classes(root / "classes.json", SYNTHETIC_CLASSES, SYNTHETIC_PALETTE)
    return root
