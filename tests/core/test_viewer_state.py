"""ViewerState without any window: intents change what is shown and say so through events."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, parse
from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.data import DataError, load_dataset
from core.model_session import ModelSession
from core.preprocess import MNIST_NORMALIZATION, fit_image
from core.trainer import HistoryDelta
from core.training_process import FullState, Progress, TrainingState
from core.viewer_state import LIVE, InputKind, ViewerState, ViewerStateError
from core.weights import WeightsSnapshot

EVENTS = (
    "input_changed", "weights_changed", "layer_changed", "session_replaced",
    "history_changed", "timeline_changed", "evaluation_changed", "browse_changed", "interventions_changed",
)


class Recorder:
    """Which events fired, in order."""

    def __init__(self, state: ViewerState) -> None:
        self.fired: list[str] = []
        for name in EVENTS:
            getattr(state, name).connect(lambda name=name: self.fired.append(name))

    def take(self) -> list[str]:
        fired, self.fired = self.fired, []
        return fired


@pytest.fixture
def state() -> ViewerState:
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    viewer = ViewerState(ModelSession.from_checkpoint(checkpoint), checkpoint.history)
    viewer.show_sample(0)
    return viewer


def tinyvgg(seed: int = 1) -> ModelSession:
    return ModelSession.from_architecture(parse(PRESETS["tinyvgg"]), tuple("0123456789"), MNIST_NORMALIZATION, seed)


def seven(side: int = 280) -> np.ndarray:
    drawing = np.zeros((side, side), np.float32)
    drawing[70:80, 80:200] = 1.0
    for i in range(120):
        drawing[80 + i, 195 - i // 2 : 205 - i // 2] = 1.0
    return drawing


def scaled(weights: dict[str, np.ndarray], factor: float) -> dict[str, np.ndarray]:
    return {k: v * factor for k, v in weights.items()}


def test_starts_on_the_first_conv_with_a_sample_and_its_prediction(state):
    assert state.layer == "conv1" and state.input.kind == InputKind.SAMPLE
    assert state.input.caption == "test sample 1 / 1000 — true label 7"
    assert state.input.picture.shape == (1, 28, 28) and 0 <= state.input.picture.min() <= state.input.picture.max() <= 1
    assert int(np.argmax(state.session.probabilities())) == 7


def test_drawing_is_prepared_once_and_clear_empties_every_view(state):
    events = Recorder(state)
    state.set_drawing(seven())
    assert events.take() == ["input_changed"]
    assert state.input.kind == InputKind.DRAWING and state.input.caption == "your drawing"
    np.testing.assert_allclose(state.input.x, MNIST_NORMALIZATION.apply(state.input.picture))
    assert int(np.argmax(state.session.probabilities())) == 7
    state.clear_input()
    assert events.take() == ["input_changed"]
    assert state.input.x is None and state.session.probabilities() is None
    assert state.session.activation("conv1") is None


def test_samples_wrap_around_and_a_random_sample_is_in_range(state):
    state.step_sample(-1)
    assert state.input.caption.startswith("test sample 1000 / 1000")
    state.step_sample(1)
    assert state.input.sample == 0
    state.show_random_sample(np.random.default_rng(3))
    assert 0 <= state.input.sample < 1000


def test_layer_intents_emit_only_on_change_and_refuse_unknown_layers(state):
    events = Recorder(state)
    state.select_layer("conv1")
    state.step_layer(-1)  # already the first
    assert events.take() == []
    state.step_layer(2)
    assert state.layer == "pool1" and events.take() == ["layer_changed"]
    with pytest.raises(KeyError):
        state.select_layer("conv9")
    assert state.layer == "pool1"


def test_filters_behind_a_pool_and_no_filters_after_the_flatten(state):
    session = state.session
    assert session.filter_source("relu1") == "conv1" and session.filter_source("pool2") == "conv2"
    assert session.filter_source("fc1") is None and session.filter_source("flatten") is None


def test_a_unit_after_the_flatten_sees_the_whole_input(state):
    unit = state.session.unit_receptive_field("fc1", 3, 0, 0)
    assert unit.box == unit.full_box == (0, 0, 28, 28) and unit.erf.shape == (28, 28)
    conv = state.session.unit_receptive_field("conv2", 0, 0, 0)
    assert conv.box == (0, 0, 14, 14)


def test_snapshots_of_the_model_on_show_are_shown_and_others_dropped(state):
    events = Recorder(state)
    weights = scaled(state.session.weights(), 0.5)
    assert not state.apply_snapshot(WeightsSnapshot(99, weights, session=state.session.id + 1000))
    assert events.take() == [] and state.session.step != 99
    assert state.apply_snapshot(WeightsSnapshot(99, weights, session=state.session.id))
    assert events.take() == ["weights_changed"] and state.session.step == 99
    np.testing.assert_array_equal(state.session.weights()["conv1.weight"], weights["conv1.weight"])


def test_looking_back_freezes_the_view_and_live_brings_the_newest_back(state):
    start = state.session.weights()
    state.begin_run()
    sid = state.session.id
    epoch = WeightsSnapshot(state.session.step + 63, scaled(start, 0.9), sid)
    state.epoch_ended(epoch)
    assert len(state.timeline_steps) == 2 and state.history.test_steps[-1] == epoch.step
    events = Recorder(state)
    state.look_back(0)
    assert events.take() == ["timeline_changed", "weights_changed"]
    np.testing.assert_array_equal(state.session.weights()["conv1.weight"], start["conv1.weight"])
    newest = WeightsSnapshot(epoch.step + 5, scaled(start, 0.8), sid)
    assert state.apply_snapshot(newest) and events.take() == []  # frozen while looking back
    state.look_back(LIVE)
    assert events.take() == ["weights_changed", "timeline_changed"]
    np.testing.assert_array_equal(state.session.weights()["conv1.weight"], newest.weights["conv1.weight"])


def test_checkpoint_while_looking_back_saves_the_live_weights_and_leaves_the_view_alone(state):
    """Reproduction 4: saving used to load the live weights into the model on show without a repaint."""
    state.begin_run()
    sid = state.session.id
    state.apply_snapshot(WeightsSnapshot(2000, scaled(state.session.weights(), 0.7), sid))
    state.look_back(0)
    shown = state.session.weights()
    probabilities = state.session.probabilities().copy()
    events = Recorder(state)
    full = FullState(WeightsSnapshot(2001, scaled(shown, 0.6), sid), {"state": {}, "param_groups": []})
    checkpoint = state.checkpoint(full)
    assert events.take() == []
    np.testing.assert_array_equal(state.session.weights()["fc3.bias"], shown["fc3.bias"])
    np.testing.assert_array_equal(state.session.probabilities(), probabilities)
    np.testing.assert_allclose(checkpoint.state["fc3.bias"].numpy(), full.snapshot.weights["fc3.bias"])
    assert checkpoint.history is not state.history and checkpoint.history.steps == state.history.steps
    checkpoint.history.steps.append(10**9)
    assert state.history.steps[-1] != 10**9  # the mutable history is not shared with checkpoints
    without_worker = state.checkpoint()
    np.testing.assert_allclose(without_worker.state["fc3.bias"].numpy(), state.latest.weights["fc3.bias"])


def test_progress_of_this_model_grows_the_history_and_marks_it_unsaved(state):
    events = Recorder(state)
    before = len(state.history.steps)
    last = state.history.steps[-1]
    delta = HistoryDelta((last + 1, last + 2), (0.5, 0.4), (0.8, 0.9))
    other = Progress(TrainingState.RUNNING, 2, 100, 0, 2, 63, 1.0, 1.0, delta, session=state.session.id + 7)
    assert not state.record_progress(other) and len(state.history.steps) == before
    mine = Progress(TrainingState.RUNNING, 2, 100, 0, 2, 63, 1.0, 1.0, delta, session=state.session.id)
    assert state.record_progress(mine) and events.take() == ["history_changed"]
    assert state.history.steps[-2:] == [last + 1, last + 2] and state.unsaved_training
    state.mark_saved()
    assert not state.unsaved_training


def test_a_new_model_keeps_the_input_and_layer_name_and_drops_what_belonged_to_the_old(state):
    """Reproduction 2: the confusion matrix and a browsed cell's caption outlived the model they described."""
    state.evaluate()
    matrix = state.evaluation.matrix
    true, predicted = np.unravel_index(np.argmax(matrix - np.diag(np.diag(matrix))), matrix.shape)
    state.browse_cell(int(true), int(predicted))
    assert state.input.caption.startswith(f"true {true}, predicted {predicted}")
    state.begin_run()
    sample = state.input.sample
    events = Recorder(state)
    state.replace_session(tinyvgg(), architecture_text=PRESETS["tinyvgg"])
    assert events.take() == ["session_replaced"]
    assert state.evaluation is None and state.browse is None and state.timeline_steps == [] and state.latest is None
    assert state.input.sample == sample and state.input.caption.startswith("test sample")
    assert state.layer == "conv1" and state.history.steps == []
    assert state.architecture_text == PRESETS["tinyvgg"]  # as typed, not expanded


