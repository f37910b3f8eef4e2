"""Settings classes: dataclass fields declared once with their default, help and checks.

:func:`setting` declares a field with everything said about it (the CLI's help, the allowed
names or a validator, the label of messages, the dynamics it applies to);
:func:`check_settings` validates a dataclass built from such fields.
:class:`~resode.model.spec.BlockSpec` and :class:`~resode.training.config.TrainConfig` are
declared this way, and the ``resode train`` flags are generated from their fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import field, fields
from typing import Any

from .errors import check_choice


def setting(
    default: Any,
    help: str,
    *,
    choices: Iterable[str] | None = None,
    check: Callable[[str, Any], Any] | None = None,
    label: str | None = None,
    applies_to: tuple[str, ...] | None = None,
):
    """A field of a settings dataclass, declared once with everything said about it: its
    default, its help (the CLI's), the names it may take (``choices``) or a validator
    ``check(name, value)``, the ``label`` used in messages and, for an option of some
    dynamics only, the dynamics it ``applies_to``. ``None`` is allowed where it is the
    default. :func:`check_settings` applies the checks."""
    metadata = {
        "help": help,
        "choices": choices,
        "check": check,
        "label": label,
        "applies_to": applies_to,
    }
    return field(default=default, metadata=metadata)


def check_settings(settings: Any, names: Iterable[str] | None = None) -> None:
    """Validate the fields (all, or those in ``names``) of a dataclass built with
    :func:`setting`; raise :class:`~resode.errors.ResodeError` naming the first bad one."""
    chosen = None if names is None else set(names)
    for item in fields(settings):
        if chosen is not None and item.name not in chosen:
            continue
        value, meta = getattr(settings, item.name), item.metadata
        if value is None and item.default is None:
            continue
        label = meta.get("label") or item.name
        if meta.get("choices") is not None:
            check_choice(label, value, meta["choices"])
        elif meta.get("check") is not None:
            meta["check"](label, value)
