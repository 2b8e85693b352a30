"""Tests of dlcourse.inference.recompute_batchnorm (lesson 08: batch-norm statistics at OS8)."""

import pytest
import torch
from torch import nn

from dlcourse.inference import recompute_batchnorm
from dlcourse.layers import FrozenBatchNorm2d


class ConvBN(nn.Module):
    """conv -> BN -> frozen BN, returning a dict as the course's models do."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.frozen = FrozenBatchNorm2d(4)
        self.frozen.running_mean.fill_(0.5)

    def forward(self, x):
        return {"out": self.frozen(self.bn(self.conv(x)))}


def pairs(n, size=6, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(3, size, size, generator=generator) * 2 + 1, torch.zeros(size, size))
            for _ in range(n)]  # fmt: skip


def test_statistics_are_the_average_over_the_whole_data_set():
    model, data = ConvBN().eval(), pairs(9)
    fresh = recompute_batchnorm(model, data, batch_size=4)
    with torch.no_grad():
        features = model.conv(torch.stack([image for image, _ in data]))
    # batches of 4, 4 and 1 -> the last image joins the second batch: batches of 4 and 5
    first, second = features[:4], features[4:]
    expected_mean = (first.mean((0, 2, 3)) + second.mean((0, 2, 3))) / 2
    expected_var = (first.var((0, 2, 3)) + second.var((0, 2, 3))) / 2  # unbiased, as BN keeps
    torch.testing.assert_close(fresh.bn.running_mean, expected_mean)
    torch.testing.assert_close(fresh.bn.running_var, expected_var)
    assert fresh.bn.num_batches_tracked == 2 and fresh.bn.momentum == model.bn.momentum


def test_the_model_is_left_alone_and_frozen_norms_keep_their_statistics():
    model = ConvBN().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fresh = recompute_batchnorm(model, pairs(4))
    assert model.training and not fresh.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert torch.equal(fresh.frozen.running_mean, torch.full((4,), 0.5))
    assert torch.equal(fresh.conv.weight, model.conv.weight)
    assert not torch.equal(fresh.bn.running_mean, model.bn.running_mean)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="batch_size=1"):
        recompute_batchnorm(ConvBN(), pairs(4), batch_size=1)
    with pytest.raises(ValueError, match="at least 2 images"):
        recompute_batchnorm(ConvBN(), pairs(1))
