"""Training in a child process, so nothing the GUI does (and no GIL it holds) slows the optimizer.

The parent sends commands (run, pause, step, stop, pace, test_accuracy, ...) over one queue and reads
messages back: small ``Progress`` events that are never dropped, and ``Snapshot``s of the weights that are
(the viewer only wants the newest one). Every message is made of plain numpy arrays and numbers, copied at
a batch boundary, so the parent never sees tensors the optimizer is writing.

A job with a ``run_folder`` is written there as a run (core.runs): every step, snapshots, and the test
accuracy the parent measures and sends back. A divergence or a failure to learn ends the run with that
status (``RunEnded``) and the worker exits; a finished run is judged once the parent's test accuracy of
its last step arrives.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from core.architecture import ArchitectureError, build_model, parse
from core.data import DataError, load_dataset
from core.pacing import Pacer
from core.priority import lower_priority
from core.run_status import RunStatus
from core.runs import RunWriter
from core.trainer import DivergedError, HistoryDelta, MetricsHistory, Stopwatch, TrainConfig, Trainer
from core.training_run import RunRecorder, epoch_verdict, final_status, probe_images
from core.weights import WeightsSnapshot


def _worker_context():
    """Workers forked from a server that imported torch once, where the system has one.

    Spawning a worker per Start re-imported torch (2-3 s of a core, each time), and forking the window's
    large process to do it held the GIL for 15-20 ms, a block of the window's own thread. A fork server
    is started once (from the starter thread, so at its lower priority, which its workers inherit).
    Workers see the environment the window had when the server started.
    """
    if "forkserver" not in mp.get_all_start_methods():  # Windows
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["core.training_process", "torch._dynamo"])
    return context


_CONTEXT = _worker_context()
HISTORY_POINTS = 20_000  # per-step metrics kept before older ones are thinned (bounded memory)
PARENT_CHECK_S = 0.2  # a worker whose window died ends within this (plus one batch)


class TrainingState(Enum):
    IDLE = "idle"  # no worker
    STARTING = "starting"  # a worker is importing torch and building its model
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # every epoch done; the worker waits for Step or Stop


@dataclass(frozen=True)
class TrainingJob:
    """Everything a worker needs to build its own model, data and optimizer."""

    architecture: str
    dataset: str
    config: TrainConfig
    weights: dict[str, np.ndarray] | None = None
    optimizer_state: dict | None = None
    history: dict | None = None
    start_step: int = 0  # the history's last step: a resumed run's curves continue from it
    threads: int = 1
    snapshot_interval: float = 0.08  # a fixed cadence of 12.5 Hz keeps the views above 10 Hz
    session: int = 0  # the ModelSession the weights belong to: every snapshot carries it back
    run_folder: str | None = None  # a new or empty folder to write the run in; None: not recorded
    run_settings: dict | None = None  # what run.json keeps as the run's settings
    pace: float = 0.0  # slow motion: at most this many steps a second; 0 = full speed


@dataclass(frozen=True)
class Progress:
    state: TrainingState
    step: int
    total_steps: int
    epoch: int
    batch: int
    batches_per_epoch: int
    samples_per_s: float
    eta_s: float
    history: HistoryDelta = HistoryDelta()
    session: int = 0


@dataclass(frozen=True)
class EpochEnd:
    """The weights at the end of an epoch, never dropped: the parent measures test accuracy on them,
    on its own core, so the worker never pauses training for a test pass."""

    snapshot: WeightsSnapshot


@dataclass(frozen=True)
class Failure:
    kind: str  # "data", "architecture", "run" (the run folder cannot be written), "error"
    message: str


@dataclass(frozen=True)
class RunEnded:
    """The run has its verdict: finished, diverged or failed to learn (the worker then exits), or stopped.
    ``snapshot`` holds the weights it ended with (after a divergence, the restored ones): applied last,
    since the snapshot queue may still hold weights from before the divergence."""

    status: RunStatus
    message: str
    folder: str | None
    snapshot: WeightsSnapshot


@dataclass(frozen=True)
class FullState:
    """The live weights with the optimizer state that goes with them: what a checkpoint adds to the
    window's own history, which also holds the test accuracy the worker never measures."""

    snapshot: WeightsSnapshot
    optimizer_state: dict


