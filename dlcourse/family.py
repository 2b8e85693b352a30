"""The DeepLab family side by side: published mIoU with its protocol, costs measured here, the Pareto front.

A paper's mIoU is a measurement under a protocol: which benchmark, which initial
weights, which training images, which output stride in training and in evaluation,
which test-time augmentation, whether a CRF ran afterwards. :data:`PUBLISHED` keeps
each published number the course quotes together with that protocol and its source
(paper and table), so a lesson can never show a number without its tag; numbers of
different protocols must not be compared as if they were one experiment.

The measuring helpers build each registered model (``dlcourse.models.list_models()``)
and count its cost the way :mod:`dlcourse.costs` does (parameters and multiply-adds on
the ``meta`` device, latency with ``torch.utils.benchmark``), and train every model
under one short, seeded schedule on the synthetic set (:func:`family_schedule`,
:func:`train_and_score`), so that the course's own accuracy column is one protocol.
:func:`pareto_front` picks the models that no other model beats on both cost and accuracy.

Used in: 10.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from torch.utils.data import Dataset

from dlcourse.config import TrainConfig, preset
from dlcourse.costs import Profile, latency, profile, training_step_memory
from dlcourse.inference import evaluate
from dlcourse.models import build_model, list_models
from dlcourse.train import build_model_for, fit

VOC_VAL = "VOC 2012 val"
COCO_VOC = "COCO val2017 subset, 20 VOC classes"
TRAIN_AUG = "VOC 2012 train_aug (10,582 images)"


@dataclass(frozen=True)
class Published:
    """One published mIoU (%) and the protocol behind it.

    Attributes:
        model: the course's registry name of the closest model.
        miou: the published mean IoU in percent.
        source: paper (arXiv id) and table.
        benchmark: the images and labels it was measured on.
        init: initial weights before training on the benchmark's training set.
        train_set: the training images.
        output_stride: ``"train / eval"`` output strides.
        test_time: test-time inputs (one scale, several scales, flips).
        crf: whether a dense CRF refined the scores.
        note: how the published model differs from the course's.
    """

    model: str
    miou: float
    source: str
    benchmark: str
    init: str
    train_set: str
    output_stride: str
    test_time: str
    crf: bool
    note: str = ""

    def protocol(self) -> str:
        """A one-line protocol tag, e.g. ``"VOC 2012 val | ImageNet | OS 16 / 16 | one scale | no CRF"``."""
        crf = "CRF" if self.crf else "no CRF"
        return f"{self.benchmark} | {self.init} | OS {self.output_stride} | {self.test_time} | {crf}"


V1 = "DeepLab v1 (arXiv:1412.7062)"
V2 = "DeepLab v2 (arXiv:1606.00915)"
V3 = "DeepLab v3 (arXiv:1706.05587)"
V3P = "DeepLab v3+ (arXiv:1802.02611)"
TORCHVISION = "torchvision model docs, weights COCO_WITH_VOC_LABELS_V1"

PUBLISHED: tuple[Published, ...] = (
    Published("deeplabv1_largefov", 62.25, f"{V1}, Table 1(a)", VOC_VAL, "ImageNet", TRAIN_AUG,
              "8 / 8", "one scale", False, "VGG-16 LargeFOV, loss on labels subsampled by 8"),
    Published("deeplabv1_largefov", 67.64, f"{V1}, Tables 1(a) and 2", VOC_VAL, "ImageNet", TRAIN_AUG,
              "8 / 8", "one scale", True, "VGG-16 LargeFOV, loss on labels subsampled by 8"),
    Published("deeplabv2_resnet101", 76.35, f"{V2}, Table 4", VOC_VAL, "ImageNet, then MS-COCO",
              TRAIN_AUG, "8 / 8", "scales 0.5, 0.75, 1 max-fused (also in training)", False,
              "ASPP-L; random rescaling in training"),
    Published("deeplabv2_resnet101", 77.69, f"{V2}, Table 4", VOC_VAL, "ImageNet, then MS-COCO",
              TRAIN_AUG, "8 / 8", "scales 0.5, 0.75, 1 max-fused (also in training)", True,
              "ASPP-L; random rescaling in training"),
    Published("deeplabv3_resnet101", 77.21, f"{V3}, Table 5", VOC_VAL, "ImageNet", TRAIN_AUG,
              "16 / 16", "one scale", False,
              "multi-grid (1, 2, 4); the course's default is OS 8 without multi-grid"),
    Published("deeplabv3_resnet101", 79.77, f"{V3}, Table 6", VOC_VAL, "ImageNet", TRAIN_AUG,
              "16 / 8", "scales 0.5 to 1.75, plus flips", False, "multi-grid (1, 2, 4)"),
    Published("deeplabv3plus_resnet101", 78.85, f"{V3P}, Table 3", VOC_VAL, "ImageNet", TRAIN_AUG,
              "16 / 16", "one scale", False, "decoder over stride-4 features"),
    Published("deeplabv3_resnet50", 66.4, TORCHVISION, COCO_VOC, "ImageNet",
              "COCO train2017 subset, 20 VOC classes", "8 / 8", "one scale, shorter side resized to 520", False,
              "a different benchmark: not comparable with the VOC rows"),
    Published("deeplabv3_resnet101", 67.4, TORCHVISION, COCO_VOC, "ImageNet",
              "COCO train2017 subset, 20 VOC classes", "8 / 8", "one scale, shorter side resized to 520", False,
              "a different benchmark: not comparable with the VOC rows"),
    Published("deeplabv3_mobilenet_v3_large", 60.3, TORCHVISION, COCO_VOC, "ImageNet",
              "COCO train2017 subset, 20 VOC classes", "16 / 16", "one scale, shorter side resized to 520", False,
              "a different benchmark: not comparable with the VOC rows"),
)  # fmt: skip
"""Every published mIoU the course quotes, each with its protocol and source."""


def published_for(model: str, benchmark: str | None = None) -> list[Published]:
    """The published rows of ``model`` (a registry name), optionally of one ``benchmark`` only.

    An empty list means "none published" for that model: the course builds several
    variants (ResNet-18 ones, for example) that no paper reports.
    """
    if model not in list_models():
        raise ValueError(f"published_for(model={model!r}): unknown model; choose one of {list_models()}")
    return [row for row in PUBLISHED if row.model == model and benchmark in (None, row.benchmark)]


def published_text(model: str) -> str:
    """All published numbers of ``model`` as one short line, or ``"none published"``."""
    rows = published_for(model)
    if not rows:
        return "none published"
    return "; ".join(f"{r.miou:.2f} ({r.source.split(' (')[0]}, {r.source.split(', ', 1)[1]}"
                     f"{', ' + r.benchmark if r.benchmark != VOC_VAL else ''}"
                     f"{', CRF' if r.crf else ''})" for r in rows)  # fmt: skip


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
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
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


def gpu_costs(name: str, input_size: object = (513, 513), batch: int = 8) -> tuple[float, float] | None:
    """``(latency ms at batch 1, training-step memory in GiB at batch``) on CUDA, or ``None``.

    ``None`` when there is no CUDA GPU: the lesson then says "not measured here".
    """
    if not torch.cuda.is_available():
        return None
    model = build_model(name).cuda()
    ms = latency(model, input_size, repeats=10, warmup=3).median_ms
    memory = training_step_memory(model, input_size, batch=batch) / 2**30
    del model
    torch.cuda.empty_cache()
    return ms, memory


# --- accuracy measured here, one protocol for all ---------------------------------------


def family_schedule(fast: bool) -> TrainConfig:
    """The one short training schedule every model of the family gets on the synthetic set.

    Synthetic pictures of 32 px (64 to train on, 16 to validate), random initial weights,
    each model at its own default output stride, batch 2, poly LR from 0.02 with 2 warmup
    steps, 12 steps (1 step and 2 val pictures in fast mode). Far too short to rank the
    architectures: it measures one protocol, the same for all, that a 2-core CPU can afford.
    """
    steps, n_val = (1, 2) if fast else (12, 16)
    return preset("fast", model_kwargs={}, steps=steps, batch_size=2, warmup_steps=min(2, steps - 1),
                  eval_every=0, checkpoint_every=0, crop_size=32,
                  synthetic={"n_train": 64, "n_val": n_val, "size": 32, "seed": 0})  # fmt: skip


def train_and_score(name: str, cfg: TrainConfig, train_set: Dataset, val_set: Dataset) -> float:
    """Train the registered model ``name`` under ``cfg`` (seeded) and return its val mIoU (%)."""
    torch.manual_seed(cfg.seed)
    model = build_model_for(cfg.replace(model=name))
    fit(model, train_set, cfg, progress=False)
    return 100 * float(evaluate(model.eval(), val_set, cfg.num_classes)["miou"])


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
    ax.set_title(title or "measured here: synthetic set, one schedule", fontsize=9)
    ax.set_ylabel("val mIoU (%)")
    ax.legend(fontsize=8, loc="lower right")
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
    ax.legend(fontsize=8, loc="lower right")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("multiply-adds at 513 x 513 (G, log scale)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
