"""The DeepLab family side by side: costs and accuracy measured here, the Pareto front.

The published numbers and their protocols live in :mod:`dlcourse.published`.
The measuring helpers build each registered model (``dlcourse.models.list_models()``)
and count its cost the way :mod:`dlcourse.costs` does (parameters and multiply-adds on
the ``meta`` device, latency with ``torch.utils.benchmark``; on a CUDA GPU also latency
and training-step memory with :func:`gpu_costs`, which without one measures nothing and
:func:`gpu_unavailable_reason` says why), and train every model under one short, seeded
schedule on the synthetic set (:func:`family_schedule`, :func:`train_and_score`), so that
the course's own accuracy column is one protocol. :func:`pareto_front` picks the models
that no other model beats on both cost and accuracy.

Used in: 10.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from torch.utils.data import Dataset

from dlcourse.config import TrainConfig, preset
from dlcourse.costs import Profile, latency, profile, training_step_memory
from dlcourse.data import PairDataset
from dlcourse.inference import evaluate, recompute_batchnorm
from dlcourse.metrics import SegmentationMetrics
from dlcourse.models import build_model, list_models
from dlcourse.published import VOC_VAL, published_for
from dlcourse.recipe import build_model_for
from dlcourse.train import fit
from dlcourse.transforms import eval_transforms

# --- the Pareto front ------------------------------------------------------------------


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the points that no other point beats on both cost and score, cheapest first.

    Point ``i`` is *dominated* when some ``j`` costs no more and scores no less, and is
    strictly better in one of the two. Points with the same cost and score are both kept.

    Args:
        costs: lower is better (e.g. multiply-adds).
        scores: higher is better (e.g. mIoU).
    """
    costs, scores = list(costs), list(scores)
    if len(costs) != len(scores):
        raise ValueError(
            f"pareto_front: {len(costs)} costs but {len(scores)} scores; give one of each per model"
        )
    for name, values in (("costs", costs), ("scores", scores)):
        for value in values:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValueError(f"pareto_front({name}=...): {value!r} is not a finite number")
    front = []
    for i, (cost, score) in enumerate(zip(costs, scores, strict=True)):
        dominated = any(
            c <= cost and s >= score and (c < cost or s > score)
            for c, s in zip(costs, scores, strict=True)
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (costs[i], -scores[i]))


# --- costs measured here ---------------------------------------------------------------


def model_profile(name: str, input_size: object = (513, 513), **build_kwargs) -> Profile:
    """Parameters and multiply-adds of the registered model ``name`` (21 classes unless told)."""
    return profile(build_model(name, **build_kwargs), input_size)


def cpu_latency_ms(name: str, input_size: object = (257, 257), repeats: int = 3) -> float:
    """Median CPU wall time (ms) of one eval forward pass of ``name`` on one image."""
    return latency(build_model(name).eval(), input_size, repeats=repeats).median_ms


class GpuCosts(NamedTuple):
    """What one model costs on a CUDA GPU, as :func:`gpu_costs` measures it.

    Attributes:
        latency_ms: median wall time of one eval forward pass at batch 1.
        train_memory_gib: peak CUDA memory of one training step (forward, loss,
            backward) at the batch asked for, or ``None`` when it ran out of memory.
        device: the GPU's name (``torch.cuda.get_device_name()``).
    """

    latency_ms: float
    train_memory_gib: float | None
    device: str


def gpu_unavailable_reason() -> str | None:
    """Why :func:`gpu_costs` cannot measure here, or ``None`` when a CUDA GPU is present."""
    if torch.cuda.is_available():
        return None
    return (
        "no CUDA GPU here (torch.cuda.is_available() is False); run the lesson on a GPU "
        "(in Colab: Runtime > Change runtime type > GPU) and the same cell measures them"
    )


