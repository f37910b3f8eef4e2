"""The minibatches of a training epoch: a seeded order, cut into batches, optionally augmented.

One epoch's order is ``torch.randperm(count, generator)``; batch b holds examples
order[bB : (b + 1)B] (this process's share of them under data parallelism). Augmentation of
batch b draws its random numbers from a generator seeded by (seed, epoch, b) alone, so a batch
is the same whichever process, worker or device makes it, and an epoch can restart at any
batch (a mid-epoch checkpoint stores only the batch index).

Two ways to make the batches, with identical results:

- in process (``workers = 0``): the split lives on the training device and each batch is an
  index into it; right for the small built-in sets, where a loader would only add overhead;
- a ``torch.utils.data.DataLoader`` with worker processes (and pinned memory on CUDA): the
  split stays in host memory and workers gather and augment the batches ahead of the step.

Augmentation (images only): random crop with zero padding p (the padded image cut back to its
size at a random offset in [0, 2p]²) and a horizontal flip with probability ½; a per-pixel
target (segmentation) is cropped and flipped with its image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ResodeError

LOADER_BYTES = 64 * 2**20
"""Training splits at least this large (input bytes) get a loader with workers by default."""

PADDING = 4
"""Zero padding of the random crop, in pixels (CIFAR's standard 4)."""

Shard = Callable[[torch.Tensor], torch.Tensor]


def default_workers(x: torch.Tensor, augment: bool, device: torch.device) -> int:
    """Worker processes for a training split ``x``: 0 (in process) for small splits without
    augmentation; otherwise up to 4, leaving the CPU to the step when training on it."""
    if not augment and x.numel() * x.element_size() < LOADER_BYTES:
        return 0
    cores = os.cpu_count() or 1
    return max(1, min(4, cores if device.type != "cpu" else cores // 2))


def batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    """The generator of batch ``batch`` of epoch ``epoch``: seeded by the triple alone."""
    state = np.random.SeedSequence([seed, epoch, batch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def augment_images(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, padding: int = PADDING
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop with zero ``padding`` and random horizontal flip of images x (B, C, H, W).

    ``y`` is cropped and flipped with x when it is per pixel (B, H, W) (padding label 0) and
    returned unchanged otherwise. The random numbers come from ``generator`` (on the CPU), so
    the result does not depend on x's device.
    """
    count, _, height, width = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (count, 2), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    rows = (offsets[:, :1] + torch.arange(height)).to(x.device)  # (B, H) rows of the padded image
    cols = (offsets[:, 1:] + torch.arange(width)).to(x.device)  # (B, W)
    cols = torch.where(flips.to(x.device)[:, None], cols.flip(1), cols)
    batch = torch.arange(count, device=x.device)[:, None, None]

    def crop(image: torch.Tensor) -> torch.Tensor:  # (B, *, H, W) → same shape
        pad = (padding, padding, padding, padding)
        padded = torch.nn.functional.pad(image, pad)
        return padded[batch, ..., rows[:, :, None], cols[:, None, :]]

    cropped = crop(x).permute(0, 3, 1, 2)  # indexing puts the channels last: (B, H, W, C)
    if y.dim() == 3:
        y = crop(y[:, None])[..., 0]
    return cropped.contiguous(), y


def check_augment(kind: str, augment: bool) -> None:
    """``augment`` applies to image data only."""
    if augment and kind != "image":
        raise ResodeError(f"--augment applies to image data, not {kind} data")


@dataclass
class EpochBatches:
    """The batches of one epoch, from batch ``start`` on: (x, y) pairs on ``device``.

    ``order`` is the epoch's permutation of the split (x, y); ``shard`` takes this process's
    share of a batch's indices; ``augment`` crops and flips with :func:`batch_generator`
    (seed, epoch, batch). ``workers`` > 0 gathers the batches in a DataLoader's processes.
    """

    x: torch.Tensor
    y: torch.Tensor
    order: torch.Tensor
    batch_size: int
    shard: Shard
    device: torch.device
    seed: int
    epoch: int
    augment: bool = False
    workers: int = 0
    start: int = 0

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Batch ``index``: this process's (x, y) and the global batch size."""
        begin = index * self.batch_size
        chosen = self.order[begin : begin + self.batch_size]
        local = self.shard(chosen)
        x, y = self.x[local], self.y[local]
        if self.augment and len(local):
            x, y = augment_images(x, y, batch_generator(self.seed, self.epoch, index))
        return x, y, len(chosen)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        if self.workers == 0:
            for index in range(self.start, len(self)):
                yield self.batch(index)
            return
        loader = torch.utils.data.DataLoader(
            _Batches(self),
            batch_size=None,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4,
        )
        for x, y, size in loader:
            yield (
                x.to(self.device, non_blocking=True),
                y.to(self.device, non_blocking=True),
                int(size),
            )


class _Batches(torch.utils.data.Dataset):
    """Batch ``start + i`` of an :class:`EpochBatches` as item i, for a DataLoader's workers."""

    def __init__(self, batches: EpochBatches) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches) - self.batches.start

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.batches.batch(self.batches.start + item)
