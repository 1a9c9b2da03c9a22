"""Carries out channel switches (right-click or Ctrl+click on a feature map, a click on a ranking row) and
keeps the Channels tab in step: the change of each class probability, and the ranking of the layer on
show's channels for this input.

The switches are ViewerState intents, so the prediction, the maps and the attribution follow through
their own binders. The ranking (`rank_channels`, one forward per batch of channels) runs in a
BackgroundTask on a copy of the model without interventions ("switched off alone"); hidden, the tab
computes nothing.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.insight import rank_channels
from core.viewer_state import ViewerState
from gui.background import BackgroundTask, Progress
from gui.insight_worker import ModelCopy
from gui.panels.channels_view import ChannelsView
from gui.panels.feature_map_view import FeatureMapView
from gui.throttle import Throttle

WEIGHTS_INTERVAL_MS = 250
PEN_INTERVAL_MS = 100
"""While the pen moves, the ranking is redone at most 10 times a second."""


class ChannelsBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(
        self, state: ViewerState, view: ChannelsView, feature_maps: FeatureMapView, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.view = view
        self._model_copy = ModelCopy(state)
        self._task = BackgroundTask("channel-ranking", self)
        self._throttle = Throttle(WEIGHTS_INTERVAL_MS, self.refresh, self)
        self._pen = Throttle(PEN_INTERVAL_MS, self.refresh, self)
        self._stale = True
        state.input_changed.connect(self._on_input_changed)
        state.layer_changed.connect(self.refresh)
        state.session_replaced.connect(self.refresh)
        state.interventions_changed.connect(self._on_interventions_changed)
        state.weights_changed.connect(self._on_weights_changed)
        feature_maps.channelToggled.connect(self.toggle)
        view.channelToggled.connect(self.toggle)
        view.resetRequested.connect(state.clear_interventions)
        view.shown.connect(self._on_shown)
        self._task.finished.connect(self._show_ranking)
        self._task.failed.connect(lambda text: view.clear_ranking(f"no ranking for {state.layer}: {text}"))
        self.refresh()

    def toggle(self, channel: int) -> None:
        """Switch a channel of the layer on show off (or scale it by the chosen factor), or back on."""
        try:
            self.state.toggle_channel(self.state.layer, channel, self.view.factor.value())
        except ValueError as error:
            self.error.emit(str(error))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background run under way has ended (tests, scripts)."""
        return self._task.wait(timeout)

    def close(self) -> None:
        self._throttle.stop()
        self._pen.stop()
        self._task.close()

    def refresh(self) -> None:
        self._draw_status()
        if not self.view.isVisible():
            self._stale = True
            self._task.cancel()
            return
        self._stale = False
        self._draw_deltas()
        session, layer = self.state.session, self.state.layer
        plain = session.plain_probabilities()
        if plain is None or not np.isfinite(plain).all():
            self._task.cancel()
            self.view.clear_ranking(f"{layer}: no input to rank its channels for")
            return
        target = int(np.argmax(plain))
        self._task.start(_rank_in_worker, self._model_copy.get(), session.input.copy(), layer, target)

    # ----------------------------------------------------------------- internals

    def _on_interventions_changed(self) -> None:
        self._draw_status()
        if self.view.isVisible():
            self._draw_deltas()
            self.view.set_factors(self.state.interventions.get(self.state.layer, {}))

    def _on_input_changed(self) -> None:
        if self.view.isVisible():
            self._pen.request()
        else:
            self._stale = True

    def _on_weights_changed(self) -> None:
        if self.view.isVisible():
            self._throttle.request()
        else:
            self._stale = True

    def _on_shown(self) -> None:
        if self._stale:
            self.refresh()

    def _draw_status(self) -> None:
        interventions = self.state.interventions
        parts = []
        for layer, factors in interventions.items():
            off = [str(c) for c, f in sorted(factors.items()) if f == 0]
            scaled = [f"{c} ×{f:g}" for c, f in sorted(factors.items()) if f != 0]
            described = ([f"{', '.join(off)} off"] if off else []) + scaled
            parts.append(f"{layer}: {', '.join(described)}")
        text = "Channels changed — " + "; ".join(parts) + "." if parts else "No channel is switched off."
        self.view.set_status(text, bool(parts))

    def _draw_deltas(self) -> None:
        session = self.state.session
        classes = session.classes
        plain, now = session.plain_probabilities(), session.probabilities()
        if plain is None or now is None:
            self.view.set_deltas(np.zeros(len(classes)), classes, "No input.")
            return
        if not self.state.interventions:
            self.view.set_deltas(np.zeros(len(classes)), classes, "Switch channels off to see how each class probability changes.")
            return
        before, after = int(np.argmax(plain)), int(np.argmax(now))
        change = (
            f"Prediction {classes[before]} ({plain[before]:.1%}) → {classes[after]} ({now[after]:.1%}) "
            f"with the channels changed; P({classes[before]}) is now {now[before]:.1%}."
        )
        self.view.set_deltas(now - plain, classes, change)

    def _show_ranking(self, result: tuple[str, int, list[tuple[int, float]]]) -> None:
        layer, target, rows = result
        name = self.state.session.classes[target]
        title = f"{layer}: how P({name}) changes when each channel alone is switched off (largest drop first)."
        self.view.set_ranking(title, rows, self.state.interventions.get(layer, {}))


def _rank_in_worker(
    _progress: Progress, model, x: np.ndarray, layer: str, target: int
) -> tuple[str, int, list[tuple[int, float]]]:
    return layer, target, rank_channels(model, x, layer, target)
