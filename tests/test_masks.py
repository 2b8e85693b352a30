"""dlcourse.masks: each problem the inspector names, on hand-made files."""

import numpy as np
import pytest
from PIL import Image

from dlcourse.data import FolderDataset
from dlcourse.files import write_classes
from dlcourse.masks import inspect_masks, remap_masks


def _folder(root, masks, size=(6, 8), classes=("background", "thing"), rgb_masks=False):
    """A FolderDataset folder: a grey photo per mask; ``masks`` maps name -> array or None."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    if classes is not None:
        write_classes(root / "classes.json", classes)
    for name, mask in masks.items():
        Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(root / "images" / f"{name}.jpg")
        if mask is not None:
            Image.fromarray(mask.astype(np.uint8)).save(root / "masks" / f"{name}.png")
    return root


def _square(size=(6, 8), value=1):
    mask = np.zeros(size, np.uint8)
    mask[1:4, 2:6] = value
    return mask


def test_a_clean_folder_has_no_problem(tmp_path):
    root = _folder(tmp_path / "d", {"a": _square(), "b": _square()})
    report = inspect_masks(root)
    assert report.ok and report.pairs == 2 and report.num_classes == 2
    assert report.pixels.tolist() == [2 * (48 - 12), 2 * 12]
    assert report.void_share == 0.0
    # median-frequency weights: frequencies 0.75 and 0.25, median 0.5
    np.testing.assert_allclose(report.class_weights(), [0.5 / 0.75, 0.5 / 0.25])
    assert "No problems found" in report._repr_markdown_()


def test_binary_0_255_masks_are_named_and_fixed(tmp_path):
    root = _folder(tmp_path / "d", {"a": _square(value=255), "b": _square()})
    report = inspect_masks(root)
    assert report.kinds() == ["binary 0/255"]
    assert report.problems[0].files == ("a",)
    assert "{255: 1}" in report.problems[0].fix
    fixed = remap_masks(root, tmp_path / "fixed", {255: 1})
    assert inspect_masks(fixed).ok
    image, mask = FolderDataset(fixed)[0]
    assert int((mask == 1).sum()) == 12 and Image.open(fixed / "masks" / "a.png").mode == "P"


def test_values_beyond_the_classes(tmp_path):
    root = _folder(tmp_path / "d", {"a": _square(value=7), "b": _square()})
    report = inspect_masks(root)
    assert report.kinds() == ["values beyond classes"]
    assert report.problems[0].files == ("a [7]",)


def test_rgb_masks_without_colours_and_with_unknown_colours(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[1:4, 2:6] = (128, 0, 0)  # the VOC colour of class 1
    root = _folder(tmp_path / "nofile", {"a": rgb}, classes=None)
    assert inspect_masks(root, num_classes=2).kinds() == ["rgb masks"]
    root = _folder(tmp_path / "withfile", {"a": rgb})
    report = inspect_masks(root)
    assert report.ok and report.pixels.tolist() == [36, 12]  # RGB read through the colours
    odd = rgb.copy()
    odd[0, 0] = (1, 2, 3)
    root = _folder(tmp_path / "odd", {"a": odd})
    assert inspect_masks(root).kinds() == ["unknown colours"]


def test_size_mismatch_unpaired_and_unreadable(tmp_path):
    root = _folder(tmp_path / "d", {"a": _square(size=(5, 8)), "b": None, "c": _square()})
    (root / "masks" / "c.png").write_bytes(b"not a png")
    (root / "images" / "a.jpg").unlink()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(root / "images" / "a.jpg")
    report = inspect_masks(root)
    kinds = dict(zip(report.kinds(), report.problems, strict=True))
    assert set(kinds) == {"unpaired", "unreadable", "size mismatch"}
    assert kinds["unpaired"].files == ("b",)
    assert kinds["unreadable"].files == ("c",)
    assert kinds["size mismatch"].files == ("a",)


def test_much_void_is_reported(tmp_path):
    mask = np.full((6, 8), 255, np.uint8)
    mask[0, :4] = 1
    mask[1, :] = 0
    root = _folder(tmp_path / "d", {"a": mask})
    report = inspect_masks(root)
    assert report.kinds() == ["much void"]
    assert report.void_share == pytest.approx(36 / 48)


def test_bad_arguments_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="images/ and masks/"):
        inspect_masks(tmp_path)
    root = _folder(tmp_path / "d", {"a": _square()}, classes=None)
    with pytest.raises(ValueError, match="num_classes="):
        inspect_masks(root)
    root = _folder(tmp_path / "e", {"a": _square()})
    with pytest.raises(ValueError, match="lists 2 classes"):
        inspect_masks(root, num_classes=3)
    with pytest.raises(ValueError, match="new folder"):
        remap_masks(root, root)
