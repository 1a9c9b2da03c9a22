"""The training coordinator with no window and no QApplication: a scripted worker stands in for the
process (ndv's controller tests with mocked views are the model), so each rule is checked directly."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.architecture import PRESETS, parse
from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.model_session import ModelSession
from core.train_settings import TrainSettings
from core.trainer import HistoryDelta
from core.run_status import RunStatus
from core.runs import runs_home
from core.training_process import EpochEnd, Failure, Progress, RunEnded, TrainingJob, TrainingState
from core.viewer_state import ViewerState
from core.weights import WeightsSnapshot
from gui.training_coordinator import TrainingCoordinator, describe_progress

pytestmark = pytest.mark.no_qt
REPO = Path(__file__).resolve().parents[2]


class ScriptedWorker:
    """Stands in for TrainingProcess: records commands, hands out the events a test queues."""

    made: list["ScriptedWorker"] = []

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self.commands: list[str] = []
        self.sent: list[tuple] = []  # commands with their arguments
        self.events: list = []
        self.snapshot: WeightsSnapshot | None = None
        self.final_snapshot: WeightsSnapshot | None = None
        self.alive = False
        self.starting = False  # a scripted worker has always started
        self.start_error: BaseException | None = None
        ScriptedWorker.made.append(self)

    def start(self) -> None:
        self.alive = True

    def send(self, command: str, *args) -> None:
        self.commands.append(command)
        self.sent.append((command, *args))
        if command == "stop":
            self.alive = False

    def is_alive(self) -> bool:
        return self.alive

    def poll_events(self) -> list:
        events, self.events = self.events, []
        return events

    def newest_snapshot(self) -> WeightsSnapshot | None:
        snapshot, self.snapshot = self.snapshot, None
        return snapshot

    def take_pending(self) -> list:
        return []

    def stop(self, timeout: float = 2.0):
        self.alive = False
        return self.poll_events(), self.final_snapshot

    def discard(self):
        self.alive = False
        self.discarded = True
        return None

    def progress(self, state: TrainingState, steps: tuple[int, ...]) -> Progress:
        delta = HistoryDelta(steps, tuple(0.5 for _ in steps), tuple(0.9 for _ in steps))
        return Progress(state, len(steps), 300, 0, len(steps), 63, 900.0, 3.0, delta, session=self.job.session)


@pytest.fixture
def viewer() -> ViewerState:
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    state = ViewerState(ModelSession.from_checkpoint(checkpoint), checkpoint.history)
    state.show_sample(0)
    return state


@pytest.fixture
def coordinator(viewer) -> TrainingCoordinator:
    ScriptedWorker.made.clear()
    return TrainingCoordinator(viewer, process_factory=ScriptedWorker)


def poll_until(coordinator: TrainingCoordinator, condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        coordinator.poll()
        time.sleep(0.01)


def settings(architecture: str = PRESETS["lenet"], **changes) -> TrainSettings:
    return TrainSettings(architecture=architecture, **changes)


def scaled(weights, factor):
    return {k: v * factor for k, v in weights.items()}


def test_start_sends_the_models_weights_and_history_and_goes_live(coordinator, viewer):
    states = []
    coordinator.state_changed.connect(states.append)
    assert coordinator.start(settings(lr=0.02, epochs=2))
    worker = ScriptedWorker.made[-1]
    assert worker.commands == ["run"] and states == [TrainingState.STARTING]
    assert worker.job.session == viewer.session.id and worker.job.config.lr == 0.02
    assert worker.job.start_step == viewer.history.steps[-1]
    np.testing.assert_array_equal(worker.job.weights["conv1.weight"], viewer.session.weights()["conv1.weight"])
    assert viewer.timeline_steps == [viewer.session.step]


def test_polling_feeds_progress_snapshots_and_epoch_ends_to_the_viewer(coordinator, viewer):
    coordinator.start(settings())
    worker = ScriptedWorker.made[-1]
    last = viewer.history.steps[-1]
    worker.events = [worker.progress(TrainingState.RUNNING, (last + 1, last + 2))]
    worker.snapshot = WeightsSnapshot(last + 2, scaled(viewer.session.weights(), 0.9), worker.job.session)
    coordinator.poll()
    assert coordinator.state == TrainingState.RUNNING and viewer.session.step == last + 2
    assert viewer.history.steps[-1] == last + 2
    worker.events = [EpochEnd(WeightsSnapshot(last + 63, viewer.session.weights(), worker.job.session))]
    coordinator.poll()
    assert coordinator.settling  # the test pass runs off the caller's thread
    poll_until(coordinator, lambda: not coordinator.settling)
    assert viewer.history.test_steps[-1] == last + 63 and viewer.history.test_accuracy[-1] > 0.9
    worker.alive = False  # the worker ended by itself
    coordinator.poll()
    assert coordinator.state == TrainingState.IDLE and not coordinator.active


def test_a_late_snapshot_of_the_old_model_never_reaches_a_new_architecture(coordinator, viewer):
    """Reproduction 1: after a finished run, a new preset and Start raised 'size mismatch for fc1.weight'."""
    coordinator.start(settings(epochs=1))
    old = ScriptedWorker.made[-1]
    old.events = [old.progress(TrainingState.FINISHED, (1,))]
    coordinator.poll()
    assert coordinator.state == TrainingState.FINISHED
    old.final_snapshot = WeightsSnapshot(5000, scaled(viewer.session.weights(), 2.0), old.job.session)
    errors = []
    coordinator.error.connect(errors.append)
    assert coordinator.start(settings(PRESETS["tinyvgg"]))
    assert coordinator.building and viewer.session.architecture == parse(PRESETS["lenet"])  # built off this thread
    poll_until(coordinator, lambda: not coordinator.building)
    assert viewer.session.architecture == parse(PRESETS["tinyvgg"]) and errors == []
    assert viewer.session.step != 5000 and ScriptedWorker.made[-1].job.session == viewer.session.id != old.job.session


def test_a_class_count_mismatch_is_refused_before_the_trained_model_is_touched(coordinator, viewer):
    """Reproduction 5: Start threw the trained model away, then refused."""
    weights, session = viewer.session.weights(), viewer.session
    errors = []
    coordinator.error.connect(errors.append)
    text = "INPUT(1x28x28) -> [CONV(4,3) -> RELU]*2 -> FC(3)"
    assert not coordinator.start(settings(text))
    assert "10 classes" in errors[-1] and "FC(10)" in errors[-1]
    assert viewer.session is session and not coordinator.active and ScriptedWorker.made == []
    np.testing.assert_array_equal(viewer.session.weights()["fc3.bias"], weights["fc3.bias"])


def test_the_architecture_text_is_kept_as_typed(coordinator, viewer):
    """Reproduction 5: Start rewrote '[…]*2' with the repetition expanded."""
    typed = "INPUT(1x28x28) -> [CONV(6,3) -> RELU]*2 -> POOL(2) -> FC(10)"
    assert coordinator.start(settings(typed))
    poll_until(coordinator, lambda: not coordinator.building)
    assert viewer.architecture_text == typed
    assert ScriptedWorker.made[-1].job.architecture == parse(typed).to_text()


def test_bad_settings_and_models_from_code_are_refused_with_a_reason(coordinator, viewer):
    errors = []
    coordinator.error.connect(errors.append)
    assert not coordinator.start(settings("CONV(4,99) -> FC(10)"))
    assert "does not fit" in errors[-1]
    assert not coordinator.start(settings(lr=-1.0))
    assert "learning rate" in errors[-1]
    viewer.replace_session(ModelSession(viewer.session.model, (1, 28, 28), tuple("0123456789"), viewer.session.normalization))
    assert not coordinator.start(settings())
    assert "inspected but not trained" in errors[-1] and ScriptedWorker.made == []


def test_pause_resume_step_and_stop(coordinator, viewer):
    coordinator.step(settings())
    worker = ScriptedWorker.made[-1]
    assert coordinator.state == TrainingState.PAUSED and worker.commands == ["step"]
    coordinator.start(settings())  # Resume: the same worker
    coordinator.pause()
    assert worker.commands == ["step", "run", "pause"] and len(ScriptedWorker.made) == 1
    coordinator.stop()
    assert coordinator.state == TrainingState.IDLE and not worker.alive and not coordinator.active


def test_a_failure_is_reported_and_reset_starts_over(coordinator, viewer):
    coordinator.start(settings(lr=10.0))
    worker = ScriptedWorker.made[-1]
    errors, messages = [], []
    coordinator.error.connect(errors.append)
    coordinator.message.connect(messages.append)
    worker.events = [Failure("diverged", "training diverged at step 40: the loss became nan")]
    coordinator.poll()
    assert errors == ["training diverged at step 40: the loss became nan"]
    old = viewer.session
    assert coordinator.reset(settings(), seed=3)
    assert not worker.alive and viewer.session is old  # the new model is built off this thread
    poll_until(coordinator, lambda: not coordinator.building)
    assert viewer.session is not old and viewer.history.steps == []
    assert messages[-1] == "weights reset to random values"


def test_start_returns_at_once_and_a_worker_that_cannot_be_started_is_reported(viewer, monkeypatch):
    """The process is made off the caller's thread; when that fails (no process can be made), the
    window hears why on a later poll and is idle again."""
    from core import training_process

    def no_process(*_args, **_kwargs):
        time.sleep(0.2)  # the caller must not wait for this
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(training_process._CONTEXT, "Process", no_process)
    coordinator = TrainingCoordinator(viewer)
    errors = []
    coordinator.error.connect(errors.append)
    started = time.perf_counter()
    assert coordinator.start(settings())
    assert time.perf_counter() - started < 0.15 and coordinator.state == TrainingState.STARTING
    poll_until(coordinator, lambda: coordinator.state == TrainingState.IDLE, timeout_s=10)
    assert errors == ["training could not start: Resource temporarily unavailable"]
    coordinator.close()


def test_a_model_built_for_a_session_replaced_meanwhile_is_dropped_and_a_newer_request_wins(coordinator, viewer):
    shown = []
    viewer.session_replaced.connect(lambda: shown.append(viewer.session.architecture))
    coordinator.reset(settings(PRESETS["tinyvgg"]), seed=1)
    coordinator.reset(settings(), seed=2)  # the user changed their mind before the first was built
    poll_until(coordinator, lambda: not coordinator.building)
    assert shown == [parse(PRESETS["lenet"])] and not ScriptedWorker.made
    coordinator.reset(settings(PRESETS["tinyvgg"]), seed=1)
    opened = ModelSession.from_checkpoint(load_checkpoint(DEFAULT_CHECKPOINT))
    viewer.replace_session(opened)  # a checkpoint opened while the model was being built
    poll_until(coordinator, lambda: not coordinator.building)
    assert viewer.session is opened  # the user's latest choice stays on show


def test_changing_the_data_set_stops_a_run(coordinator, viewer):
    coordinator.start(settings())
    messages = []
    coordinator.message.connect(messages.append)
    assert coordinator.change_dataset("xo") and not coordinator.active
    assert messages == ["training stopped: the data set changed"] and viewer.dataset_source == "xo"


def test_progress_is_described_for_each_state():
    delta = HistoryDelta()
    running = Progress(TrainingState.RUNNING, 70, 315, 1, 7, 63, 21_000.0, 12.0, delta)
    assert describe_progress(running) == (70 / 315, "epoch 2/5 · batch 7/63 · 21,000 samples/s · 12 s left")
    paused = Progress(TrainingState.PAUSED, 70, 315, 1, 7, 63, 0.0, float("inf"), delta)
    assert describe_progress(paused)[1] == "paused at epoch 2/5 · batch 7/63"
    finished = Progress(TrainingState.FINISHED, 315, 315, 5, 0, 63, 0.0, float("inf"), delta)
    assert describe_progress(finished) == (1.0, "finished 5 epochs (315 batches)")


def test_each_run_gets_a_new_folder_with_its_settings_and_the_window_says_where(coordinator, viewer):
    messages, started = [], []
    coordinator.message.connect(messages.append)
    coordinator.run_started.connect(started.append)
    coordinator.start(settings(lr=0.03, pace=5.0))
    job = ScriptedWorker.made[-1].job
    folder = Path(job.run_folder)
    assert folder.parent == runs_home() and folder.is_dir() and folder.name.endswith("-lenet-mnist")
    assert started == [job.run_folder] and messages[-1].startswith("training run: ") and folder.name in messages[-1]
    assert job.run_settings["lr"] == 0.03 and job.run_settings["parent"] is None and job.pace == 5.0
    assert job.run_settings["start_step"] == job.start_step == viewer.session.step
    assert viewer.run_folder == folder
    coordinator.stop()
    coordinator.start(settings())  # a second run continues the first one's weights: it names it
    second = ScriptedWorker.made[-1].job
    assert second.run_folder != job.run_folder
    assert second.run_settings["parent"] == {"run": job.run_folder, "step": viewer.session.step}


def test_test_accuracy_measured_here_goes_back_to_the_worker_even_when_stopping(coordinator, viewer):
    coordinator.start(settings())
    worker = ScriptedWorker.made[-1]
    step = viewer.session.step + 63
    worker.events = [EpochEnd(WeightsSnapshot(step, viewer.session.weights(), worker.job.session))]
    coordinator.poll()
    poll_until(coordinator, lambda: not coordinator.settling)
    accuracy = viewer.history.test_accuracy[-1]
    assert worker.sent[-1] == ("test_accuracy", step, accuracy)
    worker.events = [EpochEnd(WeightsSnapshot(step + 63, viewer.session.weights(), worker.job.session))]
    coordinator.stop()  # returns at once: the worker is paused and ends once its epoch's accuracy is in
    assert coordinator.state == TrainingState.IDLE and not coordinator.active and worker.alive
    assert worker.sent[-1] == ("pause",) and coordinator.settling
    poll_until(coordinator, lambda: not coordinator.settling)
    assert worker.sent[-2:] == [("test_accuracy", step + 63, viewer.history.test_accuracy[-1]), ("stop",)]
    assert not worker.alive


class StubbornWorker(ScriptedWorker):
    """A worker that never ends when told to (hung in a batch, say)."""

    def send(self, command: str, *args) -> None:
        self.commands.append(command)
        self.sent.append((command, *args))


def test_a_stopped_worker_that_does_not_end_is_killed_after_its_grace_time_without_blocking_the_caller(
    viewer, monkeypatch
):
    monkeypatch.setattr("gui.training_coordinator.RETIRE_SECONDS", 0.2)
    ScriptedWorker.made.clear()
    coordinator = TrainingCoordinator(viewer, process_factory=StubbornWorker)
    coordinator.start(settings())
    worker = ScriptedWorker.made[-1]
    started = time.monotonic()
    coordinator.stop()
    assert time.monotonic() - started < 0.1 and worker.sent[-2:] == [("pause",), ("stop",)]
    coordinator.poll()
    assert worker.alive and coordinator.settling  # still within its grace time
    poll_until(coordinator, lambda: not coordinator.settling, timeout_s=5)
    assert not worker.alive and time.monotonic() - started >= 0.2
    assert getattr(worker, "discarded", False), "an overdue worker is killed and reaped off the caller's thread"


def test_stopping_a_worker_still_starting_discards_it_instead_of_waiting(viewer):
    ScriptedWorker.made.clear()
    coordinator = TrainingCoordinator(viewer, process_factory=ScriptedWorker)
    coordinator.start(settings())
    worker = ScriptedWorker.made[-1]
    worker.starting = True  # nothing heard from it yet: nothing to hand over
    coordinator.stop()
    assert getattr(worker, "discarded", False) and not coordinator.settling


def test_a_verdict_is_said_and_its_weights_win_over_older_snapshots(coordinator, viewer):
    coordinator.start(settings(lr=10.0))
    worker = ScriptedWorker.made[-1]
    errors, verdicts = [], []
    coordinator.error.connect(errors.append)
    coordinator.run_ended.connect(verdicts.append)
    good = WeightsSnapshot(40, scaled(viewer.session.weights(), 0.5), worker.job.session)
    bad = WeightsSnapshot(44, scaled(viewer.session.weights(), 1e6), worker.job.session)
    message = "training diverged: the loss went from 2.3 to 5e+22 in 4 steps: the learning rate 10 is too high"
    worker.events = [RunEnded(RunStatus.DIVERGED, message, worker.job.run_folder, good)]
    worker.snapshot = bad  # published before the divergence, read after its verdict
    coordinator.poll()
    assert errors == [message] and verdicts[0].status is RunStatus.DIVERGED
    assert viewer.session.step == 40 and np.array_equal(viewer.session.weights()["conv1.weight"], good.weights["conv1.weight"])
    worker.alive = False
    coordinator.poll()
    assert coordinator.state == TrainingState.IDLE and viewer.session.step == 40


def test_step_after_a_finished_run_starts_a_new_run(coordinator, viewer):
    coordinator.start(settings())
    first = ScriptedWorker.made[-1]
    first.events = [first.progress(TrainingState.FINISHED, (viewer.session.step + 1,))]
    coordinator.poll()
    assert coordinator.state == TrainingState.FINISHED
    coordinator.step(settings())
    second = ScriptedWorker.made[-1]
    assert second is not first and not first.alive and second.commands == ["step"]
    assert second.job.run_settings["parent"]["run"] == first.job.run_folder


def test_a_fork_starts_from_the_weights_looked_at_and_names_its_parent(coordinator, viewer):
    coordinator.start(settings())
    worker = ScriptedWorker.made[-1]
    start = viewer.session.step
    worker.events = [EpochEnd(WeightsSnapshot(start + 63, scaled(viewer.session.weights(), 0.5), worker.job.session))]
    coordinator.poll()
    worker.snapshot = WeightsSnapshot(start + 100, scaled(viewer.session.weights(), 0.25), worker.job.session)
    coordinator.poll()
    coordinator.stop()
    viewer.look_back(1)  # the end of the first epoch
    looked_at = viewer.session.weights()
    errors = []
    coordinator.error.connect(errors.append)
    assert not coordinator.fork(settings(PRESETS["tinyvgg"]))
    assert "keeps their architecture" in errors[-1] and len(ScriptedWorker.made) == 1
    assert coordinator.fork(settings(lr=0.001))
    fork = ScriptedWorker.made[-1].job
    assert fork.start_step == start + 63 and fork.config.lr == 0.001 and fork.run_folder.endswith("-fork")
    assert fork.run_settings["parent"] == {"run": worker.job.run_folder, "step": start + 63}
    assert all(np.array_equal(fork.weights[k], looked_at[k]) for k in looked_at)
    assert viewer.history.steps[-1] <= start + 63 and viewer.timeline_steps == [start, start + 63]  # its past stays


def test_slow_motion_changes_reach_the_run_under_way(coordinator):
    coordinator.set_pace(3.0)  # no worker: nothing to tell
    coordinator.start(settings())
    coordinator.set_pace(2.5)
    assert ScriptedWorker.made[-1].sent[-1] == ("pace", 2.5)


def test_the_coordinator_and_viewer_state_import_no_qt():
    code = (
        "import sys, gui.training_coordinator, core.viewer_state\n"
        "loaded = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken'))]\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
