"""Data-parallel training on PyTorch's own engine (``torch.distributed`` + DDP).

Launch with ``torchrun --nproc-per-node K -m resode train ...``: every process sees the same
seeded data and permutation; rank r takes examples r, r + K, … of each global minibatch, so
K processes with ``--batch-size B`` take the same optimizer steps as one process with B.
Backend: NCCL on GPUs, gloo on CPUs. Rank 0 writes checkpoints and metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ResodeError


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global minibatch of indices."""
        return index[self.rank :: self.world_size]

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum of ``value`` over all processes (itself when not distributed)."""
        if self.distributed:
            value = value.clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def any(self, flag: bool) -> bool:
        """True on every process if ``flag`` is true on any."""
        if not self.distributed:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        return bool(self.sum(value).item() > 0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def launched_world_size() -> int:
    """The number of processes torchrun started (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device, required: bool = False) -> Context:
    """Join the process group torchrun describes in the environment, if any."""
    world_size = launched_world_size()
    if world_size <= 1:
        if required:
            raise ResodeError(
                "--distributed needs a launcher: torchrun --nproc-per-node K -m resode train ..."
            )
        return Context(device=device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Context(rank=rank, world_size=world_size, device=device)


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
