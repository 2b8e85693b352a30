"""Tests of dlcourse.checkpoint: atomic, weights-only checkpoints and the random states."""

import random

import numpy as np
import pytest
import torch

from dlcourse.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def test_checkpoint_is_atomic_and_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "last.pt"
    save_checkpoint(path, {"step": 1, "w": torch.arange(3)})
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(3))
    with pytest.raises(FileNotFoundError, match="last.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()})
    first = (random.random(), np.random.rand(), torch.rand(2))
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
