"""Everything the window shows, as one Qt-free object: the views follow its events and never ask twice.

The methods are the user's intents (draw, pick a sample, step a layer, look back, open a model...). Each
either changes the state completely and emits what changed, or raises a ValueError subclass (the
message is for the user) and changes nothing. Views subscribe to the events and repaint exactly what
an event touches; nothing else has to remember to refresh them.

Events (arguments in brackets):
- ``input_changed``: the input, its picture or its caption changed
- ``weights_changed``: the weights on show changed (a snapshot, looking back, going live)
- ``layer_changed``: another layer is selected
- ``session_replaced``: a new model (everything above changed, and the layers, history and timeline)
- ``history_changed``: the metrics history grew or changed
- ``timeline_changed``: kept look-back steps or the look-back position changed
- ``evaluation_changed``: the test-set evaluation changed or was dropped
- ``browse_changed``: browsing a confusion-matrix cell started or ended
- ``top_examples_changed``: an epoch end's test pass found new top examples per channel
- ``interventions_changed``: channels were switched off, scaled or restored (the forward on show changed)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.checkpoint import Checkpoint
from core.data import DataError, Dataset, load_dataset, mnist_subset_raw
from core.events import Event
from core.insight.model_input import InsightError
from core.insight.top_examples import TopExample, TopExampleRecorder
from core.model_session import ModelSession
from core.preprocess import Normalization, fit_drawing, fit_image
from core.run_session import RunTimeline, as_numpy, session_from_run
from core.runs import Run, history_from_metrics
from core.trainer import MetricsHistory, confusion_matrix, evaluate
from core.training_process import HISTORY_POINTS, FullState, Progress
from core.weight_timeline import WeightTimeline
from core.weights import WeightsSnapshot

LIVE = -1  # look-back position of the live weights


class ViewerStateError(ValueError):
    """An intent that cannot be carried out now, said for the user."""


class InputKind(Enum):
    NONE = "none"
    DRAWING = "drawing"
    SAMPLE = "sample"
    IMAGE = "image"
    RESTORED = "restored"


@dataclass(frozen=True)
class ShownInput:
    """The input on show. ``picture`` is the model's input as a (C, H, W) picture in [0, 1], made before
    normalization; ``original`` is what the user gave, (H, W) or (H, W, 3) in [0, 1]."""

    kind: InputKind
    x: np.ndarray | None
    picture: np.ndarray | None
    original: np.ndarray | None
    caption: str
    sample: int | None = None  # the test-set index, for a sample
    normalization: Normalization | None = None  # what made ``x`` from ``picture``
    thumbnail: np.ndarray | None = None
    """``original`` shrunk for display where that was done off the GUI thread (a photo's takes ~10 ms)."""


NO_INPUT = ShownInput(InputKind.NONE, None, None, None, "")


def image_input(
    image: np.ndarray, caption: str, input_shape: tuple[int, int, int], normalization: Normalization
) -> ShownInput:
    """A decoded image made into a model's input; pure, so it may run on a worker thread. Raises
    ValueError for an image that cannot be used."""
    picture = fit_image(image, input_shape)
    return ShownInput(InputKind.IMAGE, normalization.apply(picture), picture, image, caption, None, normalization)


@dataclass(frozen=True)
class Evaluation:
    """The test set run through one version of the weights."""

    accuracy: float
    predicted: np.ndarray
    matrix: np.ndarray
    classes: tuple[str, ...]
    step: int

    @property
    def correct(self) -> int:
        return int(np.trace(self.matrix))

    @property
    def total(self) -> int:
        return int(self.matrix.sum())


@dataclass(frozen=True)
class EvaluationRequest:
    model: nn.Module
    samples: Dataset
    step: int
    session: int


@dataclass(frozen=True)
class EpochTest:
    """The test pass over one epoch's weights, with a model of its own."""

    step: int
    session: int
    model: nn.Module
    samples: Dataset

    layers: tuple[str, ...] = ()  # whose top examples the pass finds on the way

    def run(self) -> tuple[float, np.ndarray, dict[str, list[list[TopExample]]] | None]:
        """Accuracy and predictions; the same pass finds the top examples of ``layers`` (a recorder
        riding on it costs a few % of the pass, not a pass of its own)."""
        try:
            with TopExampleRecorder(self.model, list(self.layers)) as recorder:
                accuracy, predicted = evaluate(self.model, self.samples)
        except InsightError:  # a layer whose output has no channels to rank: accuracy alone
            return (*evaluate(self.model, self.samples), None)
        return accuracy, predicted, recorder.result()


@dataclass(frozen=True)
class EpochTopExamples:
    """The test images that excite each channel most, per layer, found by an epoch end's test pass
    (``layers[name][channel]``: best first); indices count through ``samples``."""

    step: int
    samples: Dataset
    layers: dict[str, list[list[TopExample]]]


@dataclass(frozen=True)
class Browse:
    """The test examples of one confusion-matrix cell, browsed with Previous / Next."""

    true: int
    predicted: int
    indices: np.ndarray
    label: str


class ViewerState:
    def __init__(
        self,
        session: ModelSession,
        history: MetricsHistory | None = None,
        dataset: str = "mnist",
        architecture_text: str | None = None,
    ) -> None:
        self.input_changed = Event("input_changed")
        self.weights_changed = Event("weights_changed")
        self.layer_changed = Event("layer_changed")
        self.session_replaced = Event("session_replaced")
        self.history_changed = Event("history_changed")
        self.timeline_changed = Event("timeline_changed")
        self.evaluation_changed = Event("evaluation_changed")
        self.browse_changed = Event("browse_changed")
        self.top_examples_changed = Event("top_examples_changed")
        self.interventions_changed = Event("interventions_changed")
        self._dataset_source = dataset
        self._samples: Dataset | None = None
        self._samples_key: tuple | None = None
        self._sample_position = 0  # in the test set, or in the browsed cell
        self._input = NO_INPUT
        self._install(session, history, architecture_text)
        self._layer = self._default_layer(None)

    # ----------------------------------------------------------------- what is shown

    @property
    def session(self) -> ModelSession:
        return self._session

    @property
    def input(self) -> ShownInput:
        return self._input

    @property
    def layer(self) -> str:
        return self._layer

    @property
    def layer_index(self) -> int:
        return self._session.layer_index(self._layer)

    @property
    def history(self) -> MetricsHistory:
        """The run's metrics; read it, change it only through this object."""
        return self._history

    @property
    def architecture_text(self) -> str | None:
        """The layer-pattern text as the user typed it (None for a model from the user's code)."""
        return self._architecture_text

    @property
    def dataset_source(self) -> str:
        return self._dataset_source

    @property
    def evaluation(self) -> Evaluation | None:
        return self._evaluation

    @property
    def browse(self) -> Browse | None:
        return self._browse

    @property
    def top_examples(self) -> EpochTopExamples | None:
        """Top examples of the conv layers (and the layer on show) at the newest epoch end."""
        return self._top_examples

    @property
    def latest(self) -> WeightsSnapshot | None:
        """The newest weights a training run sent for this model."""
        return self._latest

    @property
    def run_folder(self) -> Path | None:
        """The run folder the weights on show belong to (a run training here, opened or followed)."""
        return self._run_folder

    @property
    def timeline_steps(self) -> list[int]:
        return self._timeline.steps()

    def timeline_snapshot(self, index: int) -> WeightsSnapshot:
        """The weights kept at one look-back step (a copy is not made: do not write to them)."""
        return self._timeline.at(index)

    def timeline_bytes(self) -> int:
        """Memory held by the kept look-back weights."""
        return self._timeline.nbytes

    @property
    def timeline_position(self) -> int:
        """Index of the kept step on show, or LIVE."""
        return self._position

    @property
    def unsaved_training(self) -> bool:
        """The model trained since it was opened or last saved."""
        return self._unsaved

    def samples(self) -> Dataset:
        """The test split of the chosen data set, fitted to the model's input."""
        key = (self._dataset_source, self._session.input_shape)
        if self._samples_key != key:
            self._samples = load_dataset(self._dataset_source, "test", self._session.input_shape)
            self._samples_key = key
        return self._samples

    # ----------------------------------------------------------------- input

    def set_drawing(self, drawing: np.ndarray) -> None:
        self._set_input(self._fitted_drawing(drawing))

    def clear_input(self) -> None:
        """The user's Clear: nothing is shown until the next stroke, sample or image."""
        self._set_input(NO_INPUT)

    def set_image(self, image: np.ndarray, caption: str) -> None:
        """A decoded image (H, W) or (H, W, 3) in [0, 1]; raises ValueError for one that cannot be used."""
        session = self._session
        self._set_input(image_input(image, caption, session.input_shape, session.normalization))

    def show_input(self, shown: ShownInput) -> None:
        """An input prepared elsewhere (``image_input`` on a worker thread); refitted if the model on
        show changed meanwhile."""
        session = self._session
        if shown.x is not None and (shown.x.shape != session.input_shape or shown.normalization != session.normalization):
            shown = self._refitted(shown)
        self._set_input(shown)

    def restore_input(self, x: np.ndarray, caption: str) -> None:
        """A saved model input (already normalized), e.g. from an autosave."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self._session.input_shape or not np.isfinite(x).all():
            raise ViewerStateError(f"the saved input is not a finite {self._session.input_shape} array")
        picture = self._session.normalization.invert(x)
        self._set_input(ShownInput(InputKind.RESTORED, x, picture, _as_image(picture), caption))

    def show_sample(self, position: int) -> None:
        """A test example: ``position`` counts through the whole test set, or through a browsed cell."""
        self._set_input(self._sample_input(position))

    def show_test_example(self, index: int) -> None:
        """Test example ``index`` of the whole test set (e.g. a channel's top example); browsing a
        confusion-matrix cell ends, since the index does not count through the cell."""
        count = len(self.samples())
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
            raise ViewerStateError(f"the test set has {count} examples (0 to {count - 1}); there is no example {index!r}")
        shown = self._sample_input(int(index), browse=None)
        self._clear_browse()
        self._set_input(shown)

    def step_sample(self, delta: int) -> None:
        self.show_sample(self._sample_position + delta)

    def show_random_sample(self, rng: np.random.Generator | None = None) -> None:
        count = len(self._browse.indices) if self._browse is not None else len(self.samples())
        self.show_sample(int((rng or np.random.default_rng()).integers(count)))

    def change_dataset(self, source: str) -> None:
        """Browse and evaluate on another data set; raises DataError (and keeps the old one) if it fails."""
        previous = (self._dataset_source, self._samples, self._samples_key)
        self._dataset_source = source
        self._samples_key = None
        try:
            shown = self._sample_input(0, browse=None)
        except (DataError, ValueError):
            self._dataset_source, self._samples, self._samples_key = previous
            raise
        self._clear_browse()
        self._set_evaluation(None)
        self._set_input(shown)

    # ----------------------------------------------------------------- layers

    def select_layer(self, layer: str | int) -> None:
        name = self._session.layers[layer].name if isinstance(layer, int) else self._session.layer(layer).name
        if name != self._layer:
            self._layer = name
            self.layer_changed.emit()

    def step_layer(self, delta: int) -> None:
        index = min(max(self.layer_index + delta, 0), len(self._session.layers) - 1)
        self.select_layer(index)

    # ----------------------------------------------------------------- channel interventions

    @property
    def interventions(self) -> dict[str, dict[int, float]]:
        """Channels scaled in what is shown, {layer: {channel: factor}}; a new model starts with none."""
        return self._session.interventions

    def set_channel_scale(self, layer: str, channel: int, factor: float) -> None:
        """Multiply one channel of a layer by ``factor`` in everything shown for the input (0 switches it
        off, 1 restores it). The weights never change: training, checkpoints and autosave do not see it."""
        name = self._layer_name(layer)
        channels = self._session.layer(name).output_shape[0]
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < channels:
            raise ViewerStateError(f"{name} has channels 0 to {channels - 1}; there is no channel {channel!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) or not math.isfinite(factor):
            raise ViewerStateError(f"the factor for a channel must be a finite number, got {factor!r}")
        interventions = self._session.interventions
        factors = interventions.setdefault(name, {})
        if factor == 1:
            factors.pop(int(channel), None)
        else:
            factors[int(channel)] = float(factor)
        if not factors:
            del interventions[name]
        if interventions != self._session.interventions:
            self._session.set_interventions(interventions)
            self.interventions_changed.emit()

    def toggle_channel(self, layer: str, channel: int, factor: float = 0.0) -> None:
        """A channel with an intervention goes back to normal; any other is scaled by ``factor`` (off)."""
        scaled = channel in self.interventions.get(self._layer_name(layer), {})
        self.set_channel_scale(layer, channel, 1.0 if scaled else factor)

    def clear_interventions(self) -> None:
        """Every channel back to normal."""
        if self._session.interventions:
            self._session.set_interventions({})
            self.interventions_changed.emit()

    # ----------------------------------------------------------------- test set

    def evaluate(self) -> Evaluation:
        """Accuracy and confusion matrix of the weights on show over the whole test set."""
        request = self.evaluation_request()
        return self.apply_evaluation(request, *evaluate(self._session.model, request.samples))

    def evaluation_request(self) -> EvaluationRequest:
        """What an evaluation off the GUI thread needs: a copy of the model on show and the test set."""
        return EvaluationRequest(copy.deepcopy(self._session.model), self._checked_samples(), self._session.step, self._session.id)

    def apply_evaluation(self, request: EvaluationRequest, accuracy: float, predicted: np.ndarray) -> Evaluation | None:
        """The result of ``evaluation_request``; None (dropped) if the model was replaced meanwhile."""
        if request.session != self._session.id:
            return None
        return self._set_evaluation(self._evaluation_of(accuracy, predicted, request.samples, request.step))

    def browse_cell(self, true: int, predicted: int) -> None:
        browse = self._cell(true, predicted)
        shown = self._sample_input(0, browse=browse)
        self._browse = browse
        self.browse_changed.emit()
        self._set_input(shown)

    def show_test_sample(self, index: int) -> None:
        """The test example at ``index`` of the test set (e.g. a point picked in an embedding). With an
        evaluation, its confusion-matrix cell is browsed from there on; without, the whole test set."""
        samples = self.samples()
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(samples):
            raise ViewerStateError(f"the test set has samples 0 to {len(samples) - 1}; there is no sample {index!r}")
        browse = None
        if self._evaluation is not None:
            browse = self._cell(int(samples.labels[index]), int(self._evaluation.predicted[index]))
        order = browse.indices if browse is not None else np.arange(len(samples))
        shown = self._sample_input(int(np.flatnonzero(order == index)[0]), browse=browse)
        cell_changed = _cell_of(browse) != _cell_of(self._browse)
        self._browse = browse
        if cell_changed:
            self.browse_changed.emit()
        self._set_input(shown)

    def browse_all(self) -> None:
        self._clear_browse()
        self.show_sample(0)

    # ----------------------------------------------------------------- training

    def begin_run(self, run_folder: Path | None = None) -> None:
        """A run starts from the live weights: the views go live, the curves continue from their step, and
        the look-back timeline starts with these weights."""
        self._go_live()
        self._latest = None
        self._run_folder = run_folder
        self._cut_history(self._session.step)
        if isinstance(self._timeline, RunTimeline):
            self._timeline = WeightTimeline()  # the run now trains here: its epochs are kept in memory
        self._timeline.add(WeightsSnapshot(self._session.step, self._session.weights(), self._session.id))
        self.timeline_changed.emit()

    def keep_shown_weights(self) -> None:
        """Make the weights on show the live ones, looking back included: what a fork starts from. The
        curves end at their step; what came after is no longer this model's past."""
        if self._position == LIVE:
            return
        self._position = LIVE
        self._latest = None
        self._cut_history(self._session.step)
        self.timeline_changed.emit()

    def show_run(self, run: Run) -> None:
        """Show a run folder: its model at its newest snapshot, its curves, and look-back over every
        snapshot. RunError (a ValueError) and nothing changes when it cannot be shown."""
        step = run.newest_step
        weights = run.load(step) if step is not None else None
        session = session_from_run(run, weights, step)
        self.replace_session(
            session, run.history(), run.spec.to_text() if run.spec is not None else None,
            timeline=RunTimeline(run, session.id), run_folder=run.folder,
        )

    def run_grew(
        self, new_metrics: list[dict], steps: list[int], weights_step: int | None = None, weights: dict | None = None
    ) -> None:
        """A shown run folder has more: metrics lines, snapshot steps, the newest snapshot's weights
        (shown at once unless the user is looking back)."""
        if new_metrics:
            self._history.extend(history_from_metrics(new_metrics))
            self._history.thin(HISTORY_POINTS)
            self.history_changed.emit()
        if isinstance(self._timeline, RunTimeline):
            looked_at = self._timeline.steps()[self._position] if self._position != LIVE else None
            if self._timeline.set_steps(steps):
                if looked_at in steps:
                    self._position = steps.index(looked_at)
                elif looked_at is not None:  # the snapshot looked at was removed (the run diverged)
                    self._go_live()
                self.timeline_changed.emit()
        if weights is not None and weights_step is not None:
            self._latest = WeightsSnapshot(weights_step, as_numpy(weights), self._session.id)
            if self._position == LIVE:
                self._session.load_weights(self._latest.weights, weights_step)
                self.weights_changed.emit()

    def apply_snapshot(self, snapshot: WeightsSnapshot) -> bool:
        """Newer weights from training; shown at once unless the user is looking back. Weights of another
        model (a run that ended after the model was replaced) are dropped: False."""
        if snapshot.session != self._session.id:
            return False
        self._latest = snapshot
        if self._position == LIVE:
            self._session.load_weights(snapshot.weights, snapshot.step)
            self.weights_changed.emit()
        return True

    def record_progress(self, progress: Progress) -> bool:
        if progress.session != self._session.id:
            return False
        self._history.apply(progress.history)
        self._history.thin(HISTORY_POINTS)
        self._unsaved = self._unsaved or bool(progress.history.steps)
        self.history_changed.emit()
        return True

    def epoch_ended(self, snapshot: WeightsSnapshot) -> float | None:
        """Test accuracy of an epoch's weights, measured here so the trainer never stops for it; the
        weights are kept for looking back. None when the weights belong to another model. (The window
        runs ``epoch_test`` off its GUI thread and hands the result to ``record_test``.)"""
        test = self.epoch_test(snapshot)
        return None if test is None else self.record_test(test, *test.run())

    def epoch_test(self, snapshot: WeightsSnapshot) -> EpochTest | None:
        """Keep an epoch's weights for looking back, and the test pass to measure them: a model of
        their own, so it may run on another thread. None when the weights belong to another model."""
        if snapshot.session != self._session.id:
            return None
        if self._timeline.add(snapshot):
            self.timeline_changed.emit()
        model = copy.deepcopy(self._session.model)
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in snapshot.weights.items()})
        convs = [row.name for row in self._session.layers if row.name in self._session.filters()]
        layers = tuple(dict.fromkeys([*convs, self._layer]))
        return EpochTest(snapshot.step, snapshot.session, model, self._checked_samples(), layers)

    def record_test(
        self, test: EpochTest, accuracy: float, predicted: np.ndarray, top: dict[str, list[list[TopExample]]] | None
    ) -> float | None:
        """An epoch's test result into the curves (and the confusion matrix and top examples on show);
        None, dropped, when the model was replaced meanwhile."""
        if test.session != self._session.id:
            return None
        if top is not None:
            self._top_examples = EpochTopExamples(test.step, test.samples, top)
            self.top_examples_changed.emit()
        self._history.test_steps.append(test.step)
        self._history.test_accuracy.append(accuracy)
        self.history_changed.emit()
        if self._evaluation is not None:  # a matrix on show follows the training, epoch by epoch
            self._set_evaluation(self._evaluation_of(accuracy, predicted, test.samples, test.step))
        return accuracy

    def look_back(self, index: int) -> None:
        """Show the weights kept at an earlier step (an index into the timeline), or LIVE."""
        if index == self._position:
            return
        if index == LIVE:
            self._go_live()
            self.timeline_changed.emit()
            return
        snapshot = self._timeline.at(index)
        if self._position == LIVE and self._latest is None:
            # Nothing newer will come to go back to: remember the weights on show.
            self._latest = WeightsSnapshot(self._session.step, self._session.weights(), self._session.id)
        self._position = index
        self._session.load_weights(snapshot.weights, snapshot.step)
        self.timeline_changed.emit()
        self.weights_changed.emit()

    def replace_session(
        self,
        session: ModelSession,
        history: MetricsHistory | None = None,
        architecture_text: str | None = None,
        timeline: RunTimeline | None = None,
        run_folder: Path | None = None,
    ) -> None:
        """Show another model. The input stays (refitted to the new input shape where it can be), the layer
        stays if the new model has one of that name; the look-back timeline (``timeline``: a run folder's
        snapshots), the newest snapshot, the evaluation and a browsed cell belonged to the old model and go."""
        previous_layer, shown = self._layer, self._input
        self._install(session, history, architecture_text, timeline, run_folder)
        self._layer = self._default_layer(previous_layer)
        try:
            shown = self._refitted(shown)
        except (DataError, ValueError):
            shown = NO_INPUT
        self._input = shown
        self._session.set_input(shown.x)
        self.session_replaced.emit()

    def checkpoint(self, full_state: FullState | None = None) -> Checkpoint:
        """The model as a checkpoint, with the worker's live weights and optimizer state when given.

        The weights on show are not touched (looking back stays looking back); the history is a copy.
        """
        session = self._session
        if session.architecture is None:
            raise ViewerStateError(
                "a model loaded from your code has no layer-pattern text to save; save its state_dict instead"
            )
        optimizer_state = None
        if full_state is not None and full_state.snapshot.session == session.id:
            weights, optimizer_state = full_state.snapshot.weights, full_state.optimizer_state
        elif self._position != LIVE and self._latest is not None:
            weights = self._latest.weights
        else:
            weights = session.weights()
        return Checkpoint(
            architecture=session.architecture,
            state={k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()},
            classes=session.classes,
            normalization=session.normalization,
            history=self._history.copy(),
            optimizer_state=optimizer_state,
            dataset=self._dataset_source,
        )

    def mark_saved(self) -> None:
        self._unsaved = False

    # ----------------------------------------------------------------- internals

    def _install(
        self,
        session: ModelSession,
        history: MetricsHistory | None,
        architecture_text: str | None,
        timeline: RunTimeline | None = None,
        run_folder: Path | None = None,
    ) -> None:
        self._session = session
        if architecture_text is None and session.architecture is not None:
            architecture_text = session.architecture.to_text()
        self._architecture_text = architecture_text
        self._history = history.copy() if history is not None else MetricsHistory()
        self._timeline: WeightTimeline | RunTimeline = timeline if timeline is not None else WeightTimeline()
        self._run_folder = run_folder
        self._position = LIVE
        self._latest = None
        self._evaluation = None
        self._browse = None
        self._top_examples = None
        self._unsaved = False

    def _layer_name(self, layer: str) -> str:
        try:
            return self._session.layer(layer).name
        except KeyError:
            raise ViewerStateError(f"the model has no layer {layer!r}") from None

    def _cell(self, true: int, predicted: int) -> Browse:
        """The test examples of one confusion-matrix cell, to browse."""
        if self._evaluation is None:
            raise ViewerStateError("evaluate the test set first, then pick a cell")
        samples = self.samples()
        indices = np.flatnonzero((samples.labels == true) & (self._evaluation.predicted == predicted))
        if len(indices) == 0:
            raise ViewerStateError(f"no test example is a {samples.classes[true]} taken for a {samples.classes[predicted]}")
        return Browse(true, predicted, indices, f"true {samples.classes[true]}, predicted {samples.classes[predicted]}")

    def _default_layer(self, previous: str | None) -> str:
        names = [row.name for row in self._session.layers]
        if previous in names:
            return previous
        return self._session.first_conv() or names[0]

    def _set_input(self, shown: ShownInput) -> None:
        self._session.set_input(shown.x)
        self._input = shown
        self.input_changed.emit()

    def _normalized(self, picture: np.ndarray) -> np.ndarray:
        return self._session.normalization.apply(picture)

    def _fitted_drawing(self, drawing: np.ndarray) -> ShownInput:
        picture = fit_drawing(drawing, self._session.input_shape)
        x = None if picture is None else self._normalized(picture)
        return ShownInput(InputKind.DRAWING, x, picture, drawing, "your drawing")

    def _refitted(self, shown: ShownInput) -> ShownInput:
        """The same input for the model now on show."""
        shape = self._session.input_shape
        if shown.kind == InputKind.DRAWING:
            return self._fitted_drawing(shown.original)
        if shown.kind == InputKind.IMAGE:
            # the picture depends only on the image and the input shape: refit (tens of ms for a photo)
            # only for a new shape
            same_shape = shown.picture is not None and shown.picture.shape == shape
            picture = shown.picture if same_shape else fit_image(shown.original, shape)
            return replace(shown, x=self._normalized(picture), picture=picture, normalization=self._session.normalization)
        if shown.kind == InputKind.RESTORED and shown.picture.shape == shape:
            return replace(shown, x=self._normalized(shown.picture))
        if shown.kind == InputKind.SAMPLE:
            return self._sample_input(shown.sample, browse=None)
        return self._sample_input(0, browse=None)

    def _sample_input(self, position: int, browse: Browse | None | bool = True) -> ShownInput:
        """The input for a sample position; ``browse`` True means the cell browsed now, if any."""
        samples = self.samples()
        browse = self._browse if browse is True else browse
        order = browse.indices if browse is not None else np.arange(len(samples))
        if len(order) == 0:
            raise DataError(f"{samples.name} has no test examples")
        self._sample_position = position % len(order)
        index = int(order[self._sample_position])
        x = samples.images[index]
        picture = samples.normalization.invert(x)
        where = f"test sample {index + 1} / {len(samples)} — true label {samples.classes[samples.labels[index]]}"
        if browse is not None:
            where = f"{browse.label}: {self._sample_position + 1} of {len(order)} ({where})"
        return ShownInput(InputKind.SAMPLE, x, picture, self._original_sample(index, picture), where, index)

    def _original_sample(self, index: int, picture: np.ndarray) -> np.ndarray:
        if self._dataset_source == "mnist":
            images, _ = mnist_subset_raw("test")
            return images[index].astype(np.float32) / 255.0
        return _as_image(picture)

    def _clear_browse(self) -> None:
        if self._browse is not None:
            self._browse = None
            self.browse_changed.emit()

    def _checked_samples(self) -> Dataset:
        samples = self.samples()
        if len(samples.classes) != len(self._session.classes):
            raise ViewerStateError(
                f"the test set has {len(samples.classes)} classes, the model {len(self._session.classes)}"
            )
        return samples

    def _evaluation_of(self, accuracy: float, predicted: np.ndarray, samples: Dataset, step: int) -> Evaluation:
        matrix = confusion_matrix(samples.labels, predicted, len(samples.classes))
        return Evaluation(accuracy, predicted, matrix, samples.classes, step)

    def _set_evaluation(self, evaluation: Evaluation | None) -> Evaluation | None:
        if evaluation is None and self._evaluation is None:
            return None
        self._evaluation = evaluation
        self.evaluation_changed.emit()
        return evaluation

    def _cut_history(self, step: int) -> None:
        """Forget the curves after ``step``: a run that starts there continues from it."""
        history = self._history
        if (history.steps and history.steps[-1] > step) or (history.test_steps and history.test_steps[-1] > step):
            history.drop_after(step)
            kept = [(s, a) for s, a in zip(history.test_steps, history.test_accuracy) if s <= step]
            history.test_steps, history.test_accuracy = [s for s, _ in kept], [a for _, a in kept]
            self.history_changed.emit()

    def _go_live(self) -> None:
        if self._position == LIVE:
            return
        self._position = LIVE
        if self._latest is not None:
            self._session.load_weights(self._latest.weights, self._latest.step)
            self.weights_changed.emit()


def _cell_of(browse: Browse | None) -> tuple[int, int] | None:
    return None if browse is None else (browse.true, browse.predicted)


def _as_image(picture: np.ndarray) -> np.ndarray:
    """A (C, H, W) picture as an (H, W) or (H, W, 3) image."""
    return picture[0] if picture.shape[0] == 1 else np.moveaxis(picture, 0, -1)
