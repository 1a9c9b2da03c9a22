"""The example training scripts write run folders that open while they are written, after a kill, and
under torchrun with two ranks (gloo on the CPU)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.run_follower import RunFollower
from core.run_status import RunStatus
from core.runs import open_run

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _start(*command: str) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """Kill what this test started (the launcher and its ranks share a new session) if still running."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


@pytest.mark.slow
def test_the_plain_training_script_writes_a_run_of_its_own_module(tmp_path):
    result = subprocess.run([sys.executable, "examples/train_script.py", "--out", str(tmp_path / "run"),
                             "--max-steps", "25", "--snapshot-every", "10"],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    run = open_run(tmp_path / "run")
    assert run.architecture == f"{ROOT / 'examples' / 'train_script.py'}:build_model" and not run.is_layer_pattern
    assert run.status is RunStatus.FINISHED and run.steps() == [10, 20, 25] and len(run.metrics) == 25
    assert run.classes == tuple(str(d) for d in range(10)) and run.settings["max_steps"] == 25
    model, step = run.load_model()
    assert step == 25 and sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.slow
def test_a_training_script_killed_with_sigkill_leaves_a_folder_that_opens(tmp_path):
    folder = tmp_path / "run"
    proc = _start(sys.executable, "examples/train_script.py", "--out", str(folder), "--epochs", "5",
                  "--snapshot-every", "3", "--pace", "40")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((folder / "snapshots").glob("step-*"))) < 3:
            time.sleep(0.05)
    finally:
        _stop(proc)
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    run = open_run(folder)
    assert run.status is RunStatus.RUNNING and len(run.steps()) >= 3
    steps = [m["step"] for m in run.metrics]
    assert steps == list(range(1, len(steps) + 1)) and run.newest_step <= steps[-1] + 1
    model, step = run.load_model()  # the newest snapshot is whole and fits
    assert step == run.newest_step


@pytest.mark.slow
def test_torchrun_with_two_ranks_writes_one_run_that_grows_and_ends_with_rank_zeros_weights(tmp_path):
    folder, final = tmp_path / "run", tmp_path / "final.pt"
    proc = _start(str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "examples/ddp_mnist.py", "--out", str(folder),
                  "--epochs", "1", "--max-steps", "36", "--snapshot-every", "4", "--pace", "12",
                  "--final-state", str(final))
    follower, seen_steps, seen_metrics = RunFollower(folder), [], []
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            update = follower.poll()
            if update.weights_step is not None:
                seen_steps.append(update.weights_step)
            if update.run is not None:
                seen_metrics.append(len(update.run.metrics))
            time.sleep(0.1)
        output = proc.stdout.read() if proc.poll() is not None else ""
    finally:
        _stop(proc)
    assert proc.returncode == 0, output
    assert "2 ranks on cpu" in output or "2 ranks on cuda" in output
    assert len(set(seen_steps)) >= 3 and seen_steps == sorted(seen_steps)  # followed while it grew
    assert len(set(seen_metrics)) >= 3 and seen_metrics == sorted(seen_metrics)
    run = open_run(folder)
    assert run.status is RunStatus.FINISHED and run.settings["world_size"] == 2
    assert [m["step"] for m in run.metrics] == list(range(1, 37))  # rank 0 alone wrote: one line a step
    assert run.newest_step == 36
    last = run.load()
    rank0 = torch.load(final, weights_only=True)
    assert last.keys() == rank0.keys() and not any(k.startswith("module.") for k in last)
    assert all(torch.equal(last[k], rank0[k]) for k in rank0)
