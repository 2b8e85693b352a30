"""dlcourse.recipe: the datasets and the model a TrainConfig describes."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse.config import preset
from dlcourse.recipe import build_datasets, build_model_for, folder_split


def test_build_model_for_passes_the_backbone_settings(tmp_path):
    import torchvision

    from dlcourse.layers import FrozenBatchNorm2d

    net = torchvision.models.resnet18()
    torch.nn.init.constant_(net.conv1.weight, 0.5)
    path = tmp_path / "r18.pth"
    torch.save(net.state_dict(), path)
    cfg = preset("fast", weights_backbone=str(path), freeze_bn=True)
    model = build_model_for(cfg)
    assert torch.all(model.backbone.conv1.weight == 0.5)
    assert isinstance(model.backbone.bn1, FrozenBatchNorm2d)
    assert not isinstance(model.classifier[0].convs[0][1], FrozenBatchNorm2d)
    # "pretrained": frozen only when the backbone starts from weights
    auto = preset("fast", weights_backbone=str(path), freeze_bn="pretrained")
    assert isinstance(build_model_for(auto).backbone.bn1, FrozenBatchNorm2d)
    scratch = build_model_for(auto.replace(weights_backbone=None))
    assert type(scratch.backbone.bn1) is nn.BatchNorm2d
    with pytest.raises(ValueError, match="freeze_bn"):
        preset("fast", freeze_bn="yes")
    with pytest.raises(ValueError, match="weights_backbone"):
        build_model_for(preset("fast", model_kwargs={"weights_backbone": "imagenet"}))
    with pytest.raises(ValueError, match="weights_backbone=5"):
        preset("fast", weights_backbone=5)


def _own_folder(root, n):
    from PIL import Image

    from dlcourse.files import write_classes

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.fromarray(np.full((24, 24, 3), 10 * i, dtype=np.uint8)).save(
            root / "images" / f"p{i:02d}.png"
        )
        mask = np.zeros((24, 24), dtype=np.uint8)
        mask[8:16, 8:16] = 1
        Image.fromarray(mask).save(root / "masks" / f"p{i:02d}.png")
    write_classes(root / "classes.json", ["background", "thing"])
    return root


def test_build_datasets_reads_a_folder_of_your_own_and_splits_every_fifth(tmp_path):
    root = _own_folder(tmp_path / "mine", 12)
    cfg = preset("fast", data=str(root), num_classes=2, crop_size=24)
    train_set, val_set = build_datasets(cfg, tmp_path)
    assert val_set.ids == ["p04", "p09"]  # the 5th and the 10th name in sorted order
    assert train_set.ids == [f"p{i:02d}" for i in range(12) if i not in (4, 9)]
    image, mask = train_set[0]
    assert tuple(image.shape) == (3, 24, 24) and image.dtype == torch.float32
    assert set(torch.unique(val_set[0][1]).tolist()) == {0, 1}
    subsets = build_datasets(cfg.replace(train_subset=3, val_subset=["p09"]), tmp_path)
    assert subsets[0].ids == ["p00", "p01", "p02"] and subsets[1].ids == ["p09"]
    assert folder_split(["b", "a"]) == (["a"], ["b"])  # fewer than 5: the last name validates


def test_build_datasets_folder_errors(tmp_path):
    one = _own_folder(tmp_path / "one", 1)
    with pytest.raises(ValueError, match="holds 1 image/mask pair.*at least 2"):
        build_datasets(preset("fast", data=str(one), num_classes=2), tmp_path)
    root = _own_folder(tmp_path / "mine", 6)
    with pytest.raises(ValueError, match="num_classes=4 but .* has 2 classes"):
        build_datasets(preset("fast", data=str(root), num_classes=4), tmp_path)