def test_a_drawing_is_refitted_for_a_model_of_another_input_shape(state):
    state.set_drawing(seven())
    xo = ModelSession.from_architecture(parse(PRESETS["xo"]), ("X", "O"), load_dataset("xo", "test", (1, 9, 9)).normalization)
    state.replace_session(xo)
    assert state.input.kind == InputKind.DRAWING and state.input.x.shape == (1, 9, 9)
    assert state.session.probabilities().shape == (2,)


def test_an_image_is_refitted_only_when_the_new_model_takes_another_input_shape(state):
    """Refitting a photo takes tens of milliseconds on the GUI thread: a model of the same input shape keeps
    the picture, one of another shape gets it made anew from the image."""
    photo = np.random.default_rng(0).random((600, 800, 3)).astype(np.float32)
    state.set_image(photo, "photo.jpg")
    picture = state.input.picture
    state.replace_session(ModelSession.from_architecture(parse(PRESETS["lenet"]), tuple("0123456789"), MNIST_NORMALIZATION))
    assert state.input.picture is picture and state.input.kind == InputKind.IMAGE
    np.testing.assert_array_equal(state.input.x, state.session.normalization.apply(picture))
    xo = ModelSession.from_architecture(parse(PRESETS["xo"]), ("X", "O"), load_dataset("xo", "test", (1, 9, 9)).normalization)
    state.replace_session(xo)
    assert state.input.picture.shape == (1, 9, 9) and state.input.original is photo
    np.testing.assert_allclose(state.input.picture, fit_image(photo, (1, 9, 9)))


