"""Tests of dlcourse.train: the loop, exact resume, DDP, batch norm, datasets, the command line."""

import json
import math
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from dlcourse import train as T
from dlcourse.checkpoint import load_checkpoint
from dlcourse.config import TrainConfig, load_config, preset
from dlcourse.optim import PolyLR

ROOT = Path(__file__).resolve().parent.parent


class TinyNet(nn.Module):
    """A stand-in segmentation model: dilated conv, BN, dropout, main and aux heads."""

    def __init__(self, num_classes: int = 3, norm: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=2, dilation=2),
            nn.BatchNorm2d(8) if norm else nn.Identity(),
            nn.ReLU(),
            nn.Dropout2d(dropout),
        )
        self.head = nn.Conv2d(8, num_classes, 1)
        self.aux = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        features = self.body(x)
        return {"out": self.head(features), "aux": self.aux(features)}


class ToyData(Dataset):
    """Images whose first channel's sign gives the class; a random flip uses torch's RNG."""

    def __init__(self, n: int = 12, size: int = 16, void: bool = True, augment: bool = True):
        generator = torch.Generator().manual_seed(1)
        self.images = torch.randn(n, 3, size, size, generator=generator)
        self.masks = (self.images[:, 0] > 0).long() + (self.images[:, 1] > 1).long()
        if void:
            self.masks[:, 0, :] = 255
        self.augment = augment

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image, mask = self.images[index], self.masks[index]
        if self.augment and torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return image, mask


def tiny_config(**changes) -> TrainConfig:
    settings = dict(model="tiny", num_classes=3, crop_size=16, batch_size=4, steps=6, lr=0.05,
                    warmup_steps=1, num_workers=0, device="cpu", seed=3)  # fmt: skip
    settings.update(changes)
    return load_config(settings)


# ---- the loop ----------------------------------------------------------------------------


def test_fit_learns_and_writes_its_files(tmp_path):
    torch.manual_seed(0)
    model = TinyNet()
    cfg = tiny_config(steps=30, eval_every=10, checkpoint_every=10, lr=0.1)
    history = T.fit(model, ToyData(), cfg, val_set=ToyData(augment=False), out_dir=tmp_path,
                    progress=False)  # fmt: skip
    assert history["step"] == list(range(1, 31)) and len(history["loss"]) == 30
    assert np.mean(history["loss"][-5:]) < 0.7 * np.mean(history["loss"][:5])
    assert [e["step"] for e in history["eval"]] == [10, 20, 30]
    assert history["eval"][-1]["miou"] > history["eval"][0]["miou"] - 0.05
    assert 0 < history["eval"][-1]["pixel_acc"] <= 1
    assert history["lr"][0] == pytest.approx(0.1 * 0.01)  # warmup starts at lr / 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "history.json", "last.pt"]
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == 30 and state["config"]["lr"] == 0.1
    assert json.loads((tmp_path / "history.json").read_text())["loss"] == history["loss"]


def test_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = tiny_config(steps=8, checkpoint_every=0)
    torch.manual_seed(0)
    straight = TinyNet()
    whole = T.fit(straight, ToyData(), cfg, out_dir=tmp_path / "a", progress=False)

    torch.manual_seed(0)
    first = TinyNet()
    T.fit(first, ToyData(), cfg, out_dir=tmp_path / "b", stop_at=3, progress=False)
    torch.manual_seed(123)  # a fresh session: other weights, other random state
    random.seed(9)
    second = TinyNet()
    resumed = T.fit(second, ToyData(), cfg, out_dir=tmp_path / "b",
                    resume=tmp_path / "b" / "last.pt", progress=False)  # fmt: skip
    assert resumed["loss"] == whole["loss"]
    for (name, a), b in zip(
        straight.state_dict().items(), second.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_gradient_accumulation_matches_a_bigger_batch():
    cfg = tiny_config(steps=3, warmup_steps=0)
    models = []
    for batch, accumulate in ((4, 1), (2, 2)):
        torch.manual_seed(0)
        model = TinyNet(norm=False, dropout=0.0)
        T.fit(model, ToyData(void=False), cfg.replace(batch_size=batch, accumulate=accumulate),
              progress=False)  # fmt: skip
        models.append(model)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bf16_and_channels_last_run_on_cpu():
    torch.manual_seed(0)
    model = TinyNet()
    history = T.fit(model, ToyData(), tiny_config(steps=2, amp="bf16", channels_last=True),
                    progress=False)  # fmt: skip
    assert all(math.isfinite(v) for v in history["loss"])
    assert model.head.weight.is_contiguous(memory_format=torch.channels_last)


def test_diverging_loss_stops_with_advice():
    model = TinyNet()
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="lower lr"):
        T.fit(model, ToyData(), tiny_config(steps=2), progress=False)


DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
sys.path.insert(0, {tests!r})
from test_train import TinyNet, ToyData, tiny_config
from dlcourse.train import fit
dist.init_process_group("gloo")
torch.manual_seed(0)
model = TinyNet()
history = fit(model, ToyData(), tiny_config(steps=3, batch_size=2), val_set=ToyData(augment=False),
              progress=False)
torch.save(model.state_dict(), {out!r} + f"/rank{{dist.get_rank()}}.pt")
dist.destroy_process_group()
"""


def test_ddp_two_processes_on_cpu_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(
        textwrap.dedent(DDP_SCRIPT.format(tests=str(ROOT / "tests"), out=str(tmp_path)))
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(script)]  # fmt: skip
    for _ in range(2):  # one retry: a rendezvous port can be taken by another job
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                                cwd=tmp_path)  # fmt: skip
        if result.returncode == 0:
            break
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    torch.manual_seed(0)
    assert not torch.equal(rank0["head.weight"], TinyNet().head.weight.detach())


def test_resume_into_a_longer_schedule(tmp_path):
    torch.manual_seed(0)
    T.fit(TinyNet(), ToyData(), tiny_config(steps=4), out_dir=tmp_path, progress=False)
    longer = tiny_config(steps=8)
    history = T.fit(TinyNet(), ToyData(), longer, out_dir=tmp_path, resume=tmp_path / "last.pt",
                    progress=False)  # fmt: skip
    assert history["step"] == list(range(1, 9))
    schedule = PolyLR(8, 0.9, warmup_steps=1)
    assert history["lr"][4:] == pytest.approx([0.05 * schedule(s) for s in range(4, 8)])


# ---- batch norm across processes, the lessons' model ------------------------------------


def test_sync_batchnorm_replaces_trainable_batch_norms_only():
    from dlcourse.layers import FrozenBatchNorm2d, freeze_batchnorm
    from dlcourse.models import build_model

    model = build_model("deeplabv3_resnet18", num_classes=3)
    freeze_batchnorm(model.backbone)
    T.convert_sync_batchnorm(model)
    kinds = {type(m) for m in model.backbone.modules()} & {nn.BatchNorm2d, nn.SyncBatchNorm,
                                                          FrozenBatchNorm2d}  # fmt: skip
    assert kinds == {FrozenBatchNorm2d}
    head = [
        type(m)
        for m in model.classifier.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    assert head and set(head) == {nn.SyncBatchNorm}
    assert preset("full").sync_bn and not preset("full", sync_bn=False).sync_bn
