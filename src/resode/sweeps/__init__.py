"""Sweeps: many ordinary runs compared over seeds, their bookkeeping in an Optuna study.

- :mod:`.spec`: the sweep file (search space, seeds, sampler), checked before any trial;
- :mod:`.study`: the storage (SQLite by default, a server or a journal file to share) and
  the study every worker joins;
- :mod:`.worker`: the loop that claims, trains (or resumes) and tells trials;
- :mod:`.run`: ``resode sweep SPEC.toml``, one or several worker processes;
- :mod:`.leaderboard`, :mod:`.show`, :mod:`.figures`, :mod:`.page`: ``resode sweep show DIR``.

Optuna is imported only when a sweep runs (the ``sweep`` extra).
"""

from .run import run_sweep
from .show import load_sweep, show_sweep
from .spec import SweepSpec, read_spec

__all__ = ["SweepSpec", "load_sweep", "read_spec", "run_sweep", "show_sweep"]
