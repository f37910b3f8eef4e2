"""The training loop: minibatches, optimizer, schedule, regularizers, checkpoints, metrics.

A run writes the run directory described in :mod:`resode.runs.layout` (a new run is built
beside a run it replaces and swapped in at its first checkpoint: :mod:`resode.runs.directory`).
Everything is written atomically; a crash at any moment leaves the last checkpoint
resumable. SIGTERM or SIGUSR1 (a scheduler's preemption) ends the run after the batch in
progress with a checkpoint (see :mod:`.preemption`). Under torchrun the loop runs
data-parallel (see :mod:`resode.training.distributed`).

Multilevel (``config.multilevel`` = [N_0, N_1, …]): each level trains ``epochs`` epochs at
depth N_k with a fresh optimizer and schedule (the parameters change shape), is summarized
(epochs, seconds, val and test metrics), and the model is prolongated to N_{k+1}
(:func:`resode.training.multilevel.prolongate`; the weight grid follows the depth, M = N,
unless ``grid`` is fixed). The checkpoint records the level, so a resumed run builds the
model at that level's shape before loading it. ``max_seconds`` ends a level after the epoch
that exceeds its share of the time budget.

The model a run keeps (``keep``, best or last) and early stopping (``patience``) follow the
best validation epoch of the level in progress (:mod:`.best`): with ``keep="best"`` a
multilevel run keeps the best epoch of its final level.

A run goes through the phases set-up (:func:`_set_up`: data, checkpoint to resume from,
model, optimizer), resume or start (:func:`_resume_or_start`), one :func:`_train_level` per
level (each a series of epochs, :func:`.epoch.run_epoch`) and :func:`.results.finish`; a
:class:`.run_state.Run` carries the state from one to the next.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import load_dataset
from ..data.loader import default_workers
from ..errors import ResodeError, RunDirectoryError
from ..runs.directory import NewRun, ResumedRun, run_folder
from ..runs.layout import CHECKPOINT
from ..runs.lock import RunDirectoryLocked
from ..tasks import balanced_class_weights, get_task
from . import distributed
from .adversarial import AdversarialTraining, UserUnits
from .best import Best, patience_ran_out, restart_patience, track
from .config import DTYPES, TrainConfig
from .epoch import Position, run_epoch
from .evaluation import check_targets, evaluate
from .factory import (
    build_model,
    compile_network,
    make_optimizer,
    make_varpro,
    model_info,
    resolve_device,
)
from .multilevel import prolongate
from .preemption import Preemption
from .resources import check_fits
from .results import finish
from .run_state import Run, save_progress
from .state import (
    read_checkpoint,
    read_config,
    restore_checkpoint,
    same_run,
    stored_preprocessing,
    write_config,
)

_SHOWN = ("train_loss", "train_accuracy", "val_accuracy", "val_r2", "val_miou")
"""The history columns the progress bar shows."""


def _tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ResodeError(
            "--tensorboard needs the tensorboard package: pip install tensorboard"
        ) from None
    return SummaryWriter(str(out / "tensorboard"))


def train(
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    guard: int = 0,
    state_bound: float = 1e6,
    tensorboard: bool = False,
    distributed_required: bool = False,
    force: bool = False,
    on_epoch: Callable[[dict], bool] | None = None,
) -> dict:
    """Train the network ``config`` describes; write the run directory ``out``; return metrics.

    A new run needs ``out`` to be new or empty, or ``force``: a run already there is then
    replaced at the new run's first checkpoint, never mixed with it (see
    :mod:`resode.runs.directory`); ``resume`` continues the run in ``out``.

    ``guard`` > 0 checks forward stability (non-finite or |Y| > ``state_bound``) every
    ``guard`` batches and raises :class:`~resode.analysis.diagnosis.StabilityError` naming the
    unit and step; a non-finite loss is always diagnosed the same way. SIGTERM or SIGUSR1
    stops the run after the current batch with a checkpoint and raises
    :class:`~resode.training.preemption.TrainingInterrupted`; a run directory in use by
    another process raises :class:`~resode.runs.lock.RunDirectoryLocked`. A second signal
    (or SIGINT) stops at once, the last checkpoint intact.

    ``on_epoch(record)`` is called with each epoch's history record once its checkpoint is
    written; when it returns True the run ends there (a sweep's pruner): metrics.json is
    written for the model kept so far and holds ``pruned_at_epoch``.
    """
    config.validate()
    out = Path(out)
    context = distributed.setup(resolve_device(config.device), distributed_required)
    place = None
    try:
        place = run_folder(out, resume, force) if context.is_main else None
        with Preemption() as preemption:
            options = {"progress": progress, "guard": guard, "state_bound": state_bound}
            options.update(place=place, preemption=preemption, on_epoch=on_epoch)
            return _train(config, out, resume, context, tensorboard, **options)
    finally:
        if place is not None:
            place.release()
        distributed.teardown(context)


def _train(config, out, resume, context, tensorboard, **options) -> dict:
    """The phases of a run: set up, resume or start, train level by level, finish.
    ``options`` are the :class:`Run`'s (see :func:`_set_up`)."""
    run, checkpoint = _set_up(config, out, resume, context, **options)
    _resume_or_start(run, checkpoint, resume)
    if tensorboard and context.is_main:
        run.writer = _tensorboard_writer(run.out)
    for level in range(run.counters["level"], len(run.levels)):
        if run.pruned:
            break
        _train_level(run, level)
    if run.writer is not None:
        run.writer.close()
    return finish(run)


def _set_up(config, out, resume, context, **options) -> tuple[Run, tuple | None]:
    """Seed; load the data; lock the run directory; build the model, optimizer, schedule and
    shuffling generator.

    Returns the run and the checkpoint to resume from (None for a fresh start); the
    checkpoint is read before the model is built, since it names the level whose shape the
    model must have. ``options`` are the run's ``progress``, ``guard``, ``state_bound``,
    ``place`` (rank 0's run folder, locked here before anything is read or written in it,
    once the network is known to fit in memory), ``preemption`` and ``on_epoch``.
    """
    device, dtype = context.device, DTYPES[config.dtype]
    torch.manual_seed(config.seed)
    data_options = config.dataset_options()
    if resume and config.source_options():  # a user's data: encoded as the run stored it
        stored = stored_preprocessing(out)
        data_options |= {"preprocessing": stored} if stored is not None else {}
    dataset = load_dataset(config.data, seed=config.seed, **data_options)
    workers = config.workers
    if workers is None:
        workers = default_workers(dataset.x_train, config.augment, device)
    # with a loader the training split stays in host memory; its workers make the batches
    dataset = dataset.to(device, dtype, train_device="cpu" if workers else None)
    check_targets(dataset)
    task = get_task(dataset.task)
    if config.class_weight == "balanced":
        weight = balanced_class_weights(dataset.y_train, dataset.num_classes)
        task = task.weighted(weight.to(device))
    info = model_info(dataset)
    levels = config.levels()
    check_fits(config, info, device)
    _lock(options["place"], context, out)
    if options["place"] is not None:
        out = options["place"].folder
    checkpoint = _read_resume_checkpoint(config, out, context) if resume else None
    level = checkpoint[1].get("level", 0) if checkpoint is not None else 0
    model = build_model(config, info, level).to(device, dtype)
    if context.distributed and (config.varpro or config.optimizer == "gauss-newton"):
        raise ResodeError("--varpro and gauss-newton run on one process, not under torchrun")
    optimizer, scheduler = make_optimizer(config, model)
    generator = torch.Generator().manual_seed(config.seed)
    run = Run(
        config,
        out,
        context,
        dataset,
        task,
        info,
        levels,
        model,
        optimizer,
        scheduler,
        generator,
        workers=workers,
        **options,
    )
    run.varpro = make_varpro(config, model)
    if config.adversarial is not None:
        run.adversarial = AdversarialTraining.parse(config.adversarial)
        run.units = UserUnits.of(dataset)
    return run, checkpoint


def _lock(place: NewRun | ResumedRun | None, context, out: Path) -> None:
    """Rank 0 takes the run directory's lock; every process raises if it is held elsewhere."""
    refused = None
    if context.is_main:
        try:
            place.acquire()
        except RunDirectoryLocked as error:
            refused = error
    if context.any(refused is not None):
        raise refused or RunDirectoryLocked(f"{out} is in use by another process")


def _read_resume_checkpoint(config, out: Path, context) -> tuple[dict, dict] | None:
    """Check that ``out`` holds this config, read the checkpoint if any.

    None when the run was stopped before its first checkpoint.
    """
    if not same_run(read_config(out), config):
        raise ResodeError(f"config differs from the one stored in {out}; cannot resume")
    if (out / CHECKPOINT).exists():
        return read_checkpoint(out, config)
    return None


def _resume_or_start(run: Run, checkpoint: tuple[dict, dict] | None, resume: bool) -> None:
    """Restore the run from ``checkpoint``, or start a new run directory with config.json.

    Restoring loads weights, optimizer, schedule and RNG states and sets counters, history
    and level summaries (and, from a mid-epoch checkpoint, the epoch's position); resuming a
    run without a checkpoint starts from epoch 0 in place.
    A run resumed with its data elsewhere (``data_dir``) records the new place in config.json.
    """
    if checkpoint is not None:
        run.counters, run.history, run.summaries = restore_checkpoint(
            run.out, checkpoint, run.model, run.optimizer, run.scheduler, run.generator
        )
        if checkpoint[1].get("position") is not None:
            run.position = Position.from_dict(checkpoint[1]["position"])
        run.best = Best.from_dict(checkpoint[1].get("best"))
        if len(run.summaries) != run.counters["level"]:
            raise RunDirectoryError(f"{run.out / CHECKPOINT} has inconsistent level summaries")
        if checkpoint[1]["config"]["epochs"] < run.config.epochs:
            _extend(run)
    elif not resume and run.context.is_main:
        run.out.mkdir(parents=True, exist_ok=True)
        write_config(run.out, run.config, run.info)
    if resume and run.context.is_main and _data_moved(read_config(run.out), run.config):
        write_config(run.out, run.config, run.info)  # later commands find the data there
    run.context.barrier()


def _data_moved(stored: TrainConfig, config: TrainConfig) -> bool:
    """Whether a resumed run was given another data folder (or ``download``) than stored."""
    return (stored.data_dir, stored.download) != (config.data_dir, config.download)


def _extend(run: Run) -> None:
    """Train a run longer: config.json gets the new ``epochs``; a cosine schedule restarts
    from the base learning rate and anneals over the epochs left (constant and step go on);
    patience counts from here."""
    run.best = restart_patience(run.best, run.counters["epoch"])
    if run.context.is_main:
        write_config(run.out, run.config, run.info)
    if run.config.schedule == "cosine":
        for group in run.optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        left = run.config.epochs - run.counters["epoch"]
        run.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(run.optimizer, T_max=left)


def _train_level(run: Run, level: int) -> None:
    """Train level ``level`` until it is done; a multilevel run then records its summary.

    Entering a finer level first prolongates the model (see :func:`_enter_level`); a resumed
    run continues its level where the checkpoint left it.
    """
    if level > run.counters["level"]:
        _enter_level(run, level)
    start = sum(s["epochs"] for s in run.summaries)  # the level's first epoch
    run.network = _network(run)
    bar = _progress_bar(run, level, start)
    while not _level_done(run, start, level):
        record = run_epoch(run, lambda position: save_progress(run, None, position))
        if run.multilevel:
            record = {"epoch": record["epoch"], "level": level, "steps": run.levels[level]} | {
                k: v for k, v in record.items() if k != "epoch"
            }
        run.history.append(record)
        run.best = track(run.best, record, "val_" + run.task.headline, level)
        save_progress(run, record)
        run.context.barrier()
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in _SHOWN})
        bar.update()
        if run.on_epoch is not None and run.context.any(bool(run.on_epoch(record))):
            run.pruned = True
    bar.close()
    run.stopped_early = _patience_ran_out(run, level)
    if run.multilevel:
        run.summaries.append(_level_summary(run, start, level))


