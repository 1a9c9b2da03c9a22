"""Following a run folder another program writes: the views take each new snapshot, the curves grow, the
slider covers every snapshot, a half-written line is never read, bad folders get one message and the
window keeps what it showed; torchrun's two ranks and a SIGKILLed script, followed for real."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model
from core.runs import RunWriter, open_run

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
XO = PRESETS["xo"]
FOLLOW_MS = 2_000  # polled every 250 ms: a new snapshot shows well within this


def _state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(XO).state_dict()


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def as_numpy(state: dict) -> dict:
    return {k: v.numpy() for k, v in state.items()}


def test_a_folder_being_written_is_followed_snapshot_by_snapshot(window, qtbot, tmp_path):
    folder = tmp_path / "run"
    writer = RunWriter(folder, XO, settings={"lr": 0.5}, classes=("x", "o"))
    assert window.runs.follow(folder)  # a run without a snapshot yet: its model as built
    state = window.state
    assert state.run_folder == folder and state.session.classes == ("x", "o") and state.timeline_steps == []
    assert "still being written" in window.curves.status()
    for step in range(1, 6):
        writer.log(step, loss=1.0 / step, accuracy=0.5)
    writer.snapshot(5, _state(5))
    qtbot.waitUntil(lambda: state.session.step == 5, timeout=FOLLOW_MS)
    assert weights_equal(state.session.weights(), as_numpy(_state(5))) and state.history.steps == [1, 2, 3, 4, 5]
    with open(folder / "metrics.jsonl", "ab") as metrics:  # a line caught half-written is not read
        metrics.write(b'{"step": 6, "loss": 0.1')
        metrics.flush()
        qtbot.wait(600)
        assert state.history.steps[-1] == 5
        metrics.write(b', "accuracy": 1.0}\n')
    qtbot.waitUntil(lambda: state.history.steps[-1] == 6, timeout=FOLLOW_MS)
    writer.snapshot(10, _state(10))
    qtbot.waitUntil(lambda: state.session.step == 10, timeout=FOLLOW_MS)
    assert state.timeline_steps == [5, 10] and window.curves.timeline_position() == -1
    window.curves.set_timeline_position(0)  # the slider covers every snapshot
    assert weights_equal(state.session.weights(), as_numpy(_state(5)))
    writer.close("diverged", "training diverged: the loss went from 0.7 to 5e+22 in 3 steps")
    qtbot.waitUntil(lambda: "5e+22" in window.curves.status(), timeout=FOLLOW_MS)
    assert "5e+22" in window.error_text()


@pytest.mark.parametrize("case, words", [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("foreign", "not a Convscope run folder"),
    ("other program", "written by another program"),
    ("not fitting", "does not fit the run's architecture"),
])
def test_a_folder_that_cannot_be_shown_gets_a_message_and_the_window_keeps_what_it_showed(window, tmp_path, case, words):
    folder = tmp_path / "run"
    if case != "missing":
        folder.mkdir()
    if case == "foreign":
        (folder / "notes.txt").write_text("hello")
    if case == "other program":
        (folder / "run.json").write_text(json.dumps({"format": "wandb", "steps": 3}))
    if case == "not fitting":
        RunWriter(folder, XO).snapshot(3, {**_state(3), "fc1.weight": torch.zeros(3, 64)})
    session, weights = window.state.session, window.state.session.weights()
    assert not window.runs.follow(folder)
    assert words in window.error_text() and str(folder.name) in window.error_text()
    assert window.state.session is session and weights_equal(window.state.session.weights(), weights)
    assert window.current_probabilities() is not None


@pytest.mark.slow
def test_main_follow_with_screenshot_renders_the_runs_newest_snapshot(tmp_path):
    writer = RunWriter(tmp_path / "run", XO, classes=("x", "o"))
    writer.log(1, loss=0.7, accuracy=0.5)
    writer.snapshot(1, _state(1))
    writer.close()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": str(tmp_path / "home")}
    shot = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, "main.py", "--follow", str(tmp_path / "run"), "--screenshot", str(shot)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 10_000
    missing = subprocess.run([sys.executable, "main.py", "--follow", str(tmp_path / "nowhere"), "--screenshot",
                              str(tmp_path / "no.png")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "no.png").exists()


def _start(*command: str) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """Kill what this test started (the launcher and its ranks share a new session) if still running."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


@pytest.mark.slow
def test_a_script_killed_with_sigkill_leaves_a_folder_the_window_opens(window, qtbot, tmp_path):
    folder = tmp_path / "run"
    proc = _start(sys.executable, "examples/train_script.py", "--out", str(folder), "--epochs", "5",
                  "--snapshot-every", "3", "--pace", "40")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((folder / "snapshots").glob("step-*"))) < 3:
            time.sleep(0.05)
    finally:
        _stop(proc)
    assert proc.returncode == -signal.SIGKILL
    run = open_run(folder)
    assert window.runs.follow(folder)
    assert window.state.session.step == run.newest_step and window.state.timeline_steps == run.steps()
    assert weights_equal(window.state.session.weights(), as_numpy(run.load()))
    assert "ended without closing" in window.curves.status() and window.error_text() == ""
    assert len(window.state.history.steps) >= run.newest_step


@pytest.mark.slow
def test_a_window_follows_torchrun_with_two_ranks_to_rank_zeros_final_weights(window, qtbot, tmp_path):
    folder, final = tmp_path / "run", tmp_path / "final.pt"
    window.runs.follow(folder)  # not there yet: said once, picked up when torchrun writes it
    assert "does not exist" in window.error_text()
    seen: list[int] = []
    window.state.weights_changed.connect(lambda: seen.append(window.state.session.step))
    proc = _start(str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "examples/ddp_mnist.py", "--out", str(folder),
                  "--epochs", "1", "--max-steps", "36", "--snapshot-every", "4", "--pace", "12",
                  "--final-state", str(final))
    try:
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=240_000)
        output = proc.stdout.read()
    finally:
        _stop(proc)
    assert proc.returncode == 0, output
    qtbot.waitUntil(lambda: window.state.session.step == 36, timeout=FOLLOW_MS)
    steps = [s for s in seen if s > 0]
    assert len(set(steps)) >= 3 and steps == sorted(steps)  # the step count grew while it ran
    assert window.state.timeline_steps == open_run(folder).steps() and len(window.state.history.steps) == 36
    rank0 = torch.load(final, weights_only=True)
    assert weights_equal(window.state.session.weights(), as_numpy(rank0))
    qtbot.waitUntil(lambda: window.curves.status().endswith("finished"), timeout=FOLLOW_MS)


def test_file_follow_run_folder_asks_for_a_folder_and_follows_it(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QFileDialog

    writer = RunWriter(tmp_path / "run", XO)
    writer.snapshot(2, _state(2))
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *args, **kwargs: asked.append(args) or str(tmp_path / "run")))
    action = next(a for a in window.findChildren(QAction) if a.text() == "&Follow run folder…")
    action.trigger()
    assert asked and window.state.run_folder == tmp_path / "run" and window.state.session.step == 2
