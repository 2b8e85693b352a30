"""Tests for dlcourse.data: reading and checking files, VOC-layout folders, own folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from dlcourse import data
from dlcourse.data import FolderDataset, VOCDataset, class_frequencies, select_ids
from dlcourse.files import write_classes
from dlcourse.synthetic import make_synthetic
from dlcourse.transforms import RandomScale, make_loader, train_transforms
from dlcourse.viz import VOID_COLOR, voc_colormap

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


def test_class_frequencies_match_bincount(synthetic):
    dataset = VOCDataset(synthetic, "val")
    total = torch.zeros(4, dtype=torch.int64)
    for _, mask in (dataset[i] for i in range(len(dataset))):
        total += torch.bincount(mask[mask != 255], minlength=4)
    assert torch.equal(class_frequencies(dataset), total)


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