class TrainingProcess:
    """The parent's handle on one worker process. Not thread-safe: use it from one thread.

    ``start()`` returns at once: the queues and the process are made by a starter thread (about 25 ms
    on a quiet machine, and the GUI thread used to wait for it). Until it is done the handle answers as a
    worker that is still importing torch would: alive, starting, nothing to read; commands wait for it.
    """

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self._commands = self._events = self._snapshots = self._process = None
        self._starter: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._launch_lock = threading.Lock()  # the starter hands over the early commands under it
        self._launched = False
        self._early: list[tuple] = []  # commands sent before the worker existed
        self._pending: list = []
        self._closed = False
        self._heard = False  # the worker has sent something, so it is past its start-up

    def start(self) -> None:
        """Start the worker at a low priority from its first instruction: a child inherits the priority of
        the thread that starts it, so it is started from a thread that lowered its own (the fork server,
        started by the first such thread, passes that priority on to every worker it forks)."""
        self._starter = threading.Thread(target=self._start_low, name="convscope-trainer-start", daemon=True)
        self._starter.start()

    def _start_low(self) -> None:
        lower_priority()
        try:
            commands, events, snapshots = _CONTEXT.Queue(), _CONTEXT.Queue(), _CONTEXT.Queue(maxsize=2)
            # The job (weights, history) goes through the command queue, not the process arguments: those
            # go through a pipe the child drains only once it is set up, so a job larger than the pipe's
            # buffer blocked start() for over a second.
            process = _CONTEXT.Process(
                target=worker_main, args=(commands, events, snapshots), name="convscope-trainer", daemon=True
            )
            process.start()
            commands.put(("job", self.job))
        except BaseException as exc:  # noqa: BLE001 - the owner reads it as start_error
            self._start_error = exc
            return
        with self._launch_lock:
            for command in self._early:
                commands.put(command)
            self._early = []
            self._commands, self._events, self._snapshots, self._process = commands, events, snapshots, process
            self._launched = True

    def wait_started(self, timeout: float | None = None) -> bool:
        """Block until the worker process exists or could not be started (scripts and tests)."""
        if self._starter is not None:
            self._starter.join(timeout)
        return self._launched

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._launched else None

    @property
    def start_error(self) -> BaseException | None:
        """Why the worker could not be started, once the starter has given up (then it is not alive)."""
        return self._start_error

    def send(self, command: str, *args) -> None:
        if self._closed:
            return
        with self._launch_lock:
            if not self._launched:
                if self._start_error is None:
                    self._early.append((command, *args))
                return
        if self._process.is_alive():
            self._commands.put((command, *args))

    def is_alive(self) -> bool:
        if not self._launched:
            return self._starter is not None and self._start_error is None
        return self._process.is_alive()

    @property
    def starting(self) -> bool:
        """Nothing heard from the worker yet: still importing torch, with nothing to hand over."""
        return not self._heard

    def poll_events(self) -> list[Progress | EpochEnd | Failure | FullState]:
        events = []
        while self._launched:
            try:
                events.append(self._events.get_nowait())
                self._heard = True
            except queue.Empty:
                break
        return events

    def newest_snapshot(self) -> WeightsSnapshot | None:
        newest = None
        while self._launched:
            try:
                newest = self._snapshots.get_nowait()
            except queue.Empty:
                break
        return newest

    def request_state(self, timeout: float = 10.0) -> FullState | None:
        """Ask the worker for its full state and wait for it; other events that arrive meanwhile are kept."""
        if not self._launched:
            return None  # not started yet: nothing trained to hand over
        self.send("state")
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while time.monotonic() < deadline and self._process.is_alive():
                try:
                    event = self._events.get(timeout=0.05)
                except queue.Empty:
                    continue
                if isinstance(event, FullState):
                    return event
                kept.append(event)
            return None
        finally:
            self._pending.extend(kept)

    def take_pending(self) -> list:
        pending, self._pending = self._pending, []
        return pending

    def stop(self, timeout: float = 2.0) -> tuple[list, WeightsSnapshot | None]:
        """Ask the worker to finish, make sure it is gone, and return what it published last.

        The queues are drained while waiting: a worker blocked on a full pipe could not exit
        otherwise. After a kill nothing more is read, since a message may be cut in half.
        Safe to call twice; the second call returns nothing.
        """
        if self._closed:
            return [], None
        self._closed = True
        if self._starter is not None:
            self._starter.join()  # seconds while the fork server first imports torch: the window discards instead
        if not self._launched:
            return [], None
        events, snapshot = self.take_pending(), None
        events += self.poll_events()
        if self._process.is_alive():
            self._commands.put(("stop",))
        # A worker still importing torch has nothing to hand over: kill it instead of waiting seconds.
        deadline = time.monotonic() + (timeout if self._heard else 0.0)
        while self._process.is_alive() and time.monotonic() < deadline:
            events += self.poll_events()
            snapshot = self.newest_snapshot() or snapshot
            self._process.join(0.02)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)  # a killed process is gone at once; this only reaps it
        else:
            events += self.poll_events()
            snapshot = self.newest_snapshot() or snapshot
        self._close_queues()
        return events, snapshot

    def discard(self) -> threading.Thread | None:
        """End a worker whose output nobody wants (still starting, or overdue) without waiting on it.

        Waiting is what stop() does, and the window cannot afford it: the starter may still be spawning,
        and reaping a killed worker waits for the kernel to tear down its memory (torch is mapped), which
        took 20-50 ms of the GUI thread on two busy cores. A thread does both; join it to be sure the
        worker is gone. None when there was nothing left to end.
        """
        if self._closed:
            return None
        self._closed = True
        reaper = threading.Thread(target=self._reap, name="convscope-trainer-reap", daemon=True)
        reaper.start()
        return reaper

    def _reap(self) -> None:
        if self._starter is not None:
            self._starter.join()
        if not self._launched:
            return
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5.0)
        self._close_queues()

    def _close_queues(self) -> None:
        for q in (self._commands, self._events, self._snapshots):
            q.cancel_join_thread()
            q.close()


