"""One sweep worker: take a trial from the study, train its run directory, tell the result.

A trial is one configuration with one seed; its run directory is ``SWEEP_DIR/trials/NAME``
(:func:`.spec.run_name`), an ordinary run. The worker loop:

1. **Release stale trials.** A running trial whose process is gone (same host, its process id
   no longer alive) or whose heartbeat (``resode:alive``, renewed every
   :data:`HEARTBEAT` seconds) is older than :data:`STALE_AFTER` seconds is marked failed and
   enqueued again with the same point and seed (``attempt`` + 1).
2. **Claim.** ``study.ask()`` pops the oldest waiting trial (grid points, other seeds, retries)
   or, for the random and TPE samplers while fewer than ``trials`` configurations were started,
   samples a new point; its other seeds are then enqueued. A sampled point that was tried
   before, or one the settings do not allow, is told failed (``skipped``) and not counted.
3. **Train.** A run directory that holds ``metrics.json`` is finished: its metrics are read,
   nothing is trained again. One that holds ``config.json`` is resumed from its checkpoint
   (bit-identical to an uninterrupted run). Otherwise a new run starts. After each epoch the
   validation metric is reported to the pruner, which may end the run (``pruned``).
4. **Tell.** The trial's value is the run's final validation metric (of the model it kept);
   its user attribute ``metrics`` copies the run's final metrics and seconds.

Steps 1 and 2 run under :func:`.study.claim_lock_path`'s lock for a SQLite study, so that the
workers of one machine never claim one trial twice.

SIGTERM or SIGUSR1 while training writes the run's checkpoint (as ``resode train`` does); the
worker then fails the trial, enqueues its retry and ends with :data:`RESUMABLE`: whichever
worker runs next resumes it. Between trials, the worker ends before claiming another.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - platforms without flock
    fcntl = None

from ..analysis.diagnosis import StabilityError
from ..errors import ResodeError, TrainingDivergedError
from ..runs.layout import CONFIG, METRICS
from ..runs.load import read_document, read_history
from ..runs.lock import RunDirectoryLocked
from ..training.preemption import RESUMABLE, StoppedAtOnce, TrainingInterrupted
from .spec import Choices, Range, SweepSpec, configuration_key, encode
from .study import claim_lock_path, optuna, trial_attrs

TRIALS = "trials"
HEARTBEAT = 10.0
"""Seconds between a running trial's heartbeats."""
STALE_AFTER = 120.0
"""Seconds without a heartbeat after which a trial on another host counts as stopped."""
LOCKED_PAUSE = 10.0
"""Seconds a worker waits before it claims again, after a trial's run directory was held."""
LOCKED_ATTEMPTS = 100
"""Attempts after which a trial whose run directory stays held by another process fails."""
SKIPPED_IN_A_ROW = 50
"""Sampled points in a row that were tried before: the space is taken to be exhausted."""
KEPT_METRICS = ("seconds", "best_epoch", "pruned_at_epoch", "stopped_early")


