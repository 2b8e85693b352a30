"""Segmentation data sets: VOC-layout folders and your own folders, and their splits.

Every dataset here returns ``(image, mask)``: the image a ``(3, H, W)`` uint8
``tv_tensors.Image``, the mask an ``(H, W)`` int64 ``tv_tensors.Mask`` holding
class indices (255 = void). Files are read lazily, one item at a time, and
checked as they are read (:mod:`dlcourse.files`): a broken file raises an error
that names it, nothing is skipped. The synthetic set lives in
:mod:`dlcourse.synthetic`, the joint transforms and the DataLoader in
:mod:`dlcourse.transforms`, downloading VOC and SBD in :mod:`dlcourse.download`.

Used in: 06, 07, 08, 09, 10.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from dlcourse.env import cache_dir
from dlcourse.files import IMAGE_SUFFIXES, check_pair, load_classes, read_image, read_mask
from dlcourse.voc import VOC_CLASSES, VOC_PALETTE, VOID_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    in the root (see :func:`dlcourse.files.load_classes`) replaces the 21 VOC classes.

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
        root: folder with ``images/``, ``masks/`` and ``classes.json`` (see :func:`dlcourse.files.load_classes`).
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
