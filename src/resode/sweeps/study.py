"""The Optuna study a sweep keeps its bookkeeping in, on a storage one or many machines share.

- Storage: ``sqlite:///SWEEP_DIR/study.db`` by default (nothing to set up); ``--storage URL``
  for a PostgreSQL or MySQL server (``postgresql://user:password@host/db``, run through the
  psycopg 3 driver; ``mysql://…`` through PyMySQL), or ``journal:PATH`` for Optuna's journal
  file on a shared filesystem.
- The study is named after the sweep (``--study``, default the spec file's stem). The first
  worker creates it, records the spec's fingerprint and, for the grid sampler, enqueues every
  (configuration, seed) pair in a fixed order; every later worker, on any machine, checks the
  fingerprint and joins.
- Trials carry user attributes: ``seed``, ``configuration`` (the point's key), ``run`` (the run
  directory's name), and when told, ``metrics`` (the run's final metrics, a copy of what its
  metrics.json holds). Their system attributes ``resode:host``/``resode:pid``/``resode:alive``
  say which process runs them (see :mod:`.worker`).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from ..errors import ResodeError
from .spec import SweepSpec, configuration_key, run_name

EXTRA = "resode[sweep]"
STUDY_DB = "study.db"
READY = "resode:ready"
FINGERPRINT = "resode:spec"


def optuna():
    """The optuna module, or a one-line error naming the extra that installs it."""
    try:
        module = importlib.import_module("optuna")
    except ImportError:
        raise ResodeError(f"sweeps need optuna: pip install '{EXTRA}'") from None
    module.logging.set_verbosity(module.logging.WARNING)
    return module


def storage_url(url: str | None, sweep_dir: Path) -> str:
    """The storage URL in full: the default SQLite file, a driver for postgresql:// and
    mysql:// URLs; ``journal:PATH`` stays as it is (relative paths made absolute)."""
    if url is None:
        return f"sqlite:///{(sweep_dir / STUDY_DB).absolute()}"
    if url.startswith("journal:"):
        return "journal:" + str(Path(url[len("journal:"):]).expanduser().absolute())
    for plain, driver in (("postgresql://", "postgresql+psycopg://"),
                          ("postgres://", "postgresql+psycopg://"),
                          ("mysql://", "mysql+pymysql://")):  # fmt: skip
        if url.startswith(plain):
            return driver + url[len(plain):]
    if not url.startswith(("sqlite:///", "postgresql+", "mysql+")):
        raise ResodeError(
            f"unknown storage {url!r}; use sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DB, "
            "mysql://USER:PASSWORD@HOST/DB or journal:PATH"
        )
    return url


def claim_lock_path(study) -> Path | None:
    """The file whose lock makes claiming a trial atomic between the processes of one machine,
    for a SQLite study; None for other storages. Optuna pops a waiting trial by reading its
    state and then setting it to running; a server database locks the row in between, the
    journal orders its log, but Python's SQLite driver runs the read outside the writing
    transaction, so two workers could both claim one trial."""
    storage = getattr(study._storage, "_backend", study._storage)
    url = str(getattr(storage, "url", ""))
    return Path(url[len("sqlite:///"):] + ".claim") if url.startswith("sqlite:///") else None