class Worker:
    """Runs trials of ``study`` (made from ``spec``) into ``sweep_dir/trials`` until none is
    left; ``say`` prints one line per event (``index`` names the worker in it)."""

    def __init__(self, spec: SweepSpec, study, sweep_dir: Path, index: int = 0, say=print):
        self.spec, self.study, self.index = spec, study, index
        self.trials_dir = Path(sweep_dir) / TRIALS
        self.say = say
        self.stop_requested: str | None = None
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.claim_lock = claim_lock_path(study)

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Train trials until the study has none left (0), or a stop signal ends the worker
        (:data:`RESUMABLE`)."""
        previous = {n: signal.signal(n, self._stop) for n in _SIGNALS} if _main_thread() else {}
        try:
            skipped = 0
            while self.stop_requested is None:
                with _exclusive(self.claim_lock):
                    release_stale(self.study, self.say)
                    claimed = self._claim()
                if claimed is None:
                    break
                if claimed == "skipped":
                    skipped += 1
                    if skipped >= SKIPPED_IN_A_ROW:
                        self.say(f"{SKIPPED_IN_A_ROW} sampled points in a row were tried "
                                 "before: the space looks exhausted")  # fmt: skip
                        break
                    continue
                skipped = 0
                self._run_trial(*claimed)
        except (TrainingInterrupted, StoppedAtOnce) as stopped:
            self.say(f"worker {self.index}: {stopped}; rerun the sweep to go on")
            return RESUMABLE
        except KeyboardInterrupt:
            self.say(f"worker {self.index}: interrupted; rerun the sweep to go on")
            return 130
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if self.stop_requested is not None:
            self.say(f"worker {self.index}: stopped by {self.stop_requested} between trials; "
                     "rerun the sweep to go on")  # fmt: skip
            return RESUMABLE
        return 0

    def _stop(self, number: int, frame) -> None:
        self.stop_requested = signal.Signals(number).name

    # -- claim ---------------------------------------------------------------------------

    def _may_sample(self) -> bool:
        if self.spec.sampler == "grid":
            return False
        started = {t.user_attrs.get("configuration") for t in _trials(self.study)
                   if t.user_attrs.get("configuration") and not t.user_attrs.get("skipped")}
        return len(started) < self.spec.trials  # fmt: skip

    def _claim(self):
        """(trial, point, seed) to train, "skipped" for a point told failed at once, or None
        when nothing is left to do."""
        States = optuna().trial.TrialState
        waiting = _trials(self.study, (States.WAITING,))
        if not waiting and not self._may_sample():
            return None
        trial = self.study.ask()
        self._mark_running(trial._trial_id)
        point = {name: _suggest(trial, name, dim) for name, dim in self.spec.space.items()}
        attrs = trial.user_attrs
        if "seed" not in attrs:  # a point the sampler just chose
            reason = self._refusal(point, trial.number)
            if reason is not None:
                trial.set_user_attr("skipped", reason)
                self.study.tell(trial, state=States.FAIL)
                return "skipped"
            for key, value in trial_attrs(point, self.spec.seeds[0], 0).items():
                trial.set_user_attr(key, value)
            for seed in self.spec.seeds[1:]:
                self.study.enqueue_trial(point, user_attrs=trial_attrs(point, seed, 0))
            attrs = trial.user_attrs
        twin = _twin(self.study, attrs["run"], trial.number)
        if twin is not None:
            trial.set_user_attr("skipped", f"run {attrs['run']} is trial {twin}'s")
            self.study.tell(trial, state=States.FAIL)
            return "skipped"
        return trial, point, attrs["seed"]

    def _refusal(self, point: dict, number: int) -> str | None:
        """Why a sampled ``point`` is not trained: tried before, or not allowed."""
        key = configuration_key(point)
        for other in _trials(self.study):
            if (other.number != number and other.user_attrs.get("configuration") == key
                    and not other.user_attrs.get("skipped")):  # fmt: skip
                return f"configuration tried before (trial {other.number})"
        try:
            self.spec.trial_config(point, self.spec.seeds[0])
        except ResodeError as error:
            return f"not allowed: {error}"
        return None

    def _mark_running(self, trial_id: int) -> None:
        """Name this process as the trial's holder. The host comes last: another worker
        judges a trial of its own host by the process id, so that must be there first."""
        storage = self.study._storage
        storage.set_trial_system_attr(trial_id, "resode:pid", self.pid)
        storage.set_trial_system_attr(trial_id, "resode:alive", time.time())
        storage.set_trial_system_attr(trial_id, "resode:host", self.host)

    # -- train and tell ------------------------------------------------------------------

    def _run_trial(self, trial, point: dict, seed: int) -> None:
        States = optuna().trial.TrialState
        name = trial.user_attrs["run"]
        out = self.trials_dir / name
        self.say(f"worker {self.index}: trial {trial.number} {name}")
        beat = _Heartbeat(self.study._storage, trial._trial_id)
        try:
            with beat:
                metrics = self._train(trial, point, seed, out)
        except (TrainingInterrupted, StoppedAtOnce, KeyboardInterrupt):
            retry(self.study, trial.number)
            raise
        except TrialReleased:
            self.say(f"worker {self.index}: trial {trial.number} was released by another "
                     "worker meanwhile; its retry resumes the run")  # fmt: skip
            return
        except RunDirectoryLocked as error:
            self._locked(trial, error)
            return
        except (TrainingDivergedError, StabilityError, ResodeError) as error:
            trial.set_user_attr("error", str(error).splitlines()[0])
            self.study.tell(trial, state=States.FAIL)
            self.say(f"worker {self.index}: trial {trial.number} failed: {error}")
            return
        except BaseException:
            retry(self.study, trial.number)
            raise
        try:
            if not _released(self.study, trial):
                self._tell(trial, name, metrics)
                return
        except optuna().exceptions.UpdateFinishedTrialError:
            pass
        except ValueError:  # the study's "Cannot tell a FAIL trial"
            if not _released(self.study, trial):
                raise
        self.say(f"worker {self.index}: trial {trial.number} was released by another "
                 "worker meanwhile; its retry reads the finished run")  # fmt: skip

    def _tell(self, trial, name: str, metrics: dict[str, Any]) -> None:
        """Tell the study the finished run's result (complete, pruned, or a twin's)."""
        States = optuna().trial.TrialState
        kept = {k: v for k, v in metrics.items() if isinstance(v, int | float | bool)
                and (k.startswith(("train_", "val_", "test_")) or k in KEPT_METRICS)}  # fmt: skip
        trial.set_user_attr("metrics", kept)
        value = metrics[self.spec.metric]
        twin = _twin(self.study, name, trial.number, finished_only=True)
        if twin is not None:  # another worker finished this run meanwhile
            trial.set_user_attr("skipped", f"run {name} is trial {twin}'s")
            self.study.tell(trial, state=States.FAIL)
        elif "pruned_at_epoch" in metrics:
            self.study.tell(trial, state=States.PRUNED)
            self.say(f"worker {self.index}: trial {trial.number} pruned at epoch "
                     f"{metrics['pruned_at_epoch']} ({self.spec.metric} {value:.4f})")  # fmt: skip
        else:
            self.study.tell(trial, value)
            self.say(f"worker {self.index}: trial {trial.number} {self.spec.metric} {value:.4f}")

    def _train(self, trial, point: dict, seed: int, out: Path) -> dict[str, Any]:
        """The run's final metrics: read when it finished before, else trained (resumed from
        its checkpoint when it has one)."""
        from ..training.loop import train

        if (out / METRICS).exists() and (out / CONFIG).exists():
            return read_document(out / METRICS)
        config = self.spec.trial_config(point, seed)
        resume = (out / CONFIG).exists()
        metric = self.spec.metric
        for row in (read_history(out) or []) if resume else []:
            trial.report(float(row[metric]), int(float(row["epoch"])))

        def report(record: dict) -> bool:
            try:
                trial.report(float(record[metric]), int(record["epoch"]))
            except optuna().exceptions.UpdateFinishedTrialError:
                raise TrialReleased(trial.number) from None
            return trial.should_prune()

        return train(config, out, resume=resume, force=not resume, progress=False,
                     on_epoch=report)  # fmt: skip

    def _locked(self, trial, error: RunDirectoryLocked) -> None:
        """The trial's run directory is held by a live process (a worker whose trial was
        released while it still trained: it lets go at its next epoch). Queue the trial
        again after a pause; after :data:`LOCKED_ATTEMPTS` attempts give it up."""
        States = optuna().trial.TrialState
        if trial.user_attrs.get("attempt", 0) >= LOCKED_ATTEMPTS:
            trial.set_user_attr("error", str(error).splitlines()[0])
            self.study.tell(trial, state=States.FAIL)
            self.say(f"worker {self.index}: trial {trial.number} failed: {error}")
            return
        self.say(f"worker {self.index}: trial {trial.number}: {error}; queued again")
        retry(self.study, trial.number)
        time.sleep(LOCKED_PAUSE)


class TrialReleased(Exception):
    """The study no longer counts this worker's trial as running (another worker released
    it): the worker stops training it at the epoch's end, its checkpoint kept."""


