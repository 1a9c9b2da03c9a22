import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.architecture import PRESETS, build_model
from core.preprocess import MNIST_NORMALIZATION
from core.runs import (
    RunError,
    RunStatus,
    RunWriter,
    checkpoint_from,
    new_run_folder,
    open_run,
    runs_home,
)

ROOT = Path(__file__).resolve().parents[2]
XO = PRESETS["xo"]


def _xo_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(XO).state_dict()


def test_what_the_writer_logs_and_snapshots_reads_back_the_same(tmp_path):
    folder = tmp_path / "run"
    writer = RunWriter(folder, XO, settings={"lr": 0.1, "dataset": "xo", "seed": 3}, classes=("X", "O"),
                       normalization=((0.0,), (1.0,)))
    states = {}
    for step in range(1, 31):
        writer.log(step, loss=1.0 / step, accuracy=torch.tensor(0.5), lr=np.float32(0.1), epoch=1)
        if step % 10 == 0:
            states[step] = _xo_state(step)
            writer.snapshot(step, states[step])
    writer.log(31, loss=float("nan"))
    writer.close("finished", "all good")

    run = open_run(folder)
    assert [m["step"] for m in run.metrics] == list(range(1, 32))
    assert run.metrics[0] == {"step": 1, "loss": 1.0, "accuracy": 0.5, "lr": pytest.approx(0.1), "epoch": 1}
    assert run.metrics[-1]["loss"] is None  # NaN is written as null: strict JSON
    assert run.steps() == [10, 20, 30] and run.newest_step == 30
    for step, state in states.items():
        loaded = run.load(step)
        assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert run.status is RunStatus.FINISHED and run.message == "all good"
    assert run.settings["lr"] == 0.1 and run.dataset == "xo" and run.seed == 3
    assert run.classes == ("X", "O") and run.normalization.mean == (0.0,) and run.input_shape == (1, 9, 9)
    assert run.is_layer_pattern and run.spec.num_classes == 2
    model, step = run.load_model()
    assert step == 30 and torch.equal(model.state_dict()["conv1.weight"], states[30]["conv1.weight"])
    assert run.started and json.loads((folder / "run.json").read_text())["ended"]