def gpu_costs(name: str, input_size: object = (513, 513), batch: int = 8) -> GpuCosts | None:
    """Latency and training-step memory of the registered model ``name`` on CUDA, or ``None``.

    The latency comes from :func:`dlcourse.costs.latency` (median of 10 runs after 3
    warm-up runs, CUDA synchronised), the memory from
    :func:`dlcourse.costs.training_step_memory` (``torch.cuda.max_memory_allocated``).
    Without a CUDA GPU nothing is measured and the answer is ``None``;
    :func:`gpu_unavailable_reason` says why. The name is checked either way.
    """
    if name not in list_models():
        raise ValueError(f"gpu_costs(name={name!r}): unknown model; choose one of {list_models()}")
    if gpu_unavailable_reason() is not None:
        return None
    model = build_model(name).cuda()
    try:
        ms = latency(model, input_size, repeats=10, warmup=3).median_ms
        try:
            memory = training_step_memory(model, input_size, batch=batch) / 2**30
        except torch.cuda.OutOfMemoryError:
            memory = None
    finally:
        del model
        torch.cuda.empty_cache()
    return GpuCosts(ms, memory, torch.cuda.get_device_name())


# --- accuracy measured here, one protocol for all ---------------------------------------


FAMILY_SCHEDULE: dict[str, object] = dict(
    steps=80, batch_size=4, warmup_steps=8, lr=0.02, size=64, n_train=64, n_val=32,
)  # fmt: skip
"""The settings of :func:`family_schedule` in full mode (fast mode: :data:`FAMILY_SCHEDULE_FAST`).

Sized so that ten models x 80 steps fit in a few minutes of a 2-core CPU (one step at
64 px and batch 4 costs a fraction of a second there, the most for the ResNet-101s at
output stride 8) and are long enough for most models to leave the all-background answer
behind; lesson 10 prints what each model reaches and how long it trained.
"""

FAMILY_SCHEDULE_FAST: dict[str, object] = dict(
    steps=2, batch_size=2, warmup_steps=1, lr=0.02, size=32, n_train=8, n_val=4,
)  # fmt: skip
"""Fast mode's schedule: a smoke test of the code path, whose scores mean nothing."""


def family_schedule(fast: bool) -> TrainConfig:
    """The one training schedule every model of the family gets on the synthetic set.

    Full mode (:data:`FAMILY_SCHEDULE`): lesson 06's synthetic set at 64 px (64 pictures to
    train on, 32 to validate, seed 0), random initial weights, each model at its own
    default output stride, batch 4, SGD with poly LR from 0.02 after 8 warmup steps,
    80 steps, seeded. The only augmentation is a left-right flip: the class of a synthetic
    shape is written in the picture's frame, which random scaling and cropping would cut
    away (see :func:`dlcourse.synthetic.make_synthetic`). :func:`train_and_score` then
    re-estimates the batch-norm statistics and scores the validation pictures.
    Fast mode (:data:`FAMILY_SCHEDULE_FAST`): 2 steps at batch 2 on 32-px pictures
    (8 to train on, 4 to validate), only to check that the code runs.

    80 steps are still short (lesson 07 trains its ResNet-18 for 300 steps at batch 8):
    the column compares the models under one small, fixed budget, which favours the models
    that learn fastest from random weights; it does not say which would win when trained
    to the end.
    """
    s = FAMILY_SCHEDULE_FAST if fast else FAMILY_SCHEDULE
    synthetic = {"n_train": s["n_train"], "n_val": s["n_val"], "size": s["size"], "seed": 0}
    return preset("fast", model_kwargs={}, steps=s["steps"], batch_size=s["batch_size"],
                  warmup_steps=s["warmup_steps"], lr=s["lr"], eval_every=0, checkpoint_every=0,
                  crop_size=s["size"], scale_range=(1.0, 1.0), synthetic=synthetic)  # fmt: skip


class FamilyScore(NamedTuple):
    """One model's result under :func:`family_schedule` (see :func:`train_and_score`).

    Attributes:
        miou: val mIoU (%) after the batch-norm statistics are re-estimated: the column.
        miou_as_trained: val mIoU (%) with the running statistics training left behind.
        train_s: wall time of training, in seconds (an upper bound on a shared machine).
    """

    miou: float
    miou_as_trained: float
    train_s: float


def unaugmented(dataset: Dataset) -> Dataset:
    """The pairs of ``dataset`` (a :class:`dlcourse.data.PairDataset`) without augmentation.

    Each item is the whole picture, converted and normalised as for evaluation.
    """
    if not isinstance(dataset, PairDataset):
        raise ValueError(
            f"unaugmented(dataset=...): expected a PairDataset (VOCDataset, FolderDataset), got "
            f"{type(dataset).__name__}; build it with dlcourse.recipe.build_datasets"
        )
    return PairDataset(dataset.pairs, dataset.class_names, dataset.palette, eval_transforms(),
                       dataset.void_index)  # fmt: skip


