"""ViewerState and run folders: showing a run, following it as it grows, and forking from a look-back point."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.model_session import ModelSession
from core.preprocess import MNIST_NORMALIZATION
from core.runs import RunError, RunWriter, open_run
from core.viewer_state import LIVE, ViewerState
from core.weights import WeightsSnapshot
from tests.core.test_viewer_state import Recorder

LENET = PRESETS["lenet"]
DIGITS = tuple("0123456789")


def _state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(LENET).state_dict()


def _numpy(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in state.items()}


@pytest.fixture
def viewer() -> ViewerState:
    state = ViewerState(ModelSession.from_architecture(parse(LENET), DIGITS, MNIST_NORMALIZATION, seed=0))
    state.show_sample(0)
    return state


@pytest.fixture
def writer(tmp_path) -> RunWriter:
    writer = RunWriter(tmp_path / "run", LENET, settings={"lr": 0.1}, classes=DIGITS, normalization=MNIST_NORMALIZATION)
    for step in range(1, 21):
        writer.log(step, loss=2.0 / step, accuracy=step / 20)
    writer.log(20, test_accuracy=0.8)
    for step in (0, 10, 20):
        writer.snapshot(step, _state(step))
    return writer


def test_a_run_is_shown_at_its_newest_snapshot_with_its_curves_and_snapshots_to_look_back(viewer, writer):
    events = Recorder(viewer)
    viewer.show_run(open_run(writer.folder))
    assert "session_replaced" in events.take()
    assert viewer.session.step == 20 and viewer.run_folder == writer.folder
    np.testing.assert_array_equal(viewer.session.weights()["conv1.weight"], _state(20)["conv1.weight"].numpy())
    assert viewer.history.steps == list(range(1, 21)) and viewer.history.test_accuracy == [0.8]
    assert viewer.timeline_steps == [0, 10, 20] and viewer.timeline_position == LIVE
    assert viewer.input.x is not None and viewer.session.probabilities() is not None  # the input stays
    viewer.look_back(1)
    assert viewer.session.step == 10
    np.testing.assert_array_equal(viewer.session.weights()["fc3.weight"], _state(10)["fc3.weight"].numpy())
    viewer.look_back(LIVE)
    assert viewer.session.step == 20


def test_a_run_that_cannot_be_shown_changes_nothing(viewer, tmp_path):
    writer = RunWriter(tmp_path / "bad", LENET)
    writer.snapshot(3, {**_state(3), "fc3.weight": torch.zeros(4, 84)})
    session = viewer.session
    with pytest.raises(RunError, match="fc3.weight"):
        viewer.show_run(open_run(tmp_path / "bad"))
    assert viewer.session is session and viewer.run_folder is None


def test_a_growing_run_extends_the_curves_and_the_slider_and_shows_new_weights_when_live(viewer, writer):
    viewer.show_run(open_run(writer.folder))
    events = Recorder(viewer)
    viewer.run_grew([{"step": 21, "loss": 0.05, "accuracy": 1.0}], [0, 10, 20, 30], 30, _state(30))
    assert events.take() == ["history_changed", "timeline_changed", "weights_changed"]
    assert viewer.history.steps[-1] == 21 and viewer.timeline_steps[-1] == 30 and viewer.session.step == 30
    viewer.look_back(1)  # looking back: new weights wait, the slider keeps the step looked at
    viewer.run_grew([], [0, 5, 10, 20, 30, 40], 40, _state(40))
    assert viewer.session.step == 10 and viewer.timeline_position == 2
    viewer.run_grew([], [0, 5], None, None)  # a divergence removed the step looked at: back to live
    assert viewer.timeline_position == LIVE and viewer.session.step == 40


def test_a_fork_starts_from_the_weights_looked_at_with_the_curves_cut_there(viewer, writer):
    viewer.show_run(open_run(writer.folder))
    viewer.look_back(1)
    looked_at = viewer.session.weights()
    events = Recorder(viewer)
    viewer.keep_shown_weights()
    assert viewer.timeline_position == LIVE and viewer.session.step == 10
    assert viewer.history.steps == list(range(1, 11)) and viewer.history.test_steps == []
    assert set(events.take()) == {"history_changed", "timeline_changed"}
    viewer.begin_run(writer.folder.parent / "fork")
    assert viewer.timeline_steps == [10] and viewer.run_folder == writer.folder.parent / "fork"
    kept = viewer.timeline_snapshot(0).weights
    assert all(np.array_equal(kept[k], looked_at[k]) for k in looked_at)
    assert viewer.apply_snapshot(WeightsSnapshot(11, _numpy(_state(11)), viewer.session.id))  # training goes on
    assert viewer.session.step == 11
