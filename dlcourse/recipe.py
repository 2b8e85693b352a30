"""From settings to a run: the datasets and the model that a :class:`~dlcourse.config.TrainConfig` describes.

:func:`build_datasets` reads the synthetic set, a VOC folder or a folder of your own
(split by :func:`folder_split`) with the course's transforms; :func:`build_model_for`
builds the registered model with the backbone weights and batch-norm handling that the
settings ask for. ``python -m dlcourse.train``, the lessons' model and the family's
schedule all start here.

Used in: 07, 10.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn
from torch.utils.data import Dataset

from dlcourse.config import TrainConfig
from dlcourse.data import FolderDataset, VOCDataset, select_ids
from dlcourse.models import build_model
from dlcourse.synthetic import make_synthetic
from dlcourse.transforms import eval_transforms, train_transforms


def build_datasets(cfg: TrainConfig, workdir: str | Path) -> tuple[Dataset, Dataset]:
    """The training and validation sets that ``cfg`` describes, with the course's transforms.

    ``cfg.data == "synthetic"`` writes the synthetic set under ``workdir/synthetic``;
    otherwise ``cfg.data`` is a folder in VOC layout (``JPEGImages/``, ...) or a folder of
    your own in the :class:`dlcourse.data.FolderDataset` layout (``images/``, ``masks/``,
    ``classes.json``). A folder of your own has no split files, so it is split by a fixed
    rule: of the names in sorted order, every fifth (the 5th, 10th, ...) validates and the
    others train (at least one of each: a folder needs 2 pairs or more). Then
    ``cfg.train_subset`` and ``cfg.val_subset`` select within each part, as for VOC.
    """
    root = cfg.data
    if root == "synthetic":
        root = make_synthetic(Path(workdir) / "synthetic", **cfg.synthetic)
    elif not root:
        raise ValueError(
            "TrainConfig.data is empty: pass --data ROOT, a folder in VOC layout such as "
            "VOCdevkit/VOC2012 (see dlcourse.download) or 'synthetic'"
        )

    def subset(value):
        return tuple(value) if isinstance(value, list) and value[:1] == ["random"] else value

    train_tf = train_transforms(cfg.crop_size, cfg.scale_range)
    if (Path(root) / "images").is_dir() and not (Path(root) / "JPEGImages").is_dir():
        train_set, val_set = _folder_datasets(Path(root), cfg, subset, train_tf, eval_transforms())
    else:
        train_set = VOCDataset(root, cfg.train_split, subset(cfg.train_subset), train_tf)
        val_set = VOCDataset(root, cfg.val_split, subset(cfg.val_subset), eval_transforms())
    if train_set.num_classes != cfg.num_classes:
        raise ValueError(
            f"TrainConfig.num_classes={cfg.num_classes} but {root} has "
            f"{train_set.num_classes} classes; set num_classes={train_set.num_classes}"
        )
    return train_set, val_set


def folder_split(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a folder's names (sorted) by the fixed rule: every fifth validates, the rest train."""
    names = sorted(names)
    if len(names) < 2:
        raise ValueError(
            f"your data folder holds {len(names)} image/mask pair(s); it needs at least 2 "
            "(one to train on, one to validate)"
        )
    val = names[4::5] or names[-1:]
    chosen = set(val)
    return [n for n in names if n not in chosen], val


def _folder_datasets(root: Path, cfg: TrainConfig, subset, train_tf, val_tf):
    """Training and validation :class:`dlcourse.data.FolderDataset` of a folder of your own."""
    names = FolderDataset(root).ids  # checks the layout, the classes file and the pairs
    train_names, val_names = folder_split(names)
    train_set = FolderDataset(root, select_ids(train_names, subset(cfg.train_subset)), train_tf)
    val_set = FolderDataset(root, select_ids(val_names, subset(cfg.val_subset)), val_tf)
    return train_set, val_set


def build_model_for(cfg: TrainConfig) -> nn.Module:
    """The model ``cfg`` describes: ``build_model(cfg.model, num_classes=..., **cfg.model_kwargs)``.

    ``cfg.weights_backbone`` (``"imagenet"``, a ``.pth`` path or ``None``) and
    ``cfg.freeze_bn`` (``"pretrained"``: only when there are backbone weights) are passed
    on; ``model_kwargs`` may not set them a second time.
    """
    twice = sorted({"weights_backbone", "freeze_bn", "num_classes"} & set(cfg.model_kwargs))
    if twice:
        raise ValueError(
            f"TrainConfig.model_kwargs sets {twice}, which are settings of their own; "
            f"use --set {twice[0]}=... instead"
        )
    freeze = cfg.freeze_bn is True or (
        cfg.freeze_bn == "pretrained" and cfg.weights_backbone is not None
    )
    return build_model(cfg.model, num_classes=cfg.num_classes, weights_backbone=cfg.weights_backbone,
                       freeze_bn=freeze, **cfg.model_kwargs)  # fmt: skip