def _enter_level(run: Run, level: int) -> None:
    """Prolongate the model to level ``level``'s depth; fresh optimizer and schedule."""
    factor = run.levels[level] // run.levels[level - 1]
    prolongate(run.model, factor, grid=run.config.grid is None)
    run.counters["level"] = level
    run.optimizer, run.scheduler = make_optimizer(run.config, run.model)


def _network(run: Run) -> torch.nn.Module:
    """The model, wrapped in DistributedDataParallel when the run is distributed and in
    ``torch.compile`` with ``compile``. The wrappers share the model's parameters: the model
    itself is what is evaluated and saved, so its state_dict keys stay as they are."""
    device = run.context.device
    network = run.model
    if run.context.distributed:
        network = torch.nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None
        )
    return compile_network(network) if run.config.compile else network


def _progress_bar(run: Run, level: int, start: int) -> tqdm:
    """The level's progress bar over epochs (shown by rank 0 only, and only with progress)."""
    levels = run.levels
    desc = f"level {level + 1}/{len(levels)} N={levels[level]}" if run.multilevel else "train"
    return tqdm(
        total=run.config.epochs,
        initial=run.counters["epoch"] - start,
        desc=desc,
        unit="epoch",
        disable=not (run.progress and run.context.is_main),
        dynamic_ncols=True,
    )


