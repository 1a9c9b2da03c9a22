import time

import numpy as np
import pytest

from core.architecture import PRESETS
from core.trainer import TrainConfig
from core.training_process import EpochEnd, Failure, FullState, Progress, TrainingJob, TrainingProcess, TrainingState


def _collect(process: TrainingProcess, until, timeout=60.0):
    events, snapshots = [], []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += process.poll_events()
        snapshot = process.newest_snapshot()
        if snapshot is not None:
            snapshots.append(snapshot)
        if until(events):
            break
        time.sleep(0.02)
    return events, snapshots


@pytest.mark.slow
def test_worker_runs_pauses_steps_and_stops():
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=3, lr=0.05))
    process = TrainingProcess(job)
    process.start()
    try:
        process.send("step")
        events, snapshots = _collect(process, lambda ev: any(isinstance(e, Progress) and e.step == 1 for e in ev))
        assert any(isinstance(e, Progress) and e.step == 1 and e.state == TrainingState.PAUSED for e in events)
        process.send("run")
        events, snapshots = _collect(process, lambda ev: any(isinstance(e, Progress) and e.state == TrainingState.FINISHED for e in ev))
        final = [e for e in events if isinstance(e, Progress)][-1]
        assert final.state == TrainingState.FINISHED and final.step == final.total_steps == 120
        epoch_ends = [e for e in events if isinstance(e, EpochEnd)]
        assert [e.snapshot.step for e in epoch_ends] == [40, 80, 120]
        assert epoch_ends[-1].snapshot.weights["fc1.weight"].shape == (2, 64)
        assert snapshots and snapshots[-1].weights["conv1.weight"].shape == (4, 1, 3, 3)
        state = process.request_state()
        assert isinstance(state, FullState) and state.snapshot.step == 120
        assert state.optimizer_state["state"], "the optimizer's momentum buffers travel with the weights"
    finally:
        process.stop()
    assert not process.is_alive()


@pytest.mark.slow
def test_diverging_learning_rate_reports_failure_with_restored_weights():
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=50, lr=10.0))
    process = TrainingProcess(job)
    process.start()
    try:
        process.send("run")
        events, _ = _collect(process, lambda ev: any(isinstance(e, Failure) for e in ev))
        failure = next(e for e in events if isinstance(e, Failure))
        assert failure.kind == "diverged" and "learning rate 10" in failure.message
        state = process.request_state()
        assert all(np.isfinite(w).all() for w in state.snapshot.weights.values())
    finally:
        process.stop()


def test_bad_data_source_is_reported_not_raised(tmp_path):
    job = TrainingJob(PRESETS["lenet"], str(tmp_path / "nowhere"), TrainConfig())
    process = TrainingProcess(job)
    process.start()
    try:
        events, _ = _collect(process, lambda ev: any(isinstance(e, Failure) for e in ev))
        failure = next(e for e in events if isinstance(e, Failure))
        assert failure.kind == "data" and "nowhere" in failure.message
    finally:
        process.stop()


ORPHAN_PARENT = """
import sys, time
from core.architecture import PRESETS
from core.trainer import TrainConfig
from core.training_process import TrainingJob, TrainingProcess

if __name__ == "__main__":
    # One long epoch (4,000 batches of one digit): the worker must not wait for its end to notice.
    process = TrainingProcess(TrainingJob(PRESETS["lenet"], "mnist", TrainConfig(batch_size=1, epochs=1)))
    process.start()
    process.send("run")
    print(process._process.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_worker_ends_itself_when_the_app_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_PARENT)
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, str(script)], cwd=root, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(root)})
    worker_pid = int(parent.stdout.readline())
    time.sleep(4)  # past the worker's start-up: it is in the middle of its epoch
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    killed = time.monotonic()
    while time.monotonic() < killed + 20 and _alive(worker_pid):
        time.sleep(0.05)
    assert not _alive(worker_pid), "the worker outlived the killed app"
    assert time.monotonic() - killed < 3.0, "the worker waited for its epoch to end"


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has ended; only init must still reap it
    except FileNotFoundError:
        return False

