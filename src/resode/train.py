"""The training loop: minibatches, optimizer, schedule, regularizers, checkpoints, metrics.

A run directory holds

    config.json            the TrainConfig plus the model's in/out features
    checkpoint.safetensors everything needed to resume, bit for bit (every epoch)
    model.safetensors      the latest weights (every epoch) for ``resode evaluate``
    history.csv            one row of metrics per epoch
    metrics.json           final metrics per split and the per-epoch history
    boundary.png           decision regions (2-D inputs, classification)
    regression.png         prediction against truth (regression)
    segmentation.png       image / truth / prediction for a few test samples (segmentation)

Everything is written atomically; a crash at any moment leaves the last complete epoch
resumable. Under torchrun the loop runs data-parallel (see :mod:`resode.distributed`).
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import distributed
from .checkpoint import atomic_write, write_json
from .config import TrainConfig
from .convnet import ConvResNet
from .data import Dataset, load_dataset
from .diagnosis import StabilityError, diagnose
from .errors import ResodeError, TrainingDivergedError
from .network import ResNet
from .regularizers import regularization
from .state import (
    CHECKPOINT,
    load_checkpoint,
    read_config,
    remove_partial_writes,
    save_checkpoint,
    write_config,
)
from .tasks import get_task

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an absent device is a clear error."""
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ResodeError("device 'cuda' is not available here; use --device cpu or auto")
    if name == "mps" and not mps_available:
        raise ResodeError("device 'mps' is not available here; use --device cpu or auto")
    return torch.device(name)


def model_info(dataset: Dataset) -> dict:
    """What a network needs to know of its data (stored in config.json as ``model``)."""
    return {
        "kind": dataset.kind,
        "input_shape": list(dataset.input_shape),
        "in_features": dataset.in_features,
        "out_features": dataset.out_features,
        "task": dataset.task,
    }


def build_model(config: TrainConfig, info: dict) -> ResNet | ConvResNet:
    """The network a config describes for data described by :func:`model_info`.

    Vectors get a :class:`ResNet` of width ``config.width``; signals and images a
    :class:`ConvResNet` with one ODE unit per entry of ``config.unit_widths()``.
    """
    shared = dict(
        dynamics=config.dynamics,
        integrator=config.integrator,
        activation=config.activation,
        grid=config.grid,
        interp=config.interp,
        gamma=config.gamma,
    )
    if info["kind"] == "vector":
        steps = config.steps[0] if isinstance(config.steps, list) else config.steps
        return ResNet(
            info["in_features"],
            config.width,
            info["out_features"],
            T=config.T,
            steps=steps,
            **shared,
        )
    model = ConvResNet(
        info["in_features"],
        config.unit_widths(),
        info["out_features"],
        spatial_dims=len(info["input_shape"]) - 1,
        task=info["task"],
        T=config.T,
        steps=config.steps,
        kernel_size=config.kernel_size,
        norm=config.norm,
        **shared,
    )
    model.check_input_shape(info["input_shape"])
    return model


def make_optimizer(config: TrainConfig, model: torch.nn.Module):
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    if config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    elif config.schedule == "step":
        step = max(1, config.epochs // 3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=0.1)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    return optimizer, scheduler


@torch.no_grad()
def evaluate(model, dataset: Dataset, split: str, batch_size: int | None = None) -> dict:
    """Task metrics of ``model`` on one split, e.g. {"loss": …, "accuracy": …}."""
    task = get_task(dataset.task)
    x, y = dataset.split(split)
    if batch_size is None:  # about 2**22 input numbers per batch
        batch_size = max(1, min(4096, 2**22 // max(1, x[0].numel() * 64)))
    was_training = model.training
    model.eval()
    outputs = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return task.metrics(outputs.float(), y.float() if dataset.task == "regression" else y)


def final_metrics(model, dataset: Dataset) -> dict:
    """{split}_{metric} for train, val and test, e.g. ``test_accuracy``."""
    metrics = {}
    for split in ("train", "val", "test"):
        metrics.update({f"{split}_{k}": v for k, v in evaluate(model, dataset, split).items()})
    return metrics


def check_targets(dataset: Dataset) -> None:
    """Class labels must lie in [0, classes); regression targets must be finite."""
    for split in ("train", "val", "test"):
        _, y = dataset.split(split)
        if dataset.task == "regression":
            if not bool(torch.isfinite(y).all()):
                raise ResodeError(f"{split} targets of {dataset.name} contain non-finite values")
        elif len(y) and (int(y.min()) < 0 or int(y.max()) >= dataset.num_classes):
            raise ResodeError(
                f"{split} labels of {dataset.name} must lie in [0, {dataset.num_classes}), "
                f"found {int(y.min())}..{int(y.max())}"
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


def _train(config, out, resume, progress, guard, state_bound, tensorboard, context) -> dict:
    device, dtype = context.device, DTYPES[config.dtype]
    torch.manual_seed(config.seed)
    dataset = load_dataset(config.data, seed=config.seed, **config.dataset_options())
    dataset = dataset.to(device, dtype)
    check_targets(dataset)
    task = get_task(dataset.task)
    info = model_info(dataset)
    model = build_model(config, info).to(device, dtype)
    optimizer, scheduler = make_optimizer(config, model)
    generator = torch.Generator().manual_seed(config.seed)

    counters, history = {"epoch": 0, "step": 0}, []
    if resume:
        if read_config(out) != config:
            raise ResodeError(f"config differs from the one stored in {out}; cannot resume")
        if context.is_main:
            remove_partial_writes(out)
        if (out / CHECKPOINT).exists():
            counters, history = load_checkpoint(out, config, model, optimizer, scheduler, generator)
    elif context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, config, info)
    context.barrier()

    network = model
    if context.distributed:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    writer = _tensorboard_writer(out) if tensorboard and context.is_main else None
    x_train, y_train = dataset.split("train")
    count = len(x_train)
    bar = tqdm(
        range(counters["epoch"], config.epochs),
        initial=counters["epoch"],
        total=config.epochs,
        desc="train",
        unit="epoch",
        disable=not (progress and context.is_main),
        dynamic_ncols=True,
    )
    for epoch in bar:
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
        history.append(record)
        if context.is_main:
            save_checkpoint(out, config, model, optimizer, scheduler, generator, counters, history)
            _write_history(out, history)
            if writer is not None:
                for key, value in record.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch + 1)
        context.barrier()
        shown = ("train_loss", "train_accuracy", "val_accuracy", "val_r2", "val_miou")
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in shown})
    bar.close()
    if writer is not None:
        writer.close()

    metrics = final_metrics(model, dataset)
    metrics["history"] = history
    metrics["seconds"] = sum(r["seconds"] for r in history)
    if context.is_main:
        write_json(out / "metrics.json", metrics)
        from .plots import plot_run

        plot_run(model, dataset, out)
    return metrics
