"""Tests of dlcourse.viz: palette, colouring, overlays, figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt

from dlcourse import viz


def test_voc_classes_are_the_21_pascal_classes():
    assert len(viz.VOC_CLASSES) == 21
    assert viz.VOC_CLASSES[0] == "background"
    assert viz.VOC_CLASSES[15] == "person"
    assert viz.VOC_CLASSES[20] == "tvmonitor"


def test_palette_matches_the_voc_devkit_colours():
    palette = viz.VOC_PALETTE
    assert palette.shape == (21, 3) and palette.dtype == np.uint8
    known = {
        0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128),
        7: (128, 128, 128), 8: (64, 0, 0), 12: (64, 0, 128), 15: (192, 128, 128),
        16: (0, 64, 0), 20: (0, 64, 128),
    }  # fmt: skip
    for index, rgb in known.items():
        assert tuple(palette[index]) == rgb, viz.VOC_CLASSES[index]
    assert len({tuple(color) for color in palette}) == 21
    assert not palette.flags.writeable


def test_full_colormap_ends_with_the_void_colour_of_voc_pngs():
    colormap = viz.voc_colormap(256)
    assert tuple(colormap[255]) == viz.VOID_COLOR
    np.testing.assert_array_equal(colormap[:21], viz.VOC_PALETTE)
    with pytest.raises(ValueError, match="between 1 and 256"):
        viz.voc_colormap(0)


def test_palette_agrees_with_a_real_voc_png():
    from PIL import Image

    from dlcourse.env import project_root

    root = project_root().parent / "shared" / "data" / "voc2012-subset" / "SegmentationClass"
    files = sorted(root.glob("*.png"))[:1] if root.is_dir() else []
    if not files:
        pytest.skip("the VOC subset is not beside the checkout (../shared/data)")
    with Image.open(files[0]) as png:
        assert png.mode == "P"
        stored = np.asarray(png.getpalette()[: 21 * 3], dtype=np.uint8).reshape(21, 3)
    np.testing.assert_array_equal(stored, viz.VOC_PALETTE)


def test_colorize_mask_looks_up_each_class_and_void():
    mask = np.array([[0, 1], [15, 255]])
    colored = viz.colorize_mask(mask)
    assert colored.shape == (2, 2, 3) and colored.dtype == np.uint8
    assert tuple(colored[0, 0]) == (0, 0, 0)
    assert tuple(colored[0, 1]) == (128, 0, 0)
    assert tuple(colored[1, 0]) == (192, 128, 128)
    assert tuple(colored[1, 1]) == viz.VOID_COLOR


def test_colorize_mask_accepts_tensors_and_custom_palettes():
    palette = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    colored = viz.colorize_mask(torch.tensor([[1, 0, 1]]), palette=palette)
    np.testing.assert_array_equal(colored[0], [[40, 50, 60], [10, 20, 30], [40, 50, 60]])


@pytest.mark.parametrize("bad", [21, 254, -1, 256])
def test_colorize_mask_rejects_values_outside_the_classes(bad):
    with pytest.raises(ValueError, match=rf"values \[{bad}\].*0\.\.20 or void 255"):
        viz.colorize_mask(np.array([[0, bad]]))


def test_colorize_mask_rejects_non_label_maps():
    with pytest.raises(TypeError, match="integer class indices"):
        viz.colorize_mask(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"2-D label map"):
        viz.colorize_mask(np.zeros((2, 2, 3), dtype=np.uint8))


def test_overlay_blends_only_object_pixels_by_default():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    mask = np.array([[0, 1], [255, 15]])
    out = viz.overlay_mask(image, mask, alpha=0.25)
    assert tuple(out[0, 0]) == (100, 100, 100)  # background untouched
    assert tuple(out[1, 0]) == (100, 100, 100)  # void untouched
    assert tuple(out[0, 1]) == (107, 75, 75)  # 0.75*100 + 0.25*(128, 0, 0)
    assert tuple(out[1, 1]) == (123, 107, 107)  # 0.75*100 + 0.25*(192, 128, 128)
    tinted = viz.overlay_mask(image, mask, alpha=0.5, include_background=True)
    assert tuple(tinted[0, 0]) == (50, 50, 50)


def test_overlay_alpha_extremes_give_the_photo_and_the_colours():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    mask = rng.integers(1, 21, (4, 5))
    np.testing.assert_array_equal(viz.overlay_mask(image, mask, alpha=0.0), image)
    np.testing.assert_array_equal(viz.overlay_mask(image, mask, alpha=1.0), viz.colorize_mask(mask))


def test_overlay_accepts_float_tensors_in_chw_layout():
    image = torch.full((3, 2, 2), 0.4)
    out = viz.overlay_mask(image, torch.ones(2, 2, dtype=torch.long), alpha=0.5)
    assert tuple(out[0, 0]) == (115, 51, 51)  # 0.5*102 + 0.5*(128, 0, 0), rounded half to even


def test_overlay_rejects_size_mismatch_and_bad_alpha():
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"image is 4x6 .* mask is 6x4.*nearest"):
        viz.overlay_mask(image, np.zeros((6, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="alpha must be in"):
        viz.overlay_mask(image, np.zeros((4, 6), dtype=np.int64), alpha=1.5)


def test_to_numpy_image_converts_layouts_and_ranges():
    gray = viz.to_numpy_image(np.array([[0, 255]], dtype=np.uint8))
    assert gray.shape == (1, 2, 3) and tuple(gray[0, 1]) == (255, 255, 255)
    chw = viz.to_numpy_image(torch.tensor([[[1.0]], [[0.5]], [[2.0]]]))
    assert tuple(chw[0, 0]) == (255, 128, 255)
    with pytest.raises(ValueError, match="expected shape"):
        viz.to_numpy_image(np.zeros((2, 2, 5)))


def test_legend_handles_name_and_colour_each_class():
    handles = viz.legend_handles([0, 15, 255])
    assert [h.get_label() for h in handles] == ["background", "person", "void"]
    np.testing.assert_allclose(handles[1].get_facecolor()[:3], np.array([192, 128, 128]) / 255)
    with pytest.raises(ValueError, match="not a class index"):
        viz.legend_handles([21])


def test_show_segmentation_draws_one_panel_per_input_and_a_legend():
    image = np.zeros((8, 10, 3), dtype=np.uint8)
    mask = np.zeros((8, 10), dtype=np.int64)
    mask[2:5, 3:7] = 15
    fig = viz.show_segmentation(image, mask, mask)
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["image", "ground truth", "prediction"]
    np.testing.assert_array_equal(axes[1].images[0].get_array(), viz.colorize_mask(mask))
    legend = axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["background", "person"]
    plt.close(fig)
    with pytest.raises(ValueError, match="ground truth"):
        viz.show_segmentation(image, np.zeros((3, 3), dtype=np.int64))


def test_show_palette_labels_every_class():
    fig = viz.show_palette()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[15] == "15\nperson" and len(texts) == 21
    plt.close(fig)


def test_show_images_lays_pictures_out_in_reading_order():
    pictures = [np.full((10, 20, 3), value, dtype=np.uint8) for value in (0, 60, 120, 180, 240)]
    fig = viz.show_images(pictures, titles=list("abcde"), columns=3, size=1.0, dpi=50)
    axes = fig.axes
    assert len(axes) == 6 and [ax.get_title() for ax in axes] == ["a", "b", "c", "d", "e", ""]
    assert [int(ax.images[0].get_array()[0, 0, 0]) for ax in axes[:5]] == [0, 60, 120, 180, 240]
    assert not axes[5].images and not any(
        ax.axison for ax in axes
    )  # the empty sixth cell stays blank
    assert tuple(fig.get_size_inches()) == pytest.approx(
        (2.0 * 3, 1.3 * 2)
    )  # 2:1 pictures, 3 columns, 2 rows
    plt.close(fig)
    with pytest.raises(ValueError, match="2 titles for 5 pictures"):
        viz.show_images(pictures, titles=["a", "b"])
    with pytest.raises(ValueError, match="columns"):
        viz.show_images(pictures, columns=0)
    with pytest.raises(ValueError, match="at least one picture"):
        viz.show_images([])
