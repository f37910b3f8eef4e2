"""The state of one training run, handed from phase to phase of :mod:`.loop`, and how it is
written to the run directory: checkpoint, model.safetensors, history.csv (all atomically)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import Dataset
from ..runs.directory import NewRun, ResumedRun
from ..runs.layout import HISTORY
from ..storage import atomic_write
from . import distributed
from .adversarial import AdversarialTraining, UserUnits
from .best import Best, holds_best, write_best_model
from .config import TrainConfig
from .epoch import Position
from .preemption import Preemption
from .state import save_checkpoint


@dataclass
class Run:
    """The state of one training run, handed from phase to phase.

    ``model`` is the network being trained (prolongated in place between levels);
    ``network`` is what the forward pass of a step calls: the model, or its DDP wrapper under
    torchrun, compiled with ``config.compile``.
    ``counters`` holds epoch, step and level; ``history`` one record per epoch;
    ``summaries`` one per finished level of a multilevel run. ``workers`` is the training
    loader's processes (0: batches in process); ``position`` where a resumed epoch goes on,
    ``epoch_rng`` the shuffling generator's state at the start of the epoch in progress.
    ``out`` is the folder written now: ``place.out`` itself, or for a run replacing another
    the staging folder beside it until the first checkpoint swaps it in. ``best`` is the
    best validation epoch of the level in progress; ``stopped_early`` whether ``patience``
    ended the last level trained in this process; ``pruned`` whether ``on_epoch`` ended the
    run.
    """

    config: TrainConfig
    out: Path
    context: distributed.Context
    dataset: Dataset
    task: object
    info: dict
    levels: list
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    progress: bool = True
    guard: int = 0
    state_bound: float = 1e6
    counters: dict = field(default_factory=lambda: {"epoch": 0, "step": 0, "level": 0})
    history: list[dict] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    network: torch.nn.Module | None = None
    writer: object | None = None
    varpro: object | None = None
    workers: int = 0
    position: Position | None = None
    epoch_rng: torch.Tensor | None = None
    preemption: Preemption | None = None
    place: NewRun | ResumedRun | None = None
    best: Best | None = None
    stopped_early: bool = False
    adversarial: AdversarialTraining | None = None
    units: UserUnits | None = None
    on_epoch: Callable[[dict], bool] | None = None
    pruned: bool = False

    @property
    def destination(self) -> Path:
        """The run directory as the user named it (``out`` may still be a staging folder)."""
        return self.place.out if self.place is not None else self.out

    @property
    def multilevel(self) -> bool:
        return self.config.multilevel is not None


def write_history(out: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(out / HISTORY, lambda f: f.write(buffer.getvalue()))


def save_progress(run: Run, record: dict | None, position: Position | None = None) -> None:
    """On rank 0: write the checkpoint and model.safetensors; at the end of an epoch
    (``record``) also history.csv and TensorBoard scalars. A mid-epoch checkpoint stores
    ``position`` and the shuffling generator's state at the start of the epoch."""
    if not run.context.is_main:
        return
    with run.preemption.writing() if run.preemption is not None else nullcontext():
        _write_state(run, record, position)
        if run.place is not None and run.place.staged:  # a replacement's first checkpoint
            run.out = run.place.commit()


def _write_state(run: Run, record: dict | None, position: Position | None) -> None:
    """model.safetensors first when the epoch ``record`` is the new best (``keep="best"``),
    then the checkpoint (with the latest weights to model.safetensors otherwise), history."""
    keeps_best = holds_best(run.config.keep, run.best, run.counters["level"])
    if keeps_best and record is not None and run.best.epoch == record["epoch"]:
        write_best_model(run.out, run.model, run.best)
    save_checkpoint(  # looked up at call time: tests wrap it to interrupt a run
        run.out,
        run.config,
        run.model,
        run.optimizer,
        run.scheduler,
        run.generator,
        run.counters,
        run.history,
        run.summaries,
        position=None if position is None else position.to_dict(),
        shuffle_state=None if position is None else run.epoch_rng,
        best=None if run.best is None else run.best.to_dict(),
        latest_model=not keeps_best,
    )
    if record is None:
        return
    write_history(run.out, run.history)
    if run.writer is not None:
        for key, value in record.items():
            if key != "epoch":
                run.writer.add_scalar(key, value, run.counters["epoch"])
