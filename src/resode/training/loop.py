"""The training loop: minibatches, optimizer, schedule, regularizers, checkpoints, metrics.

A run directory holds

    config.json            the TrainConfig plus the model's in/out features
    checkpoint.safetensors everything needed to resume, bit for bit (every epoch)
    model.safetensors      the latest weights (every epoch) for ``resode evaluate``
    history.csv            one row of metrics per epoch (multilevel: with level and steps)
    metrics.json           final metrics per split, the per-epoch history and, for a
                           multilevel run, one summary per level under ``levels``
    boundary.png           decision regions (2-D inputs, classification)
    regression.png         prediction against truth (regression)
    segmentation.png       image / truth / prediction for a few test samples (segmentation)

Everything is written atomically; a crash at any moment leaves the last complete epoch
resumable. Under torchrun the loop runs data-parallel (see :mod:`resode.distributed`).

Multilevel (``config.multilevel`` = [N_0, N_1, …]): each level trains ``epochs`` epochs at
depth N_k with a fresh optimizer and schedule (the parameters change shape), is summarized
(epochs, seconds, val and test metrics), and the model is prolongated to N_{k+1}
(:func:`resode.multilevel.prolongate`; the weight grid follows the depth, M = N, unless
``grid`` is fixed). The checkpoint records the level, so a resumed run builds the model at
that level's shape before loading it. ``max_seconds`` ends a level after the epoch that
exceeds its share of the time budget.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..analysis.diagnosis import StabilityError, diagnose
from ..data import Dataset, load_dataset
from ..errors import ResodeError, RunDirectoryError, TrainingDivergedError
from ..files import atomic_write, write_json
from ..tasks import get_task
from . import distributed
from .config import DTYPES, TrainConfig
from .evaluation import check_targets, evaluate, final_metrics
from .factory import build_model, make_optimizer, model_info, resolve_device
from .multilevel import prolongate
from .regularizers import regularization
from .state import (
    CHECKPOINT,
    read_checkpoint,
    read_config,
    remove_partial_writes,
    restore_checkpoint,
    save_checkpoint,
    write_config,
)


def _diverged(value: float, epoch: int, out: Path) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"loss became {value} in epoch {epoch}: use a stable dynamics (antisymmetric or "
        "parabolic), a larger-region integrator (rk4) or more steps (smaller h = T/N), or a "
        f"lower learning rate; the last good checkpoint in {out} is intact"
    )


def _diagnose(model, x: torch.Tensor, bound: float, epoch: int) -> None:
    try:
        diagnose(model, x, bound)
    except StabilityError as error:
        raise error.in_epoch(epoch) from None


def _write_history(out: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(out / "history.csv", lambda f: f.write(buffer.getvalue()))


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
) -> dict:
    """Train the network ``config`` describes; write the run directory ``out``; return metrics.

    ``guard`` > 0 checks forward stability (non-finite or |Y| > ``state_bound``) every
    ``guard`` batches and raises :class:`~resode.diagnosis.StabilityError` naming the unit and
    step; a non-finite loss is always diagnosed the same way.
    """
    config.validate()
    out = Path(out)
    context = distributed.setup(resolve_device(config.device), distributed_required)
    try:
        return _train(config, out, resume, progress, guard, state_bound, tensorboard, context)
    finally:
        distributed.teardown(context)


def _level_done(config: TrainConfig, history: list, start: int, level: int, context) -> bool:
    """Level ``level`` (whose first epoch is ``start``) has run its epochs or its time share.

    The share of level k is (max_seconds − time of the levels before) / (levels left).
    """
    ran = history[start:]
    if len(ran) >= config.epochs:
        return True
    if config.max_seconds is None or not ran:
        return False
    before = sum(r["seconds"] for r in history[:start])
    share = (config.max_seconds - before) / (len(config.levels()) - level)
    return context.any(sum(r["seconds"] for r in ran) >= share)


def _level_summary(
    model, dataset: Dataset, history: list, start: int, level: int, steps: int
) -> dict:
    """Level index (from 0), steps, epochs, seconds and val/test metrics at its end."""
    ran = history[start:]
    summary = {
        "level": level,
        "steps": steps,
        "epochs": len(ran),
        "seconds": sum(r["seconds"] for r in ran),
    }
    for split in ("val", "test"):
        summary.update({f"{split}_{k}": v for k, v in evaluate(model, dataset, split).items()})
    return summary


def _train(config, out, resume, progress, guard, state_bound, tensorboard, context) -> dict:
    device, dtype = context.device, DTYPES[config.dtype]
    torch.manual_seed(config.seed)
    dataset = load_dataset(config.data, seed=config.seed, **config.dataset_options())
    dataset = dataset.to(device, dtype)
    check_targets(dataset)
    task = get_task(dataset.task)
    info = model_info(dataset)
    levels = config.levels()
    checkpoint = None
    if resume:
        if read_config(out) != config:
            raise ResodeError(f"config differs from the one stored in {out}; cannot resume")
        if context.is_main:
            remove_partial_writes(out)
        if (out / CHECKPOINT).exists():
            checkpoint = read_checkpoint(out, config)
    level = checkpoint[1].get("level", 0) if checkpoint is not None else 0
    model = build_model(config, info, level).to(device, dtype)
    optimizer, scheduler = make_optimizer(config, model)
    generator = torch.Generator().manual_seed(config.seed)

    counters, history, summaries = {"epoch": 0, "step": 0, "level": 0}, [], []
    if checkpoint is not None:
        counters, history, summaries = restore_checkpoint(
            out, checkpoint, model, optimizer, scheduler, generator
        )
        if len(summaries) != counters["level"]:
            raise RunDirectoryError(f"{out / CHECKPOINT} has inconsistent level summaries")
    elif not resume and context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, config, info)
    context.barrier()

    writer = _tensorboard_writer(out) if tensorboard and context.is_main else None
    multilevel = config.multilevel is not None
    for level in range(counters["level"], len(levels)):
        if level > counters["level"]:  # entering a finer level: prolongate, fresh optimizer
            factor = levels[level] // levels[level - 1]
            prolongate(model, factor, grid=config.grid is None)
            counters["level"] = level
            optimizer, scheduler = make_optimizer(config, model)
        start = sum(s["epochs"] for s in summaries)
        network = model
        if context.distributed:
            network = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        desc = f"level {level + 1}/{len(levels)} N={levels[level]}" if multilevel else "train"
        bar = tqdm(
            total=config.epochs,
            initial=counters["epoch"] - start,
            desc=desc,
            unit="epoch",
            disable=not (progress and context.is_main),
            dynamic_ncols=True,
        )
        while not _level_done(config, history, start, level, context):
            run = (model, network, optimizer, scheduler, generator)
            record = _epoch(config, dataset, task, run, counters, guard, state_bound, out, context)
            if multilevel:
                record = {"epoch": record["epoch"], "level": level, "steps": levels[level]} | {
                    k: v for k, v in record.items() if k != "epoch"
                }
            history.append(record)
            if context.is_main:
                save_checkpoint(
                    out,
                    config,
                    model,
                    optimizer,
                    scheduler,
                    generator,
                    counters,
                    history,
                    summaries,
                )
                _write_history(out, history)
                if writer is not None:
                    for key, value in record.items():
                        if key != "epoch":
                            writer.add_scalar(key, value, counters["epoch"])
            context.barrier()
            shown = ("train_loss", "train_accuracy", "val_accuracy", "val_r2", "val_miou")
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in shown})
            bar.update()
        bar.close()
        if multilevel:
            summaries.append(_level_summary(model, dataset, history, start, level, levels[level]))
    if writer is not None:
        writer.close()

    metrics = final_metrics(model, dataset)
    metrics["history"] = history
    metrics["seconds"] = sum(r["seconds"] for r in history)
    if config.max_seconds is not None:
        metrics["epochs"] = len(history)
        metrics["time_limited"] = len(history) < config.epochs * len(levels)
    if multilevel:
        metrics["levels"] = summaries
    if context.is_main:
        write_json(out / "metrics.json", metrics)
        from ..plots import plot_run

        plot_run(model, dataset, out)
    return metrics


def _epoch(config, dataset, task, run, counters, guard, state_bound, out, context) -> dict:
    """One pass over the training data; returns the epoch's history record."""
    model, network, optimizer, scheduler, generator = run
    device = context.device
    epoch = counters["epoch"]
    x_train, y_train = dataset.split("train")
    count = len(x_train)
    started = time.perf_counter()
    model.train()
    order = torch.randperm(count, generator=generator).to(device)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    for batch, begin in enumerate(range(0, count, config.batch_size)):
        index = order[begin : begin + config.batch_size]
        local = context.shard(index)
        x, y = x_train[local], y_train[local]
        if guard and batch % guard == 0:
            _diagnose(model, x, state_bound, epoch + 1)
        output = network(x)
        # each rank's mean is weighted so the average over ranks is the global mean
        share = len(local) * context.world_size / len(index)
        loss = task.loss(output, y) * share if len(local) else output.sum() * 0
        penalty = regularization(model, config.smoothness, config.weight_decay)
        objective = loss if penalty is None else loss + penalty
        value = float(objective.detach())
        if context.any(not math.isfinite(value)):
            if len(local):
                _diagnose(model, x, state_bound, epoch + 1)
            raise _diverged(value, epoch + 1, out)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        counters["step"] += 1
        loss_sum += loss.detach().double() * len(index) / context.world_size
        if task.name == "classification":
            correct += (output.detach().argmax(dim=1) == y).sum()
    scheduler.step()
    counters["epoch"] = epoch + 1
    record = {"epoch": epoch + 1, "train_loss": float(context.sum(loss_sum)) / count}
    if task.name == "classification":
        record["train_accuracy"] = float(context.sum(correct)) / count
    record.update({f"val_{k}": v for k, v in evaluate(model, dataset, "val").items()})
    record["lr"] = optimizer.param_groups[0]["lr"]
    record["seconds"] = time.perf_counter() - started
    return record
