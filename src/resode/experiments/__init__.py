"""The lecture's experiments, one module each, one command each: ``resode experiment NAME``.

Every experiment module defines ``run(out: Path, quick: bool = False, seed: int = 0, ...)``,
writes ``out/NAME.json`` (its numbers) and PNG figures into ``out``, and returns the JSON
document. ``quick=True`` runs it at reduced size (for tests).
"""

from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path

from ..errors import ResodeError, check_choice

EXPERIMENTS = (
    "landscape",
    "linear",
    "antisymmetric",
    "spiral",
    "paths",
    "generalization",
    "stiff",
    "depth",
    "control",
    "landscape-skip",
    "frozen",
    "robustness",
)


def run_experiment(name: str, out: str | Path, **options) -> dict:
    """Run experiment ``name`` (or ``all``) into ``out``; unknown options are an error."""
    check_choice("experiment", name, (*EXPERIMENTS, "all"))
    out = Path(out)
    if name == "all":
        # seed and quick apply to every experiment; the landscape's options only to it
        results = {}
        for each in EXPERIMENTS:
            shared = {"seed", "quick"} if each != "landscape" else _accepted_options(each)
            chosen = {k: v for k, v in options.items() if k in shared}
            results[each] = run_experiment(each, out, **chosen)
        return results
    module = _module(name)
    accepted = _accepted_options(name)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ResodeError(
            f"experiment {name!r} takes no option {', '.join(unknown)}; it takes: "
            f"{', '.join(sorted(accepted)) or 'none'}"
        )
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = module.run(out, **options)
    result.setdefault("seconds", time.perf_counter() - started)
    return result


def _module(name: str):
    """The module of experiment ``name`` (``landscape-skip`` is ``landscape_skip``)."""
    return importlib.import_module(f".{name.replace('-', '_')}", __name__)


def _accepted_options(name: str) -> set[str]:
    parameters = inspect.signature(_module(name).run).parameters
    return {p for p in parameters if p != "out"}


__all__ = ["EXPERIMENTS", "run_experiment"]
