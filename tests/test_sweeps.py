"""Sweeps: specs checked before any trial, trials as ordinary runs, several workers on one
study (SQLite, PostgreSQL, a journal file), and workers stopped by SIGTERM or kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch

optuna = pytest.importorskip("optuna", reason="sweeps need the sweep extra (optuna)")

from resode.cli import main  # noqa: E402
from resode.storage import read_tensors  # noqa: E402
from resode.sweeps.show import load_sweep  # noqa: E402
from resode.training.preemption import RESUMABLE  # noqa: E402

FIXED = {"data": "circles", "width": 8}


def _spec(folder: Path, space: str, *, sweep: str = "", fixed: dict | None = None,
          name: str = "spec") -> Path:  # fmt: skip
    settings = FIXED | {"epochs": 2} | (fixed or {})
    lines = ["[sweep]", sweep, "[fixed]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[space]", space]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _sweep(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "resode", "sweep", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _trials(sweep_dir: Path) -> list[dict]:
    return load_sweep(sweep_dir)[2]


def _train_alone(tmp_path: Path, spec: Path, point: dict, seed: int) -> Path:
    """The trial at ``point`` with ``seed`` trained on its own: ``resode train`` with the
    spec's fixed settings and the point's as flags."""
    from resode.training.config_file import read_toml

    settings = read_toml(spec)["fixed"] | point | {"seed": seed}
    flags = [item for k, v in settings.items() for item in ("--" + k.replace("_", "-"), str(v))]
    out = tmp_path / "alone" / "_".join(f"{k}{v}" for k, v in (point | {"seed": seed}).items())
    assert main(["train", *flags, "--out", str(out), "--quiet"]) == 0
    return out


def _same_weights(a: Path, b: Path) -> None:
    left, right = read_tensors(a / "model.safetensors")[0], read_tensors(b / "model.safetensors")[0]
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


# -- bad specs: one line, exit 2, nothing started --------------------------------------------


@pytest.mark.parametrize(
    "space, sweep, fixed, pieces",
    [
        ('depth = [2, 4]', "", {}, ("[space]: unknown setting(s) depth",)),
        ('steps = [2, 4]', "", {"widht": 8}, ("unknown setting(s) widht",)),
        ('lr = {low = 0.1, high = 0.01}', 'sampler = "random"', {}, ("empty range", "0.1 > high")),
        ('steps = []', "", {}, ("empty list of choices",)),
        ('integrator = ["rk4", "rk5"]', "", {}, ("integrator = 'rk5' is not allowed",)),
        ('seed = [0, 1]', "", {}, ("seeds = [0, 1, 2]",)),
        ('steps = [2, 4]', 'metric = "test_accuracy"', {}, ("validation metric",)),
        ('steps = [2, 4]', 'sampler = "bayes"', {}, ("unknown sampler 'bayes'",)),
        ('lr = {low = 0.001, high = 0.1, log = true}', "", {},
         ("grid sampler needs choices or ranges with a step",)),
        ('steps = [2, 4]', "seeds = [1, 1]", {}, ("distinct integers",)),
        ('steps = [2, 4]', "", {"steps": 3}, ("steps both fixed and swept",)),
        ("steps = {low = 1, high = 20000, step = 1}", "", {}, ("holds 20000 configurations",)),
        ('steps = [2, 4]', "", {"dynamics": "nosuch"},
         ("no point of the space can run", "same reason", "nosuch")),
        ('integrator = ["rk4", "heun"]', "", {"dynamics": "parabolic", "lipschitz": 1.0},
         ("the settings allow no point of the space", "rk4")),
    ],
)  # fmt: skip
def test_bad_specs_are_one_line_before_any_trial(tmp_path, capsys, space, sweep, fixed, pieces):
    spec = _spec(tmp_path, space, sweep=sweep, fixed=fixed)
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("resode: error: ") and "\n" not in error, error
    for piece in pieces:
        assert piece in error, error
    assert not out.exists()


@pytest.mark.parametrize(
    "storage, piece",
    [
        ("postgresql://nobody:secret@127.0.0.1:9/none", "cannot reach storage"),
        ("redis://localhost/0", "unknown storage"),
        ("journal:/no/such/folder/journal.log", "no folder /no/such/folder"),
    ],
)
def test_a_storage_that_cannot_be_reached_is_one_line(tmp_path, capsys, storage, piece):
    spec = _spec(tmp_path, "steps = [2, 4]")
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--storage", storage]) == 2
    error = capsys.readouterr().err.strip()
    assert piece in error and "\n" not in error, error
    assert "secret" not in error  # the password is never printed
    assert not (out / "trials").exists()


def test_without_optuna_the_error_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    spec = _spec(tmp_path, "steps = [2, 4]")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s")]) == 2
    assert "pip install 'resode[sweep]'" in capsys.readouterr().err


def test_a_study_made_from_another_spec_is_refused(tmp_path, capsys):
    spec = _spec(tmp_path, "steps = [2]", fixed={"epochs": 1})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    _spec(tmp_path, "steps = [2, 4]", fixed={"epochs": 1})  # the same file, changed
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    assert "made from another sweep file" in capsys.readouterr().err


# -- the must-holds ---------------------------------------------------------------------------


def test_two_workers_run_disjoint_trials_equal_to_resode_train_one_by_one(tmp_path, capsys):
    spec = _spec(tmp_path, 'dynamics = ["standard", "antisymmetric"]\nsteps = [4, 8]',
                 sweep="seeds = [0, 1]", fixed={"epochs": 3})  # fmt: skip
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "2"]) == 0
    study = load_sweep(out)[1]
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    runs = [t.user_attrs["run"] for t in done]
    assert len(runs) == len(set(runs)) == 8  # every (configuration, seed) exactly once
    assert len({t.system_attrs["resode:pid"] for t in done}) == 2  # both workers trained
    assert main(["sweep", "show", str(out)]) == 0
    board = json.loads((out / "leaderboard.json").read_text())["rows"]
    for row in board:
        alone = [_train_alone(tmp_path, spec, row["point"], seed) for seed in row["seeds"]]
        metrics = [json.loads((a / "metrics.json").read_text()) for a in alone]
        for name in ("val_accuracy", "test_accuracy"):
            values = [m[name] for m in metrics]
            mean = sum(values) / len(values)
            assert row[name][0] == pytest.approx(mean, rel=0, abs=1e-12), (row["point"], name)
        for run, other in zip(row["runs"], alone, strict=True):
            _same_weights(out / "trials" / run, other)


def _first_run_checkpointed(out: Path, process: subprocess.Popen, epochs: int = 1) -> Path:
    """The first trial's run directory once it has written ``epochs`` epochs."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for history in (out / "trials").glob("*/history.csv"):
            if len(history.read_text().splitlines()) > epochs:
                return history.parent
        time.sleep(0.05)
    raise AssertionError("no trial wrote a checkpoint")


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
def test_a_stopped_worker_leaves_every_trial_complete_exactly_once(tmp_path, capsys, stop):
    spec = _spec(tmp_path, "steps = [8, 12]", fixed={"epochs": 6, "integrator": "euler"})
    out = tmp_path / "sweep"
    process = _sweep(str(spec), "--out", str(out))
    stopped = _first_run_checkpointed(out, process)
    if stop == "kill -9":
        process.kill()
        assert process.wait() == -signal.SIGKILL
    else:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == RESUMABLE, stderr
        assert "rerun the sweep" in stdout
    assert not (stopped / "metrics.json").exists()  # stopped mid-trial
    assert main(["sweep", str(spec), "--out", str(out)]) == 0  # the same command again
    if stop == "kill -9":
        assert "left running by a stopped worker" in capsys.readouterr().out
    records = _trials(out)
    assert sorted(r["run"] for r in records) == sorted(p.name for p in (out / "trials").iterdir())
    assert len(records) == 2 and all(r["state"] == "complete" for r in records)
    attempts = [t for t in load_sweep(out)[1].get_trials() if t.user_attrs.get("run") ==
                stopped.name and t.state.name == "COMPLETE"]  # fmt: skip
    assert len(attempts) == 1 and attempts[0].user_attrs["attempt"] == 1  # resumed, once
    (record,) = [r for r in records if r["run"] == stopped.name]
    _same_weights(stopped, _train_alone(tmp_path, spec, record["point"], record["seed"]))
    before = {p: p.stat().st_mtime_ns for p in out.glob("trials/*/model.safetensors")}
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing trained twice
    assert "worker 0: trial" not in capsys.readouterr().out