def _level_done(run: Run, start: int, level: int) -> bool:
    """Level ``level`` (whose first epoch is ``start``) has run its epochs or its time share.

    The share of level k is (max_seconds − time of the levels before) / (levels left).
    """
    config, history = run.config, run.history
    ran = history[start:]
    if run.pruned or len(ran) >= config.epochs or _patience_ran_out(run, level):
        return True
    if config.max_seconds is None or not ran:
        return False
    before = sum(r["seconds"] for r in history[:start])
    share = (config.max_seconds - before) / (len(run.levels) - level)
    return run.context.any(sum(r["seconds"] for r in ran) >= share)


def _patience_ran_out(run: Run, level: int) -> bool:
    epoch, patience = run.counters["epoch"], run.config.patience
    return run.context.any(patience_ran_out(run.best, epoch, level, patience))


def _level_summary(run: Run, start: int, level: int) -> dict:
    """Level index (from 0), steps, epochs, seconds, whether patience stopped it (with
    ``patience``) and val/test metrics at its end."""
    ran = run.history[start:]
    summary = {
        "level": level,
        "steps": run.levels[level],
        "epochs": len(ran),
        "seconds": sum(r["seconds"] for r in ran),
    }
    if run.config.patience is not None:
        summary["stopped_early"] = run.stopped_early
    for split in ("val", "test"):
        metrics = evaluate(run.model, run.dataset, split)
        summary.update({f"{split}_{k}": v for k, v in metrics.items()})
    return summary
