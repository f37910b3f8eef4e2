"""The training loop: minibatches, optimizer, schedule, regularizers, checkpoints, metrics.

A run directory holds

    config.json            the TrainConfig plus the model's in/out features
    checkpoint.safetensors weights, optimizer state, RNG state, counters (every epoch)
    model.safetensors      the latest weights (every epoch) for ``resode evaluate``
    metrics.json           final metrics per split and the per-epoch history
    boundary.png           decision regions (2-D inputs, classification)

Everything is written atomically; a crash leaves the last complete epoch readable.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import (
    optimizer_from_flat,
    optimizer_to_flat,
    read_json,
    read_tensors,
    write_json,
    write_tensors,
)
from .config import TrainConfig
from .data import Dataset, load_dataset
from .errors import ResodeError, RunDirectoryError, TrainingDivergedError
from .network import ResNet
from .regularizers import regularization
from .tasks import get_task

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an absent device is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ResodeError("device 'cuda' is not available here; use --device cpu or auto")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ResodeError("device 'mps' is not available here; use --device cpu or auto")
    return torch.device(name)


def build_model(config: TrainConfig, in_features: int, out_features: int) -> ResNet:
    """The ResNet a config describes (weights drawn from the current torch RNG)."""
    return ResNet(
        in_features,
        config.width,
        out_features,
        T=config.T,
        steps=config.steps,
        dynamics=config.dynamics,
        integrator=config.integrator,
        activation=config.activation,
        grid=config.grid,
        interp=config.interp,
        gamma=config.gamma,
    )


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
def evaluate(model: ResNet, dataset: Dataset, split: str, batch_size: int = 4096) -> dict:
    """Task metrics of ``model`` on one split, e.g. {"loss": …, "accuracy": …}."""
    task = get_task(dataset.task)
    x, y = dataset.split(split)
    was_training = model.training
    model.eval()
    outputs = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return task.metrics(outputs, y)


def _scheduler_state(scheduler) -> dict:
    return {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}


def save_checkpoint(out: Path, model, optimizer, scheduler, generator, epoch, history) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_state = optimizer_to_flat(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.shuffle"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    state = {
        "epoch": epoch,
        "optimizer": optimizer_state,
        "scheduler": _scheduler_state(scheduler),
        "history": history,
    }
    write_tensors(out / CHECKPOINT, tensors, state)
    write_tensors(out / MODEL, model.state_dict())


def load_checkpoint(out: Path, model, optimizer, scheduler, generator) -> tuple[int, list]:
    tensors, state = read_tensors(out / CHECKPOINT)
    if state is None:
        raise RunDirectoryError(f"{out / CHECKPOINT} holds no training state")
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RunDirectoryError(
            f"checkpoint in {out} does not match the model of its config.json"
        ) from None
    device = next(model.parameters()).device
    optimizer_tensors = {k: v.to(device) for k, v in tensors.items() if k.startswith("optimizer.")}
    optimizer_from_flat(optimizer, optimizer_tensors, state["optimizer"])
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    generator.set_state(tensors["rng.shuffle"])
    torch.set_rng_state(tensors["rng.torch"])
    return int(state["epoch"]), list(state["history"])


def write_config(out: Path, config: TrainConfig, dataset: Dataset) -> None:
    document = config.to_dict()
    document["model"] = {
        "in_features": dataset.in_features,
        "out_features": dataset.out_features,
        "task": dataset.task,
    }
    write_json(out / "config.json", document)


def read_config(out: Path) -> TrainConfig:
    """The TrainConfig stored in a run directory."""
    document = read_json(Path(out) / "config.json")
    if not isinstance(document, dict):
        raise RunDirectoryError(f"{Path(out) / 'config.json'} is not a JSON object")
    document.pop("model", None)
    try:
        return TrainConfig.from_dict(document)
    except (ResodeError, TypeError) as error:
        raise RunDirectoryError(f"invalid config.json in {out}: {error}") from None


def train(
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train the network ``config`` describes; write the run directory ``out``; return metrics."""
    config.validate()
    out = Path(out)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    dataset = load_dataset(config.data, seed=config.seed).to(device)
    task = get_task(dataset.task)
    model = build_model(config, dataset.in_features, dataset.out_features).to(device)
    optimizer, scheduler = make_optimizer(config, model)
    generator = torch.Generator().manual_seed(config.seed)

    start_epoch, history = 0, []
    if resume:
        stored = read_config(out)
        if stored != config:
            raise ResodeError(f"config differs from the one stored in {out}; cannot resume")
        if (out / CHECKPOINT).exists():
            start_epoch, history = load_checkpoint(out, model, optimizer, scheduler, generator)
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, config, dataset)

    x_train, y_train = dataset.split("train")
    count = len(x_train)
    bar = tqdm(
        range(start_epoch, config.epochs),
        initial=start_epoch,
        total=config.epochs,
        desc="train",
        unit="epoch",
        disable=not progress,
        dynamic_ncols=True,
    )
    for epoch in bar:
        started = time.perf_counter()
        model.train()
        order = torch.randperm(count, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for begin in range(0, count, config.batch_size):
            index = order[begin : begin + config.batch_size]
            x, y = x_train[index], y_train[index]
            output = model(x)
            loss = task.loss(output, y)
            penalty = regularization(model, config.smoothness, config.weight_decay)
            objective = loss if penalty is None else loss + penalty
            if not math.isfinite(float(objective.detach())):
                raise TrainingDivergedError(
                    f"loss became {float(objective.detach())} in epoch {epoch + 1}: the forward "
                    "propagation is unstable; use a stable dynamics (antisymmetric or "
                    "parabolic), a larger-region integrator (rk4) or more steps (smaller "
                    f"h = T/N), or a lower learning rate; the last good checkpoint in {out} "
                    "is intact"
                )
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(index)
            if task.name == "classification":
                correct += (output.detach().argmax(dim=1) == y).sum()
        scheduler.step()
        record = {"epoch": epoch + 1, "train_loss": float(loss_sum) / count}
        if task.name == "classification":
            record["train_accuracy"] = float(correct) / count
        record.update({f"val_{k}": v for k, v in evaluate(model, dataset, "val").items()})
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        save_checkpoint(out, model, optimizer, scheduler, generator, epoch + 1, history)
        bar.set_postfix(
            {
                k: f"{v:.4f}"
                for k, v in record.items()
                if k in ("train_loss", "train_accuracy", "val_accuracy", "val_rmse")
            }
        )
    bar.close()

    metrics = final_metrics(model, dataset)
    metrics["history"] = history
    metrics["seconds"] = sum(r["seconds"] for r in history)
    write_json(out / "metrics.json", metrics)
    if dataset.in_features == 2 and dataset.task == "classification":
        from .plots import plot_decision_boundary

        plot_decision_boundary(model, dataset, out / "boundary.png")
    return metrics


def final_metrics(model: ResNet, dataset: Dataset) -> dict:
    """{split}_{metric} for train, val and test, e.g. ``test_accuracy``."""
    metrics = {}
    for split in ("train", "val", "test"):
        metrics.update({f"{split}_{k}": v for k, v in evaluate(model, dataset, split).items()})
    return metrics
