"""Where a run's network comes from: the device, the model a config describes, the optimizer."""

from __future__ import annotations

import torch

from ..data import Dataset, dataset_task
from ..errors import ResodeError
from ..model.convnet import ConvResNet
from ..model.resnet import ResNet
from .config import TrainConfig
from .gauss_newton import GaussNewton
from .varpro import VariableProjection


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
    """What a network needs to know of its data (stored in config.json as ``model``); for a
    user's own data also ``preprocessing``, the standardization its inputs need."""
    info = {
        "kind": dataset.kind,
        "input_shape": list(dataset.input_shape),
        "in_features": dataset.in_features,
        "out_features": dataset.out_features,
        "task": dataset.task,
    }
    if dataset.preprocessing is not None:
        info["preprocessing"] = dataset.preprocessing
    return info


def build_model(config: TrainConfig, info: dict, level: int | None = None) -> ResNet | ConvResNet:
    """The network a config describes for data described by :func:`model_info`.

    Vectors get a :class:`ResNet` of width ``config.width``; signals and images a
    :class:`ConvResNet` with one ODE unit per entry of ``config.unit_widths()``. ``level``
    picks the depth of a multilevel run (default: the last, the trained model's shape).
    """
    levels = config.levels()
    if level is not None and not 0 <= level < len(levels):
        raise ResodeError(f"level must lie in [0, {len(levels)}), got {level}")
    depth = levels[-1 if level is None else level]
    if info["kind"] == "vector":
        steps = depth[0] if isinstance(depth, list) else depth
        spec = config.block_spec(steps=steps)
        return ResNet(info["in_features"], config.width, info["out_features"], spec)
    spatial_dims = len(info["input_shape"]) - 1
    model = ConvResNet(
        info["in_features"],
        config.unit_widths(),
        info["out_features"],
        spatial_dims=spatial_dims,
        task=info["task"],
        T=config.unit_times(depth),
        steps=depth,
        spec=config.block_spec(kernel=f"conv{spatial_dims}d"),
    )
    model.check_input_shape(info["input_shape"])
    return model


def compile_network(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` run through ``torch.compile``: the same parameters, code generated on the
    first call (and again for a new input shape, depth or train/eval mode)."""
    if not hasattr(torch, "compile"):
        raise ResodeError("--compile needs torch.compile (PyTorch 2.0 or later)")
    return torch.compile(module)


def make_optimizer(config: TrainConfig, model: torch.nn.Module):
    """Optimizer and schedule over ``config.epochs`` epochs (one level of a multilevel run).

    With ``varpro`` the optimizer leaves the head out (see :func:`make_varpro`).
    """
    varpro = make_varpro(config, model)
    params = model.parameters() if varpro is None else varpro.outer_parameters()
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=config.lr)
    elif config.optimizer == "gauss-newton":
        task = dataset_task(config.data, **config.source_options())
        optimizer = GaussNewton(
            model, params, task, damping=config.damping, cg_iterations=config.cg_iterations
        )
    else:
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    if config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    elif config.schedule == "step":
        step = max(1, config.epochs // 3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=0.1)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    return optimizer, scheduler


def make_varpro(config: TrainConfig, model: torch.nn.Module) -> VariableProjection | None:
    """The head solver of a ``varpro`` run (None without it)."""
    if not config.varpro:
        return None
    return VariableProjection(
        model,
        dataset_task(config.data, **config.source_options()),
        config.head_regularization,
        config.newton_steps,
    )
