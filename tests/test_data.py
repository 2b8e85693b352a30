"""Tests for dlcourse.data: VOC-layout reading, own folders, the synthetic set, transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from dlcourse import data
from dlcourse.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SYNTHETIC_CLASSES,
    SYNTHETIC_PALETTE,
    FolderDataset,
    RandomScale,
    VOCDataset,
    class_frequencies,
    colors_to_labels,
    eval_transforms,
    frame_distance,
    load_classes,
    make_loader,
    make_synthetic,
    pad_collate,
    read_image,
    read_mask,
    select_ids,
    synthetic_sample,
    train_transforms,
    write_classes,
)
from dlcourse.viz import VOC_PALETTE, VOID_COLOR, voc_colormap

VOC_SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "voc2012-subset"
needs_voc = pytest.mark.skipif(not VOC_SUBSET.is_dir(), reason="the VOC 2012 subset is not here")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic(
        tmp_path_factory.mktemp("syn") / "set", n_train=12, n_val=4, size=48, seed=3
    )


def _save_palette_png(path: Path, labels: np.ndarray) -> None:
    png = Image.fromarray(labels.astype(np.uint8))
    png.putpalette(voc_colormap(256).reshape(-1).tolist())
    png.save(path)


def _tiny_voc(root: Path, ids=("a", "b"), size=(6, 8)) -> Path:
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for number, item in enumerate(ids):
        Image.new("RGB", size[::-1], (10 * number, 20, 30)).save(
            root / "JPEGImages" / f"{item}.jpg"
        )
        labels = np.zeros(size, dtype=np.uint8)
        labels[1:3, 2:5] = number + 1
        labels[0, 0] = 255
        _save_palette_png(root / "SegmentationClass" / f"{item}.png", labels)
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids) + "\n")
    return root


# --- the synthetic set ---------------------------------------------------------------------


def test_make_synthetic_layout_and_determinism(tmp_path, synthetic):
    assert (synthetic / "ImageSets/Segmentation/train.txt").read_text().split() == [
        f"syn_{i:05d}" for i in range(12)
    ]
    assert len((synthetic / "ImageSets/Segmentation/val.txt").read_text().split()) == 4
    again = make_synthetic(tmp_path / "again", n_train=12, n_val=4, size=48, seed=3)
    other = make_synthetic(tmp_path / "other", n_train=12, n_val=4, size=48, seed=4)
    first = sorted((synthetic / "SegmentationClass").iterdir())
    assert len(first) == 16
    for path in first + sorted((synthetic / "JPEGImages").iterdir()):
        relative = path.relative_to(synthetic)
        assert path.read_bytes() == (again / relative).read_bytes()
    assert any(
        (synthetic / "JPEGImages" / p.name).read_bytes() != p.read_bytes()
        for p in (other / "JPEGImages").iterdir()
    )
    spec = load_classes(synthetic / "classes.json")
    assert spec["names"] == list(SYNTHETIC_CLASSES)
    np.testing.assert_array_equal(spec["colors"], SYNTHETIC_PALETTE)


def test_synthetic_labels_follow_the_frame_colour(synthetic):
    dataset = VOCDataset(synthetic, "train")
    assert dataset.class_names == SYNTHETIC_CLASSES and dataset.num_classes == 4
    for index in range(len(dataset)):
        image, mask = dataset[index]
        with Image.open(dataset.pairs[index][1]) as png:
            assert png.mode == "P"
        objects = set(mask.unique().tolist()) - {0, 255}
        assert len(objects) == 1  # one object class per image ...
        (k,) = objects
        # ... the class whose colour is the frame
        assert image[:, 0, 0].tolist() == SYNTHETIC_PALETTE[k].tolist()
        assert (mask == 255).any()  # object borders are void
        # the shapes stay clear of the frame by about a quarter of the image
        rows, cols = torch.nonzero(mask == k, as_tuple=True)
        assert rows.min() >= 48 * 0.19 and cols.max() <= 48 * 0.81


def test_make_synthetic_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        make_synthetic(tmp_path, n_train=0)
    with pytest.raises(ValueError, match="size"):
        make_synthetic(tmp_path, n_train=1, size=16)


# --- VOCDataset ----------------------------------------------------------------------------


def test_item_is_raw_image_and_exact_palette_indices(tmp_path):
    root = _tiny_voc(tmp_path / "voc")
    dataset = VOCDataset(root)
    assert len(dataset) == 2 and dataset.ids == ["a", "b"] and dataset.num_classes == 21
    image, mask = dataset[1]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8
    assert image.shape == (3, 6, 8)
    assert isinstance(mask, tv_tensors.Mask) and mask.dtype == torch.int64 and mask.shape == (6, 8)
    with Image.open(root / "SegmentationClass" / "b.png") as png:
        expected = np.asarray(png)
    np.testing.assert_array_equal(mask.numpy(), expected)
    assert mask[0, 0] == 255 and mask[1, 2] == 2


@needs_voc
def test_real_voc_subset():
    train = VOCDataset(VOC_SUBSET, "train")
    minival = VOCDataset(VOC_SUBSET, "minival")
    assert len(train) == 275 and len(minival) == 55
    image, mask = minival[0]
    with Image.open(VOC_SUBSET / "SegmentationClass" / f"{minival.ids[0]}.png") as png:
        assert png.mode == "P"
        np.testing.assert_array_equal(mask.numpy(), np.asarray(png))
    with Image.open(VOC_SUBSET / "JPEGImages" / f"{minival.ids[0]}.jpg") as jpg:
        np.testing.assert_array_equal(
            image.permute(1, 2, 0).numpy(), np.asarray(jpg.convert("RGB"))
        )
    assert max(image.shape[1:]) == 500
    values = set(mask.unique().tolist())
    assert values <= set(range(21)) | {255} and 255 in values
    picked = VOCDataset(VOC_SUBSET, "train", subset=("random", 5, 0))
    assert picked.ids == VOCDataset(VOC_SUBSET, "train", subset=("random", 5, 0)).ids
    assert set(picked.ids) <= set(train.ids)
    batch = next(iter(make_loader(VOCDataset(VOC_SUBSET, "minival", subset=2,
                                             transforms=train_transforms(65)), 2)))  # fmt: skip
    assert batch[0].shape == (2, 3, 65, 65) and batch[1].shape == (2, 65, 65)


def test_select_ids():
    ids = [f"id{i}" for i in range(10)]
    assert select_ids(ids, None) == ids
    assert select_ids(ids, 3) == ["id0", "id1", "id2"]
    picked = select_ids(ids, ("random", 4, 7))
    assert picked == select_ids(ids, ("random", 4, 7)) and len(set(picked)) == 4
    assert picked == sorted(picked, key=ids.index)  # file order is kept
    assert select_ids(ids, ["id5", "id1"]) == ["id5", "id1"]
    with pytest.raises(ValueError, match="subset=11"):
        select_ids(ids, 11)
    with pytest.raises(ValueError, match="not in the split"):
        select_ids(ids, ["nope"])
    with pytest.raises(TypeError, match="subset"):
        select_ids(ids, 2.5)


def test_bad_folders_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no JPEGImages"):
        VOCDataset(tmp_path / "nowhere")
    root = _tiny_voc(tmp_path / "voc")
    with pytest.raises(FileNotFoundError, match=r"val\.txt is missing; known splits: \['train'\]"):
        VOCDataset(root, "val")
    with pytest.raises(FileNotFoundError, match="prepare_train_aug"):
        VOCDataset(root, "train_aug")
    (root / "JPEGImages" / "b.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"id 'b' .* has no image .*b\.jpg"):
        VOCDataset(root)
    root = _tiny_voc(tmp_path / "voc2")
    (root / "SegmentationClass" / "a.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"id 'a' .* has no mask .*a\.png"):
        VOCDataset(root)


def test_bad_files_name_the_file(tmp_path):
    root = _tiny_voc(tmp_path / "voc", ids=("a", "b", "c", "d"))
    (root / "JPEGImages" / "a.jpg").write_bytes(b"not a jpeg at all")
    labels = np.zeros((6, 8), dtype=np.uint8)
    labels[2, 2] = 30
    _save_palette_png(root / "SegmentationClass" / "b.png", labels)
    _save_palette_png(root / "SegmentationClass" / "c.png", np.zeros((5, 8), dtype=np.uint8))
    Image.new("RGB", (8, 6), (128, 0, 0)).save(root / "SegmentationClass" / "d.png")
    dataset = VOCDataset(root)  # constructing reads no pixels
    with pytest.raises(ValueError, match=r"image file .*a\.jpg is not a readable image"):
        dataset[0]
    with pytest.raises(ValueError, match=r"b\.png holds values \[30\] .* 0\.\.20 nor void 255"):
        dataset[1]
    with pytest.raises(ValueError, match=r"c\.png is \(5, 8\) \(HxW\) but its image is \(6, 8\)"):
        dataset[2]
    # an RGB mask is read through the class colours: (128, 0, 0) is class 1
    assert set(dataset[3][1].unique().tolist()) == {1}
    with pytest.raises(ValueError, match=r"d\.png is a RGB image"):
        read_mask(root / "SegmentationClass" / "d.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image(root / "missing.jpg")


def test_train_aug_reads_segmentation_class_aug(tmp_path):
    root = _tiny_voc(tmp_path / "voc")
    (root / "SegmentationClassAug").mkdir()
    labels = np.full((6, 8), 7, dtype=np.uint8)
    Image.fromarray(labels).save(root / "SegmentationClassAug" / "a.png")  # grey PNG, as SBD's
    (root / "ImageSets/Segmentation/train_aug.txt").write_text("a\n")
    dataset = VOCDataset(root, "train_aug")
    assert dataset.ids == ["a"] and set(dataset[0][1].unique().tolist()) == {7}


# --- FolderDataset -------------------------------------------------------------------------


def _own_folder(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    colors = np.array([[0, 0, 0], [255, 200, 0], [0, 90, 255]], dtype=np.uint8)
    write_classes(root / "classes.json", ["ground", "road", "sky"], colors, void=99)
    Image.new("RGB", (5, 4), "gray").save(root / "images" / "one.png")
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[0] = colors[2]
    rgb[1, :2] = colors[1]
    rgb[3, 4] = VOID_COLOR
    Image.fromarray(rgb).save(root / "masks" / "one.png")
    Image.new("RGB", (5, 4), "white").save(root / "images" / "two.jpg")
    grey = np.full((4, 5), 2, dtype=np.uint8)
    grey[0, 0] = 99  # this folder's void value
    Image.fromarray(grey).save(root / "masks" / "two.png")
    return root


def test_folder_dataset_rgb_and_index_masks(tmp_path):
    root = _own_folder(tmp_path / "own")
    dataset = FolderDataset(root)
    assert dataset.ids == ["one", "two"] and dataset.class_names == ("ground", "road", "sky")
    _, mask = dataset[0]
    expected = np.zeros((4, 5), dtype=np.int64)
    expected[0], expected[1, :2], expected[3, 4] = 2, 1, 255
    np.testing.assert_array_equal(mask.numpy(), expected)
    _, mask = dataset[1]
    assert mask[0, 0] == 255 and int((mask == 2).sum()) == 19  # void 99 becomes 255
    assert class_frequencies(dataset).tolist() == [12, 2, 5 + 19]
    assert json.loads((root / "classes.json").read_text())["void"] == 99


def test_folder_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no images/ folder"):
        FolderDataset(tmp_path)
    root = _own_folder(tmp_path / "own")
    (root / "masks" / "two.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"\['two'\] have an image or a mask but not both"):
        FolderDataset(root)
    (root / "classes.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        FolderDataset(root)
    with pytest.raises(ValueError, match=r"colours \[\(1, 2, 3\)\] are not in the class colours"):
        colors_to_labels(np.array([[[1, 2, 3]]], dtype=np.uint8), VOC_PALETTE)


def test_class_frequencies_match_bincount(synthetic):
    dataset = VOCDataset(synthetic, "val")
    total = torch.zeros(4, dtype=torch.int64)
    for _, mask in (dataset[i] for i in range(len(dataset))):
        total += torch.bincount(mask[mask != 255], minlength=4)
    assert torch.equal(class_frequencies(dataset), total)


# --- transforms ----------------------------------------------------------------------------


def test_train_transforms_shapes_values_and_padding(synthetic):
    torch.manual_seed(0)
    dataset = VOCDataset(synthetic, "train", transforms=train_transforms(40, jitter=0.2))
    raw = VOCDataset(synthetic, "train")
    for index in range(4):
        image, mask = dataset[index]
        assert image.shape == (3, 40, 40) and image.dtype == torch.float32
        assert mask.shape == (40, 40) and mask.dtype == torch.int64
        # nearest neighbour: no new label values appear, only void from padding
        assert set(mask.unique().tolist()) <= set(raw[index][1].unique().tolist()) | {255}
    # a 20x20 image padded to 32: mask padding is 255, image padding is the mean (0 after normalising)
    image = tv_tensors.Image(torch.full((3, 20, 20), 200, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.ones(20, 20, dtype=torch.int64))
    out_image, out_mask = train_transforms(32, scale_range=None, flip=False)(image, mask)
    assert int((out_mask == 1).sum()) == 400 and int((out_mask == 255).sum()) == 32 * 32 - 400
    padded = out_image[:, out_mask == 255]
    assert padded.abs().max() < 0.01


def test_eval_transforms_normalise_like_by_hand(synthetic):
    image, mask = VOCDataset(synthetic, "val")[0]
    out_image, out_mask = eval_transforms()(image, mask)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    torch.testing.assert_close(out_image, (image.float() / 255 - mean) / std)
    assert torch.equal(out_mask, mask)


def test_random_scale_resizes_masks_with_nearest():
    torch.manual_seed(1)
    image = tv_tensors.Image(torch.randint(0, 255, (3, 10, 10), dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.randint(0, 3, (10, 10)))
    out_image, out_mask = RandomScale(2.0, 2.0)(image, mask)
    assert out_image.shape == (3, 20, 20)
    nearest = torch.nn.functional.interpolate(
        mask[None, None].float(), size=(20, 20), mode="nearest"
    )
    assert torch.equal(out_mask, nearest[0, 0].long())
    expected = v2.functional.resize(image.as_subclass(torch.Tensor), [20, 20], antialias=True)
    assert torch.equal(out_image, expected)
    with pytest.raises(ValueError, match="low"):
        RandomScale(0, 1)
    with pytest.raises(ValueError, match="crop_size"):
        train_transforms(0)


def test_pad_collate():
    batch = [(torch.ones(3, 2, 3), torch.zeros(2, 3, dtype=torch.int64)),
             (torch.ones(3, 4, 1), torch.ones(4, 1, dtype=torch.int64))]  # fmt: skip
    images, masks = pad_collate(batch)
    assert images.shape == (2, 3, 4, 3) and masks.shape == (2, 4, 3)
    assert masks[0, 3, 0] == 255 and masks[1, 0, 0] == 1 and masks[1, 0, 1] == 255
    assert images[0, :, 3].sum() == 0 and images[0, :, :2, :3].min() == 1


def test_make_loader_uses_course_workers(synthetic, monkeypatch):
    monkeypatch.setattr(data, "num_workers", lambda: 0)
    loader = make_loader(VOCDataset(synthetic, "val", transforms=eval_transforms()), 2)
    assert loader.num_workers == 0
    images, masks = next(iter(loader))
    assert images.shape == (2, 3, 48, 48) and masks.shape == (2, 48, 48)


def test_find_voc(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DLCOURSE_VOC", raising=False)
    assert data.find_voc(tmp_path / "nowhere", None) is None
    root = _tiny_voc(tmp_path / "voc")
    assert data.find_voc(tmp_path / "nowhere", root) == root
    monkeypatch.setenv("DLCOURSE_VOC", str(root))
    assert data.find_voc() == root
    monkeypatch.delenv("DLCOURSE_VOC")
    cached = _tiny_voc(tmp_path / "cache" / "VOCdevkit" / "VOC2012")
    assert data.find_voc() == cached


# --- the synthetic frame ------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 100])
def test_frame_distance_matches_the_synthetic_frame(size):
    distance = frame_distance(size)
    assert distance.shape == (size, size) and distance.dtype == torch.int64
    image, mask = synthetic_sample(size, np.random.default_rng(size))
    frame = (distance <= 0).numpy()
    colours = {tuple(c) for c in image[frame].tolist()}
    assert len(colours) == 1 and list(colours.pop()) in SYNTHETIC_PALETTE.tolist()
    assert distance.max() == (size - 1) // 2 - max(2, size // 16) + 1
    assert int(distance[size // 2, 0]) == 1 - max(2, size // 16)  # on the frame's outer edge
    assert not (mask[frame] > 0).any()  # shapes never touch the frame


def test_lesson_06_by_hand_code_matches_the_package(tmp_path):
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    lesson = project_root() / "notebooks" / "06_data_pipeline.ipynb"
    if not lesson.is_file():
        pytest.skip("lesson 06 is not in this checkout")
    ns = notebook_definitions(lesson)
    root = _tiny_voc(tmp_path / "voc", size=(20, 24))
    by_hand, package = ns["TinyVOC"](root), VOCDataset(root)
    assert len(by_hand) == len(package) == 2
    for (image_a, mask_a), (image_b, mask_b) in zip(by_hand, package, strict=True):
        assert torch.equal(image_a, image_b.as_subclass(torch.Tensor))
        assert torch.equal(mask_a, mask_b.as_subclass(torch.Tensor))
    image, mask = package[1]
    # factor 2, no crop offset: the by-hand step and RandomScale give the same mask
    hand_image, hand_mask = ns["scale_pad_crop_flip"](
        image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor), 2.0, 0, 0, 48, False
    )
    _, scaled_mask = RandomScale(2.0, 2.0)(image, mask)
    assert torch.equal(hand_mask[:40], scaled_mask.as_subclass(torch.Tensor))
    assert (hand_mask[40:] == 255).all() and hand_image.shape == (3, 48, 48)