def worker_main(commands, events, snapshots) -> None:
    # Ctrl-C in the terminal reaches the whole process group: the window decides when training stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _, job = commands.get()  # always the first command
        torch.set_num_threads(job.threads)
        _run_worker(job, commands, events, snapshots)
    finally:
        orphaned = _Worker._parent_gone()
        for q in (events, snapshots):
            q.close()
            if orphaned:
                q.cancel_join_thread()  # nobody will read: a full pipe would block forever
            else:
                q.join_thread()  # everything published reaches the pipe (the parent drains it meanwhile)
        os._exit(0)  # skip interpreter teardown: ~0.9 s once the optimizer has imported torch._dynamo


def _run_worker(job: TrainingJob, commands, events, snapshots) -> None:
    try:
        trainer = _make_trainer(job)
    except ArchitectureError as exc:
        events.put(Failure("architecture", str(exc)))
        return
    except DataError as exc:
        events.put(Failure("data", str(exc)))
        return
    except Exception as exc:  # the parent shows it; the app must keep running
        events.put(Failure("error", f"training could not start: {exc}"))
        return
    _Worker(trainer, job, commands, events, snapshots, _recorder(job, trainer, events)).loop()


def _recorder(job: TrainingJob, trainer: Trainer, events) -> RunRecorder | None:
    """The run's writer, with the starting weights saved; None (and said) when the folder cannot be written."""
    if job.run_folder is None:
        return None
    try:
        train = trainer.train_set
        settings = {**(job.run_settings or {}), "device": str(trainer.device)}
        writer = RunWriter(job.run_folder, job.architecture, settings, train.classes, train.normalization)
        recorder = RunRecorder(writer, trainer)
        recorder.snapshot()
    except (OSError, ValueError, RuntimeError) as exc:
        events.put(Failure("run", _unrecorded(job.run_folder, exc)))
        return None
    return recorder