def test_postgresql_two_workers_share_one_study(tmp_path, capsys):
    url = os.environ.get("RESODE_TEST_POSTGRESQL")
    if not url:
        pytest.skip("no PostgreSQL server: .ci/postgres starts one and sets RESODE_TEST_POSTGRESQL")
    spec = _spec(tmp_path, 'dynamics = ["standard", "antisymmetric"]\nsteps = [4, 8]',
                 sweep="seeds = [0, 1]", fixed={"epochs": 3})  # fmt: skip
    study = f"test-{uuid.uuid4().hex[:10]}"
    out = tmp_path / "sweep"
    workers = [_sweep(str(spec), "--out", str(out), "--storage", url, "--study", study,
                      "--threads", "1", "--worker-index", str(i)) for i in range(2)]  # fmt: skip
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    try:
        trials = load_sweep(out)[1].get_trials()
        done = [t for t in trials if t.state.name == "COMPLETE"]
        assert sorted(t.user_attrs["run"] for t in done) == sorted(
            p.name for p in (out / "trials").iterdir()
        )
        assert len(done) == 8 and len({t.user_attrs["run"] for t in done}) == 8
        assert len({t.system_attrs["resode:pid"] for t in done}) == 2
        assert main(["sweep", "show", str(out)]) == 0
    finally:
        optuna.delete_study(
            study_name=study, storage=url.replace("postgresql://", "postgresql+psycopg://")
        )


