"""One pass over the training data, resumable at any batch.

An epoch draws its order from the run's shuffling generator, then takes one optimizer step
per batch (:class:`~resode.data.loader.EpochBatches`: in process or from a loader's workers).
Where it stands is a :class:`Position`: the batches done and the sums of loss and correct
predictions so far. A mid-epoch checkpoint (every ``checkpoint_every`` steps, and when a
preemption signal arrives) stores the position together with the generator's state at the
start of the epoch, so a resumed run draws the same order and goes on from the next batch.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch

from ..data.loader import EpochBatches
from ..stop import STOP, StepLoopInterrupted
from .evaluation import evaluate
from .gauss_newton import GaussNewton
from .preemption import TrainingInterrupted
from .step import diagnose_in_epoch, head_inputs, optimizer_step

if TYPE_CHECKING:
    from .run_state import Run


@dataclass(frozen=True)
class Position:
    """Where an epoch stands: ``batch`` batches done, the loss of those batches summed over
    their examples, the examples classified correctly, and the seconds spent so far."""

    batch: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Position:
        return cls(
            int(data["batch"]), float(data["loss_sum"]), float(data["correct"]),
            float(data["seconds"]),
        )  # fmt: skip


def run_epoch(run: Run, save: Callable[[Position], None]) -> dict:
    """One pass over the training split from ``run.position`` (then cleared); returns the
    epoch's history record. ``save(position)`` writes a mid-epoch checkpoint."""
    epoch = run.counters["epoch"] + 1  # the number of this epoch, counted from 1
    x_train, y_train = run.dataset.split("train")
    count = len(x_train)
    started = time.perf_counter()
    before = run.position.seconds if run.position is not None else 0.0  # a resumed epoch's
    run.model.train()
    position = _batches(run, x_train, y_train, epoch, save, started)
    if run.varpro is not None:  # the head for evaluation: solved on the whole training split
        with torch.no_grad():
            targets = y_train.to(run.context.device)
            run.varpro.fit(head_inputs(run.model, x_train), targets, converge=True)
    with warnings.catch_warnings():  # an epoch resumed after its last batch takes no step
        warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()`"))
        run.scheduler.step()
    run.counters["epoch"] = epoch
    record = {"epoch": epoch, "train_loss": position.loss_sum / count}
    if run.task.name == "classification":
        record["train_accuracy"] = position.correct / count
    record.update({f"val_{k}": v for k, v in evaluate(run.model, run.dataset, "val").items()})
    record["lr"] = run.optimizer.param_groups[0]["lr"]
    record["seconds"] = before + time.perf_counter() - started
    return record


def _batches(run: Run, x_train, y_train, epoch: int, save, started: float) -> Position:
    """Every remaining minibatch of epoch ``epoch``, each one optimizer step; returns the
    final position, its sums over all processes.

    Each process sums the batch losses weighted by batch size (its part) and the examples it
    classified correctly; the sums of a resumed epoch start from the stored ones.
    """
    config, context, device = run.config, run.context, run.context.device
    start = run.position or Position()
    run.position = None
    run.epoch_rng = run.generator.get_state()
    order = torch.randperm(len(x_train), generator=run.generator)
    batches = EpochBatches(
        x_train, y_train, order.to(x_train.device), config.batch_size, context.shard, device,
        config.seed, epoch, config.augment, run.workers, start.batch,
    )  # fmt: skip
    first = context.is_main  # the stored sums are global: one process carries them on
    loss_sum = torch.tensor(start.loss_sum if first else 0.0, device=device, dtype=torch.float64)
    correct = torch.tensor(start.correct if first else 0.0, device=device, dtype=torch.float64)

    def position(batch: int) -> Position:
        spent = start.seconds + time.perf_counter() - started
        return Position(batch, float(context.sum(loss_sum)), float(context.sum(correct)), spent)

    for index, (x, y, size) in enumerate(batches, start=start.batch):
        # each rank's mean is weighted so the average over ranks is the global mean
        share = len(x) * context.world_size / size
        try:
            with _interruptible(run):
                if run.guard and index % run.guard == 0:
                    diagnose_in_epoch(run.model, x, run.state_bound, epoch)
                loss, output = optimizer_step(run, x, y, share, epoch)
        except StepLoopInterrupted:  # the batch is dropped: stop after the one before
            save(position(index))
            raise _interrupted(run, epoch, index) from None
        loss_sum += loss.detach().double() * size / context.world_size
        if run.task.name == "classification":
            correct += (output.detach().argmax(dim=1) == y).sum()
        signal_name = run.preemption.requested if run.preemption is not None else None
        stop = context.any(signal_name is not None)
        every = config.checkpoint_every
        if stop or (every and run.counters["step"] % every == 0 and index + 1 < len(batches)):
            save(position(index + 1))
        if stop:
            raise _interrupted(run, epoch, index + 1, signal_name)
    return position(len(batches))


def _interruptible(run: Run):
    """A requested stop may end a batch between two steps of its forward or backward pass,
    before anything changed. Not when several processes exchange gradients (they finish the
    batch together), nor for Gauss–Newton and VarPro, whose steps change weights midway."""
    whole = run.context.distributed or run.varpro is not None
    return nullcontext() if whole or isinstance(run.optimizer, GaussNewton) else STOP.armed()


def _interrupted(run: Run, epoch: int, batch: int, name: str | None = None):
    name = name or (run.preemption.requested if run.preemption is not None else None)
    return TrainingInterrupted(name or "a signal", run.out, epoch, batch, run.counters["step"])
