"""A run folder's model at a snapshot, and look-back over its snapshots read from disk when looked at."""
import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model
from core.run_session import CACHED_SNAPSHOTS, RunTimeline, session_from_run
from core.runs import RunError, RunWriter, open_run

XO = PRESETS["xo"]


def _state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(XO).state_dict()


def test_a_runs_model_takes_its_snapshot_its_classes_and_its_normalization(tmp_path):
    writer = RunWriter(tmp_path / "run", XO, classes=("x", "o"), normalization=((0.5,), (0.25,)))
    writer.snapshot(7, _state(7))
    run = open_run(tmp_path / "run")
    session = session_from_run(run, run.load(7), 7)
    assert session.step == 7 and session.classes == ("x", "o") and session.architecture == run.spec
    assert session.normalization.mean == (0.5,) and session.input_shape == (1, 9, 9)
    np.testing.assert_array_equal(session.weights()["conv1.weight"], _state(7)["conv1.weight"].numpy())
    with pytest.raises(RunError, match="fc1.weight"):
        session_from_run(run, {**_state(7), "fc1.weight": torch.zeros(3, 64)}, 7)


def test_the_timeline_reads_snapshots_when_looked_at_and_keeps_a_few(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    for step in range(0, 60, 10):
        writer.snapshot(step, _state(step))
    run = open_run(tmp_path / "run")
    timeline = RunTimeline(run, session=5)
    assert timeline.steps() == [0, 10, 20, 30, 40, 50] and timeline.nbytes == 0
    first = timeline.at(1)
    assert first.step == 10 and first.session == 5
    np.testing.assert_array_equal(first.weights["fc1.weight"], _state(10)["fc1.weight"].numpy())
    assert timeline.at(1) is first  # cached
    for index in range(len(timeline)):
        timeline.at(index)
    assert timeline.nbytes == CACHED_SNAPSHOTS * first.nbytes
    writer.discard_snapshots_after(20)
    assert timeline.set_steps(run.steps()) and timeline.steps() == [0, 10, 20]
    assert not timeline.set_steps([0, 10, 20])
    writer.snapshot(30, _state(31))
    timeline.set_steps(run.steps())
    np.testing.assert_array_equal(timeline.at(3).weights["fc1.weight"], _state(31)["fc1.weight"].numpy())


def test_a_snapshot_removed_under_the_timeline_is_a_run_error(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    writer.snapshot(1, _state(1))
    writer.snapshot(2, _state(2))
    timeline = RunTimeline(open_run(tmp_path / "run"), session=1)
    writer.discard_snapshots_after(1)
    with pytest.raises(RunError, match="no snapshot at step 2"):
        timeline.at(1)