def test_the_evaluation_follows_training_epoch_by_epoch_and_knows_its_step(state):
    first = state.evaluate()
    assert first.total == 1000 and first.correct >= 970 and first.step == state.session.step
    state.begin_run()
    events = Recorder(state)
    worse = WeightsSnapshot(first.step + 63, scaled(state.session.weights(), 0.1), state.session.id)
    state.epoch_ended(worse)
    assert "evaluation_changed" in events.take()
    assert state.evaluation.step == worse.step and state.evaluation.accuracy == state.history.test_accuracy[-1]


def test_a_refused_intent_changes_nothing(state, tmp_path):
    shown, source = state.input, state.dataset_source
    events = Recorder(state)
    with pytest.raises(DataError):
        state.change_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(ViewerStateError):
        state.browse_cell(1, 2)  # nothing evaluated yet
    with pytest.raises(ValueError):
        state.set_image(np.zeros((0, 5), np.float32), "empty.png")
    assert events.take() == [] and state.input is shown and state.dataset_source == source


def test_a_model_from_code_cannot_be_checkpointed(state):
    user = ModelSession(state.session.model, (1, 28, 28), tuple("0123456789"), MNIST_NORMALIZATION)
    state.replace_session(user)
    assert state.architecture_text is None
    with pytest.raises(ViewerStateError, match="state_dict"):
        state.checkpoint()


def test_a_test_example_by_index_ends_browsing_a_cell_and_a_wrong_index_changes_nothing(state):
    state.evaluate()
    state.browse_cell(int(np.argmax(np.diag(state.evaluation.matrix))), int(np.argmax(np.diag(state.evaluation.matrix))))
    events = Recorder(state)
    state.show_test_example(417)
    assert state.input.sample == 417 and state.input.caption.startswith("test sample 418 / 1000")
    assert state.browse is None and events.take() == ["browse_changed", "input_changed"]
    np.testing.assert_array_equal(state.session.input, state.samples().images[417])
    state.step_sample(1)  # Previous / Next go on from there through the whole test set
    assert state.input.sample == 418 and events.take() == ["input_changed"]
    for wrong in (1000, -1, 2.0, True):
        with pytest.raises(ViewerStateError, match="1000 examples"):
            state.show_test_example(wrong)
    assert events.take() == [] and state.input.sample == 418


def test_an_epoch_end_finds_the_top_examples_of_the_conv_layers_and_the_layer_on_show_in_its_test_pass(state):
    from core.insight import top_examples_all

    state.select_layer("relu3")
    state.begin_run()
    assert state.top_examples is None
    fired = []
    state.top_examples_changed.connect(lambda: fired.append(state.top_examples.step))
    flipped = {k: -v if k.startswith("conv1") else v for k, v in state.session.weights().items()}
    snapshot = WeightsSnapshot(state.session.step + 50, flipped, state.session.id)
    state.epoch_ended(snapshot)
    found = state.top_examples
    assert fired == [snapshot.step] and found.samples is state.samples()
    assert list(found.layers) == ["conv1", "conv2", "relu3"]
    model = copy.deepcopy(state.session.model)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in flipped.items()})
    expected = top_examples_all(model, state.samples(), ["conv1", "conv2", "relu3"])
    assert found.layers == expected
    assert found.layers["conv1"] != top_examples_all(state.session.model, state.samples(), ["conv1"])["conv1"]
    state.replace_session(tinyvgg())
    assert state.top_examples is None


