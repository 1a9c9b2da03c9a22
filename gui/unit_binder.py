"""The Unit tab follows the clicked unit: why it has its value, and how its effective receptive field
changed over the look-back weights.

The explained unit is the last one clicked in the current layer; on the last layer, until one is
clicked, it is the predicted class's score. It is explained again for a new input or new weights
(while the tab is on show: a hidden tab catches up when shown) and forgotten with the layer.
Small models are explained on the GUI thread (about 2 ms for LeNet); larger ones, and the ERF over
the kept weights, in BackgroundTasks on copies of the model.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.insight import ErfStats, UnitExplanation, erf_over_training, explain_unit
from core.model_session import ModelSession
from core.viewer_state import LIVE, ViewerState
from gui.background import BackgroundTask
from gui.erf_text import erf_caption, unit_erf_stats
from gui.panels.feature_map_view import FeatureMapView
from gui.panels.unit_view import UnitView
from gui.unit_presentation import unit_content

INLINE_MACS = 20_000_000
"""Models up to this many multiply-adds per forward are explained on the GUI thread (well under a frame)."""
ERF_HISTORY_DELAY_MS = 300  # the ERF over training waits for the pen to rest
FOLLOW_INTERVAL_MS = 80
"""New inputs and weights are explained at most this often (the pen and live training change them
faster; the newest is always explained last)."""
CLICK_HINT = "Click a unit in the feature maps of {layer} to see how its value is made."
NO_INPUT = "Draw a digit or pick a sample, then click a unit to see how its value is made."


@dataclass(frozen=True)
class _Unit:
    layer: str
    channel: int
    row: int
    col: int
    auto: bool = False  # chosen for the user (the predicted class), not clicked


@dataclass(frozen=True, eq=False)
class _ErfHistory:
    """The ERF of ``unit`` for ``shown`` (the input) under each kept step's weights."""

    unit: _Unit
    shown: object
    steps: tuple[int, ...]
    stats: tuple[ErfStats, ...]

    def answers(self, unit: _Unit | None, shown: object, steps: list[int]) -> bool:
        return self.unit == unit and self.shown is shown and list(self.steps) == steps


@dataclass(frozen=True)
class _Answer:
    unit: _Unit
    explanation: UnitExplanation
    caption: str  # the effective receptive field's size


class UnitBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(self, state: ViewerState, feature_maps: FeatureMapView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view = UnitView()
        self._unit: _Unit | None = None
        self._stale = True
        self._explaining = BackgroundTask("unit-explanation", self)
        self._explaining.finished.connect(self._show)
        self._explaining.failed.connect(self._show_failure)
        self._history = BackgroundTask("erf-over-training", self)
        self._history.finished.connect(self._on_history)
        self._history.failed.connect(lambda text: self.error.emit(f"ERF over training: {text}"))
        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(ERF_HISTORY_DELAY_MS)
        self._history_timer.timeout.connect(self._start_history)
        self._shown_erf = ""
        self._erf_history: _ErfHistory | None = None
        self._follow_timer = QTimer(self)
        self._follow_timer.setSingleShot(True)
        self._follow_timer.setInterval(FOLLOW_INTERVAL_MS)
        self._follow_timer.timeout.connect(self._follow_late)
        self._late: bool | None = None  # a change waiting for the interval to end; True: the input changed
        state.input_changed.connect(lambda: self._on_shown_changed(history=True))
        state.weights_changed.connect(lambda: self._on_shown_changed(history=False))
        state.timeline_changed.connect(self._on_timeline_changed)
        state.layer_changed.connect(self._on_layer_changed)
        state.session_replaced.connect(self._on_layer_changed)
        feature_maps.unitClicked.connect(self.explain)
        self.view.shown.connect(self._on_shown)
        self._on_layer_changed()

    # ----------------------------------------------------------------- intents

    def explain(self, channel: int, row: int, col: int) -> None:
        """The user clicked a unit of the current layer."""
        self._unit = _Unit(self.state.layer, channel, row, col)
        self._shown_erf = ""
        self.refresh()

    def refresh(self, history: bool = True) -> None:
        """Explain the unit again for what is on show now (later, if the tab is hidden); ``history``:
        and its ERF over the kept weights, which new weights on show do not change."""
        if not self.view.isVisible():
            self._stale = True
            return
        self._stale = False
        unit, session, x = self._unit, self.state.session, self.state.input.x
        if unit is None:
            self.view.show_message(CLICK_HINT.format(layer=self.state.layer))
            return
        if x is None:
            self.view.show_message(NO_INPUT)
            return
        if forward_macs(session) <= INLINE_MACS:
            try:
                self._show(_explained(session, unit))
            except ValueError as exc:  # InsightError, or a unit outside a changed layer
                self._show_failure(str(exc))
        else:
            self._explaining.start(_explain_job, copy.deepcopy(session.model), session, x.copy(), unit)
        if history:
            self._history_timer.start()

    def close(self) -> None:
        self._follow_timer.stop()
        self._history_timer.stop()
        self._explaining.close()
        self._history.close()

    # ----------------------------------------------------------------- state events

    def _on_shown_changed(self, history: bool) -> None:
        """A new input (``history``: its ERF over training changes too) or new weights on show."""
        if self._follow_timer.isActive():
            self._late = bool(self._late) or history
            return
        self._follow(history)
        if self.view.isVisible():  # a hidden tab only noted that it is stale
            self._follow_timer.start()

    def _follow_late(self) -> None:
        if self._late is not None:
            history, self._late = self._late, None
            self._follow(history)
            self._follow_timer.start()

    def _follow(self, history: bool) -> None:
        if self._unit is None or self._unit.auto:  # on the last layer, the predicted class may have changed
            self._unit = self._predicted_class_unit()
        self.refresh(history)

    def _on_layer_changed(self) -> None:
        self._late = None
        self._explaining.cancel()
        self._history.cancel()
        self._history_timer.stop()
        self._shown_erf = ""
        self._unit = self._predicted_class_unit()
        self.refresh()

    def _on_timeline_changed(self) -> None:
        if self._unit is not None and self.view.isVisible():
            self._history_timer.start()

    def _on_shown(self) -> None:
        if self._stale:
            self.refresh()

    def _predicted_class_unit(self) -> _Unit | None:
        """On the model's output layer, its top class; elsewhere nothing until a click."""
        session, layer = self.state.session, self.state.layer
        probabilities = session.probabilities()
        last = session.layers[-1]
        if layer != last.name or probabilities is None or len(last.output_shape) != 1:
            return None
        return _Unit(layer, int(np.argmax(probabilities)), 0, 0, auto=True)

    # ----------------------------------------------------------------- answers

    def _show(self, answer: _Answer) -> None:
        if answer.unit != self._unit:
            return
        session = self.state.session
        index = session.layer_index(answer.unit.layer)
        spatial = session.layers[index].rf.spatial
        content = unit_content(answer.explanation, _input_name(session, index), _output_name(session, index, answer.explanation), spatial)
        self.view.show_explanation(content.title, content.equation, content.rows, content.votes, content.classes)
        self._shown_erf = answer.caption
        self._show_erf()

    def _show_failure(self, text: str) -> None:
        self.view.show_message(f"This unit cannot be explained: {text}")

    def _start_history(self) -> None:
        """The ERF over the kept weights, unless the one on show already answers for this unit, input and steps."""
        unit, shown, state = self._unit, self.state.input, self.state
        if unit is None or shown.x is None or not self.view.isVisible():
            return
        steps = state.timeline_steps
        if self._erf_history is not None and self._erf_history.answers(unit, shown, steps):
            self._show_erf()  # only the step on show moved
            return
        if not steps:
            self.view.show_erf(f"{self._shown_erf}\nTrain to see how it changes: the weights are kept at each epoch end.")
            return
        weights = [state.timeline_snapshot(i).weights for i in range(len(steps))]
        self._history.start(_history_job, copy.deepcopy(state.session.model), weights, list(steps), shown, unit)

    def _on_history(self, history: _ErfHistory) -> None:
        if history.unit == self._unit:
            self._erf_history = history
            self._show_erf()

    def _show_erf(self) -> None:
        """The ERF's size now, and over the kept weights when that answers for this unit and input."""
        history, state = self._erf_history, self.state
        if history is None or history.unit != self._unit or history.shown is not state.input:
            self.view.show_erf(self._shown_erf)
            return
        position = state.timeline_position
        shown = None if position == LIVE or position >= len(state.timeline_steps) else state.timeline_steps[position]
        first, last = history.stats[0], history.stats[-1]
        change = (
            f"\nOver training (step {history.steps[0]:,} → {history.steps[-1]:,}): "
            f"r50 {first.radius50:.1f} → {last.radius50:.1f} px, r95 {first.radius95:.1f} → {last.radius95:.1f} px."
        )
        self.view.show_erf(
            self._shown_erf + change,
            history.steps,
            [s.radius50 for s in history.stats],
            [s.radius95 for s in history.stats],
            shown,
        )


def forward_macs(session: ModelSession) -> int:
    """Multiply-adds of one forward, roughly: each layer's weights once per output position."""
    total = 0
    for row in session.layers:
        positions = int(np.prod(row.output_shape[1:])) if len(row.output_shape) == 3 else 1
        total += row.params * positions
    return total


def _explained(session: ModelSession, unit: _Unit) -> _Answer:
    """The unit explained for the session's input, with the size of its effective receptive field."""
    explanation = explain_unit(
        session.model, session.input, unit.layer, unit.channel, unit.row, unit.col, class_names=session.classes
    )
    field = session.unit_receptive_field(unit.layer, unit.channel, unit.row, unit.col)
    stats = unit_erf_stats(field)
    return _Answer(unit, explanation, erf_caption(field, stats))


def _explain_job(progress, model, session: ModelSession, x: np.ndarray, unit: _Unit) -> _Answer:
    """On the worker: the same, from the worker's own copy of the model and input."""
    own = ModelSession(model, session.input_shape, session.classes, session.normalization, session.architecture)
    own.set_input(x)
    progress(1, 2)
    return _explained(own, unit)


def _history_job(progress, model, weights: list, steps: list[int], shown, unit: _Unit) -> _ErfHistory:
    """On the worker, with its own copy of the model: the ERF under each kept step's weights."""
    stats = []
    for done, state in enumerate(weights, 1):
        stats.extend(erf_over_training(lambda: model, [state], shown.x, unit.layer, unit.channel, unit.row, unit.col))
        progress(done, len(weights))
    return _ErfHistory(unit, shown, tuple(steps), tuple(stats))


def _input_name(session: ModelSession, index: int) -> str:
    """What feeds layer ``index``: the layer before it in a layer-pattern model, which runs in order."""
    if index == 0:
        return "image"
    return session.layers[index - 1].name if session.architecture is not None else "its input"


def _output_name(session: ModelSession, index: int, explanation: UnitExplanation) -> str | None:
    if explanation.activation is None or index + 1 >= len(session.layers) or session.architecture is None:
        return None
    return session.layers[index + 1].name
