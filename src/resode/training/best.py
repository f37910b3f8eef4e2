"""The best validation epoch: which one it is, what a run keeps, when patience runs out.

After every epoch the validation headline metric (``val_accuracy``, ``val_r2`` or
``val_miou``: the task's ``headline``, larger is better) is compared with the best one so far
of the level in progress; of equal values (frequent for the accuracy of a small validation
split) the one with the lower validation loss wins, the first of fully equal ones. A value that
is not a number never beats a number (it is replaced by the next epoch's). A multilevel run
restarts the
search at each level (the levels' models have other shapes), so the best epoch of a finished
run lies in its final level.

With ``keep="best"``, ``model.safetensors`` holds the weights of the level's best epoch
(before its first epoch ends: the latest weights, as with ``keep="last"``). They are written
before the checkpoint that records the new :class:`Best`, so a process killed between the two
leaves a checkpoint one epoch behind, whose resumed run computes and writes the same weights
again. The checkpoint keeps the latest weights and the :class:`Best` record: a resumed run
(also from a mid-epoch checkpoint) and a run trained longer go on exactly.

``patience`` = P stops a level once P epochs have passed without a better epoch (in the sense
above), counted from the best epoch, or from the epoch where a run was trained longer if that
is later.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..runs.layout import MODEL
from ..storage import write_tensors
from .state import model_state


@dataclass(frozen=True)
class Best:
    """The best epoch of a level: history ``metric`` (e.g. ``val_accuracy``), its ``value``
    and the validation ``loss`` that breaks ties (None: not a number), the ``epoch`` (from 1,
    as history.csv's epoch column) and ``level`` it was reached at; patience counts from
    ``patience_from`` when that is later."""

    metric: str
    value: float | None
    loss: float | None
    epoch: int
    level: int
    patience_from: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Best | None:
        if data is None:
            return None
        return cls(
            str(data["metric"]), _number(data["value"]), _number(data.get("loss")),
            int(data["epoch"]), int(data["level"]), int(data.get("patience_from", 0)),
        )  # fmt: skip

    def beaten_by(self, value: float | None, loss: float | None) -> bool:
        """Whether an epoch with this ``value`` (and validation ``loss``) is better."""
        if self.value is None or value is None:
            return self.value is None
        if value != self.value:
            return value > self.value
        return loss is not None and (self.loss is None or loss < self.loss)


def _number(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def track(best: Best | None, record: dict, metric: str, level: int) -> Best:
    """The best epoch after the epoch ``record`` (a history row) of level ``level``."""
    value, loss = _number(record.get(metric)), _number(record.get("val_loss"))
    if best is None or best.level != level or best.beaten_by(value, loss):
        return Best(metric, value, loss, int(record["epoch"]), level)
    return best


def restart_patience(best: Best | None, epoch: int) -> Best | None:
    """``best`` with patience counted from ``epoch`` on (a run trained longer)."""
    return None if best is None else replace(best, patience_from=epoch)


def patience_ran_out(best: Best | None, epoch: int, level: int, patience: int | None) -> bool:
    """Whether ``patience`` epochs have passed without improvement in level ``level``."""
    if patience is None or best is None or best.level != level:
        return False
    return epoch - max(best.epoch, best.patience_from) >= patience


def holds_best(keep: str, best: Best | None, level: int) -> bool:
    """Whether ``model.safetensors`` holds the best epoch's weights (not the latest) now."""
    return keep == "best" and best is not None and best.level == level


def write_best_model(out: Path, model, best: Best) -> None:
    """``model.safetensors`` with ``model``'s weights, reached at ``best``; its metadata names
    the level (see :func:`~resode.training.state.model_state`) and the epoch."""
    state = {**model_state(best.level, model), "epoch": best.epoch}
    write_tensors(out / MODEL, model.state_dict(), state)
