"""Showing a run folder, and following it while a program (this app's search, a script, torchrun) still
writes it: the views take the newest snapshot as it appears, the curves grow with metrics.jsonl, the
look-back slider covers every snapshot.

A ``RunFollower`` is polled every POLL_MS on the GUI thread (a few ``stat`` calls; a snapshot is read
only when a newer one is complete). A folder that is missing, empty, from another program, or whose
snapshot does not fit gets one message and the window keeps what it showed; polling goes on, so the
run is picked up once it is there.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from core.run_catalog import display_path, writer_gone
from core.run_follower import FollowUpdate, RunFollower
from core.run_status import RunStatus
from core.runs import Run
from core.train_settings import TrainSettings
from core.viewer_state import ViewerState
from gui.panels.training_curves import TrainingCurves
from gui.training_coordinator import TrainingCoordinator

POLL_MS = 250
_VERDICTS = (RunStatus.DIVERGED, RunStatus.FAILED_TO_LEARN)


class FollowBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(
        self,
        state: ViewerState,
        coordinator: TrainingCoordinator,
        curves: TrainingCurves,
        show_settings: Callable[[TrainSettings], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.coordinator = coordinator
        self.curves = curves
        self._show_settings = show_settings
        self._follower: RunFollower | None = None
        self._shown = False  # the followed run is what the views show
        self._replacing = False
        self._last_error: str | None = None
        self._status: RunStatus | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        state.session_replaced.connect(self._on_session_replaced)
        coordinator.run_started.connect(lambda _folder: self.stop())

    @property
    def folder(self) -> Path | None:
        """The run folder followed now, if any."""
        return self._follower.folder if self._follower is not None else None

    def follow(self, folder: str | Path) -> bool:
        """Show the run in ``folder`` and follow it. True when it is on show; otherwise a message said why
        and the folder is polled until it can be shown."""
        self.coordinator.stop()  # the views show one model: training here ends
        self.stop()
        self._follower = RunFollower(folder)
        self.poll()
        if self._follower is not None:
            self._timer.start()
        return self._shown

    def stop(self) -> None:
        """Stop following; what is on show stays."""
        self._timer.stop()
        self._follower = None
        self._shown = False
        self._last_error = None
        self._status = None

    def close(self) -> None:
        self.stop()

    def poll(self) -> None:
        if self._follower is None:
            return
        update = self._follower.poll()
        self._report(update.error)
        if update.run is None:
            return
        if not self._shown:
            if update.error is None and (update.opened or update.weights is not None):  # else: wait for a new snapshot
                self._show(update.run)
        else:
            self.state.run_grew(update.new_metrics, update.steps, update.weights_step, update.weights)
        if self._shown:
            self._say_status(update)

    def _show(self, run: Run) -> None:
        self._replacing = True
        try:
            self.state.show_run(run)
        except ValueError as exc:
            self._report(str(exc))
            return
        finally:
            self._replacing = False
        self._shown = True
        if run.dataset and run.dataset != self.state.dataset_source:
            try:  # the run's own data, for samples and the confusion matrix, when it is here
                self.state.change_dataset(run.dataset)
            except ValueError:
                pass
        if run.spec is not None:
            try:
                self._show_settings(TrainSettings.from_dict({**run.settings, "architecture": run.spec.to_text()}))
            except ValueError:
                pass  # settings from another program: the training panel keeps its own
        self.message.emit(f"showing the run in {display_path(run.folder)} at step {self.state.session.step:,}")

    def _report(self, error: str | None) -> None:
        if error is not None and error != self._last_error:
            self.error.emit(error)
        self._last_error = error

    def _say_status(self, update: FollowUpdate) -> None:
        status, message = update.status, update.message
        if status is RunStatus.RUNNING and writer_gone(update.run.info.get("writer")):
            status, message = RunStatus.STOPPED, "the program writing it ended without closing it"
        if status == self._status:
            return
        self._status = status
        name = display_path(self._follower.folder)
        if status in _VERDICTS:
            self.curves.set_status(message, error=True)
            self.error.emit(message)
        elif status is RunStatus.RUNNING:
            self.curves.set_status(f"following {name}: it is still being written")
        else:
            self.curves.set_status(f"{name}: {status.value}" + (f": {message}" if message else ""))
        if status is not RunStatus.RUNNING:
            self._timer.stop()  # a closed run (or one whose writer is gone) does not change any more

    def _on_session_replaced(self) -> None:
        if self._replacing:
            return
        if self._follower is not None:
            self.stop()  # another model is on show (a checkpoint, a reset): stop following
        self.curves.set_status("")  # what it said (following, recording, a verdict) was about the model that went
