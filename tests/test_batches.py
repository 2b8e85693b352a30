"""Tests of dlcourse.batches: seeded batches that resume anywhere, seeded samples, the loader."""

import random

import pytest
import torch
from test_train import TinyNet, ToyData, tiny_config

from dlcourse.batches import SeededSamples, StepBatches, train_loader
from dlcourse.optim import make_optimizer, segmentation_loss
from dlcourse.train import fit


def test_step_batches_cover_each_epoch_and_resume_anywhere():
    full = list(StepBatches(n=10, batch_size=4, start=0, stop=5, seed=2))
    indices = [i for batch in full for i, _ in batch]
    assert sorted(indices[:10]) == list(range(10)) and sorted(indices[10:20]) == list(range(10))
    assert list(StepBatches(10, 4, start=3, stop=5, seed=2)) == full[3:]
    seeds = [s for batch in full for _, s in batch]
    assert len(set(seeds)) == len(seeds)
    rank0 = list(StepBatches(10, 2, 0, 5, seed=2, rank=0, world_size=2))
    rank1 = list(StepBatches(10, 2, 0, 5, seed=2, rank=1, world_size=2))
    merged = [a + b for a, b in zip(rank0, rank1, strict=True)]
    assert merged == full
    with pytest.raises(ValueError, match="empty"):
        StepBatches(0, 2, 0, 1)


def test_seeded_samples_repeat_and_leave_global_state_alone():
    data = SeededSamples(ToyData())
    torch.manual_seed(0)
    random.seed(0)
    before = (torch.get_rng_state(), random.getstate())
    flips = [data[(0, seed)][1] for seed in range(6)]
    assert torch.equal(torch.get_rng_state(), before[0]) and random.getstate() == before[1]
    assert all(
        torch.equal(a, b) for a, b in zip(flips, [data[(0, s)][1] for s in range(6)], strict=True)
    )
    assert len({bool(torch.equal(f, flips[0])) for f in flips}) == 2  # both flipped and not


def test_a_loop_by_hand_over_train_loader_gives_fits_losses():
    cfg = tiny_config(steps=5, warmup_steps=1)
    torch.manual_seed(0)
    reference = fit(TinyNet(), ToyData(), cfg, progress=False)["loss"]
    torch.manual_seed(0)
    model = TinyNet()
    optimizer, scheduler = make_optimizer(model, cfg)
    model.train()
    losses = []
    for images, masks in train_loader(ToyData(), cfg, start=0, stop=5):
        loss = segmentation_loss(model(images), masks, cfg.aux_weight, cfg.ignore_index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    assert losses == pytest.approx(reference, rel=1e-6)
    # the loader starts anywhere: steps 3..5 are the tail of the same stream
    tail = [masks for _, masks in train_loader(ToyData(), cfg, start=2, stop=5)]
    every = [masks for _, masks in train_loader(ToyData(), cfg)]
    assert all(torch.equal(a, b) for a, b in zip(tail, every[2:], strict=True))
