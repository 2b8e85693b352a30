"""The course's own trained model: the DeepLab that lessons 07, 08 and 09 share.

Lesson 07 trains DeepLab-v3 on a dilated ResNet-18 (the ``fast`` preset) on the
synthetic set of lesson 06; lesson 08 evaluates that model and lesson 09 refines
its predictions with a dense CRF. Each lesson must run on its own, so
:func:`lesson_model` trains the run once and keeps its checkpoint in the course
cache (``dlcourse.env.cache_dir() / "lesson-models"``); the next lesson that asks
for the same settings loads it in a second instead of training again. The file
name holds a hash of the settings and of the package version, so a changed
setting or a new release never reloads a stale model.

Used in: 07, 08, 09.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torch.utils.data import Dataset

import dlcourse
from dlcourse.checkpoint import load_checkpoint, save_checkpoint
from dlcourse.config import TrainConfig, preset
from dlcourse.env import cache_dir, fast_mode, get_device
from dlcourse.recipe import build_datasets, build_model_for
from dlcourse.train import fit


def lesson_config(fast: bool | None = None) -> TrainConfig:
    """The settings of the lessons' model: the ``fast`` preset, 300 steps (30 in fast mode).

    DeepLab-v3 on a dilated ResNet-18 at output stride 16, random initial weights, on
    64-px synthetic pictures (64 train, 16 val), evaluated every 100 (15) steps.
    """
    fast = fast_mode() if fast is None else fast
    return preset("fast", steps=30 if fast else 300, eval_every=15 if fast else 100)


@dataclass
class LessonRun:
    """A trained model with what made it: ``model``, ``history``, ``cfg``, the data sets."""

    model: nn.Module
    history: dict
    cfg: TrainConfig
    train_set: Dataset
    val_set: Dataset
    from_cache: bool


def checkpoint_path(cfg: TrainConfig) -> Path:
    """Where :func:`lesson_model` keeps the checkpoint of ``cfg`` (one file per setting)."""
    text = json.dumps({"cfg": cfg.to_dict(), "version": dlcourse.__version__}, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    return cache_dir() / "lesson-models" / f"{cfg.model}-{key}.pt"


def lesson_model(
    cfg: TrainConfig | None = None, *, cache: bool = True, progress: bool = False
) -> LessonRun:
    """Train the run ``cfg`` (default :func:`lesson_config`), or load it from the cache.

    Args:
        cfg: the settings; the data must be ``"synthetic"`` or a folder on disk.
        cache: reuse a checkpoint written by an earlier call with the same settings,
            and write one after training (atomically, see :func:`dlcourse.checkpoint.save_checkpoint`).
        progress: show fit's progress bar.

    Returns:
        A :class:`LessonRun`; its model is in eval mode on ``get_device(cfg.device)``
        (a GPU when there is one). Training is seeded, so a cached and a fresh run agree.
    """
    import torch

    cfg = lesson_config() if cfg is None else cfg
    data_key = hashlib.sha256(json.dumps(cfg.synthetic, sort_keys=True).encode()).hexdigest()[:8]
    workdir = (cache_dir() / "lesson-data" / data_key if cache  # one folder per synthetic set
               else Path(tempfile.mkdtemp(prefix="dlcourse-")))  # fmt: skip
    train_set, val_set = build_datasets(cfg, workdir)
    torch.manual_seed(cfg.seed)
    model = build_model_for(cfg)
    path = checkpoint_path(cfg)
    if cache and path.is_file():
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        history, from_cache = state["history"], True
    else:
        history, from_cache = fit(model, train_set, cfg, val_set=val_set, progress=progress), False
        if cache:
            save_checkpoint(path, {"model": model.state_dict(), "history": history,
                                   "config": cfg.to_dict()})  # fmt: skip
    model.to(get_device(cfg.device)).eval()
    return LessonRun(model, history, cfg, train_set, val_set, from_cache)