_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGUSR1") if hasattr(signal, n))


@contextmanager
def _exclusive(path: Path | None):
    """Hold an exclusive lock on the file ``path`` (nothing when None or without flock)."""
    if path is None or fcntl is None:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _suggest(trial, name: str, dimension: Choices | Range):
    if isinstance(dimension, Choices):
        return trial.suggest_categorical(name, [encode(v) for v in dimension.values])
    if dimension.integer:
        step = int(dimension.step) if dimension.step is not None else 1
        return trial.suggest_int(name, int(dimension.low), int(dimension.high), step=step,
                                 log=dimension.log)  # fmt: skip
    return trial.suggest_float(name, float(dimension.low), float(dimension.high),
                               step=dimension.step, log=dimension.log)  # fmt: skip


def _trials(study, states=None) -> list:
    return study.get_trials(deepcopy=False, states=states)


def _released(study, trial) -> bool:
    """Whether ``trial`` no longer runs: another worker released it (see :func:`retry`)."""
    return study._storage.get_trial(trial._trial_id).state.is_finished()


def _twin(study, run: str, number: int, finished_only: bool = False) -> int | None:
    """The number of another trial of run directory ``run`` that finished, or (unless
    ``finished_only``) one with a lower number that is running: only one trial trains a run."""
    States = optuna().trial.TrialState
    for other in _trials(study, (States.COMPLETE, States.PRUNED, States.RUNNING)):
        if other.number == number or other.user_attrs.get("run") != run:
            continue
        if other.user_attrs.get("skipped"):
            continue
        if other.state != States.RUNNING or (not finished_only and other.number < number):
            return other.number
    return None


