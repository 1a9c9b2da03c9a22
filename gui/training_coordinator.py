"""The one owner of the training process: turns the user's settings into runs and the run's messages
into ViewerState changes.

Every run is written as a run folder (core.runs) under ``runs_home()``: the worker writes it, and the
test accuracy measured here at each epoch end is sent back to it, so one process writes each file.

No Qt here, so it is tested without a window: something calls ``poll()`` while ``active`` (the window
does, from a timer), and it reports through plain events. It never calls the window.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.architecture import PRESETS, Architecture, check_batch_size, parse
from core.data import load_dataset
from core.events import Event
from core.model_session import ModelSession
from core.priority import lower_priority
from core.run_catalog import display_path
from core.run_status import RunStatus
from core.runs import RunError, new_run_folder
from core.train_settings import TrainSettings
from core.training_process import (
    EpochEnd, Failure, FullState, Progress, RunEnded, TrainingJob, TrainingProcess, TrainingState,
)
from core.viewer_state import EpochTest, ViewerState

ProcessFactory = Callable[[TrainingJob], TrainingProcess]


@dataclass(frozen=True)
class _PendingTest:
    future: Future
    test: EpochTest
    process: TrainingProcess


@dataclass
class _PendingBuild:
    future: Future  # the new ModelSession
    text: str  # the architecture as the user typed it
    session: int  # the session on show when it was asked for: a build for one replaced since is dropped
    then: Callable[[Architecture], object]  # what waited for the new model (Start, Step, or saying it is done)


RETIRE_SECONDS = 5.0
"""How long a stopped worker may take to end once told to, before it is killed."""


class TrainingCoordinator:
    """Events: ``state_changed`` (TrainingState), ``progressed`` (Progress), ``message`` (str),
    ``error`` (str, a problem the user should read: a refused start, a failed run), ``run_started``
    (the run folder, or None when it cannot be written), ``run_ended`` (RunEnded: the verdict),
    ``run_stopped`` (the folder of a recorded run the user stopped before its verdict) and
    ``busy`` (what is being prepared off the caller's thread, "" when done)."""

    def __init__(self, viewer: ViewerState, process_factory: ProcessFactory = TrainingProcess) -> None:
        self.viewer = viewer
        self._make_process = process_factory
        self._process: TrainingProcess | None = None
        self._state = TrainingState.IDLE
        self._ended = False  # the worker's run has its verdict: later weights from its queue are stale
        self.state_changed = Event("state_changed")
        self.progressed = Event("progressed")
        self.message = Event("message")
        self.error = Event("error")
        self.run_started = Event("run_started")
        self.run_ended = Event("run_ended")
        self.run_stopped = Event("run_stopped")
        self.busy = Event("busy")
        # Each epoch's test pass runs here, off the caller's (the GUI's) thread, one at a time.
        self._test_passes = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="convscope-test-pass", initializer=lower_priority
        )
        self._pending: list[_PendingTest] = []
        # A new architecture's model is built here (its data fitted to the input size, its weights drawn:
        # 7 s for VGG-16), off the caller's thread; poll() shows it.
        self._builds = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="convscope-model-build", initializer=lower_priority
        )
        self._building: _PendingBuild | None = None
        # Stopped workers: waiting for their epochs' test accuracy, then told to end (by this deadline).
        self._retiring: dict[TrainingProcess, float | None] = {}
        self._reapers: list[threading.Thread] = []  # discarded workers being killed and reaped

    @property
    def state(self) -> TrainingState:
        return self._state

    @property
    def active(self) -> bool:
        """A worker exists: someone should call poll()."""
        return self._process is not None

    @property
    def settling(self) -> bool:
        """A new model is being built, test passes of finished epochs are still running, or stopped
        workers wait for them or are being reaped: keep calling poll()."""
        return bool(self._building or self._pending or self._retiring) or any(r.is_alive() for r in self._reapers)

    @property
    def building(self) -> bool:
        """A new architecture's model is being built; poll() shows it (and starts what waited for it)."""
        return self._building is not None

    def close(self) -> None:
        """Stop the worker and end every stopped one now, their last test passes in (the window is closing)."""
        self.stop()
        self._building = None
        self._builds.shutdown(wait=True, cancel_futures=True)
        self._collect_test_passes(wait=True)
        self._end_retired(wait=True)
        for reaper in self._reapers:
            reaper.join()
        self._reapers = []
        self._test_passes.shutdown(wait=True, cancel_futures=True)

    # ----------------------------------------------------------------- intents

    def start(self, settings: TrainSettings) -> bool:
        """Run with these settings; resume a paused run. False (and an error event) when refused."""
        if self._state == TrainingState.PAUSED and self.active:
            self._process.send("run")
            return True
        return self._with_model_of(settings, lambda architecture: self._start_new(settings, architecture))

    def toggle(self, settings: TrainSettings) -> None:
        if self._state in (TrainingState.RUNNING, TrainingState.STARTING):
            self.pause()
        else:
            self.start(settings)

    def step(self, settings: TrainSettings) -> bool:
        """Train one batch; starts a paused worker first when there is none (or its run has ended)."""
        if not self.active or self._state == TrainingState.FINISHED:
            return self._with_model_of(settings, lambda architecture: self._step_new(settings, architecture))
        self._process.send("step")
        return True

    def pause(self) -> None:
        if self._process is not None:
            self._process.send("pause")

    def stop(self) -> None:
        """Stop training at once without waiting on anything: what the worker published so far is shown,
        then it is paused and let go. poll() ends it once the test passes of its epochs are in, so their
        accuracy still reaches its run; nothing it sends meanwhile is shown."""
        if self._process is not None:
            process, self._process = self._process, None
            for event in process.poll_events():
                self._dispatch(event, process)
            snapshot = process.newest_snapshot()
            if snapshot is not None and not self._ended:
                self.viewer.apply_snapshot(snapshot)
            process.send("pause")
            self._retiring[process] = None
            self._end_retired()
            if not self._ended and process.job.run_folder is not None:
                self.run_stopped.emit(process.job.run_folder)
        self._set_state(TrainingState.IDLE)

    def fork(self, settings: TrainSettings) -> bool:
        """A new run from the weights on show (an earlier step when looking back) with these settings;
        its run.json names the run and step it started from. The architecture stays theirs."""
        try:
            if self.viewer.session.architecture is not None and parse(settings.architecture) != self.viewer.session.architecture:
                raise ValueError(
                    "a fork starts from the weights on show, so it keeps their architecture: put the editor's "
                    "text back, or press Start to train the new architecture from scratch"
                )
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        self.stop()
        self.viewer.keep_shown_weights()
        return self._with_model_of(settings, lambda architecture: self._start_new(settings, architecture, forked=True))

    def set_pace(self, pace: float) -> None:
        """Slow motion for the run under way (steps per second, 0 = full speed); a new run takes the
        settings' pace."""
        if self._process is not None:
            self._process.send("pace", pace)

    def reset(self, settings: TrainSettings, seed: int | None = None) -> bool:
        """Fresh random weights for the architecture in the editor; the metrics start over. The model is
        built off the caller's thread: poll() shows it."""
        self.stop()
        try:
            architecture = parse(settings.architecture)
            self._check_classes(architecture)
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        seed = seed if seed is not None else _random_seed()
        self._build(architecture, settings, seed, lambda _: self.message.emit("weights reset to random values"))
        return True

    def change_dataset(self, source: str) -> bool:
        if self.active:
            self.stop()
            self.message.emit("training stopped: the data set changed")
        try:
            self.viewer.change_dataset(source)
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        samples = self.viewer.samples()
        if samples.skipped:
            self.message.emit(samples.skipped_summary())
        return True

    def full_state(self) -> FullState | None:
        """The worker's weights and optimizer state, for a checkpoint (waits up to a batch)."""
        if self._process is None:
            return None
        process = self._process
        state = process.request_state()
        for event in process.take_pending():
            self._dispatch(event, process)
        return state

    def poll(self) -> None:
        self._collect_build()
        self._collect_test_passes()
        self._end_retired()
        process = self._process
        if process is None:
            return
        for event in process.poll_events():
            self._dispatch(event, process)
        snapshot = process.newest_snapshot()
        if snapshot is not None and not self._ended:
            self.viewer.apply_snapshot(snapshot)
        if self._process is process and not process.is_alive():
            self._process = None
            if process.start_error is not None:
                self.error.emit(f"training could not start: {process.start_error}")
            self._finish(process)
            self._set_state(TrainingState.IDLE)

    # ----------------------------------------------------------------- internals

    def _with_model_of(self, settings: TrainSettings, then: Callable[[Architecture], bool]) -> bool:
        """``then(architecture)`` now, or once a model of the settings' architecture is built when it is a
        new one (checked first: a refusal changes nothing). False (and an error event) when refused."""
        try:
            architecture = self._checked(settings)
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        if architecture == self.viewer.session.architecture:
            return then(architecture)
        self._build(architecture, settings, 0, then)
        return True

    def _build(
        self, architecture: Architecture, settings: TrainSettings, seed: int, then: Callable[[Architecture], object]
    ) -> None:
        """A newer request supersedes one under way (its model is dropped)."""
        future = self._builds.submit(_new_session, architecture, settings.dataset, seed)
        self._building = _PendingBuild(future, settings.architecture, self.viewer.session.id, then)
        self.busy.emit("building the model…")

    def _collect_build(self) -> None:
        build = self._building
        if build is None or not build.future.done():
            return
        self._building = None
        self.busy.emit("")
        try:
            session = build.future.result()
        except ValueError as exc:  # a budget or the data: said in one line
            self.error.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown; the model on show stays
            self.error.emit(f"could not build the model: {exc}")
            return
        if self.viewer.session.id != build.session:
            return  # another model was opened meanwhile: the user's latest choice stays on show
        self.viewer.replace_session(session, architecture_text=build.text)
        build.then(session.architecture)

    def _step_new(self, settings: TrainSettings, architecture: Architecture) -> bool:
        self._launch(self._job(architecture, settings, forked=False), paused=True)
        self._process.send("step")
        return True

    def _start_new(self, settings: TrainSettings, architecture: Architecture, forked: bool = False) -> bool:
        self._launch(self._job(architecture, settings, forked))
        self._process.send("run")
        return True

    def _checked(self, settings: TrainSettings) -> Architecture:
        """Everything checked before anything changes (the data set is switched if the settings name
        another); a ValueError names the first problem."""
        viewer = self.viewer
        architecture = parse(settings.architecture)
        settings.config()
        if viewer.session.architecture is None:
            raise ValueError(
                "this model was loaded from your code, so it can be inspected but not trained here: "
                "press Reset weights to switch to the architecture in the editor"
            )
        if settings.dataset != viewer.dataset_source:
            viewer.change_dataset(settings.dataset)
        check_batch_size(architecture, settings.batch_size)
        self._check_classes(architecture)
        return architecture

    def _new_run_folder(self, settings: TrainSettings, forked: bool) -> Path | None:
        """A fresh folder under runs_home(); None (and said) when none can be made: training goes on."""
        name = f"{_preset_name(settings.architecture)}-{Path(settings.dataset).name or 'data'}" + ("-fork" if forked else "")
        try:
            return new_run_folder(name)
        except RunError as exc:
            self.error.emit(f"{exc}: training goes on without recording the run")
            return None

    def _check_classes(self, architecture: Architecture) -> None:
        """Refuse an architecture whose outputs do not match the classes. The window's test set names them
        (at any input size the same), so a refusal loads nothing: fitting 1,000 digits to another input
        size took 0.3 s."""
        classes = self.viewer.samples().classes
        if len(classes) != architecture.num_classes:
            raise ValueError(
                f"the data set has {len(classes)} classes but the architecture's last layer has "
                f"{architecture.num_classes} outputs: change the last FC to FC({len(classes)})"
            )

    def _job(self, architecture: Architecture, settings: TrainSettings, forked: bool) -> TrainingJob:
        """The checked settings as a job for a worker, with a new run folder (the one on show is its parent)."""
        viewer = self.viewer
        config = settings.config()
        start_step = viewer.session.step
        parent_run, parent_step = viewer.run_folder, start_step
        folder = self._new_run_folder(settings, forked)
        viewer.begin_run(folder)
        run_settings = {
            **settings.to_dict(), "seed": config.seed, "momentum": config.momentum, "start_step": start_step,
            "parent": {"run": str(parent_run), "step": parent_step} if parent_run is not None else None,
        }
        return TrainingJob(
            architecture=architecture.to_text(),
            dataset=settings.dataset,
            config=config,
            weights=viewer.session.weights(),
            history=viewer.history.to_dict(),
            start_step=start_step,
            session=viewer.session.id,
            run_folder=str(folder) if folder is not None else None,
            run_settings=run_settings,
            pace=settings.pace,
        )

    def _launch(self, job: TrainingJob, paused: bool = False) -> None:
        self.stop()
        self._process = self._make_process(job)
        self._ended = False
        self._process.start()
        self._set_state(TrainingState.PAUSED if paused else TrainingState.STARTING)
        self.run_started.emit(job.run_folder)
        if job.run_folder is not None:
            self.message.emit(f"training run: {display_path(job.run_folder)}")

    def _finish(self, process: TrainingProcess) -> None:
        events, snapshot = process.stop()
        for event in events:
            self._dispatch(event, process)
        if snapshot is not None and not self._ended:
            self.viewer.apply_snapshot(snapshot)

    def _dispatch(self, event, process: TrainingProcess) -> None:
        if isinstance(event, Progress):
            if self.viewer.record_progress(event):
                self.progressed.emit(event)
                self._set_state(event.state)
        elif isinstance(event, EpochEnd):
            try:
                test = self.viewer.epoch_test(event.snapshot)
            except ValueError as exc:
                self.error.emit(f"could not measure test accuracy: {exc}")
                return
            if test is not None:
                self._pending.append(_PendingTest(self._test_passes.submit(test.run), test, process))
        elif isinstance(event, RunEnded):
            self._ended = True
            self.viewer.apply_snapshot(event.snapshot)  # after a divergence: the weights put back
            self.run_ended.emit(event)
            if event.status in (RunStatus.DIVERGED, RunStatus.FAILED_TO_LEARN):
                self.error.emit(event.message)
        elif isinstance(event, Failure):
            self.error.emit(event.message)

    def _collect_test_passes(self, wait: bool = False) -> None:
        """Finished test passes, in epoch order, into the curves and back to the run that made them."""
        while self._pending and (wait or self._pending[0].future.done()):
            pending = self._pending.pop(0)
            try:
                result = pending.future.result()
            except Exception as exc:  # noqa: BLE001 - shown, and training goes on
                self.error.emit(f"could not measure test accuracy: {exc}")
                continue
            accuracy = self.viewer.record_test(pending.test, *result)
            if accuracy is not None:
                pending.process.send("test_accuracy", pending.test.step, accuracy)

    def _end_retired(self, wait: bool = False) -> None:
        """Tell the stopped workers none of whose test passes is still running to end (their runs close),
        and reap those that have: never waiting on a process unless `wait` (the window is closing)."""
        now = time.monotonic()
        for process, deadline in list(self._retiring.items()):
            if any(pending.process is process for pending in self._pending):
                continue
            overdue = deadline is not None and now > deadline
            if wait or not process.is_alive():
                del self._retiring[process]
                # closing (waits for it to end), or gone already (nothing to wait for)
                process.stop(timeout=RETIRE_SECONDS if wait else 0.0)
            elif process.starting or overdue:
                del self._retiring[process]
                # still starting (nothing to hand over) or overdue: killed and reaped off the GUI thread
                reaper = process.discard()
                self._reapers = [r for r in self._reapers if r.is_alive()] + ([reaper] if reaper else [])
            elif deadline is None:
                process.send("stop")
                self._retiring[process] = now + RETIRE_SECONDS
            else:
                process.poll_events()  # read and dropped, so a worker flushing its queues can exit
                process.newest_snapshot()

    def _set_state(self, state: TrainingState) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)