def all_background_miou(dataset: Dataset, num_classes: int) -> float:
    """Val mIoU (%) of a model that labels every pixel background (class 0): the floor to beat.

    Only the background class scores (its IoU is the background's share of the scored
    pixels); every other class that occurs scores 0, so the mIoU is that share divided by
    the number of classes present.
    """
    if len(dataset) == 0:
        raise ValueError("all_background_miou(dataset=...): the data set is empty")
    metrics = SegmentationMetrics(num_classes)
    for _, mask in dataset:
        mask = torch.as_tensor(mask).long()
        metrics.update(torch.zeros_like(mask), mask)
    return 100 * float(metrics.compute()["miou"])


def train_and_score(name: str, cfg: TrainConfig, train_set: Dataset,
                    val_set: Dataset) -> FamilyScore:  # fmt: skip
    """Train the registered model ``name`` under ``cfg`` (seeded) and score it on ``val_set``.

    After training, every batch norm's statistics are re-estimated with the final weights
    on the training pictures without augmentation
    (:func:`dlcourse.inference.recompute_batchnorm`, lesson 08). Running statistics
    follow the weights at a rate set by each backbone's momentum (0.1 in the ResNets,
    0.01 in torchvision's MobileNet-V3, so after 80 steps the MobileNets' still remember
    their random start); re-estimating them makes the score independent of that rate.
    """
    torch.manual_seed(cfg.seed)
    model = build_model_for(cfg.replace(model=name))
    start = time.perf_counter()
    fit(model, train_set, cfg, progress=False)
    seconds = time.perf_counter() - start
    as_trained = evaluate(model.eval(), val_set, cfg.num_classes)["miou"]
    plain = unaugmented(train_set)
    refreshed = recompute_batchnorm(model, plain, batch_size=max(2, cfg.batch_size))
    miou = evaluate(refreshed, val_set, cfg.num_classes)["miou"]
    return FamilyScore(100 * float(miou), 100 * float(as_trained), seconds)


# --- the figure ------------------------------------------------------------------------


def plot_family(names: Sequence[str], gmacs: Sequence[float], measured: Sequence[float],
                title: str = "") -> Figure:  # fmt: skip
    """Accuracy against cost: one labelled dot per model, the Pareto front as a line.

    Left: the course's own mIoU (one protocol). Right: the published VOC 2012 val mIoU of
    the models that have one, best per model, marked by whether a CRF or several scales
    were used (different protocols: read them as ranges, not as one experiment).
    """
    if not len(names) == len(gmacs) == len(measured):
        raise ValueError("plot_family: give one name, one cost and one score per model")
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9), dpi=90)
    ax = axes[0]
    ax.scatter(gmacs, measured, color="tab:blue", zorder=3)
    front = pareto_front(gmacs, measured)
    ax.plot([gmacs[i] for i in front], [measured[i] for i in front], "--", color="tab:orange",
            label="Pareto front", zorder=2)  # fmt: skip
    for name, x, y in zip(names, gmacs, measured, strict=True):
        ax.annotate(name.replace("deeplab", ""), (x, y), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    # no legend box, which could hide a model's name: the title says what the dashed line is
    default_title = "measured here: synthetic set, one schedule (dashed: Pareto front)"
    ax.set_title(title or default_title, fontsize=9)
    ax.set_ylabel("val mIoU (%)")
    ax = axes[1]
    marks = {(False, False): ("o", "one scale"), (True, False): ("s", "with CRF"),
             (False, True): ("^", "several scales"), (True, True): ("D", "CRF and several scales")}  # fmt: skip
    used = set()
    for name, x in zip(names, gmacs, strict=True):
        for row in published_for(name, VOC_VAL):
            key = (row.crf, "scales" in row.test_time)
            marker, label = marks[key]
            ax.scatter([x], [row.miou], marker=marker, color="tab:green",
                       label=None if key in used else label, zorder=3)  # fmt: skip
            used.add(key)
            ax.annotate(f"{name.replace('deeplab', '')} {row.miou:.1f}", (x, row.miou), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
    ax.set_title(f"published: {VOC_VAL} (protocols differ)", fontsize=9)
    ax.legend(fontsize=8, loc="center right")  # the published points leave that corner free
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("multiply-adds at 513 x 513 (G, log scale)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
