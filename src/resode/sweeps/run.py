"""``resode sweep SPEC.toml``: check the spec and the storage, then run workers until done.

The sweep directory holds ``sweep.toml`` (a copy of the spec), ``sweep.json`` (the study's
name and storage), ``study.db`` (the default SQLite storage) and ``trials/`` (one run
directory per trial). Everything is checked before the first trial: a bad spec or a storage
that cannot be reached is one line (exit 2). ``workers`` > 1 starts that many worker
processes on this machine, each with ``threads`` CPU threads (default: the cores divided
among them); the same command on other machines, given the same ``--storage``, joins the
same study.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import ResodeError
from ..storage import read_json, write_json
from .spec import SweepSpec, read_spec
from .study import make_pruner, open_storage, open_study, shown, storage_url
from .worker import Worker

SWEEP_JSON = "sweep.json"
SWEEP_TOML = "sweep.toml"


def default_sweep_dir(spec_path: str | Path) -> Path:
    return Path("sweeps") / Path(spec_path).stem


def prepare(spec_path: str | Path, sweep_dir: str | Path | None = None,
            storage: str | None = None, study_name: str | None = None,
            prune: str | None = None, worker: int = 0):  # fmt: skip
    """(spec, study, sweep_dir): the spec read and checked, the study opened (made and filled
    by the first worker), the sweep directory written with sweep.toml and sweep.json."""
    spec = read_spec(spec_path)
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else default_sweep_dir(spec_path)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ResodeError(f"{sweep_dir} is a file; give a folder for the sweep (--out DIR)")
    name = study_name or Path(spec_path).stem
    url = storage_url(storage, sweep_dir)
    _check_sweep_dir(sweep_dir, name, url)
    pruner = make_pruner(prune, spec)
    study = open_study(spec, open_storage(url), name, pruner, worker)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if not (sweep_dir / SWEEP_TOML).exists():
        shutil.copyfile(spec_path, sweep_dir / SWEEP_TOML)
    write_json(sweep_dir / SWEEP_JSON, {
        "study": name, "storage": url, "spec": str(Path(spec_path).resolve()),
        "spec_folder": str(Path(spec_path).resolve().parent),  # its relative paths' base
        "metric": spec.metric, "direction": spec.direction,
    })  # fmt: skip
    return spec, study, sweep_dir


def _check_sweep_dir(sweep_dir: Path, name: str, url: str) -> None:
    """A sweep directory belongs to one study on one storage."""
    path = sweep_dir / SWEEP_JSON
    if not path.exists():
        return
    stored = read_json(path)
    if (stored.get("study"), stored.get("storage")) != (name, url):
        raise ResodeError(
            f"{sweep_dir} holds the sweep {stored.get('study')} on "
            f"{shown(str(stored.get('storage')))}; give another --out for a new sweep"
        )


def run_sweep(spec_path: str | Path, sweep_dir: str | Path | None = None,
              storage: str | None = None, study_name: str | None = None,
              prune: str | None = None, workers: int = 1, threads: int | None = None,
              worker_index: int = 0) -> int:  # fmt: skip
    """Run the sweep ``spec_path`` (see the module docstring); the exit status: 0 when this
    machine's workers found nothing left to do, 75 when a signal stopped one of them."""
    spec, study, sweep_dir = prepare(spec_path, sweep_dir, storage, study_name, prune,
                                     worker_index)  # fmt: skip
    _say_plan(spec, study, sweep_dir)
    if workers > 1:
        return _spawn(spec_path, sweep_dir, study, prune, workers, threads)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return Worker(spec, study, sweep_dir, worker_index, say=_say).run()


def _say(line: str) -> None:
    print(line, flush=True)


def _say_plan(spec: SweepSpec, study, sweep_dir: Path) -> None:
    if spec.sampler == "grid":
        size = f"{len(spec.grid())} configurations"
    else:
        size = f"{spec.trials} configurations sampled by {spec.sampler}"
    _say(f"sweep {study.study_name}: {size} × {len(spec.seeds)} seeds, compared by "
         f"{spec.metric}; trials in {sweep_dir / 'trials'}")  # fmt: skip
    for point, reason in spec.skipped[:3] if spec.sampler == "grid" else []:
        _say(f"left out {point}: {reason}")
    if spec.sampler == "grid" and len(spec.skipped) > 3:
        _say(f"… and {len(spec.skipped) - 3} more combinations the settings do not allow")


def _spawn(spec_path, sweep_dir: Path, study, prune, workers: int, threads: int | None) -> int:
    """Start ``workers`` worker processes of this command; pass SIGTERM/SIGUSR1 on to them."""
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    storage = read_json(sweep_dir / SWEEP_JSON)["storage"]
    command = [sys.executable, "-m", "resode", "sweep", str(spec_path), "--out", str(sweep_dir),
               "--storage", storage, "--study", study.study_name, "--threads", str(threads)]
    if prune is not None:
        command += ["--prune", prune]
    processes = [subprocess.Popen([*command, "--worker-index", str(i)]) for i in range(workers)]

    def forward(number, frame):
        for process in processes:
            if process.poll() is None:
                process.send_signal(number)

    # a terminal's Ctrl-C reaches every process of the group itself: wait for the workers
    previous = {n: signal.signal(n, forward) for n in (signal.SIGTERM, signal.SIGUSR1)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        codes = [process.wait() for process in processes]
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return max(codes, key=lambda code: (code != 0, code))
