"""Using a trained model: multi-scale + flip prediction and evaluation.

:func:`predict` averages class probabilities over rescaled and mirrored copies of
the input (the test-time augmentation of DeepLab v3, https://arxiv.org/abs/1706.05587,
Sec. 4.3); :func:`evaluate` scores a model on a data set with
:class:`dlcourse.metrics.SegmentationMetrics` and :func:`rank_images` scores each image
on its own, worst first; :func:`with_output_stride` re-runs a trained model at another
output stride and :func:`recompute_batchnorm` re-estimates its batch-norm statistics
there. :mod:`dlcourse.error_view` shows where it goes wrong.

Used in: 07, 08.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from dlcourse.env import get_device
from dlcourse.metrics import SegmentationMetrics
from dlcourse.viz import VOID_INDEX


def _logits(output: Tensor | Mapping[str, Tensor]) -> Tensor:
    return output["out"] if isinstance(output, Mapping) else output


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    scales = tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(
            f"scales={scales}: give one or more positive factors, e.g. (0.75, 1, 1.25)"
        )
    return scales


@torch.no_grad()
def predict(
    model: nn.Module,
    image: Tensor,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    amp: torch.dtype | None = None,
) -> Tensor:
    """Class probabilities for ``image``, averaged over ``scales`` and (optionally) a mirror.

    Each copy is resized (bilinear) by a factor in ``scales``, run through the model
    in eval mode, its logits resized back to the input size and turned into
    probabilities; with ``flip`` the horizontally mirrored copy is added too. The
    model's train/eval mode is restored afterwards.

    Args:
        model: returns logits ``(N, K, h, w)`` or a dict with ``"out"``.
        image: a normalized ``(3, H, W)`` image or a batch ``(N, 3, H, W)``.
        scales: resize factors, e.g. ``(0.5, 0.75, 1.0, 1.25, 1.5, 1.75)``.
        flip: also average over left-right mirrored copies.
        amp: an autocast dtype (``torch.bfloat16``/``torch.float16``) or ``None``.

    Returns:
        Probabilities ``(K, H, W)`` or ``(N, K, H, W)`` (float32, on the image's device);
        ``.argmax(-3)`` gives the label map.
    """
    scales = _check_scales(scales)
    if image.ndim not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"image: expected (3, H, W) or (N, 3, H, W), got {tuple(image.shape)}")
    batch = image[None] if image.ndim == 3 else image
    height, width = batch.shape[-2:]
    was_training = model.training
    model.eval()
    total = None
    try:
        for scale in scales:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            scaled = batch if scale == 1.0 else F.interpolate(
                batch, size=size, mode="bilinear", align_corners=False
            )  # fmt: skip
            for mirrored in (False, True) if flip else (False,):
                x = scaled.flip(-1) if mirrored else scaled
                with torch.autocast(batch.device.type, dtype=amp, enabled=amp is not None):
                    logits = _logits(model(x)).float()
                if mirrored:
                    logits = logits.flip(-1)
                if logits.shape[-2:] != (height, width):
                    logits = F.interpolate(
                        logits, size=(height, width), mode="bilinear", align_corners=False
                    )
                probs = logits.softmax(dim=1)
                total = probs if total is None else total + probs
    finally:
        model.train(was_training)
    probs = total / (len(scales) * (2 if flip else 1))
    return probs[0] if image.ndim == 3 else probs


def _shard(data: Dataset) -> Dataset:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return Subset(data, range(dist.get_rank(), len(data), dist.get_world_size()))
    return data


def evaluate(
    model: nn.Module,
    data: Dataset | DataLoader,
    num_classes: int,
    *,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    device: str | torch.device | None = None,
    batch_size: int = 1,
    ignore_index: int = VOID_INDEX,
    amp: torch.dtype | None = None,
) -> dict[str, object]:
    """Score ``model`` on every ``(image, mask)`` pair of ``data`` (pixels summed over the set).

    Args:
        model: a segmentation model (see :func:`predict`).
        data: a dataset of ``(image, mask)`` tensors or a DataLoader over one.
        num_classes: K.
        scales, flip, amp: test-time augmentation, as in :func:`predict`.
        device: where to compute (``None``: the model's device).
        batch_size: images per forward pass when ``data`` is a dataset (images of
            different sizes need 1).
        ignore_index: label that is not scored.

    Returns:
        :meth:`SegmentationMetrics.compute`'s dict (``pixel_acc``, ``mean_acc``, ``iou``,
        ``miou``, ``fwiou``, ...) plus ``confusion``, the ``(K, K)`` matrix. Under
        ``torch.distributed`` every process scores its share and the counts are summed.
    """
    if device is None:
        device = next(model.parameters()).device
    device = get_device(device)
    if isinstance(data, DataLoader):
        loader = data
    else:
        if len(data) == 0:
            raise ValueError("evaluate(data=...): the data set is empty")
        loader = DataLoader(_shard(data), batch_size=batch_size, shuffle=False)
    metrics = SegmentationMetrics(num_classes, ignore_index=ignore_index)
    for images, masks in loader:
        probs = predict(model, images.to(device), scales=scales, flip=flip, amp=amp)
        metrics.update(probs.argmax(1), masks.to(device))
    metrics.reduce_from_all_processes()
    scores = metrics.compute()
    scores["confusion"] = metrics.matrix().cpu()
    return scores


def with_output_stride(
    name: str, model: nn.Module, output_stride: int, **build_kwargs
) -> nn.Module:
    """The weights of ``model`` in the registered model ``name`` rebuilt at ``output_stride``.

    Changing the output stride changes strides and dilations (and the ASPP rates),
    not the shapes of any weight, so a model trained at output stride 16 can be
    evaluated at 8: denser features, sharper masks, about 4x the compute in the last
    stages (DeepLab v3, https://arxiv.org/abs/1706.05587, Sec. 4.3).

    Args:
        name: the name ``model`` was built with (see ``dlcourse.models.list_models()``).
        model: the trained model.
        output_stride: 8, 16 or 32.
        build_kwargs: the other builder arguments ``model`` was built with
            (``num_classes``, ``aux_loss``, ...).

    Returns:
        A new model in eval mode on ``model``'s device.
    """
    from dlcourse.models import build_model

    other = build_model(name, output_stride=output_stride, **build_kwargs)
    try:
        other.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"with_output_stride: the weights of `model` do not fit {name!r} built with "
            f"{build_kwargs}; pass the name and builder arguments `model` was built with"
        ) from err
    return other.to(next(model.parameters()).device).eval()


@torch.no_grad()
def recompute_batchnorm(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> nn.Module:
    """A copy of ``model`` whose batch-norm statistics are re-estimated on ``data``.

    The running statistics a model ends training with are an exponential average of
    the last training batches, gathered while the weights still moved and at the
    output stride it was trained at. This re-estimates them with the final weights
    (at the model's current output stride): every ``nn.BatchNorm2d`` is reset and
    averages the batch statistics of all of ``data`` with equal weight. Frozen batch
    norms (:class:`dlcourse.layers.FrozenBatchNorm2d`) keep theirs. Nothing is learnt.

    Args:
        model: a segmentation model; it is not changed.
        data: ``(image, mask)`` pairs of equal size (use unaugmented training images).
        batch_size: images per forward pass (>= 2: the ASPP image pooling needs two).
        device: where to compute (``None``: the model's device).

    Returns:
        The copy, in eval mode, on ``model``'s device.
    """
    import copy

    from dlcourse.layers import FrozenBatchNorm2d

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"recompute_batchnorm(batch_size={batch_size!r}): use an int >= 2")
    if len(data) < 2:
        raise ValueError("recompute_batchnorm(data=...): needs at least 2 images")
    home = next(model.parameters()).device
    device = get_device(device) if device is not None else home
    other = copy.deepcopy(model).to(device)
    norms = [m for m in other.modules()
             if isinstance(m, nn.BatchNorm2d) and not isinstance(m, FrozenBatchNorm2d)]  # fmt: skip
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over all batches
    other.train()
    indices = list(range(len(data)))
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:  # one image cannot give a batch statistic
        batches[-2].extend(batches.pop())
    for batch in batches:
        images = torch.stack([torch.as_tensor(data[i][0]) for i in batch]).to(device)
        other(images)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    return other.to(home).eval()


def rank_images(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    *,
    device: str | torch.device | None = None,
    ignore_index: int = VOID_INDEX,
    **predict_kwargs,
) -> list[tuple[int, float]]:
    """Per-image mIoU of every item of ``dataset``, worst first: ``[(index, miou), ...]``.

    Each image's mIoU averages the classes present in its label or prediction, so
    it says how well that one picture was segmented; images without any scored
    pixel come last. ``predict_kwargs`` go to :func:`predict` (``scales``, ``flip``).
    """
    device = get_device(device) if device is not None else next(model.parameters()).device
    ranked = []
    for index in range(len(dataset)):
        image, mask = dataset[index]
        probs = predict(model, image.to(device), **predict_kwargs)
        metrics = SegmentationMetrics(num_classes, ignore_index=ignore_index)
        metrics.update(probs.argmax(0)[None], torch.as_tensor(mask)[None].to(device))
        ranked.append((index, metrics.compute()["miou"]))
    return sorted(ranked, key=lambda pair: (np.isnan(pair[1]), pair[1]))