def _unrecorded(folder: str, exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    reason = getattr(exc, "strerror", None) or (lines[0] if lines else type(exc).__name__)
    return f"the run folder {folder} could not be written ({reason}): training goes on without recording the run"


def _make_trainer(job: TrainingJob) -> Trainer:
    architecture = parse(job.architecture)
    train = load_dataset(job.dataset, "train", architecture.input_shape)
    if len(train.classes) != architecture.num_classes:
        raise DataError(
            f"the data set has {len(train.classes)} classes but the architecture's last layer has "
            f"{architecture.num_classes} outputs: change the last FC to FC({len(train.classes)})"
        )
    model = build_model(architecture)
    if job.weights is not None:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in job.weights.items()})
    trainer = Trainer(model, train, None, job.config, test_each_epoch=False)
    if job.optimizer_state is not None:
        trainer.optimizer.load_state_dict(job.optimizer_state)
        trainer.set_lr(job.config.lr)
    if job.history:
        trainer.history = MetricsHistory.from_dict(job.history)
    trainer.first_step = job.start_step
    return trainer


class _Worker:
    def __init__(
        self, trainer: Trainer, job: TrainingJob, commands, events, snapshots, recorder: RunRecorder | None = None
    ) -> None:
        self.trainer = trainer
        self.job = job
        self.commands = commands
        self.events = events
        self.snapshots = snapshots
        self.recorder = recorder
        self.state = TrainingState.PAUSED
        self.stopwatch = Stopwatch()
        self.pacer = Pacer(job.pace or None)
        self.probe = probe_images(trainer)
        self.ended = False  # the run has its verdict
        self.published_step = trainer.history.steps[-1] if trainer.history.steps else trainer.first_step
        self.next_publish = 0.0

    def loop(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the run is closed and the parent told; the app keeps running
            self._end(RunStatus.STOPPED, f"training stopped by an error: {type(exc).__name__}: {exc}")
            self.events.put(Failure("error", f"training stopped by an error: {exc}"))

    def _loop(self) -> None:
        self._publish(force=True)
        next_parent_check = time.monotonic() + PARENT_CHECK_S
        while True:
            running = self.state == TrainingState.RUNNING
            wait = self.pacer.due_in() if running else PARENT_CHECK_S
            try:
                command = self.commands.get(timeout=min(wait, PARENT_CHECK_S)) if wait > 0 else self.commands.get_nowait()
            except queue.Empty:
                command = None
            if wait > 0 or time.monotonic() >= next_parent_check:
                next_parent_check = time.monotonic() + PARENT_CHECK_S
                if self._parent_gone():
                    self._end(RunStatus.STOPPED, "the app ended during the run")
                    return  # the app was killed: do not linger as an orphan, however long the epoch
            if command is not None and not self._handle(command):
                return
            if self.state == TrainingState.RUNNING and self.pacer.due_in() == 0:
                self.pacer.started_step()
                if not self._train_one():
                    return

    def _handle(self, command: tuple) -> bool:
        name = command[0]
        if name == "stop":
            self._publish(force=True)
            if self.trainer.finished:
                self._end(*final_status(self.trainer, self.probe))
            else:
                self._end(RunStatus.STOPPED, f"stopped by the user at step {self.trainer.first_step + self.trainer.step_count}")
            return False
        if name == "run" and not self.trainer.finished and not self.ended:
            self.state = TrainingState.RUNNING
            self.stopwatch = Stopwatch()
            self.pacer.set_rate(self.pacer.steps_per_second)  # the schedule starts now, not at the pause
        elif name == "pause" and self.state == TrainingState.RUNNING:
            self.state = TrainingState.PAUSED
            self._publish(force=True)
        elif name == "step" and not self.ended and not self.trainer.finished:  # after the end: a new run
            self.state = TrainingState.PAUSED
            alive = self._train_one()
            self._publish(force=True)
            return alive
        elif name == "state":
            self.events.put(self._full_state())
        elif name == "pace":
            self.pacer.set_rate(command[1] or None)
        elif name == "test_accuracy":
            self._test_accuracy(*command[1:])
        return True

    @staticmethod
    def _parent_gone() -> bool:
        parent = mp.parent_process()
        return parent is not None and not parent.is_alive()

    def _train_one(self) -> bool:
        """One batch; False when the run ended with it (diverged, failed to learn): the worker exits."""
        try:
            result = self.trainer.step()
        except DivergedError as exc:
            self._record(lambda recorder: recorder.diverged(exc))
            self.state = TrainingState.PAUSED
            self._publish(force=True)
            self._end(RunStatus.DIVERGED, str(exc))
            return False
        self.stopwatch.add(self.trainer.config.batch_size)
        self._record(lambda recorder: recorder.record(result))
        if self.trainer.end_of_epoch:
            if self._parent_gone():
                self.state = TrainingState.PAUSED  # the loop notices the dead parent and ends
                return True
            self.events.put(EpochEnd(self.trainer.snapshot(self.job.session)))
            verdict = None if result.finished else epoch_verdict(self.trainer, self.probe)
            if verdict is not None:
                self.state = TrainingState.PAUSED
                self._publish(force=True)
                self._end(verdict.status, verdict.message)
                return False
        if result.finished:
            self.state = TrainingState.FINISHED
            self._publish(force=True)
        else:
            self._publish()
        return True

    def _test_accuracy(self, step: int, accuracy: float) -> None:
        """The parent measured an epoch end: into the run, and the verdict once it is the last step's."""
        history = self.trainer.history
        history.test_steps.append(step)
        history.test_accuracy.append(accuracy)
        self._record(lambda recorder: recorder.record_test_accuracy(step, accuracy))
        if self.trainer.finished and step == self.trainer.first_step + self.trainer.step_count:
            self._end(*final_status(self.trainer, self.probe))

    def _record(self, action) -> None:
        """Write to the run; a folder that cannot be written is said once, and training goes on."""
        if self.recorder is None or self.recorder.writer.closed:
            return
        try:
            action(self.recorder)
        except (OSError, ValueError, RuntimeError) as exc:
            self.recorder = None
            self.events.put(Failure("run", _unrecorded(self.job.run_folder, exc)))

    def _end(self, status: RunStatus, message: str) -> None:
        """Close the run with its verdict (once) and tell the parent, with the weights it ends with."""
        if self.ended:
            return
        self.ended = True
        self._record(lambda recorder: recorder.finish(status, message))
        folder = self.job.run_folder if self.recorder is not None else None
        self.events.put(RunEnded(status, message, folder, self.trainer.snapshot(self.job.session)))

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self.next_publish:
            return
        interval = self.job.snapshot_interval
        self.next_publish = max(self.next_publish + interval, now + interval / 2)
        trainer = self.trainer
        history = trainer.history
        history.thin(HISTORY_POINTS)
        newest = history.steps[-1] if history.steps else trainer.first_step
        # Weights put back to an earlier step (a divergence): the parent forgets the entries after it.
        delta = history.since(self.published_step, newest if newest < self.published_step else None)
        self.published_step = newest
        samples_left = (trainer.total_steps - trainer.step_count) * trainer.config.batch_size
        rate = self.stopwatch.rate() if self.state == TrainingState.RUNNING else 0.0
        self.events.put(
            Progress(
                state=self.state if not trainer.finished else TrainingState.FINISHED,
                step=trainer.step_count,
                total_steps=trainer.total_steps,
                epoch=trainer.epoch,
                batch=trainer.step_count % trainer.batches_per_epoch,
                batches_per_epoch=trainer.batches_per_epoch,
                samples_per_s=rate,
                eta_s=samples_left / rate if rate > 0 else math.inf,
                history=delta,
                session=self.job.session,
            )
        )
        snapshot = trainer.snapshot(self.job.session)
        try:
            self.snapshots.put_nowait(snapshot)
        except queue.Full:
            if force:  # weights the window must see (a start, pause, step, stop, the end): the oldest make room
                self._replace_oldest_snapshot(snapshot)

    def _replace_oldest_snapshot(self, snapshot) -> None:
        """Bounded waits: a queued item may still be in this process's feeder thread, not yet readable."""
        try:
            self.snapshots.get(timeout=0.5)
        except queue.Empty:
            pass  # the window took them meanwhile
        try:
            self.snapshots.put(snapshot, timeout=0.5)
        except queue.Full:
            pass  # the window is not reading: it will ask for the state when it needs it

    def _full_state(self) -> FullState:
        trainer = self.trainer
        return FullState(trainer.snapshot(self.job.session), trainer.optimizer.state_dict())
