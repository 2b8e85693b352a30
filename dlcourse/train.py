"""The training loop of the course, used by lesson 07 and by ``python -m dlcourse.train``.

One :func:`fit` does it all: the loss and the poly schedule of :mod:`dlcourse.optim`,
mixed precision (bf16, or fp16 with a gradient scaler), channels_last, gradient
accumulation over the seeded batches of :mod:`dlcourse.batches`, a progress bar,
periodic evaluation, the atomic checkpoints of :mod:`dlcourse.checkpoint` with exact
resume, and DistributedDataParallel when started by ``torchrun``. The rest of the
module draws the curves; :mod:`dlcourse.cli` is the command line (``python -m
dlcourse.train``) and :mod:`dlcourse.recipe` turns settings into datasets and a model.

Used in: 07, 08, 10.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Dataset

from dlcourse.batches import train_loader
from dlcourse.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from dlcourse.config import TrainConfig
from dlcourse.env import get_device
from dlcourse.optim import amp_dtype, make_optimizer, make_scheduler, segmentation_loss

# ---- batch norm across processes ---------------------------------------------------------


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


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes: ``(0, 1)`` outside ``torchrun``."""
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
        self.rank, self.world = rank_and_world()
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


# ---- curves ------------------------------------------------------------------------------


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


if __name__ == "__main__":  # python -m dlcourse.train: the command line of dlcourse.cli
    from dlcourse.cli import main

    raise SystemExit(main())