def test_switching_a_channel_off_changes_that_layer_and_later_ones_but_never_the_weights(state):
    session = state.session
    weights, saved = session.weights(), state.checkpoint().state
    before = {name: session.activation(name).copy() for name in ("conv1", "conv2", "relu2", "fc3")}
    probabilities = session.probabilities().copy()
    events = Recorder(state)
    state.toggle_channel("conv2", 3)
    assert events.take() == ["interventions_changed"] and state.interventions == {"conv2": {3: 0.0}}
    assert not session.activation("conv2")[3].any() and session.activation("relu2")[3].max() == 0
    np.testing.assert_array_equal(session.activation("conv2")[:3], before["conv2"][:3])
    np.testing.assert_array_equal(session.activation("conv1"), before["conv1"])
    assert not np.allclose(session.activation("fc3"), before["fc3"])
    assert not np.allclose(session.probabilities(), probabilities)
    np.testing.assert_allclose(session.plain_probabilities(), probabilities, atol=1e-6)
    for name, value in weights.items():
        np.testing.assert_array_equal(session.weights()[name], value)
        np.testing.assert_array_equal(state.checkpoint().state[name].numpy(), saved[name].numpy())
    state.toggle_channel("conv2", 3)
    assert events.take() == ["interventions_changed"] and state.interventions == {}
    np.testing.assert_allclose(session.probabilities(), probabilities, atol=1e-6)


def test_a_scaled_channel_is_multiplied_and_clear_restores_every_channel(state):
    conv2 = state.session.activation("conv2").copy()
    events = Recorder(state)
    state.set_channel_scale("conv2", 5, 2.0)
    state.set_channel_scale("conv1", 0, 0.0)
    state.set_channel_scale("conv1", 0, 0.0)  # no change, no event
    assert events.take() == ["interventions_changed"] * 2
    assert state.interventions == {"conv2": {5: 2.0}, "conv1": {0: 0.0}}
    assert not state.session.activation("conv1")[0].any()
    state.set_channel_scale("conv1", 0, 1.0)
    np.testing.assert_allclose(state.session.activation("conv2")[5], 2 * conv2[5], rtol=1e-5, atol=1e-6)
    state.clear_interventions()
    state.clear_interventions()
    assert events.take() == ["interventions_changed"] * 2 and state.interventions == {}
    np.testing.assert_array_equal(state.session.activation("conv2"), conv2)


def test_interventions_stay_through_inputs_and_weights_and_go_with_the_model(state):
    state.toggle_channel("conv2", 1)
    state.set_drawing(seven())
    state.apply_snapshot(WeightsSnapshot(7, scaled(state.session.weights(), 1.01), state.session.id))
    assert state.interventions == {"conv2": {1: 0.0}} and not state.session.activation("conv2")[1].any()
    state.replace_session(tinyvgg())
    assert state.interventions == {} and state.session.plain_probabilities() is not None


@pytest.mark.parametrize(
    "layer, channel, factor",
    [("conv9", 0, 0.0), ("conv2", 16, 0.0), ("conv2", -1, 0.0), ("conv2", 1.5, 0.0), ("conv2", 2, float("nan"))],
)
def test_an_impossible_intervention_is_refused_and_changes_nothing(state, layer, channel, factor):
    probabilities = state.session.probabilities().copy()
    events = Recorder(state)
    with pytest.raises(ViewerStateError):
        state.set_channel_scale(layer, channel, factor)
    assert events.take() == [] and state.interventions == {}
    np.testing.assert_array_equal(state.session.probabilities(), probabilities)


def test_a_test_sample_picked_by_index_browses_its_confusion_cell(state):
    events = Recorder(state)
    state.show_test_sample(12)
    assert events.take() == ["input_changed"] and state.browse is None
    assert state.input.sample == 12 and state.input.caption.startswith("test sample 13 / 1000")
    evaluation = state.evaluate()
    wrong = int(np.flatnonzero(evaluation.predicted != state.samples().labels)[0])
    true, predicted = int(state.samples().labels[wrong]), int(evaluation.predicted[wrong])
    events.take()
    state.show_test_sample(wrong)
    assert events.take() == ["browse_changed", "input_changed"]
    assert (state.browse.true, state.browse.predicted) == (true, predicted) and state.input.sample == wrong
    assert state.input.caption.startswith(f"true {true}, predicted {predicted}")
    state.show_test_sample(wrong)
    assert events.take() == ["input_changed"]
    state.step_sample(1)  # Next stays in the cell
    assert state.input.sample in state.browse.indices
    with pytest.raises(ViewerStateError):
        state.show_test_sample(1000)
