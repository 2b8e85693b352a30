"""Training settings: one dataclass, three presets, JSON files and ``key=value`` overrides.

A run is described by a :class:`TrainConfig`. :func:`preset` returns one of the
named starting points (``fast``, ``colab``, ``full``); :func:`load_config` starts
from a preset, applies a JSON file, then ``key=value`` overrides, and checks the
result. ``python -m dlcourse.train`` uses exactly this path, so a run started in a
notebook and one started from a shell share their settings.

Used in: 07, 08.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AMP_MODES = ("off", "auto", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything a training run needs to know, with safe CPU defaults.

    Args:
        model: a name known to ``dlcourse.models.build_model``.
        model_kwargs: extra keyword arguments for the builder (e.g. ``output_stride``).
        num_classes: number of classes, void excluded.
        data: ``"synthetic"`` (made by ``dlcourse.synthetic.make_synthetic``) or a folder in VOC layout.
        train_split, val_split: names of the split files under ``ImageSets/Segmentation``.
        train_subset, val_subset: ``None`` for every id, N for the first N ids,
            ``["random", N, seed]`` or a list of ids (see ``dlcourse.data.select_ids``).
        weights_backbone: ``"imagenet"`` (torchvision's published ImageNet weights,
            downloaded once into the cache), the path of a ``.pth`` state_dict, or
            ``None`` for random initial weights.
        freeze_bn: ``True`` keeps the backbone's batch norms fixed at their loaded
            statistics (``dlcourse.layers.FrozenBatchNorm2d``; the head's batch norms still
            train), ``False`` trains them, ``"pretrained"`` freezes them only when
            ``weights_backbone`` is set (frozen random statistics would normalise nothing).
        sync_bn: under ``torchrun`` with several processes, turn batch norms into
            ``torch.nn.SyncBatchNorm`` so their statistics cover the whole global batch.
        synthetic: arguments of ``make_synthetic`` when ``data == "synthetic"``.
        crop_size: side of the square training crop (pixels).
        scale_range: random rescale range before cropping.
        batch_size: images per forward pass (per process under DDP).
        accumulate: forward/backward passes per optimizer step (gradient accumulation).
        steps: optimizer steps (iterations) of the whole run.
        lr, momentum, weight_decay: SGD settings.
        poly_power: exponent of the poly schedule ``(1 - t / T) ** power``.
        warmup_steps: steps of linear warmup from ``lr / 100`` before the poly decay.
        aux_weight: weight of the auxiliary head's loss (ignored when the model has none).
        ignore_index: mask value that the loss and metrics skip (VOC void = 255).
        amp: ``"off"``, ``"bf16"``, ``"fp16"`` (with a gradient scaler) or ``"auto"``
            (fp16 on CUDA GPUs without bf16, bf16 on newer CUDA GPUs, off elsewhere).
        channels_last: keep activations in NHWC memory format (faster on tensor cores).
        eval_every: evaluate every this many steps (0: only at the end).
        checkpoint_every: write ``last.pt`` every this many steps (0: only at the end).
        seed: seeds weights, data order and augmentation.
        num_workers: DataLoader workers (``None``: ``dlcourse.env.num_workers()``).
        device: ``None`` to pick automatically, or ``"cpu"``, ``"cuda"``, ...
    """

    model: str = "deeplabv3_resnet18"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 21
    data: str = "synthetic"
    train_split: str = "train"
    val_split: str = "val"
    train_subset: int | list | None = None
    val_subset: int | list | None = None
    synthetic: dict[str, Any] = field(default_factory=dict)
    weights_backbone: str | None = None
    freeze_bn: bool | str = False
    sync_bn: bool = True
    crop_size: int = 321
    scale_range: tuple[float, float] = (0.5, 2.0)
    batch_size: int = 8
    accumulate: int = 1
    steps: int = 1000
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    warmup_steps: int = 0
    aux_weight: float = 0.4
    ignore_index: int = 255
    amp: str = "off"
    channels_last: bool = False
    eval_every: int = 0
    checkpoint_every: int = 0
    seed: int = 0
    num_workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        self.scale_range = tuple(float(v) for v in self.scale_range)
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of the settings."""
        data = dataclasses.asdict(self)
        data["scale_range"] = list(self.scale_range)
        return data

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (checked like the original)."""
        return load_config(self.to_dict(), overrides=changes)


