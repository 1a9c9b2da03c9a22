import os
import sys
import time

import numpy as np
import pytest

from core.architecture import PRESETS
from core.run_status import RunStatus
from core.runs import open_run
from core.trainer import TrainConfig
from core.priority import BACKGROUND_NICENESS
from core.training_process import (
    EpochEnd, Failure, FullState, Progress, RunEnded, TrainingJob, TrainingProcess, TrainingState,
)


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
        if sys.platform == "linux":  # the worker yields the CPU to the window from its start, torch's import included
            assert process.wait_started(10)
            assert os.getpriority(os.PRIO_PROCESS, process.pid) >= BACKGROUND_NICENESS
            assert os.getpriority(os.PRIO_PROCESS, 0) < BACKGROUND_NICENESS  # the caller keeps its own
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
def test_a_finished_run_s_last_weights_reach_a_parent_that_read_no_snapshot_meanwhile():
    """The snapshot queue holds two; a parent busy elsewhere must still get the final weights, not the
    first two snapshots of the run."""
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=3, lr=0.05), snapshot_interval=0.01)
    process = TrainingProcess(job)
    process.start()
    try:
        process.send("run")
        events = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                isinstance(e, Progress) and e.state == TrainingState.FINISHED for e in events):
            events += process.poll_events()  # events only: the snapshots pile up unread
            time.sleep(0.02)
        published = [e.step for e in events if isinstance(e, Progress)]
        assert len(published) > 3, "the run published more snapshots than the queue holds"
        time.sleep(0.2)  # the worker's feeder thread hands the last one over
        newest = process.newest_snapshot()
        assert newest is not None and newest.step == 120
    finally:
        process.stop()


@pytest.mark.slow
def test_diverging_learning_rate_ends_the_run_with_the_restored_weights(tmp_path):
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=50, lr=10.0), run_folder=str(tmp_path / "run"))
    process = TrainingProcess(job)
    process.start()
    try:
        process.send("run")
        events, _ = _collect(process, lambda ev: any(isinstance(e, RunEnded) for e in ev))
        ended = next(e for e in events if isinstance(e, RunEnded))
        assert ended.status is RunStatus.DIVERGED and "learning rate 10" in ended.message
        assert all(np.isfinite(w).all() for w in ended.snapshot.weights.values())
        deadline = time.monotonic() + 10
        while process.is_alive() and time.monotonic() < deadline:  # the run is over: the worker ends itself
            process.poll_events()
            process.newest_snapshot()
            time.sleep(0.02)
        assert not process.is_alive()
    finally:
        process.stop()
    run = open_run(tmp_path / "run")
    assert run.status is RunStatus.DIVERGED and run.message == ended.message
    assert run.newest_step == ended.snapshot.step
    restored = run.load()
    assert all(np.array_equal(restored[k].numpy(), v) for k, v in ended.snapshot.weights.items())


def test_a_run_folder_gets_every_step_the_parents_test_accuracy_and_the_verdict(tmp_path):
    settings = {"lr": 0.05, "note": "from the test"}
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=2, lr=0.05), run_folder=str(tmp_path / "run"),
                      run_settings=settings)
    process = TrainingProcess(job)
    process.start()
    measured = {}
    try:
        process.send("run")
        deadline, ended = time.monotonic() + 60, None
        while ended is None and time.monotonic() < deadline:
            for event in process.poll_events():
                if isinstance(event, EpochEnd):  # the window measures test accuracy, the worker records it
                    measured[event.snapshot.step] = 0.5 + event.snapshot.step / 1000
                    process.send("test_accuracy", event.snapshot.step, measured[event.snapshot.step])
                elif isinstance(event, RunEnded):
                    ended = event
            process.newest_snapshot()
            time.sleep(0.02)
        assert ended is not None and ended.folder == str(tmp_path / "run")
        assert ended.status in (RunStatus.FINISHED, RunStatus.FAILED_TO_LEARN) and process.is_alive()
    finally:
        process.stop()
    run = open_run(tmp_path / "run")
    assert run.status is ended.status and run.settings == {**settings, "device": "cpu"}
    assert [m["step"] for m in run.metrics if "loss" in m] == list(range(1, 81))
    assert {m["step"]: m["test_accuracy"] for m in run.metrics if "test_accuracy" in m} == measured == {40: 0.54, 80: 0.58}
    assert run.steps()[0] == 0 and run.steps()[-1] == 80 and 40 in run.steps()
    last = run.load()
    assert all(np.array_equal(last[k].numpy(), v) for k, v in ended.snapshot.weights.items())


def test_slow_motion_paces_the_steps_and_can_change_while_running(tmp_path):
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=100, lr=0.05), pace=20.0)
    process = TrainingProcess(job)
    process.start()
    try:
        process.send("run")
        events, _ = _collect(process, lambda ev: any(isinstance(e, Progress) and e.state == TrainingState.RUNNING for e in ev))
        first = max(e.step for e in events if isinstance(e, Progress))
        events, _ = _collect(process, lambda ev: False, timeout=1.0)
        paced = max([e.step for e in events if isinstance(e, Progress)] or [first]) - first
        assert 5 <= paced < 60, f"{paced} steps in a second at 20 steps/s"
        process.send("pace", 0)  # full speed
        events, _ = _collect(process, lambda ev: any(isinstance(e, Progress) and e.step > first + paced + 200 for e in ev),
                             timeout=30)
        assert max(e.step for e in events if isinstance(e, Progress)) > first + paced + 200
    finally:
        process.stop()


def test_stop_closes_the_run_as_stopped_by_the_user(tmp_path):
    job = TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=100, lr=0.05), run_folder=str(tmp_path / "run"))
    process = TrainingProcess(job)
    process.start()
    try:
        process.send("run")
        _collect(process, lambda ev: any(isinstance(e, Progress) and e.step >= 5 for e in ev))
    finally:
        events, _ = process.stop()
    ended = next(e for e in events if isinstance(e, RunEnded))
    run = open_run(tmp_path / "run")
    assert ended.status is run.status is RunStatus.STOPPED
    assert run.message == f"stopped by the user at step {ended.snapshot.step}" and run.newest_step == ended.snapshot.step


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
    process.wait_started()
    print(process.pid, flush=True)
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


def test_discarding_a_worker_never_waits_for_its_start_or_its_end(monkeypatch):
    """The window discards workers still starting; the spawn and the reaping happen on a thread."""
    import threading

    from core import training_process

    spawning = training_process._CONTEXT.Process
    release = threading.Event()

    def slow_process(*args, **kwargs):
        release.wait(10)  # the spawn is still under way when discard() is called
        return spawning(*args, **kwargs)

    monkeypatch.setattr(training_process._CONTEXT, "Process", slow_process)
    process = TrainingProcess(TrainingJob(PRESETS["xo"], "xo", TrainConfig(batch_size=50, epochs=1, lr=0.05)))
    process.start()
    reaper = process.discard()
    assert reaper is not None and reaper.is_alive(), "discard() returned while the spawn was still under way"
    release.set()
    reaper.join(30)
    assert not reaper.is_alive() and process.wait_started(0)
    assert not process.is_alive(), "the discarded worker was killed and reaped"
    assert process.discard() is None  # once is enough
