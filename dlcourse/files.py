"""Reading and checking segmentation files: images, masks and the classes file.

An image becomes a ``(3, H, W)`` uint8 ``tv_tensors.Image``; a mask an ``(H, W)``
int64 ``tv_tensors.Mask`` of class indices (255 = void): palette and grey-scale PNGs
give their stored indices, RGB masks are looked up in the class colours. Every error
names the file and says what to do; :func:`check_pair` refuses a mask whose size or
values do not fit its image and classes. The datasets built on these readers are in
:mod:`dlcourse.data`.

Used in: 06, 10.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from dlcourse.voc import VOID_COLOR, VOID_INDEX, voc_colormap

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
"""The file endings read as images."""


def _open_image(
    path: str | Path, kind: str, advice: str, convert: str | None = None
) -> tuple[str, np.ndarray]:
    """Open an image file; return its original mode and its pixels (converted if asked).

    Raises errors that name the file: missing, or not a readable image (with ``advice``).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            array = np.asarray(img.convert(convert) if convert else img)
    except FileNotFoundError:
        raise FileNotFoundError(f"{kind} file {path} does not exist") from None
    except OSError as err:
        raise ValueError(f"{kind} file {path} is not a readable image ({err}); {advice}") from None
    return mode, array


def read_image(path: str | Path) -> tv_tensors.Image:
    """An RGB image file as a ``(3, H, W)`` uint8 tensor; corrupt files raise naming the file."""
    _, array = _open_image(path, "image", "re-download or re-export it", convert="RGB")
    return tv_tensors.Image(torch.from_numpy(array.copy()).permute(2, 0, 1))


def read_mask(
    path: str | Path, palette: np.ndarray | None = None, void: int = VOID_INDEX
) -> tv_tensors.Mask:
    """A mask file as an ``(H, W)`` int64 tensor of class indices.

    Palette ("P") and grey-scale PNGs give their stored indices unchanged (VOC's
    palette PNGs store class indices, not colours). An RGB mask needs ``palette``:
    each colour is looked up in it, and :data:`dlcourse.voc.VOID_COLOR` becomes ``void``.
    """
    path = Path(path)
    mode, array = _open_image(path, "mask", "re-export it")
    if mode in ("P", "L", "I", "I;16"):
        return tv_tensors.Mask(torch.from_numpy(array.astype(np.int64)))
    if mode in ("RGB", "RGBA") and palette is not None:
        return tv_tensors.Mask(
            torch.from_numpy(colors_to_labels(array[..., :3], palette, path, void))
        )
    raise ValueError(
        f"mask file {path} is a {mode} image; save masks as palette or grey-scale PNGs "
        "holding class indices, or give the class colours (a classes file) to map RGB masks"
    )


def colors_to_labels(
    rgb: np.ndarray, palette: np.ndarray, source: object = "mask", void: int = VOID_INDEX
) -> np.ndarray:
    """Map an ``(H, W, 3)`` colour mask to class indices with a vectorised lookup.

    Colour ``palette[k]`` becomes k, the VOC void colour becomes ``void``; any other
    colour raises (naming ``source``).
    """
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette = np.asarray(palette, dtype=np.int64)
    keys = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    void_key = (VOID_COLOR[0] << 16) | (VOID_COLOR[1] << 8) | VOID_COLOR[2]
    lut = {int(k): i for i, k in enumerate(keys)} | {void_key: void}
    uniques, inverse = np.unique(codes, return_inverse=True)
    unknown = [int(u) for u in uniques if int(u) not in lut]
    if unknown:
        colors = [((u >> 16) & 255, (u >> 8) & 255, u & 255) for u in unknown[:5]]
        raise ValueError(
            f"{source}: colours {colors} are not in the class colours; add them to the classes file"
        )
    return np.array([lut[int(u)] for u in uniques], dtype=np.int64)[inverse].reshape(codes.shape)


def check_pair(image: torch.Tensor, mask: torch.Tensor, num_classes: int, mask_path: object,
               void_index: int = VOID_INDEX) -> None:  # fmt: skip
    """Raise if ``mask`` holds a value other than ``0..num_classes-1`` or ``void_index``,
    or if its size differs from the image's."""
    if tuple(image.shape[-2:]) != tuple(mask.shape[-2:]):
        raise ValueError(
            f"mask file {mask_path} is {tuple(mask.shape[-2:])} (HxW) but its image is "
            f"{tuple(image.shape[-2:])}; masks must match their image pixel for pixel"
        )
    bad = (mask < 0) | ((mask >= num_classes) & (mask != void_index))
    if bad.any():
        values = mask[bad].unique()[:10].tolist()
        raise ValueError(
            f"mask file {mask_path} holds values {values} that are neither classes "
            f"0..{num_classes - 1} nor void {void_index}; fix the file or the class list"
        )


def load_classes(path: str | Path) -> dict:
    """Read a classes file: JSON ``{"names": [...], "colors": [[r, g, b], ...], "void": 255}``."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"classes file {path} does not exist; write one with write_classes"
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f"classes file {path} is not valid JSON: {err}") from None
    names, colors = spec.get("names"), spec.get("colors")
    if not names or not colors or len(names) != len(colors):
        raise ValueError(
            f"classes file {path}: needs 'names' and 'colors' lists of the same length"
        )
    return {"names": list(names), "colors": np.asarray(colors, dtype=np.uint8),
            "void": int(spec.get("void", VOID_INDEX))}  # fmt: skip


def write_classes(path: str | Path, names: Sequence[str], colors: np.ndarray | None = None,
                  void: int = VOID_INDEX) -> Path:  # fmt: skip
    """Write a classes file (see :func:`load_classes`); colours default to the VOC palette."""
    colors = voc_colormap(len(names)) if colors is None else np.asarray(colors)
    spec = {"names": list(names), "colors": colors.astype(int).tolist(), "void": void}
    path = Path(path)
    path.write_text(json.dumps(spec, indent=1) + "\n")
    return path
