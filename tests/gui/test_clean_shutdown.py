"""Nothing is left behind: many start/stop cycles of the training coordinator, and closing the app mid-run."""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import core.training_process
from core.architecture import PRESETS, parse
from core.data import load_dataset
from core.model_session import ModelSession
from core.train_settings import TrainSettings
from core.trainer import TrainConfig
from core.training_process import TrainingJob, TrainingProcess, TrainingState
from core.viewer_state import ViewerState
from gui.training_coordinator import TrainingCoordinator
from tests.gui.app_process import app_process, interrupt

REPO = Path(__file__).resolve().parents[2]
CYCLES = 100
JOB = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=50, lr=0.05))
XO = TrainSettings("xo", PRESETS["xo"], "sgd", 0.05, 50, 50)


def xo_coordinator() -> TrainingCoordinator:
    normalization = load_dataset("xo", "test", (1, 9, 9)).normalization
    session = ModelSession.from_architecture(parse(PRESETS["xo"]), ("X", "O"), normalization)
    return TrainingCoordinator(ViewerState(session, dataset="xo"))


def polled_until(coordinator: TrainingCoordinator, state: TrainingState) -> bool:
    coordinator.poll()
    return coordinator.state == state


def open_file_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def forkserver_workers(monkeypatch):
    """Start workers from a fork server that has already imported torch.

    A spawned worker spends ~2-3 s importing torch (and torch._dynamo, which the first optimizer
    pulls in) before it reads its first command, so 100 real cycles would take minutes; forking from
    a warm server runs the very same TrainingProcess and coordinator code, only the imports are skipped.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["core.training_process", "torch._dynamo"])
    monkeypatch.setattr(core.training_process, "_CONTEXT", context)
    yield
    multiprocessing.forkserver._forkserver._stop()  # the server would otherwise outlive the test


def settled(coordinator) -> bool:
    coordinator.poll()
    return not coordinator.settling


@pytest.mark.slow
def test_a_hundred_start_stop_cycles_leave_no_process_thread_timer_or_pipe(qtbot, forkserver_workers):
    coordinator = xo_coordinator()
    states: list[str] = []
    coordinator.state_changed.connect(lambda state: states.append(state.value))
    coordinator.start(XO)  # warm up: the fork server starts and opens its own pipes
    qtbot.waitUntil(lambda: polled_until(coordinator, TrainingState.RUNNING), timeout=60_000)
    coordinator.stop()
    threads, descriptors = threading.active_count(), open_file_descriptors()
    started = time.perf_counter()
    for cycle in range(CYCLES):
        coordinator.start(XO)
        if cycle % 10 == 9:  # now and then stop a worker that is really training, not just starting
            qtbot.waitUntil(lambda: polled_until(coordinator, TrainingState.RUNNING), timeout=20_000)
        coordinator.stop()
        assert coordinator.state == TrainingState.IDLE and not coordinator.active
        qtbot.waitUntil(lambda: settled(coordinator), timeout=10_000)  # a stopped worker ends on its own
        assert not multiprocessing.active_children()
    elapsed = time.perf_counter() - started
    assert states.count("idle") == CYCLES + 1 and states.count("running") >= CYCLES // 10
    qtbot.waitUntil(lambda: threading.active_count() <= threads, timeout=5_000)
    assert open_file_descriptors() <= descriptors
    print(f"{CYCLES} start/stop cycles (fork server) took {elapsed:.1f} s")


@pytest.mark.slow
def test_real_spawned_workers_stopped_right_after_start_leave_nothing(qtbot):
    coordinator = xo_coordinator()
    coordinator.start(XO)  # the fork server starts once and keeps its two descriptors for the app's life
    coordinator.stop()
    qtbot.waitUntil(lambda: settled(coordinator), timeout=10_000)
    threads, descriptors = threading.active_count(), open_file_descriptors()
    for _ in range(2):
        coordinator.start(XO)
        coordinator.stop()  # a worker still starting is discarded: killed and reaped off the GUI thread
        assert coordinator.state == TrainingState.IDLE and not coordinator.active
        qtbot.waitUntil(lambda: settled(coordinator), timeout=10_000)
        assert not multiprocessing.active_children()
    qtbot.waitUntil(lambda: threading.active_count() <= threads, timeout=5_000)
    assert open_file_descriptors() <= descriptors


@pytest.mark.slow
def test_a_training_worker_is_gone_promptly_after_stop(qtbot):
    process = TrainingProcess(JOB)
    process.start()
    process.send("run")
    progress: list = []
    qtbot.waitUntil(lambda: progress.extend(process.poll_events()) or any(e.step >= 3 for e in progress), timeout=60_000)
    started = time.monotonic()
    process.stop()
    assert not process.is_alive()
    assert time.monotonic() - started < 0.5


CLOSE_WHILE_TRAINING = r"""
import os, sys, time
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
import torch

