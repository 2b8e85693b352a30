"""The training loop of the course, used by lesson 07 and by ``python -m dlcourse.train``.

One :func:`fit` does it all: cross-entropy that skips void pixels (255), an
auxiliary loss, SGD with momentum under a poly learning rate with warmup, mixed
precision (bf16, or fp16 with a gradient scaler), channels_last, gradient
accumulation, a progress bar, periodic evaluation, atomic checkpoints with exact
resume, and DistributedDataParallel when started by ``torchrun``.

Used in: 07, 08.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from dlcourse.config import (
    PRESET_SUMMARIES,
    PRESETS,
    TrainConfig,
    load_config,
    parse_overrides,
    read_config_file,
)
from dlcourse.env import get_device, num_workers

CHECKPOINT_NAME = "last.pt"


class PolyLR:
    """Learning-rate factor: linear warmup, then ``(1 - t / T) ** power`` (DeepLab's "poly").

    Poly decay is from DeepLab v2 (https://arxiv.org/abs/1606.00915, Sec. 4.1).
    During the first ``warmup_steps`` steps the factor rises linearly from
    ``warmup_start`` to 1; afterwards it decays to 0 at ``total_steps``. Use it with
    ``torch.optim.lr_scheduler.LambdaLR`` (see :func:`make_optimizer`); being a plain
    object rather than a lambda, its settings travel inside the scheduler's state dict.
    """

    def __init__(self, total_steps: int, power: float = 0.9, warmup_steps: int = 0,
                 warmup_start: float = 0.01) -> None:  # fmt: skip
        if total_steps < 1 or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"PolyLR(total_steps={total_steps}, warmup_steps={warmup_steps}): need "
                "total_steps >= 1 and 0 <= warmup_steps < total_steps"
            )
        self.total_steps, self.power = total_steps, power
        self.warmup_steps, self.warmup_start = warmup_steps, warmup_start

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_start + (1.0 - self.warmup_start) * step / self.warmup_steps
        return max(0.0, 1.0 - step / self.total_steps) ** self.power


def make_optimizer(
    model: nn.Module, cfg: TrainConfig
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LambdaLR]:
    """SGD with momentum and a :class:`PolyLR` schedule, as ``cfg`` asks."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    return optimizer, make_scheduler(optimizer, cfg)


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """``cfg``'s :class:`PolyLR` schedule for ``optimizer``, positioned after ``step`` steps.

    ``step > 0`` resumes a run: the learning rate becomes ``initial_lr * PolyLR(step)``,
    with the schedule of ``cfg`` (which may be longer than the interrupted run's).
    """
    schedule = PolyLR(cfg.steps, cfg.poly_power, cfg.warmup_steps)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    # LambdaLR sets last_epoch to its argument + 1 and the learning rate for that step
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=step - 1)


def segmentation_loss(
    outputs: Tensor | Mapping[str, Tensor],
    target: Tensor,
    aux_weight: float = 0.4,
    ignore_index: int = 255,
) -> Tensor:
    """Pixel-wise cross-entropy of ``outputs["out"]`` plus ``aux_weight`` times that of ``"aux"``.

    Args:
        outputs: logits ``(N, K, H, W)`` or a model's dict with ``"out"`` (and ``"aux"``).
        target: ``(N, H, W)`` class indices; pixels equal to ``ignore_index`` count for nothing.
        aux_weight: weight of the auxiliary loss (skipped when 0 or when there is no ``"aux"``).
        ignore_index: the void label.

    Returns:
        The mean loss over non-void pixels, a scalar.
    """
    if isinstance(outputs, Tensor):
        outputs = {"out": outputs}
    if "out" not in outputs:
        raise KeyError("segmentation_loss(outputs=...): expected a tensor or a dict with 'out'")
    if target.dtype != torch.long:
        target = target.long()
    loss = F.cross_entropy(outputs["out"].float(), target, ignore_index=ignore_index)
    if aux_weight and outputs.get("aux") is not None:
        aux = F.cross_entropy(outputs["aux"].float(), target, ignore_index=ignore_index)
        loss = loss + aux_weight * aux
    return loss


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for setting ``amp`` on ``device`` (``None``: full precision)."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


# ---- checkpoints and random states --------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """The random states of Python, NumPy and PyTorch, in a ``weights_only``-safe form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically: temp file, fsync, then ``os.replace``.

    A crash mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        torch.save(dict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; pass the {CHECKPOINT_NAME} a run wrote "
            "under its output folder"
        )
    return torch.load(path, map_location=map_location, weights_only=True)


# ---- data order --------------------------------------------------------------------------


class StepBatches:
    """Batch sampler whose batch ``b`` depends only on ``(seed, b)``, so a run can resume anywhere.

    The index stream is the concatenation of seeded permutations of the dataset
    (one per epoch). Under DDP each of ``world_size`` ranks takes its own slice of
    every global batch. Each element is ``(index, sample_seed)``; wrap the dataset
    in :class:`SeededSamples` so augmentation is seeded per sample too.
    """

    def __init__(self, n: int, batch_size: int, start: int, stop: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:  # fmt: skip
        if n < 1:
            raise ValueError("StepBatches(n=0): the training set is empty")
        self.n, self.batch_size, self.start, self.stop = n, batch_size, start, stop
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def _order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=generator).tolist()

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        cache: dict[int, list[int]] = {}
        for batch in range(self.start, self.stop):
            first = (batch * self.world_size + self.rank) * self.batch_size
            items = []
            for position in range(first, first + self.batch_size):
                epoch = position // self.n
                if epoch not in cache:
                    cache = {epoch: self._order(epoch)}
                items.append((cache[epoch][position % self.n], self.seed * 7919 + position))
            yield items


class SeededSamples(Dataset):
    """Wraps a dataset so ``ds[(index, seed)]`` runs its random transforms under ``seed``.

    The global random states are saved and restored around each item, so the
    training loop's own randomness does not depend on how data was loaded.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        python_state = random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            item = self.dataset[index]
        random.setstate(python_state)
        return item


def train_loader(
    train_set: Dataset, cfg: TrainConfig, start: int = 0, stop: int | None = None,
    rank: int = 0, world_size: int = 1, pin_memory: bool = False,
) -> DataLoader:  # fmt: skip
    """The batches :func:`fit` trains on, for optimizer steps ``start + 1 .. stop``.

    Batch ``b`` depends only on ``(cfg.seed, b)`` (see :class:`StepBatches`), and each
    sample's augmentation is seeded too (:class:`SeededSamples`), so a loop written by
    hand over this loader sees exactly the pictures ``fit`` sees. With
    ``cfg.accumulate > 1`` one optimizer step takes ``accumulate`` batches.
    """
    stop = cfg.steps if stop is None else stop
    workers = num_workers() if cfg.num_workers is None else cfg.num_workers
    sampler = StepBatches(len(train_set), cfg.batch_size, start * cfg.accumulate,
                          stop * cfg.accumulate, cfg.seed, rank, world_size)  # fmt: skip
    return DataLoader(
        SeededSamples(train_set), batch_sampler=sampler, num_workers=workers,
        pin_memory=pin_memory, generator=torch.Generator().manual_seed(cfg.seed),
    )  # fmt: skip


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """Turn every trainable ``nn.BatchNorm2d`` of ``model`` into ``nn.SyncBatchNorm``, in place.

    Under DistributedDataParallel each process normalises with its own batch; with
    SyncBatchNorm the mean and variance are gathered over every process's batch, so
    8 GPUs with 2 images each normalise like one batch of 16. Frozen batch norms
    (:class:`dlcourse.layers.FrozenBatchNorm2d`) stay as they are. Returns ``model``.
    """
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                setattr(parent, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return model


# ---- the loop ----------------------------------------------------------------------------


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def fit(
    model: nn.Module,
    train_set: Dataset,
    cfg: TrainConfig,
    *,
    val_set: Dataset | None = None,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    stop_at: int | None = None,
    progress: bool = True,
    evaluate_fn: Callable[..., dict] | None = None,
) -> dict[str, list]:
    """Train ``model`` on ``train_set`` for ``cfg.steps`` optimizer steps.

    Args:
        model: returns logits ``(N, K, H, W)`` or a dict with ``"out"`` (and ``"aux"``).
        train_set: items ``(image, mask)``: a float ``(3, H, W)`` tensor and a
            ``(H, W)`` integer mask, all of one size (crop them).
        cfg: the settings (see :class:`dlcourse.config.TrainConfig`).
        val_set: evaluated every ``cfg.eval_every`` steps and at the end.
        out_dir: where ``last.pt``, ``config.json`` and ``history.json`` go (``None``: nowhere).
        resume: a checkpoint to continue from; the result equals an uninterrupted run.
        stop_at: stop after this step (and checkpoint), e.g. to split a run in two.
        progress: show a progress bar (``tqdm.auto``: a widget in notebooks).
        evaluate_fn: replaces :func:`dlcourse.inference.evaluate` (same signature).

    Returns:
        The history: ``step``, ``loss``, ``lr`` per step and ``eval`` (one dict per evaluation).
        Under ``torchrun`` the model is wrapped in DistributedDataParallel, and only rank 0
        writes files.
    """
    from tqdm.auto import tqdm

    from dlcourse.inference import evaluate

    run = _Run.start(model, cfg, resume)
    stop = min(cfg.steps, stop_at if stop_at is not None else cfg.steps)
    loader = train_loader(train_set, cfg, run.step, stop, run.rank, run.world,
                          run.device.type == "cuda")  # fmt: skip
    out = _prepare_out_dir(out_dir, cfg) if run.rank == 0 else None
    bar = tqdm(total=stop, initial=run.step, disable=not progress or run.rank != 0, desc="train")
    batches = iter(loader)
    model.train()
    for step in range(run.step + 1, stop + 1):
        loss = run.train_step(batches, step)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{run.history['lr'][-1]:.2e}", refresh=False)
        evaluating = step == stop or bool(cfg.eval_every and step % cfg.eval_every == 0)
        if evaluating and run.world > 1:
            run.share_batchnorm_statistics()
        if evaluating and val_set is not None:
            run.evaluate(val_set, evaluate_fn or evaluate)
        if out is not None and (step == stop or (cfg.checkpoint_every
                                                 and step % cfg.checkpoint_every == 0)):  # fmt: skip
            run.save(out)
    bar.close()
    return run.history


def _prepare_out_dir(out_dir: str | Path | None, cfg: TrainConfig) -> Path | None:
    """Make ``out_dir`` and write the run's ``config.json`` there (``None``: no files)."""
    if out_dir is None:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    return out


class _Run:
    """The state of one training run, and the named steps :func:`fit` takes with it."""

    def __init__(self, model: nn.Module, cfg: TrainConfig) -> None:
        self.model, self.cfg = model, cfg
        self.rank, self.world = _rank_world()
        device = get_device(cfg.device)
        if device.type == "cuda" and self.world > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", self.rank)))
        self.device, self.dtype = device, amp_dtype(cfg.amp, device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        if self.world > 1 and cfg.sync_bn and device.type == "cuda":
            convert_sync_batchnorm(model)  # SyncBatchNorm runs on CUDA only
        model.to(device=device, memory_format=self.memory_format)
        self.optimizer, self.scheduler = make_optimizer(model, cfg)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.history: dict[str, list] = {"step": [], "loss": [], "lr": [], "eval": []}
        self.step = 0
        self.net = model

    @classmethod
    def start(cls, model: nn.Module, cfg: TrainConfig, resume: str | Path | None) -> _Run:
        """A new run, or the run saved in the checkpoint ``resume``; wrapped in DDP if needed."""
        run = cls(model, cfg)
        if resume is not None:
            run.load(resume)
        if run.world > 1:
            ids = [run.device.index] if run.device.type == "cuda" else None
            run.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return run

    def load(self, path: str | Path) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        state = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step, self.history = int(state["step"]), state["history"]
        # the schedule is a function of the step: rebuilt from cfg (which may run longer)
        self.scheduler = make_scheduler(self.optimizer, self.cfg, step=self.step)

    def train_step(self, batches: Iterator, step: int) -> float:
        """One optimizer step over ``cfg.accumulate`` batches; returns the mean loss."""
        cfg, device = self.cfg, self.device
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(cfg.accumulate):
            images, masks = next(batches)
            images = images.to(device, non_blocking=True, memory_format=self.memory_format)
            masks = masks.to(device, non_blocking=True)
            last = micro == cfg.accumulate - 1
            with self.net.no_sync() if self.world > 1 and not last else nullcontext():
                with torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype is not None):
                    outputs = self.net(images)
                loss = segmentation_loss(outputs, masks, cfg.aux_weight, cfg.ignore_index)
                self.scaler.scale(loss / cfg.accumulate).backward()
            total += loss.item() / cfg.accumulate
        if not math.isfinite(total):
            raise FloatingPointError(
                f"step {step}: the loss is {total}; lower lr (now {cfg.lr}) or use amp='bf16'"
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.history["lr"].append(self.optimizer.param_groups[0]["lr"])
        self.scheduler.step()
        self.history["step"].append(step)
        self.history["loss"].append(total)
        self.step = step
        return total

    def share_batchnorm_statistics(self) -> None:
        """Under DDP, every rank takes rank 0's batch-norm statistics (before evaluating)."""
        for buffer in self.model.buffers():
            dist.broadcast(buffer, src=0)

    def evaluate(self, val_set: Dataset, evaluate_fn: Callable[..., dict]) -> None:
        """Score ``val_set`` and append the scalars to the history."""
        scores = evaluate_fn(self.model, val_set, self.cfg.num_classes, device=self.device,
                             ignore_index=self.cfg.ignore_index)  # fmt: skip
        self.history["eval"].append({"step": self.step, **_scalars(scores)})
        self.model.train()

    def save(self, out: Path) -> None:
        """Write ``last.pt`` (atomically) and ``history.json`` into ``out``."""
        save_checkpoint(out / CHECKPOINT_NAME, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": rng_state(), "step": self.step, "history": self.history,
            "config": self.cfg.to_dict(),
        })  # fmt: skip
        (out / "history.json").write_text(json.dumps(self.history))


def _scalars(scores: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in scores.items() if isinstance(v, float | int | np.floating)
            or (isinstance(v, Tensor) and v.numel() == 1)}  # fmt: skip


# ---- from settings to a run: data, model, curves, command line ---------------------------


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
    from dlcourse.data import VOCDataset, eval_transforms, make_synthetic, train_transforms

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
    from dlcourse.data import FolderDataset, select_ids

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
    from dlcourse.models import build_model

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


def plot_history(history: Mapping[str, list], smooth: int = 10, axes: Sequence | None = None):
    """Training loss (raw and a running mean of ``smooth`` steps) and validation mIoU by step."""
    from matplotlib import pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    steps, loss = np.asarray(history["step"]), np.asarray(history["loss"])
    axes[0].plot(steps, loss, color="0.75", lw=1, label="per step")
    if len(loss) >= smooth > 1:
        mean = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        axes[0].plot(steps[smooth - 1 :], mean, lw=2, label=f"mean of {smooth}")
    axes[0].set(xlabel="step", ylabel="training loss", title="loss")
    axes[0].legend()
    evals = history.get("eval", [])
    axes[1].plot([e["step"] for e in evals], [e["miou"] for e in evals], "o-")
    axes[1].set(xlabel="step", ylabel="mIoU", title="validation mIoU", ylim=(0, 1))
    axes[0].figure.tight_layout()
    return axes[0].figure


def _one_line(error: BaseException) -> str:
    """The message of ``error`` as one line; a DataLoader worker's traceback is cut away."""
    text = str(error).strip()
    if "Original Traceback" in text:  # re-raised from a worker: keep the original last line
        text = text.splitlines()[-1].split(": ", 1)[-1]
    if isinstance(error, KeyError | FileNotFoundError) and text[:1] in "'\"" and text[-1:] in "'\"":
        text = text[1:-1]
    return " ".join(text.split())


def _parser():
    import argparse

    presets = "\n".join(f"  {name:<6} {line}" for name, line in PRESET_SUMMARIES.items())
    parser = argparse.ArgumentParser(
        prog="python -m dlcourse.train",
        description="Train a DeepLab model (dlcourse).",
        epilog=f"presets:\n{presets}\n\nexample: python -m dlcourse.train --preset colab "
        "--data ~/data/VOCdevkit/VOC2012 --out runs/colab --set weights_backbone=null",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                        help="starting settings (see below; default: fast)")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="folder for checkpoints")
    parser.add_argument("--data", help="VOC-layout folder (holding JPEGImages/), or 'synthetic'")
    parser.add_argument("--model", help="a name from dlcourse.models.list_models()")
    parser.add_argument("--resume", type=Path, help="checkpoint to continue from")
    parser.add_argument("--config", type=Path, help="JSON file of settings over the preset")
    parser.add_argument("--set", nargs="*", default=[], action="extend", metavar="KEY=VALUE",
                        help="settings over everything else, e.g. steps=500 amp=bf16 "
                        "weights_backbone=null")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _run(args) -> int:
    from dlcourse.env import seed_everything

    settings = load_config(args.preset).to_dict()
    if args.config is not None:  # the file's settings (or its own preset) win over --preset
        settings.update(read_config_file(args.config))
    flags = {"data": args.data, "model": args.model}
    settings.update({k: v for k, v in flags.items() if v is not None})
    cfg = load_config(settings, parse_overrides(args.set))
    if args.resume is not None and not Path(args.resume).is_file():
        raise FileNotFoundError(f"--resume {args.resume}: no such checkpoint; pass the "
                                f"{CHECKPOINT_NAME} a run wrote under its --out folder")  # fmt: skip

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = torch.cuda.is_available() and cfg.device != "cpu"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    seed_everything(cfg.seed)
    train_set, val_set = build_datasets(cfg, args.out)
    model = build_model_for(cfg)
    history = fit(model, train_set, cfg, val_set=val_set, out_dir=args.out, resume=args.resume,
                  progress=not args.no_progress)  # fmt: skip
    if _rank_world()[0] == 0:
        final = history["eval"][-1] if history["eval"] else {}
        print(f"done: {history['step'][-1] if history['step'] else 0} steps, "
              f"last loss {history['loss'][-1]:.4f}, "
              f"val mIoU {final.get('miou', float('nan')):.4f}, "
              f"checkpoint {args.out / CHECKPOINT_NAME}")  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlcourse.train --preset fast --out runs/fast``; see ``--help``.

    A mistake of the user's (a missing folder or split, an unknown setting, weights
    that cannot be downloaded, a bad mask value, a diverging loss) prints one
    ``error: ...`` line that says what to do, and returns 2; no traceback.
    """
    import sys

    from dlcourse.weights import WeightsUnavailable

    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, WeightsUnavailable,
            FloatingPointError) as error:  # fmt: skip
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
