"""Segmentation data: reading and checking files, VOC-layout folders and your own folders.

Every dataset here returns ``(image, mask)``: the image a ``(3, H, W)`` uint8
``tv_tensors.Image``, the mask an ``(H, W)`` int64 ``tv_tensors.Mask`` holding
class indices (255 = void). Files are read lazily, one item at a time, and
checked as they are read: a broken file raises an error that names it, nothing
is skipped. The synthetic set lives in :mod:`dlcourse.synthetic`, the joint
transforms and the DataLoader in :mod:`dlcourse.transforms`, downloading VOC and
SBD in :mod:`dlcourse.download`.

Used in: 06, 07, 08, 09, 10.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

from dlcourse.env import cache_dir
from dlcourse.voc import VOC_CLASSES, VOC_PALETTE, VOID_COLOR, VOID_INDEX, voc_colormap

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# --- reading and checking files ----------------------------------------------------------


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


def select_ids(ids: Sequence[str], subset: object) -> list[str]:
    """Pick ids from a split.

    Args:
        ids: every id of the split, in file order.
        subset: ``None`` (all), an int N (the first N), ``("random", N, seed)`` (N ids
            drawn without replacement with ``seed``, kept in file order), or a list
            of ids (each must be in the split).
    """
    ids = list(ids)
    if subset is None:
        return ids
    if isinstance(subset, int) and not isinstance(subset, bool):
        if not 0 < subset <= len(ids):
            raise ValueError(f"subset={subset}: must be between 1 and the split's {len(ids)} ids")
        return ids[:subset]
    if isinstance(subset, tuple) and len(subset) == 3 and subset[0] == "random":
        _, n, seed = subset
        if not 0 < n <= len(ids):
            raise ValueError(f"subset=('random', {n}, {seed}): n must be between 1 and {len(ids)}")
        picked = sorted(random.Random(seed).sample(range(len(ids)), n))
        return [ids[i] for i in picked]
    if isinstance(subset, list | tuple) and all(isinstance(i, str) for i in subset):
        known = set(ids)
        missing = [i for i in subset if i not in known]
        if missing:
            raise ValueError(
                f"subset: ids {missing[:5]} are not in the split; check the split file"
            )
        return list(subset)
    raise TypeError(
        f"subset={subset!r}: use None, an int N, ('random', N, seed) or a list of id strings"
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


# --- datasets ------------------------------------------------------------------------------


class PairDataset(Dataset):
    """Image/mask file pairs read lazily; the base of :class:`VOCDataset` and :class:`FolderDataset`.

    Args:
        pairs: ``(image_path, mask_path)`` per item.
        class_names: one name per class (K = its length).
        palette: ``(K, 3)`` class colours (also used to read RGB masks).
        transforms: called as ``transforms(image, mask)``; ``None`` returns the raw pair.
        void_index: the ignored mask value.
    """

    def __init__(self, pairs, class_names, palette, transforms=None, void_index=VOID_INDEX):
        self.pairs = list(pairs)
        self.class_names = tuple(class_names)
        self.palette = np.asarray(palette, dtype=np.uint8)
        self.num_classes = len(self.class_names)
        self.transforms = transforms
        self.void_index = void_index

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        image_path, mask_path = self.pairs[index]
        image = read_image(image_path)
        mask = read_mask(mask_path, self.palette, self.void_index)
        check_pair(image, mask, self.num_classes, mask_path, self.void_index)
        if self.void_index != VOID_INDEX:
            mask = tv_tensors.Mask(torch.where(mask == self.void_index, VOID_INDEX, mask))
        if self.transforms is not None:
            return self.transforms(image, mask)
        return image, mask


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        if (folder / (stem + suffix)).is_file():
            return folder / (stem + suffix)
    return None


class VOCDataset(PairDataset):
    """A folder in PASCAL VOC layout (http://host.robots.ox.ac.uk/pascal/VOC/voc2012/).

    Layout: ``JPEGImages/<id>.jpg`` (or .png), ``SegmentationClass/<id>.png`` palette
    masks and ``ImageSets/Segmentation/<split>.txt`` (one id per line). The split
    ``train_aug`` reads masks from ``SegmentationClassAug/<id>.png`` (the SBD
    augmented set, see :func:`dlcourse.download.prepare_train_aug`). A ``classes.json``
    in the root (see :func:`load_classes`) replaces the 21 VOC classes.

    Args:
        root: the folder that holds ``JPEGImages/``.
        split: name of a split file, e.g. ``"train"``, ``"val"``, ``"train_aug"``.
        subset: which ids to keep, see :func:`select_ids`.
        transforms: joint transform ``(image, mask) -> (image, mask)``.

    Shape: item i is ``((3, H, W) uint8, (H, W) int64)`` without transforms.
    """

    def __init__(self, root, split="train", subset=None, transforms=None):
        root = Path(root).expanduser()
        if not (root / "JPEGImages").is_dir():
            raise FileNotFoundError(
                f"VOCDataset(root={str(root)!r}): no JPEGImages/ folder there; point root at the "
                "folder that holds JPEGImages/ (e.g. .../VOCdevkit/VOC2012) or download it with "
                "dlcourse.download.download_voc()"
            )
        split_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not split_file.is_file():
            known = sorted(p.stem for p in split_file.parent.glob("*.txt"))
            hint = (
                " (run dlcourse.download.prepare_train_aug first)" if split == "train_aug" else ""
            )
            raise FileNotFoundError(
                f"VOCDataset(split={split!r}): {split_file} is missing; known splits: {known}{hint}"
            )
        ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        mask_dir = root / ("SegmentationClassAug" if split == "train_aug" else "SegmentationClass")
        pairs = []
        for item in select_ids(ids, subset):
            image_path = _find_image(root / "JPEGImages", item)
            if image_path is None:
                raise FileNotFoundError(
                    f"id {item!r} of {split_file} has no image {root / 'JPEGImages' / item}.jpg; remove the id or restore the file"
                )
            if not (mask_dir / f"{item}.png").is_file():
                raise FileNotFoundError(
                    f"id {item!r} of {split_file} has no mask {mask_dir / item}.png; remove the id or restore the file"
                )
            pairs.append((image_path, mask_dir / f"{item}.png"))
        if (root / "classes.json").is_file():
            spec = load_classes(root / "classes.json")
            names, palette, void = spec["names"], spec["colors"], spec["void"]
        else:
            names, palette, void = VOC_CLASSES, VOC_PALETTE, VOID_INDEX
        super().__init__(pairs, names, palette, transforms, void)
        self.root, self.split, self.ids = root, split, [p[0].stem for p in pairs]


def find_voc(*candidates: str | Path | None) -> Path | None:
    """The first folder in VOC layout among ``candidates``, ``$DLCOURSE_VOC`` and the cache.

    A folder counts when it holds ``JPEGImages/`` and ``ImageSets/Segmentation/``.
    The cache place is where :func:`dlcourse.download.download_voc` unpacks VOC 2012
    (``<cache>/VOCdevkit/VOC2012``). Returns ``None`` when none is found; nothing is
    downloaded.
    """
    places = [*candidates, os.environ.get("DLCOURSE_VOC"), cache_dir() / "VOCdevkit" / "VOC2012"]
    for place in places:
        if place is None or str(place) == "":
            continue
        root = Path(place).expanduser()
        if (root / "JPEGImages").is_dir() and (root / "ImageSets" / "Segmentation").is_dir():
            return root
    return None


class FolderDataset(PairDataset):
    """Your own data: ``images/<name>.jpg|png`` with ``masks/<name>.png`` and a classes file.

    Masks hold class indices (palette or grey PNG) or class colours (RGB PNG, mapped
    through the classes file). Every image needs a mask of the same name and vice versa.

    Args:
        root: folder with ``images/``, ``masks/`` and ``classes.json`` (see :func:`load_classes`).
        subset: which names to keep (sorted order), see :func:`select_ids`.
        transforms: joint transform ``(image, mask) -> (image, mask)``.
        classes_file: the classes file, relative to ``root``.
    """

    def __init__(self, root, subset=None, transforms=None, classes_file="classes.json"):
        root = Path(root).expanduser()
        for sub in ("images", "masks"):
            if not (root / sub).is_dir():
                raise FileNotFoundError(
                    f"FolderDataset(root={str(root)!r}): no {sub}/ folder; expected images/ and masks/ inside root"
                )
        spec = load_classes(root / classes_file)
        images = {
            p.stem: p
            for p in sorted((root / "images").iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        }
        masks = {
            p.stem: p for p in sorted((root / "masks").iterdir()) if p.suffix.lower() == ".png"
        }
        if images.keys() != masks.keys():
            lonely = sorted(images.keys() ^ masks.keys())[:5]
            raise FileNotFoundError(
                f"FolderDataset: {lonely} have an image or a mask but not both; every images/<name> needs masks/<name>.png"
            )
        if not images:
            raise FileNotFoundError(f"FolderDataset: {root / 'images'} holds no .jpg/.png images")
        names = select_ids(sorted(images), subset)
        super().__init__(
            [(images[n], masks[n]) for n in names],
            spec["names"],
            spec["colors"],
            transforms,
            spec["void"],
        )
        self.root, self.ids = root, names


def class_frequencies(dataset: PairDataset) -> torch.Tensor:
    """Pixels per class over a dataset's raw masks (void excluded), an int64 tensor of length K."""
    counts = torch.zeros(dataset.num_classes, dtype=torch.int64)
    for _, mask_path in dataset.pairs:
        mask = read_mask(mask_path, dataset.palette, dataset.void_index)
        mask = mask[(mask != dataset.void_index) & (mask >= 0) & (mask < dataset.num_classes)]
        counts += torch.bincount(mask.reshape(-1), minlength=dataset.num_classes)
    return counts