app = QApplication(sys.argv)
QMessageBox.question = staticmethod(lambda *args, **kwargs: QMessageBox.StandardButton.Discard)
from gui.main_window import MainWindow

window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
window.show()
first = window.state.session.step
window.start_training()


def close_after_a_few_steps():
    if window.state.session.step >= first + 3:
        poll.stop()
        print(f"steps {window.state.session.step - first}", flush=True)
        print(f"closing {time.monotonic()}", flush=True)
        window.close()


poll = QTimer()
poll.timeout.connect(close_after_a_few_steps)
poll.start(20)
QTimer.singleShot(90_000, lambda: (print("no training steps within 90 s", flush=True), os._exit(3)))
sys.exit(app.exec())
"""


def close_while_training(folder: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run the app in a child, close it mid-run; give its output and the seconds from close() to exit."""
    folder.mkdir()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(REPO),
        "HOME": str(folder),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_DATA_HOME": str(folder / "data"),
    }
    argv = [sys.executable, "-c", CLOSE_WHILE_TRAINING, str(folder / "settings.ini")]
    process = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=120)
    exited = time.monotonic()
    result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    closing = [line for line in stdout.splitlines() if line.startswith("closing ")]
    assert closing, f"the app never closed: {stdout} {stderr}"
    return result, exited - float(closing[0].split()[1])


def assert_clean_exit(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split("steps ")[1].split()[0]) >= 3  # it really was training when closed
    assert "QThread: Destroyed" not in result.stderr and "Segmentation" not in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow
def test_closing_the_window_while_training_exits_cleanly_within_two_seconds(tmp_path):
    """One retry absorbs a busy CI core; a shutdown that is slow by design (e.g. waiting out the
    worker's kill timeout) is slow both times and still fails."""
    result, seconds = close_while_training(tmp_path / "first")
    assert_clean_exit(result)
    if seconds >= 2.0:
        result, retried = close_while_training(tmp_path / "retry")
        assert_clean_exit(result)
        seconds = min(seconds, retried)
    assert seconds < 2.0


INTERRUPT_WHILE_TRAINING = r"""
import os, sys, time
from PySide6.QtCore import QTimer
import torch
import gui.app
from gui.main_window import MainWindow

created = []
original_init = MainWindow.__init__


def remember(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    created.append(self)


def report_training():
    window = created[0]
    if window.state.history.steps and window.coordinator.state.value == "running":
        poll.stop()
        print(f"training {os.getpid()}", flush=True)


MainWindow.__init__ = remember
poll = QTimer()
poll.timeout.connect(report_training)
QTimer.singleShot(0, lambda: (created[0].start_training(), poll.start(50)))
QTimer.singleShot(90_000, lambda: os._exit(3))
if __name__ == "__main__":
    sys.exit(gui.app.run_app())
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c in the terminal", "sigterm"])
def test_ctrl_c_or_sigterm_stops_training_autosaves_and_exits_cleanly(tmp_path, how):
    from core.session_store import SessionStore

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO), "CONVSCOPE_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    script = tmp_path / "app.py"
    script.write_text(INTERRUPT_WHILE_TRAINING)
    with app_process(script, REPO, env) as process:
        line = process.stdout.readline()
        assert line.startswith("training"), line + process.stderr.read()
        workers = [p for p in _children(process.pid)]
        code, stderr = interrupt(process, how, timeout=20)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.05)
    assert workers and not any(_alive(pid) for pid in workers), "the training process outlived the app"
    crashed = SessionStore.crashed_slots(tmp_path / "autosave")  # the trained session is offered next time
    assert len(crashed) == 1 and crashed[0].load().checkpoint.history.steps


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
