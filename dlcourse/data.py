"""Segmentation data: VOC-layout folders, your own folders, a synthetic set, joint transforms.

Every dataset here returns ``(image, mask)``: the image a ``(3, H, W)`` uint8
``tv_tensors.Image``, the mask an ``(H, W)`` int64 ``tv_tensors.Mask`` holding
class indices (255 = void). Files are read lazily, one item at a time, and
checked as they are read: a broken file raises an error that names it, nothing
is skipped. Downloading VOC and SBD lives in :mod:`dlcourse.download`.

Used in: 06, 07, 08.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from dlcourse.env import cache_dir, num_workers
from dlcourse.voc import VOC_CLASSES, VOC_PALETTE, VOID_COLOR, VOID_INDEX, voc_colormap

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "background",
    "red-frame shape",
    "green-frame shape",
    "olive-frame shape",
)
"""Classes of :func:`make_synthetic`: a shape takes the class whose colour frames its image."""

SYNTHETIC_PALETTE: np.ndarray = voc_colormap(len(SYNTHETIC_CLASSES))
"""Colours of :data:`SYNTHETIC_CLASSES` (the first VOC colours; also the frame colours)."""


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


# --- joint transforms ----------------------------------------------------------------------


class RandomScale:
    """Resize image and mask by one random factor in ``[low, high]`` (mask: nearest neighbour)."""

    def __init__(self, low: float = 0.5, high: float = 2.0) -> None:
        if not 0 < low <= high:
            raise ValueError(f"RandomScale(low={low}, high={high}): need 0 < low <= high")
        self.low, self.high = low, high

    def __call__(self, image, mask):
        factor = float(torch.empty(()).uniform_(self.low, self.high))
        h, w = image.shape[-2:]
        size = [max(1, round(h * factor)), max(1, round(w * factor))]
        return v2.functional.resize(image, size, antialias=True), v2.functional.resize(mask, size)

    def __repr__(self) -> str:
        return f"RandomScale(low={self.low}, high={self.high})"


def _finish(mean, std):
    return [v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
            v2.Normalize(mean=list(mean), std=list(std))]  # fmt: skip


def train_transforms(crop_size: int = 321, scale_range: tuple[float, float] = (0.5, 2.0),
                     flip: bool = True, jitter: float = 0.0,
                     mean=IMAGENET_MEAN, std=IMAGENET_STD) -> v2.Compose:  # fmt: skip
    """DeepLab's training augmentation as one joint transform ``(image, mask) -> (image, mask)``.

    Random scale, pad to ``crop_size`` (image with the mean colour, mask with 255),
    random crop, horizontal flip, optional colour jitter, then float conversion and
    normalisation of the image. Masks are always resized with nearest neighbour.
    Inputs are a ``tv_tensors.Image`` and a ``tv_tensors.Mask``, as the datasets here
    return them (the types tell torchvision which one is the mask).
    """
    if not isinstance(crop_size, int) or crop_size < 1:
        raise ValueError(f"train_transforms(crop_size={crop_size!r}): must be a positive int")
    fill = {tv_tensors.Image: tuple(round(255 * m) for m in mean), tv_tensors.Mask: VOID_INDEX}
    steps: list[Callable] = [RandomScale(*scale_range)] if scale_range else []
    steps.append(v2.RandomCrop(crop_size, pad_if_needed=True, fill=fill))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if jitter:
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    return v2.Compose(steps + _finish(mean, std))


def eval_transforms(mean=IMAGENET_MEAN, std=IMAGENET_STD) -> v2.Compose:
    """Evaluation transform: the full image, converted to float and normalised; mask untouched."""
    return v2.Compose(_finish(mean, std))


def pad_collate(batch):
    """Stack ``(image, mask)`` pairs of different sizes: pad right/bottom, image 0, mask 255."""
    height = max(int(image.shape[-2]) for image, _ in batch)
    width = max(int(image.shape[-1]) for image, _ in batch)
    images = torch.zeros(len(batch), batch[0][0].shape[0], height, width, dtype=batch[0][0].dtype)
    masks = torch.full((len(batch), height, width), VOID_INDEX, dtype=torch.int64)
    for i, (image, mask) in enumerate(batch):
        images[i, :, : image.shape[-2], : image.shape[-1]] = image
        masks[i, : mask.shape[-2], : mask.shape[-1]] = mask
    return images, masks


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                workers: int | None = None, sampler=None) -> DataLoader:  # fmt: skip
    """A DataLoader with the course defaults: :func:`dlcourse.env.num_workers` and :func:`pad_collate`."""
    workers = num_workers() if workers is None else workers
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, drop_last=drop_last, num_workers=workers,
                      collate_fn=pad_collate, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0)  # fmt: skip


# --- the synthetic set ---------------------------------------------------------------------


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
