"""The optimisation recipe of DeepLab: the poly schedule, SGD, the loss, mixed precision.

:func:`make_optimizer` gives SGD with momentum under :class:`PolyLR` (linear warmup,
then poly decay); :func:`segmentation_loss` is cross-entropy that skips void pixels
(255) plus a weighted auxiliary loss; :func:`amp_dtype` picks the autocast dtype.
:func:`dlcourse.train.fit` trains with exactly these pieces.

Used in: 07.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dlcourse.config import TrainConfig


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
