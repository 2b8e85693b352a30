"""Demo photos that ship with a dependency, and the project's own hand-made masks.

The lessons need real photos without downloading anything: matplotlib ships a
portrait of Grace Hopper (``grace_hopper.jpg``), and ``data/annotations/`` holds a
polygon outline of her that the course drew itself, which becomes a VOC-style
mask (class indices, with a void band along the object border).

Used in: 00, 02, 04, 09.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import cbook
from PIL import Image, ImageDraw

from dlcourse.env import data_dir
from dlcourse.voc import VOC_CLASSES, VOID_INDEX


def sample_photo(name: str = "grace_hopper.jpg") -> np.ndarray:
    """A photo from matplotlib's sample data as an ``(H, W, 3)`` uint8 array."""
    path = Path(cbook.get_sample_data(name, asfileobj=False))
    if not path.is_file():
        raise FileNotFoundError(
            f"sample_photo(name={name!r}): matplotlib has no sample file of that name; "
            "try 'grace_hopper.jpg'"
        )
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def load_annotation(path: str | Path) -> dict:
    """Read and check a polygon annotation (JSON with ``width``, ``height``, ``objects``).

    Each object has a ``class`` name and a ``polygon`` of ``[x, y]`` pixel points.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    try:
        annotation = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"annotation file {path} is not valid JSON: {err}") from None
    for key in ("width", "height", "objects"):
        if key not in annotation:
            raise ValueError(f"annotation file {path} has no {key!r} entry")
    for number, obj in enumerate(annotation["objects"]):
        if "class" not in obj or "polygon" not in obj:
            raise ValueError(f"annotation file {path}: object {number} needs 'class' and 'polygon'")
        if len(obj["polygon"]) < 3:
            raise ValueError(f"annotation file {path}: object {number} has fewer than 3 points")
    return annotation


def rasterize_polygons(
    objects: Sequence[dict],
    size: tuple[int, int],
    class_names: Sequence[str] = VOC_CLASSES,
    void_width: int = 0,
) -> np.ndarray:
    """Turn polygon objects into a label map.

    Args:
        objects: dicts with ``class`` (a name in ``class_names``) and ``polygon``
            (``[[x, y], ...]``); later objects are drawn over earlier ones.
        size: ``(height, width)`` of the mask.
        class_names: the class list that gives each name its index.
        void_width: width in pixels of a void (255) band drawn along every
            polygon's border, as VOC masks have; 0 for none. Edges that run along
            the image border get no band (VOC masks have none there either).

    Returns:
        ``(H, W)`` uint8 label map; pixels outside every polygon are 0 (background).
    """
    height, width = size
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for obj in objects:
        if obj["class"] not in class_names:
            raise ValueError(
                f"rasterize_polygons: unknown class {obj['class']!r}; expected one of {list(class_names)}"
            )
        points = [tuple(map(float, point)) for point in obj["polygon"]]
        draw.polygon(points, fill=class_names.index(obj["class"]))
    if void_width > 0:
        for obj in objects:
            points = [tuple(map(float, point)) for point in obj["polygon"]]
            for start, end in zip(points, points[1:] + points[:1], strict=True):
                if not _on_same_image_edge(start, end, width, height):
                    draw.line([start, end], fill=VOID_INDEX, width=void_width)
    return np.asarray(mask)


def _on_same_image_edge(start, end, width, height) -> bool:
    """True when the segment start-end lies along one border of a width x height image."""
    (x0, y0), (x1, y1) = start, end
    return (x0 == x1 and x0 in (0, width)) or (y0 == y1 and y0 in (0, height))


def sample_mask(name: str = "grace_hopper") -> np.ndarray:
    """The course's hand-drawn VOC-style mask for the sample photo ``name``."""
    annotation = load_annotation(data_dir() / "annotations" / f"{name}.json")
    return rasterize_polygons(
        annotation["objects"],
        (annotation["height"], annotation["width"]),
        void_width=int(annotation.get("void_width", 0)),
    )