def test_a_journal_file_holds_the_study(tmp_path):
    spec = _spec(tmp_path, "steps = [2, 4]", fixed={"epochs": 1})
    out = tmp_path / "sweep"
    journal = tmp_path / "shared" / "study.journal"
    journal.parent.mkdir()
    assert main(["sweep", str(spec), "--out", str(out), "--storage", f"journal:{journal}"]) == 0
    assert journal.exists() and not (out / "study.db").exists()
    assert [r["state"] for r in _trials(out)] == ["complete", "complete"]


# -- samplers, pruning, the leaderboard --------------------------------------------------------


def test_median_pruning_stops_a_trailing_trial_and_never_reruns_it(tmp_path, capsys):
    spec = _spec(tmp_path, "lr = [0.05, 0.04, 0.03, 1e-7]", fixed={"epochs": 6})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--prune", "median"]) == 0
    records = {r["point"]["lr"]: r for r in _trials(out)}
    assert records[1e-7]["state"] == "pruned", records[1e-7]
    metrics = json.loads((out / "trials" / records[1e-7]["run"] / "metrics.json").read_text())
    assert 2 <= metrics["pruned_at_epoch"] < 6 and len(metrics["history"]) < 6
    assert all(records[lr]["state"] == "complete" for lr in (0.05, 0.04, 0.03))
    assert main(["sweep", str(spec), "--out", str(out), "--prune", "median"]) == 0
    assert len(load_sweep(out)[1].get_trials()) == 4  # the pruned trial is not run again


def test_random_sampling_of_a_small_space_stops_when_it_is_exhausted(tmp_path, capsys):
    spec = _spec(tmp_path, 'dynamics = ["standard", "antisymmetric"]',
                 sweep='sampler = "random"\ntrials = 5', fixed={"epochs": 1})  # fmt: skip
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    assert "exhausted" in capsys.readouterr().out
    assert sorted(r["point"]["dynamics"] for r in _trials(out)) == ["antisymmetric", "standard"]


