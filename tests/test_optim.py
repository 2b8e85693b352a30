"""Tests of dlcourse.optim: the poly schedule, SGD, the loss with void and aux, the amp dtype."""

import math

import pytest
import torch
from test_train import tiny_config
from torch import nn
from torch.nn import functional as F

from dlcourse.optim import PolyLR, amp_dtype, make_optimizer, segmentation_loss


def test_poly_lr_factors_by_hand():
    schedule = PolyLR(total_steps=10, power=0.9)
    assert schedule(0) == 1.0
    assert schedule(5) == pytest.approx(0.5**0.9)  # 0.53589
    assert schedule(10) == 0.0
    warm = PolyLR(total_steps=10, power=1.0, warmup_steps=4, warmup_start=0.01)
    assert [warm(s) for s in (0, 2)] == pytest.approx([0.01, 0.505])
    assert warm(4) == pytest.approx(0.6) and warm(8) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="warmup_steps"):
        PolyLR(total_steps=5, warmup_steps=5)


def test_make_optimizer_follows_the_schedule():
    model = nn.Linear(2, 2)
    cfg = tiny_config(steps=4, warmup_steps=0, lr=0.1, poly_power=1.0)
    optimizer, scheduler = make_optimizer(model, cfg)
    seen = []
    for _ in range(4):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.1, 0.075, 0.05, 0.025])
    assert optimizer.param_groups[0]["momentum"] == 0.9


def test_segmentation_loss_skips_void_and_adds_aux():
    torch.manual_seed(0)
    out, aux = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    target = torch.randint(0, 3, (2, 4, 5))
    target[0, 0] = 255
    keep = target != 255
    log_p = out.log_softmax(1).permute(0, 2, 3, 1)[keep]  # (pixels, K)
    by_hand = -log_p.gather(1, target[keep][:, None]).mean()
    torch.testing.assert_close(segmentation_loss(out, target), by_hand)
    with_aux = segmentation_loss({"out": out, "aux": aux}, target, aux_weight=0.5)
    expected = by_hand + 0.5 * F.cross_entropy(aux, target, ignore_index=255)
    torch.testing.assert_close(with_aux, expected)
    only_one = torch.full((1, 1, 2), 255)
    only_one[0, 0, 1] = 2
    logits = torch.tensor([[[0.0, 0.0]], [[0.0, 0.0]], [[0.0, math.log(2.0)]]])[None]
    loss = segmentation_loss(logits, only_one)  # p(class 2) = 2 / 4
    assert loss.item() == pytest.approx(math.log(2.0))


def test_amp_dtype_choices():
    cpu = torch.device("cpu")
    assert amp_dtype("off", cpu) is None and amp_dtype("auto", cpu) is None
    assert amp_dtype("bf16", cpu) is torch.bfloat16
    assert amp_dtype("fp16", cpu) is torch.float16
