"""One optimization step on a minibatch, and what happens when its loss is not finite.

``optimizer_step`` takes a step of the run's optimizer (a ``torch.optim`` one, or
:class:`~resode.training.gauss_newton.GaussNewton`), with the head first solved on the batch
under variable projection. A non-finite objective on any process is diagnosed
(:mod:`resode.analysis.diagnosis`) and raises before the step is taken, so the last good
checkpoint stays as it is.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..analysis.diagnosis import StabilityError, diagnose
from ..errors import TrainingDivergedError
from ..model.inference import in_chunks
from .gauss_newton import GaussNewton
from .regularizers import regularization

if TYPE_CHECKING:
    from .run_state import Run


def diverged(value: float, epoch: int, out: Path) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"loss became {value} in epoch {epoch}: use a stable dynamics (antisymmetric or "
        "parabolic), a larger-region integrator (rk4) or more steps (smaller h = T/N), or a "
        f"lower learning rate; the last good checkpoint in {out} is intact"
    )


def diagnose_in_epoch(model, x: torch.Tensor, bound: float, epoch: int) -> None:
    try:
        diagnose(model, x, bound)
    except StabilityError as error:
        raise error.in_epoch(epoch) from None


def head_inputs(model, x: torch.Tensor, size: int = 4096) -> torch.Tensor:
    from .varpro import head_input

    return in_chunks(lambda part: head_input(model, part), x, size, next(model.parameters()).device)


def optimizer_step(run: Run, x, y, share: float, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on this rank's part (``x``, ``y``) of a minibatch.

    Returns (weighted loss, network output). A non-finite objective on any rank is diagnosed
    and raises :class:`~resode.errors.TrainingDivergedError` before the step is taken. With
    ``varpro`` the head is first solved on the batch; Gauss–Newton takes its own step.
    """
    if isinstance(run.optimizer, GaussNewton):
        return _gauss_newton_step(run, x, y, epoch)
    if run.adversarial is not None and len(x):  # seeded by the step: a resume repeats it
        seed = (run.config.seed * 1_000_003 + run.counters["step"]) * 64 + run.context.rank
        x = run.adversarial.perturb(run.model, x, y, run.units, seed)
    output = run.varpro(x, y) if run.varpro is not None else run.network(x)
    loss = run.task.loss(output, y) * share if len(x) else output.sum() * 0
    penalty = regularization(run.model, run.config.smoothness, run.config.weight_decay)
    objective = loss if penalty is None else loss + penalty
    value = float(objective.detach())
    if run.context.any(not math.isfinite(value)):
        if len(x):
            diagnose_in_epoch(run.model, x, run.state_bound, epoch)
        raise diverged(value, epoch, run.destination)
    run.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    _step_with_warmup(run.optimizer, run.counters["step"], run.config.warmup_steps)
    run.counters["step"] += 1
    return loss, output


def _step_with_warmup(optimizer: torch.optim.Optimizer, step: int, warmup: int) -> None:
    """``optimizer.step()``, during the first ``warmup`` steps at the scheduled rate times
    (step + 1)/warmup; the scheduled rates are restored after (the schedule is per epoch)."""
    if step >= warmup:
        optimizer.step()
        return
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * (step + 1) / warmup
    try:
        optimizer.step()
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled):
            group["lr"] = lr


def _gauss_newton_step(run: Run, x, y, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One :class:`GaussNewton` step (after solving the head with ``varpro``)."""
    config = run.config
    if run.varpro is not None:
        with torch.no_grad():
            run.varpro.fit(head_inputs(run.model, x), y)

    def penalty():
        return regularization(run.model, config.smoothness, config.weight_decay)

    loss, output = run.optimizer.step(x, y, run.task.loss, penalty)
    value = float(loss)
    if not math.isfinite(value):
        diagnose_in_epoch(run.model, x, run.state_bound, epoch)
        raise diverged(value, epoch, run.destination)
    run.counters["step"] += 1
    return loss, output
