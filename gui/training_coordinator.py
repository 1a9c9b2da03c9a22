"""The one owner of the training process: turns the user's settings into runs and the run's messages
into ViewerState changes.

No Qt here, so it is tested without a window: something calls ``poll()`` while ``active`` (the window
does, from a timer), and it reports through plain events. It never calls the window.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.architecture import Architecture, check_batch_size, parse
from core.data import load_dataset
from core.events import Event
from core.model_session import ModelSession
from core.train_settings import TrainSettings
from core.trainer import TrainConfig
from core.training_process import EpochEnd, Failure, FullState, Progress, TrainingJob, TrainingProcess, TrainingState
from core.viewer_state import ViewerState

ProcessFactory = Callable[[TrainingJob], TrainingProcess]


class TrainingCoordinator:
    """Events: ``state_changed`` (TrainingState), ``progressed`` (Progress), ``message`` (str) and
    ``error`` (str, a problem the user should read: a refused start, a failed run)."""

    def __init__(self, viewer: ViewerState, process_factory: ProcessFactory = TrainingProcess) -> None:
        self.viewer = viewer
        self._make_process = process_factory
        self._process: TrainingProcess | None = None
        self._state = TrainingState.IDLE
        self.state_changed = Event("state_changed")
        self.progressed = Event("progressed")
        self.message = Event("message")
        self.error = Event("error")

    @property
    def state(self) -> TrainingState:
        return self._state

    @property
    def active(self) -> bool:
        """A worker exists: someone should call poll()."""
        return self._process is not None

    # ----------------------------------------------------------------- intents

    def start(self, settings: TrainSettings) -> bool:
        """Run with these settings; resume a paused run. False (and an error event) when refused."""
        if self._state == TrainingState.PAUSED and self.active:
            self._process.send("run")
            return True
        job = self._prepare(settings)
        if job is None:
            return False
        self._launch(job)
        self._process.send("run")
        return True

    def toggle(self, settings: TrainSettings) -> None:
        if self._state in (TrainingState.RUNNING, TrainingState.STARTING):
            self.pause()
        else:
            self.start(settings)

    def step(self, settings: TrainSettings) -> bool:
        """Train one batch; starts a paused worker first when there is none."""
        if not self.active:
            job = self._prepare(settings)
            if job is None:
                return False
            self._launch(job, paused=True)
        self._process.send("step")
        return True

    def pause(self) -> None:
        if self._process is not None:
            self._process.send("pause")

    def stop(self) -> None:
        """Stop and join the worker; what it published last is applied first (if it still fits)."""
        if self._process is not None:
            process, self._process = self._process, None
            self._finish(process)
        self._set_state(TrainingState.IDLE)

    def reset(self, settings: TrainSettings, seed: int | None = None) -> bool:
        """Fresh random weights for the architecture in the editor; the metrics start over."""
        self.stop()
        try:
            architecture = parse(settings.architecture)
            self._replace_model(architecture, settings, seed if seed is not None else _random_seed())
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        self.message.emit("weights reset to random values")
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
        state = self._process.request_state()
        for event in self._process.take_pending():
            self._dispatch(event)
        return state

    def poll(self) -> None:
        process = self._process
        if process is None:
            return
        for event in process.poll_events():
            self._dispatch(event)
        snapshot = process.newest_snapshot()
        if snapshot is not None:
            self.viewer.apply_snapshot(snapshot)
        if self._process is process and not process.is_alive():
            self._process = None
            self._finish(process)
            self._set_state(TrainingState.IDLE)

    # ----------------------------------------------------------------- internals

    def _prepare(self, settings: TrainSettings) -> TrainingJob | None:
        """Check everything before anything changes; a new architecture gets a new model. None if refused."""
        viewer = self.viewer
        try:
            architecture = parse(settings.architecture)
            config = settings.config()
            if viewer.session.architecture is None:
                raise ValueError(
                    "this model was loaded from your code, so it can be inspected but not trained here: "
                    "press Reset weights to switch to the architecture in the editor"
                )
            if settings.dataset != viewer.dataset_source:
                viewer.change_dataset(settings.dataset)
            check_batch_size(architecture, settings.batch_size)
            if architecture != viewer.session.architecture:
                self._replace_model(architecture, settings, seed=0)
            else:
                self._check_classes(architecture, settings.dataset)
        except ValueError as exc:
            self.error.emit(str(exc))
            return None
        viewer.begin_run()
        return self._job(architecture, settings.dataset, config)

    def _replace_model(self, architecture: Architecture, settings: TrainSettings, seed: int) -> None:
        """A model of ``architecture`` with random weights and the data set's classes and normalization."""
        samples = self._check_classes(architecture, settings.dataset)
        session = ModelSession.from_architecture(architecture, samples.classes, samples.normalization, seed)
        self.viewer.replace_session(session, architecture_text=settings.architecture)

    def _check_classes(self, architecture: Architecture, dataset: str):
        samples = load_dataset(dataset, "test", architecture.input_shape)
        if len(samples.classes) != architecture.num_classes:
            raise ValueError(
                f"the data set has {len(samples.classes)} classes but the architecture's last layer has "
                f"{architecture.num_classes} outputs: change the last FC to FC({len(samples.classes)})"
            )
        return samples

    def _job(self, architecture: Architecture, dataset: str, config: TrainConfig) -> TrainingJob:
        viewer = self.viewer
        history = viewer.history
        return TrainingJob(
            architecture=architecture.to_text(),
            dataset=dataset,
            config=config,
            weights=viewer.session.weights(),
            history=history.to_dict(),
            start_step=history.steps[-1] if history.steps else viewer.session.step,
            session=viewer.session.id,
        )

    def _launch(self, job: TrainingJob, paused: bool = False) -> None:
        self.stop()
        self._process = self._make_process(job)
        self._process.start()
        self._set_state(TrainingState.PAUSED if paused else TrainingState.STARTING)

    def _finish(self, process: TrainingProcess) -> None:
        events, snapshot = process.stop()
        for event in events:
            self._dispatch(event)
        if snapshot is not None:
            self.viewer.apply_snapshot(snapshot)

    def _dispatch(self, event) -> None:
        if isinstance(event, Progress):
            if self.viewer.record_progress(event):
                self.progressed.emit(event)
                self._set_state(event.state)
        elif isinstance(event, EpochEnd):
            try:
                self.viewer.epoch_ended(event.snapshot)
            except ValueError as exc:
                self.error.emit(f"could not measure test accuracy: {exc}")
        elif isinstance(event, Failure):
            self.error.emit(event.message)

    def _set_state(self, state: TrainingState) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)


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