def shown(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    head, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{head}{sep}{user}:***@{rest.split('@', 1)[1]}"
    return url


def open_storage(url: str):
    """The Optuna storage at ``url``; a server that cannot be reached, a missing driver or a
    journal in a missing folder is one line."""
    module = optuna()
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
        if not path.parent.is_dir():
            raise ResodeError(f"cannot open journal storage {path}: no folder {path.parent}")
        from optuna.storages.journal import JournalFileBackend

        return module.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    driver = {"postgresql+psycopg": "psycopg", "mysql+pymysql": "pymysql"}.get(url.split("://")[0])
    if driver is not None:
        try:
            importlib.import_module(driver)
        except ImportError:
            package = "psycopg[binary]" if driver == "psycopg" else driver
            raise ResodeError(
                f"storage {shown(url)} needs the {driver} driver: pip install '{package}'"
            ) from None
    for attempt in range(3):  # workers that start together race to create the tables
        try:
            return module.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as error:  # sqlalchemy's connection errors, many kinds
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            time.sleep(0.3 * (attempt + 1))
    raise ResodeError(f"cannot reach storage {shown(url)}: {reason}")


def open_study(spec: SweepSpec, storage, name: str, pruner, worker: int = 0,
               wait: float = 120.0):  # fmt: skip
    """The study ``name`` on ``storage``: created (and, for the grid sampler, filled with every
    trial) by the first worker, joined by the others; a study made from another spec is one
    line. ``pruner`` ends trials early (:func:`make_pruner`); ``worker`` seeds the sampler;
    ``wait``: seconds to wait for a study another worker is still filling."""
    module = optuna()
    sampler = make_sampler(spec, worker)
    try:
        study = module.create_study(storage=storage, study_name=name, direction=spec.direction,
                                    sampler=sampler, pruner=pruner)  # fmt: skip
    except module.exceptions.DuplicatedStudyError:
        study = module.load_study(storage=storage, study_name=name, sampler=sampler,
                                  pruner=pruner)  # fmt: skip
        deadline = time.monotonic() + wait
        while not study.user_attrs.get(READY):
            if time.monotonic() > deadline:
                raise ResodeError(
                    f"study {name} exists but was never filled; delete it or use --study NEW"
                ) from None
            time.sleep(0.5)
        stored = study.user_attrs.get(FINGERPRINT)
        if stored != spec.fingerprint():
            raise ResodeError(
                f"study {name} on this storage was made from another sweep file; give "
                "--study NEW for a new study, or the spec it was made from"
            ) from None
        return study
    study.set_user_attr(FINGERPRINT, spec.fingerprint())
    study.set_user_attr("metric", spec.metric)
    study.set_user_attr("seeds", spec.seeds)
    if spec.sampler == "grid":
        for point in spec.grid():
            for seed in spec.seeds:
                study.enqueue_trial(point, user_attrs=trial_attrs(point, seed, 0))
    study.set_user_attr(READY, True)
    return study


def trial_attrs(point: dict[str, Any], seed: int, attempt: int) -> dict[str, Any]:
    """The user attributes of the trial of ``point`` with ``seed``."""
    return {
        "seed": seed,
        "configuration": configuration_key(point),
        "run": run_name(point, seed),
        "attempt": attempt,
    }


def make_sampler(spec: SweepSpec, worker: int = 0):
    """Optuna's sampler for ``spec.sampler``. Grid trials are enqueued when the study is made
    (the sampler is never asked); random and TPE are seeded from the first seed and the
    worker's index, so workers sample different points."""
    module = optuna()
    seed = spec.seeds[0] * 1000 + worker
    if spec.sampler == "grid":
        return module.samplers.GridSampler(
            {n: list(d.grid()) for n, d in spec.space.items()}, seed=spec.seeds[0]
        )
    if spec.sampler == "random":
        return module.samplers.RandomSampler(seed=seed)
    return module.samplers.TPESampler(seed=seed)


def make_pruner(kind: str | None, spec: SweepSpec | None = None):
    """``median``: Optuna's MedianPruner stops a trial whose validation metric after an epoch
    trails the median of the other trials at that epoch; it starts once two configurations'
    worth of trials (2 × seeds) have finished, and judges from a third of the epochs on (at
    least 2). ``none`` (or None): no pruning."""
    module = optuna()
    if kind is None or kind == "none":
        return module.pruners.NopPruner()
    if kind == "median":
        seeds = len(spec.seeds) if spec is not None else 1
        epochs = spec.trial_config(spec.first_point(), spec.seeds[0]).epochs if spec else 6
        return module.pruners.MedianPruner(
            n_startup_trials=max(3, 2 * seeds), n_warmup_steps=max(2, epochs // 3)
        )
    raise ResodeError(f"unknown pruner {kind!r}; choose one of: median, none")