def _new_session(architecture: Architecture, dataset: str, seed: int) -> ModelSession:
    """A model of ``architecture`` with random weights and the data set's classes and normalization."""
    samples = load_dataset(dataset, "test", architecture.input_shape)
    return ModelSession.from_architecture(architecture, samples.classes, samples.normalization, seed)


def _preset_name(text: str) -> str:
    """The preset a layer pattern is, or "custom": a run folder's name says what trained."""
    try:
        architecture = parse(text)
    except ValueError:
        return "custom"
    return next((name for name, preset in PRESETS.items() if parse(preset) == architecture), "custom")


def _random_seed() -> int:
    return int(np.random.default_rng().integers(2**31))


def describe_progress(progress: Progress) -> tuple[float, str]:
    """The progress bar's fraction and the line under it."""
    epochs = max(1, progress.total_steps // max(1, progress.batches_per_epoch))
    epoch = min(progress.epoch + 1, epochs)
    where = f"epoch {epoch}/{epochs} · batch {progress.batch}/{progress.batches_per_epoch}"
    if progress.state == TrainingState.FINISHED:
        text = f"finished {epochs} epochs ({progress.step:,} batches)"
    elif progress.state == TrainingState.PAUSED:
        text = f"paused at {where}"
    else:
        rate = f" · {progress.samples_per_s:,.0f} samples/s" if progress.samples_per_s > 0 else ""
        eta = f" · {progress.eta_s:.0f} s left" if np.isfinite(progress.eta_s) else ""
        text = f"{where}{rate}{eta}"
    return progress.step / max(1, progress.total_steps), text