def validate(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the first setting of ``cfg`` that cannot work."""
    positive = ("num_classes", "crop_size", "batch_size", "accumulate", "steps")
    for name in positive:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"TrainConfig.{name}={value!r}: must be a positive integer")
    for name in ("warmup_steps", "eval_every", "checkpoint_every", "seed"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"TrainConfig.{name}={value!r}: must be an integer >= 0")
    if cfg.warmup_steps >= cfg.steps:
        raise ValueError(
            f"TrainConfig.warmup_steps={cfg.warmup_steps}: must be smaller than steps={cfg.steps}"
        )
    if not cfg.lr > 0:
        raise ValueError(f"TrainConfig.lr={cfg.lr!r}: the learning rate must be > 0")
    if cfg.amp not in AMP_MODES:
        raise ValueError(f"TrainConfig.amp={cfg.amp!r}: choose one of {AMP_MODES}")
    low, high = cfg.scale_range
    if not 0 < low <= high:
        raise ValueError(
            f"TrainConfig.scale_range={cfg.scale_range}: need 0 < low <= high, e.g. (0.5, 2.0)"
        )
    if cfg.weights_backbone is not None and not isinstance(cfg.weights_backbone, str):
        raise ValueError(
            f"TrainConfig.weights_backbone={cfg.weights_backbone!r}: use 'imagenet', the path "
            "of a .pth file, or null for random initial weights"
        )
    if cfg.freeze_bn not in (True, False, "pretrained"):
        raise ValueError(
            f'TrainConfig.freeze_bn={cfg.freeze_bn!r}: use true, false or "pretrained"'
        )
    for name in ("sync_bn", "channels_last"):
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"TrainConfig.{name}={getattr(cfg, name)!r}: use true or false")
    if cfg.aux_weight < 0:
        raise ValueError(f"TrainConfig.aux_weight={cfg.aux_weight}: must be >= 0")


PRESETS: dict[str, dict[str, Any]] = {
    # CI and CPU lessons: the synthetic set, a small dilated ResNet-18, random weights
    # (nothing to download). It runs on whatever device there is, a GPU included.
    # Flips only (scale_range (1.0, 1.0), a 64-px crop of a 64-px picture): a crop of a
    # rescaled picture can cut away the frame that gives a shape its class, and scaling by
    # 0.75-1.25 cost 3.3 points of val mIoU at step 300 (benchmarks/train.md).
    "fast": dict(
        model="deeplabv3_resnet18", model_kwargs={"output_stride": 16}, num_classes=4,
        data="synthetic", synthetic={"n_train": 64, "n_val": 16, "size": 64, "seed": 0},
        val_split="val", crop_size=64, scale_range=(1.0, 1.0), batch_size=8, steps=150,
        lr=0.02, warmup_steps=10, eval_every=50, checkpoint_every=50, num_workers=0,
    ),
    # A Colab T4 (16 GB): VOC 2012 train (1,464 images), crop 321, batch 8, mixed precision,
    # from the ImageNet backbone. Validation on 300 ids of val drawn with seed 0
    # (select_ids(val, ("random", 300, 0))), so each evaluation stays short.
    # Batch norm: a batch of 8 is half of DeepLab-v3's 16, so the backbone keeps its
    # ImageNet statistics (freeze_bn="pretrained": frozen when it starts from ImageNet,
    # trained when weights_backbone=null); the new head's batch norms train.
    "colab": dict(
        model="deeplabv3plus_resnet50", model_kwargs={"output_stride": 16}, num_classes=21,
        data="", train_split="train", val_split="val", val_subset=["random", 300, 0],
        weights_backbone="imagenet", freeze_bn="pretrained", crop_size=321, batch_size=8,
        steps=2000, lr=0.01, warmup_steps=100, amp="auto", channels_last=True,
        eval_every=500, checkpoint_every=250,
    ),
    # The published recipe (DeepLabv3, arXiv:1706.05587, Sec. 4.1): ImageNet backbone,
    # crop 513, batch 16 with batch norm trained, 30k iterations, poly power 0.9 from
    # lr 0.007, output stride 16, all of val. The paper trains on train_aug (10,582
    # images): make it with dlcourse.download.prepare_train_aug and add
    # --set train_split=train_aug; the default, train, is in every VOC 2012 download.
    "full": dict(
        model="deeplabv3plus_resnet101", model_kwargs={"output_stride": 16}, num_classes=21,
        data="", train_split="train", val_split="val", weights_backbone="imagenet",
        crop_size=513, batch_size=16, steps=30000, lr=0.007, warmup_steps=0, amp="auto",
        channels_last=True, eval_every=5000, checkpoint_every=1000,
    ),
}  # fmt: skip
"""Named starting points; :func:`preset` turns one into a :class:`TrainConfig`."""

PRESET_SUMMARIES: dict[str, str] = {
    "fast": "DeepLab-v3 ResNet-18 on a 64-px synthetic set made on the fly, random weights; "
    "needs nothing (no download, no --data); 150 steps, 1-2 min on an idle 2-core CPU",
    "colab": "DeepLab-v3+ ResNet-50 on VOC 2012 train, validated on 300 val ids, ImageNet "
    "backbone (98 MB, downloaded once); needs --data VOC2012 and a GPU; 2,000 steps, "
    "time on a T4 not yet measured (see benchmarks/train.md)",
    "full": "DeepLab-v3+ ResNet-101 on VOC 2012 train (or train_aug), all of val, ImageNet "
    "backbone (171 MB); needs --data VOC2012 and one or more large GPUs (torchrun); "
    "30,000 steps, hours",
}
"""One line per preset for ``python -m dlcourse.train --help``: model, data, needs, time."""


def preset(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of preset ``name`` (see :data:`PRESETS`), with overrides."""
    if name not in PRESETS:
        raise ValueError(f"preset(name={name!r}): unknown preset; choose one of {sorted(PRESETS)}")
    return load_config(PRESETS[name], overrides=overrides)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word such as a model name or a path


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["steps=100", "amp=bf16", "model_kwargs={\\"output_stride\\": 8}"]`` into a dict.

    Values are read as JSON when they parse (numbers, ``true``, ``null``, lists,
    objects) and kept as strings otherwise.
    """
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r}: write it as key=value, e.g. steps=100")
        result[key.strip()] = _parse_value(value.strip())
    return result


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a JSON file; a ``"preset"`` key there is expanded first."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"config file {path} does not exist; pass a JSON file or one of {sorted(PRESETS)}"
        )
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"config file {path} is not valid JSON: {err}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"config file {path} must hold a JSON object of settings")
    start = loaded.pop("preset", None)
    return (preset(start).to_dict() if start is not None else {}) | loaded


def load_config(
    base: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Build a checked :class:`TrainConfig`.

    Args:
        base: a preset name, a JSON file (see :func:`read_config_file`), or a dict of
            settings (``None``: the defaults).
        overrides: settings applied last (e.g. from :func:`parse_overrides`).

    Raises:
        ValueError: for an unknown setting (with the list of known ones) or a bad value.
    """
    settings: dict[str, Any] = {}
    if isinstance(base, str) and base in PRESETS:
        settings.update(PRESETS[base])
    elif isinstance(base, str | Path):
        settings.update(read_config_file(base))
    elif base is not None:
        settings.update(base)
    settings.update(overrides or {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known settings are {sorted(known)}")
    return TrainConfig(**settings)
