"""Tests of dlcourse.error_view: the error map, the error gallery and the confusion heatmap."""

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt

from dlcourse import error_view


def test_error_map_colours():
    pred = np.array([[0, 1], [2, 2]])
    target = np.array([[0, 2], [255, 2]])
    picture = error_view.error_map(pred, torch.as_tensor(target))
    assert picture.dtype == np.uint8 and picture.shape == (2, 2, 3)
    assert tuple(picture[0, 0]) == error_view.ERROR_COLORS["correct"]
    assert tuple(picture[0, 1]) == error_view.ERROR_COLORS["wrong"]
    assert tuple(picture[1, 0]) == error_view.ERROR_COLORS["void"]
    with pytest.raises(ValueError, match="pred"):
        error_view.error_map(pred, target[:1])


def test_plot_confusion_normalises_rows():
    cm = torch.tensor([[2, 1, 0], [0, 0, 0], [0, 1, 3]])
    fig = error_view.plot_confusion(cm, ["bg", "a", "b"])
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    assert shown[1].tolist() == [0, 0, 0]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["bg", "a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError, match="class_names"):
        error_view.plot_confusion(cm, ["bg"])


def test_show_error_gallery_layout():
    image = np.zeros((6, 8, 3), dtype=np.uint8)
    mask = np.zeros((6, 8), dtype=np.int64)
    fig = error_view.show_error_gallery(
        [image, image], [mask, mask], [mask, mask + 1], titles=["a", "b"]
    )
    assert len(fig.axes) == 8
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        "image",
        "ground truth",
        "prediction",
        "errors",
    ]
    plt.close(fig)
    with pytest.raises(ValueError, match="equally many"):
        error_view.show_error_gallery([image], [mask, mask], [mask])