def retry(study, number: int) -> None:
    """Fail running trial ``number`` and enqueue it again (same point, seed; attempt + 1)."""
    States = optuna().trial.TrialState
    trial = study.get_trials(deepcopy=False)[number]
    point = trial.params or trial.system_attrs.get("fixed_params")
    attrs = trial.user_attrs
    again = bool(point) and "seed" in attrs
    try:
        if again:
            study._storage.set_trial_user_attr(trial._trial_id, "retried", True)
        if not study._storage.set_trial_state_values(trial._trial_id, state=States.FAIL):
            return
    except optuna().exceptions.UpdateFinishedTrialError:
        return  # another worker released it first
    if again:
        attempt = attrs.get("attempt", 0) + 1
        study.enqueue_trial(point, user_attrs=trial_attrs(point, attrs["seed"], attempt))


def release_stale(study, say=print) -> list[int]:
    """Fail and re-enqueue the running trials whose worker is gone (see the module
    docstring); the numbers of the trials released."""
    States = optuna().trial.TrialState
    host, now, released = socket.gethostname(), time.time(), []
    for trial in _trials(study, (States.RUNNING,)):
        attrs = trial.system_attrs
        alive = attrs.get("resode:alive")
        if alive is None:  # asked, not yet marked: judge by its start
            start = trial.datetime_start
            alive = start.timestamp() if start is not None else now
        pid = attrs.get("resode:pid")
        gone = attrs.get("resode:host") == host and pid is not None and not _process_alive(pid)
        if gone or now - alive > STALE_AFTER:
            retry(study, trial.number)
            released.append(trial.number)
            say(f"trial {trial.number} ({trial.user_attrs.get('run', 'no run yet')}) was "
                "left running by a stopped worker: enqueued again")  # fmt: skip
    return released


def _process_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that ended but whose parent has not reaped it yet (Linux's /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class _Heartbeat:
    """Renews a running trial's ``resode:alive`` every :data:`HEARTBEAT` seconds (a thread)."""

    def __init__(self, storage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.done.wait(HEARTBEAT):
            try:
                self.storage.set_trial_system_attr(self.trial_id, "resode:alive", time.time())
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
