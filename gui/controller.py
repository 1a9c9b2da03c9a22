"""The one owner of training: starts and stops the worker process and turns its messages into signals.

The worker runs in its own process (see core.training_process); this object polls its queues on a
QTimer on the GUI thread, forwards every progress event, and forwards only the newest weight snapshot
per tick, so a slow repaint never builds a backlog.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from core.training_process import EpochEnd, Failure, FullState, Progress, TrainingJob, TrainingProcess


class TrainingController(QObject):
    progressed = Signal(object)  # Progress
    weightsUpdated = Signal(object)  # Snapshot
    epochEnded = Signal(object)  # EpochEnd
    failed = Signal(object)  # Failure
    stateChanged = Signal(str)  # "idle", "starting", "running", "paused", "finished"

    def __init__(self, poll_interval_ms: int = 40, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: TrainingProcess | None = None
        self._state = "idle"
        self._timer = QTimer(self)
        self._timer.setInterval(poll_interval_ms)
        self._timer.timeout.connect(self.poll)

    @property
    def state(self) -> str:
        return self._state

    @property
    def active(self) -> bool:
        return self._process is not None

    def start(self, job: TrainingJob) -> None:
        """Start a worker for ``job`` (stopping any previous one) and let it run."""
        self.stop()
        self._process = TrainingProcess(job)
        self._process.start()
        self._set_state("starting")
        self._process.send("run")
        self._timer.start()

    def prepare(self, job: TrainingJob) -> None:
        """Start a worker that waits paused, e.g. for single steps."""
        self.stop()
        self._process = TrainingProcess(job)
        self._process.start()
        self._set_state("paused")
        self._timer.start()

    def resume(self) -> None:
        self._send("run")

    def pause(self) -> None:
        self._send("pause")

    def step(self) -> None:
        self._send("step")

    def full_state(self) -> FullState | None:
        """The worker's weights, optimizer state and history (blocks for up to a batch)."""
        if self._process is None:
            return None
        state = self._process.request_state()
        for event in self._process.take_pending():
            self._dispatch(event)
        return state

    def stop(self) -> None:
        """Stop and join the worker; what it published last has already been delivered."""
        self._timer.stop()
        if self._process is not None:
            process, self._process = self._process, None
            self._finish(process)
        if self._state != "idle":
            self._set_state("idle")

    def poll(self) -> None:
        process = self._process
        if process is None:
            return
        for event in process.poll_events():
            self._dispatch(event)
        snapshot = process.newest_snapshot()
        if snapshot is not None:
            self.weightsUpdated.emit(snapshot)
        if self._process is process and not process.is_alive():
            self._timer.stop()
            self._process = None
            self._finish(process)
            self._set_state("idle")

    def _finish(self, process: TrainingProcess) -> None:
        """Deliver what the worker published before it ended, then let it go."""
        events, snapshot = process.stop()
        for event in events:
            self._dispatch(event)
        if snapshot is not None:
            self.weightsUpdated.emit(snapshot)

    def _send(self, *command) -> None:
        if self._process is not None:
            self._process.send(*command)

    def _dispatch(self, event) -> None:
        if isinstance(event, Progress):
            self.progressed.emit(event)
            self._set_state(event.state)
        elif isinstance(event, EpochEnd):
            self.epochEnded.emit(event)
        elif isinstance(event, Failure):
            self.failed.emit(event)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)