def test_a_run_folder_holds_three_kinds_of_files_and_no_temporaries(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    writer.log(1, loss=0.5)
    writer.snapshot(1, _xo_state())
    writer.close()
    names = sorted(str(p.relative_to(tmp_path / "run")) for p in (tmp_path / "run").rglob("*"))
    assert names == ["metrics.jsonl", "run.json", "snapshots", "snapshots/step-00000001.safetensors"]


def test_ddp_prefix_is_stripped_numpy_arrays_and_tied_weights_are_saved(tmp_path):
    state = _xo_state()
    wrapped = {f"module.{k}": v for k, v in state.items()}
    writer = RunWriter(tmp_path / "run", XO)
    writer.snapshot(5, wrapped)
    writer.snapshot(6, {k: v.numpy() for k, v in state.items()})
    shared = torch.ones(3)
    writer.snapshot(7, {"a": shared, "b": shared})  # tied: the same tensor twice
    writer.close()
    run = open_run(tmp_path / "run")
    assert run.load(5).keys() == state.keys()
    assert torch.equal(run.load(6)["conv1.weight"], state["conv1.weight"])
    assert torch.equal(run.load(7)["b"], shared)


def test_a_partly_written_last_line_is_ignored_until_it_is_complete(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    writer.log(1, loss=0.9)
    run = open_run(tmp_path / "run")
    with open(tmp_path / "run" / "metrics.jsonl", "ab") as file:
        file.write(b'{"step": 2, "lo')
    assert run.refresh().new_metrics == [] and len(run.metrics) == 1
    with open(tmp_path / "run" / "metrics.jsonl", "ab") as file:
        file.write(b'ss": 0.8}\n')
    writer.log(3, loss=0.7)
    writer.snapshot(3, _xo_state())
    changes = run.refresh()
    assert [m["step"] for m in changes.new_metrics] == [2, 3] and changes.new_steps == [3]
    assert [m["step"] for m in run.metrics] == [1, 2, 3]
    writer.close("stopped", "by hand")
    changes = run.refresh()
    assert changes.info_changed and not changes.new_metrics and run.status is RunStatus.STOPPED


def test_temporary_snapshot_files_and_junk_lines_are_not_read(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    writer.snapshot(1, _xo_state())
    (tmp_path / "run" / "snapshots" / ".step-00000002.safetensors.tmp").write_bytes(b"half a file")
    with open(tmp_path / "run" / "metrics.jsonl", "ab") as file:
        file.write(b"not json\n[1, 2]\n")
    writer.log(2, loss=0.5)
    run = open_run(tmp_path / "run")
    assert run.steps() == [1]
    assert [m["step"] for m in run.metrics] == [2] and run.skipped_lines == 2


@pytest.mark.slow
def test_a_killed_writer_leaves_a_run_that_opens_with_every_complete_step(tmp_path):
    """SIGKILL at several moments while the writer logs and snapshots as fast as it can."""
    script = textwrap.dedent(
        """
        import sys, torch
        sys.path.insert(0, sys.argv[2])
        from core.runs import RunWriter
        writer = RunWriter(sys.argv[1], "INPUT(1x9x9) -> CONV(4,3,p=1) -> RELU -> POOL(2) -> FC(2)")
        step = 0
        while True:
            step += 1
            writer.log(step, loss=1.0 / step, note="x" * 300)
            writer.snapshot(step, {"w": torch.full((64, 64), float(step)), "b": torch.arange(step % 50)})
        """
    )
    for delay in (0.05, 0.2, 0.45):
        folder = tmp_path / f"run-{delay}"
        proc = subprocess.Popen([sys.executable, "-c", script, str(folder), str(ROOT)])
        try:
            deadline = time.monotonic() + 60
            while not list((folder / "snapshots").glob("step-*")) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        run = open_run(folder)
        assert run.status is RunStatus.RUNNING  # it never closed
        steps = [m["step"] for m in run.metrics]
        assert steps == list(range(1, len(steps) + 1)) and steps
        assert all(m["loss"] == 1.0 / m["step"] for m in run.metrics)
        assert run.steps() and set(run.steps()) <= set(steps) | {len(steps) + 1}
        for step in run.steps():
            loaded = run.load(step)
            assert torch.equal(loaded["w"], torch.full((64, 64), float(step)))
            assert torch.equal(loaded["b"], torch.arange(step % 50))


def test_opening_what_is_not_a_run_says_what_it_is(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "events.out.tfevents").write_bytes(b"\0")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "run.json").write_text('{"name": "someone else"}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text('{"format": "convscope-run", "vers')
    (tmp_path / "file.pt").write_bytes(b"x")
    cases = {
        "missing": "does not exist",
        "file.pt": "is a file, not a run folder",
        "empty": "is empty: no run has been written there yet",
        "other": "is not a Convscope run folder",
        "foreign": "was written by another program",
        "broken": "run.json is unreadable",
    }
    for name, expected in cases.items():
        with pytest.raises(RunError, match=expected) as caught:
            open_run(tmp_path / name)
        assert len(str(caught.value).splitlines()) == 1


def test_a_snapshot_that_does_not_fit_the_architecture_is_named(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    writer.snapshot(1, {**_xo_state(), "conv1.weight": torch.zeros(7, 1, 3, 3)})
    writer.close()
    with pytest.raises(RunError, match=r"conv1.weight has shape \(7, 1, 3, 3\)"):
        open_run(tmp_path / "run").load_model()
    with pytest.raises(RunError, match="no snapshot at step 2"):
        open_run(tmp_path / "run").load(2)


def test_the_writer_never_writes_over_another_run_or_into_a_full_folder(tmp_path):
    RunWriter(tmp_path / "run", XO).close()
    with pytest.raises(RunError, match="already holds a run"):
        RunWriter(tmp_path / "run", XO)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "thesis.tex").write_text("precious")
    with pytest.raises(RunError, match="not empty"):
        RunWriter(tmp_path / "full", XO)
    assert (tmp_path / "full" / "thesis.tex").read_text() == "precious"


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    writer = RunWriter(tmp_path / "run", XO)
    writer.log(1, loss=1.0)
    assert writer.snapshot(1, _xo_state()) is None
    writer.close()
    assert not writer.active and not (tmp_path / "run").exists()
    monkeypatch.setenv("RANK", "0")
    assert RunWriter(tmp_path / "run", XO).active


def test_a_module_run_names_its_file_and_builds_from_it(tmp_path):
    source = tmp_path / "my_net.py"
    source.write_text("from torch import nn\ndef make():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3))\n")
    writer = RunWriter(tmp_path / "run", f"{source}:make", input_shape=(3, 2, 2))
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    writer.snapshot(4, model.state_dict())
    writer.close()
    run = open_run(tmp_path / "run")
    assert not run.is_layer_pattern and run.architecture == f"{source.resolve()}:make"
    assert run.input_shape == (3, 2, 2) and run.classes is None and run.spec is None
    loaded, step = run.load_model()
    assert step == 4 and torch.equal(loaded[1].weight, model[1].weight)
    with pytest.raises(RunError, match="not a layer pattern"):
        run.to_checkpoint()
    with pytest.raises(RunError, match="does not exist"):
        RunWriter(tmp_path / "run2", f"{tmp_path / 'nowhere.py'}:make")


def test_an_error_in_the_training_loop_closes_the_run_as_stopped(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RunWriter(tmp_path / "run", XO) as writer:
            writer.log(1, loss=1.0)
            1 / 0
    run = open_run(tmp_path / "run")
    assert run.status is RunStatus.STOPPED and "ZeroDivisionError" in run.message
    with pytest.raises(RunError, match="closed"):
        writer.log(2, loss=1.0)


def test_bad_metrics_and_statuses_are_refused_in_words(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    with pytest.raises(RunError, match="'loss' is a tensor of 3 values"):
        writer.log(1, loss=torch.ones(3))
    with pytest.raises(RunError, match="'x' is a list"):
        writer.log(1, x=[1, 2])
    with pytest.raises(RunError, match="unknown run status 'great'"):
        writer.close("great")
    writer.close("failed_to_learn")
    assert open_run(tmp_path / "run").status is RunStatus.FAILED_TO_LEARN


def test_new_run_folders_live_under_convscope_home_and_never_collide(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSCOPE_HOME", str(tmp_path / "home"))
    assert runs_home() == tmp_path / "home" / "runs"
    first, second = new_run_folder("lenet"), new_run_folder("lenet")
    assert first != second and first.parent == second.parent == runs_home()
    assert first.name.endswith("-lenet") and not any(first.iterdir())
    monkeypatch.delenv("CONVSCOPE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert runs_home() == tmp_path / "xdg" / "convscope" / "runs"


def test_a_run_folder_is_a_checkpoint_for_evaluate(tmp_path):
    writer = RunWriter(tmp_path / "run", PRESETS["lenet"], classes=[str(d) for d in range(10)],
                       normalization=MNIST_NORMALIZATION, settings={"dataset": "mnist"})
    torch.manual_seed(0)
    state = build_model(PRESETS["lenet"]).state_dict()
    writer.log(10, loss=2.0, accuracy=0.1)
    writer.log(10, test_accuracy=0.2)
    writer.snapshot(10, state)
    writer.close()
    checkpoint = checkpoint_from(tmp_path / "run")
    assert checkpoint.architecture.to_text() == open_run(tmp_path / "run").architecture
    assert torch.equal(checkpoint.state["conv1.weight"], state["conv1.weight"])
    assert checkpoint.normalization == MNIST_NORMALIZATION and checkpoint.dataset == "mnist"
    assert checkpoint.history.steps == [10] and checkpoint.history.test_accuracy == [0.2]
    assert math.isclose(checkpoint.history.loss[0], 2.0)
    assert not os.listdir(tmp_path / "run" / "snapshots")[0].startswith(".")
