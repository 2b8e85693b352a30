"""The order of training data, seeded per batch and per sample, so a run can resume anywhere.

:class:`StepBatches` cuts seeded permutations of the dataset into batches (each rank
of a distributed run takes its own slice), :class:`SeededSamples` seeds each sample's
augmentation, and :func:`train_loader` puts both into the DataLoader that
:func:`dlcourse.train.fit` trains on.

Used in: 07.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from dlcourse.config import TrainConfig
from dlcourse.env import num_workers


class StepBatches:
    """Batch sampler whose batch ``b`` depends only on ``(seed, b)``, so a run can resume anywhere.

    The index stream is the concatenation of seeded permutations of the dataset
    (one per epoch). Under DDP each of ``world_size`` ranks takes its own slice of
    every global batch. Each element is ``(index, sample_seed)``; wrap the dataset
    in :class:`SeededSamples` so augmentation is seeded per sample too.
    """

    def __init__(self, n: int, batch_size: int, start: int, stop: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:  # fmt: skip
        if n < 1:
            raise ValueError("StepBatches(n=0): the training set is empty")
        self.n, self.batch_size, self.start, self.stop = n, batch_size, start, stop
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def _order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=generator).tolist()

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        cache: dict[int, list[int]] = {}
        for batch in range(self.start, self.stop):
            first = (batch * self.world_size + self.rank) * self.batch_size
            items = []
            for position in range(first, first + self.batch_size):
                epoch = position // self.n
                if epoch not in cache:
                    cache = {epoch: self._order(epoch)}
                items.append((cache[epoch][position % self.n], self.seed * 7919 + position))
            yield items


class SeededSamples(Dataset):
    """Wraps a dataset so ``ds[(index, seed)]`` runs its random transforms under ``seed``.

    The global random states are saved and restored around each item, so the
    training loop's own randomness does not depend on how data was loaded.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        python_state = random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            item = self.dataset[index]
        random.setstate(python_state)
        return item


def train_loader(
    train_set: Dataset, cfg: TrainConfig, start: int = 0, stop: int | None = None,
    rank: int = 0, world_size: int = 1, pin_memory: bool = False,
) -> DataLoader:  # fmt: skip
    """The batches :func:`fit` trains on, for optimizer steps ``start + 1 .. stop``.

    Batch ``b`` depends only on ``(cfg.seed, b)`` (see :class:`StepBatches`), and each
    sample's augmentation is seeded too (:class:`SeededSamples`), so a loop written by
    hand over this loader sees exactly the pictures ``fit`` sees. With
    ``cfg.accumulate > 1`` one optimizer step takes ``accumulate`` batches.
    """
    stop = cfg.steps if stop is None else stop
    workers = num_workers() if cfg.num_workers is None else cfg.num_workers
    sampler = StepBatches(len(train_set), cfg.batch_size, start * cfg.accumulate,
                          stop * cfg.accumulate, cfg.seed, rank, world_size)  # fmt: skip
    return DataLoader(
        SeededSamples(train_set), batch_sampler=sampler, num_workers=workers,
        pin_memory=pin_memory, generator=torch.Generator().manual_seed(cfg.seed),
    )  # fmt: skip