def test_tpe_samples_a_log_range_and_every_configuration_gets_every_seed(tmp_path, capsys):
    spec = _spec(tmp_path, "lr = {low = 0.001, high = 0.1, log = true}\nsteps = {low = 2, "
                 "high = 6, step = 2}", sweep='sampler = "tpe"\ntrials = 3\nseeds = [3, 4]',
                 fixed={"epochs": 1})  # fmt: skip
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    records = _trials(out)
    assert len(records) == 6
    by_point: dict[str, list[int]] = {}
    for record in records:
        assert 0.001 <= record["point"]["lr"] <= 0.1 and record["point"]["steps"] in (2, 4, 6)
        by_point.setdefault(record["configuration"], []).append(record["seed"])
    assert sorted(sorted(seeds) for seeds in by_point.values()) == [[3, 4]] * 3


def test_show_writes_the_leaderboard_and_a_best_config_resode_train_accepts(tmp_path, capsys):
    spec = _spec(tmp_path, 'dynamics = ["standard", "antisymmetric"]',
                 sweep="seeds = [0, 1]", fixed={"epochs": 2})  # fmt: skip
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["sweep", "show", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 trials complete, 0 pruned, 0 failed, 0 to go" in printed
    rows = json.loads((out / "leaderboard.json").read_text())["rows"]
    means = [row["val_accuracy"][0] for row in rows]
    assert means == sorted(means, reverse=True) and all(row["finished"] == 2 for row in rows)
    for row in rows:
        values = [json.loads((out / "trials" / run / "metrics.json").read_text())["val_accuracy"]
                  for run in row["runs"]]  # fmt: skip
        assert row["val_accuracy"][0] == pytest.approx(sum(values) / 2, abs=1e-12)
        assert row["val_accuracy"][1] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    best = out / "best.toml"
    assert main(["train", "--config", str(best), "--out", str(tmp_path / "best"), "--quiet"]) == 0
    trained = json.loads((tmp_path / "best" / "config.json").read_text())
    first = json.loads((out / "trials" / rows[0]["runs"][0] / "config.json").read_text())
    assert trained == first
    assert "leaderboard" in (out / "sweep.html").read_text()
    assert main(["sweep", "show", str(tmp_path)]) == 2  # not a sweep directory


def test_trials_are_ordinary_runs(tmp_path, capsys):
    spec = _spec(tmp_path, "steps = [2]", fixed={"epochs": 1})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    (run,) = (out / "trials").iterdir()
    assert main(["evaluate", str(run)]) == 0
    assert main(["report", str(run)]) == 0 and (run / "report.html").exists()


def test_a_trial_whose_worker_is_gone_is_queued_again_once(tmp_path):
    from resode.sweeps.worker import STALE_AFTER, release_stale

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db'}")
    point = {"steps": 4}
    running = []
    for host, pid, age in [("elsewhere", 1, 0), ("elsewhere", 1, STALE_AFTER + 60),
                           (os.uname().nodename, os.getpid(), 0),
                           (os.uname().nodename, 2**22 + 17, 0),
                           (os.uname().nodename, None, None)]:  # fmt: skip
        study.enqueue_trial(point, user_attrs={"seed": len(running), "run": f"r{len(running)}",
                                               "configuration": "{}", "attempt": 0})  # fmt: skip
        trial = study.ask()
        trial.suggest_categorical("steps", [4])
        marks = {"host": host, "pid": pid, "alive": None if age is None else time.time() - age}
        for key, value in marks.items():  # the last: marked half (no process id yet), fresh
            if value is not None:
                study._storage.set_trial_system_attr(trial._trial_id, f"resode:{key}", value)
        running.append(trial.number)
    said = []
    assert release_stale(study, said.append) == [running[1], running[3]]  # silent, dead
    assert release_stale(study, said.append) == []  # each once
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [(t.user_attrs["run"], t.user_attrs["attempt"], t.params) for t in waiting] == [
        ("steps-4.seed-1", 1, {}),
        ("steps-4.seed-3", 1, {}),
    ]  # same point and seed, queued
    assert [t.system_attrs["fixed_params"] for t in waiting] == [point, point]
    assert len(said) == 2 and "left running by a stopped worker" in said[0]


def _released_once(study, worker_module, train):
    """``train`` whose first epoch's end, before the worker's own report, fails the running
    trial and queues it again: what another worker's :func:`release_stale` does to it."""
    released = []

    def wrapped(config, out, **options):
        on_epoch = options["on_epoch"]

        def hook(record):
            if not released:
                (running,) = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                worker_module.retry(study, running.number)
                released.append(running.number)
            return on_epoch(record)

        return train(config, out, **(options | {"on_epoch": hook}))

    return wrapped, released


def test_a_worker_whose_trial_was_released_lets_go_and_the_retry_resumes_it(tmp_path,
                                                                            monkeypatch):
    from resode.sweeps import worker as worker_module
    from resode.sweeps.run import prepare
    from resode.training import loop

    spec_path = _spec(tmp_path, "steps = [4]", fixed={"epochs": 3})
    spec, study, sweep_dir = prepare(spec_path, tmp_path / "sweep", None, None, None, 0)
    wrapped, released = _released_once(study, worker_module, loop.train)
    monkeypatch.setattr(loop, "train", wrapped)
    said = []
    assert worker_module.Worker(spec, study, sweep_dir, say=said.append).run() == 0
    assert released == [0]
    assert any("trial 0 was released by another worker meanwhile" in line for line in said)
    (done,) = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert (done.number, done.user_attrs["attempt"]) == (1, 1)
    run = sweep_dir / "trials" / "steps-4.seed-0"
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3
    monkeypatch.undo()
    _same_weights(run, _train_alone(tmp_path, spec_path, {"steps": 4}, 0))


def test_a_trial_whose_run_directory_is_held_is_queued_again(tmp_path, monkeypatch):
    from resode.runs.lock import RunLock
    from resode.sweeps import worker as worker_module
    from resode.sweeps.run import prepare

    monkeypatch.setattr(worker_module, "LOCKED_PAUSE", 0.01)
    spec_path = _spec(tmp_path, "steps = [4]", fixed={"epochs": 1})
    spec, study, sweep_dir = prepare(spec_path, tmp_path / "sweep", None, None, None, 0)
    lock = RunLock(sweep_dir / "trials" / "steps-4.seed-0").acquire(quiet=True)
    said = []

    def say(line):  # the holder lets go once the worker has seen the directory held
        said.append(line)
        if "queued again" in line:
            lock.release()

    assert worker_module.Worker(spec, study, sweep_dir, say=say).run() == 0
    assert sum("queued again" in line for line in said) == 1
    (done,) = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert (done.number, done.user_attrs["attempt"]) == (1, 1)


CLAIMER = """
import json, sys
from resode.sweeps import worker
from resode.sweeps.run import prepare

claimed = []

def run_trial(self, trial, point, seed):  # claim only: record, tell at once
    claimed.append(trial.number)
    self.study.tell(trial, 0.0)

worker.Worker._run_trial = run_trial
spec, study, sweep_dir = prepare(sys.argv[1], sys.argv[2], None, None, None, int(sys.argv[3]))
worker.Worker(spec, study, sweep_dir, int(sys.argv[3]), say=lambda line: None).run()
print(json.dumps(claimed))
"""


def test_workers_on_one_sqlite_study_never_claim_a_trial_twice(tmp_path):
    """Optuna pops a waiting trial by reading and then writing its state; Python's SQLite
    driver runs the read outside the write's transaction, so without the claim lock four
    processes claimed 4-6 of 60 trials twice (measured, three of three tries)."""
    spec = _spec(tmp_path, "steps = {low = 1, high = 30, step = 1}", sweep="seeds = [0, 1]")
    out = tmp_path / "sweep"
    command = [sys.executable, "-c", CLAIMER, str(spec), str(out)]
    workers = [subprocess.Popen([*command, str(i)], stdout=subprocess.PIPE, text=True)
               for i in range(4)]  # fmt: skip
    claims = [json.loads(w.communicate(timeout=300)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    every = sorted(n for c in claims for n in c)
    assert every == list(range(60))  # each trial claimed once, by one worker
    assert sum(bool(c) for c in claims) >= 2  # they did run side by side
    study = load_sweep(out)[1]
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 60
