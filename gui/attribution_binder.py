"""Keeps the Attribution tab in step with the ViewerState: which pixels make the network say a class.

The methods that cost a few forwards (Grad-CAM, the default, and Saliency) follow the pen: they run on
the GUI thread while their last run took under INLINE_SECONDS, at most every PEN_INTERVAL_MS while the
pen moves: the prediction and the maps are painted first, and strokes in between fold into one. Integrated Gradients and
Occlusion, and any method on a model too large for that (VGG-16 at 224x224), run in a BackgroundTask on a
copy of the model, newest request wins. Nothing is computed while the tab is hidden; it catches up when
shown. Channel interventions apply to the heatmap as to everything else shown.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.insight import DEFAULT_METHOD, METHODS, Explanation, InsightError, black_baseline, explain
from core.insight.model_input import last_conv_name
from core.viewer_state import ViewerState
from gui.background import BackgroundTask, Progress
from gui.insight_worker import ModelCopy
from gui.panels.attribution_view import NO_CLASS, PREDICTED, AttributionView
from gui.throttle import Throttle

INLINE_SECONDS = 0.008
"""A method whose last run took less than this runs with each stroke on the GUI thread (half a frame)."""
FOLLOWS_PEN = ("gradcam", "saliency")
PEN_INTERVAL_MS = 33
"""While the pen moves the heatmap follows at up to 30 frames a second, a frame behind the prediction."""
WEIGHTS_INTERVAL_MS = 250
"""While training sends new weights, the heatmap is redone at most 4 times a second."""
NO_INPUT = "Draw a digit or pick a sample to see which pixels the network uses."


class AttributionBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(self, state: ViewerState, view: AttributionView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view = view
        self._model_copy = ModelCopy(state)
        self._task = BackgroundTask("attribution", self)
        self._throttle = Throttle(WEIGHTS_INTERVAL_MS, self.refresh, self)
        self._pen_timer = QTimer(self)
        self._pen_timer.setSingleShot(True)
        self._pen_timer.setInterval(PEN_INTERVAL_MS)
        self._pen_timer.timeout.connect(self.refresh)
        self._method = DEFAULT_METHOD
        self._target = PREDICTED
        self._other = NO_CLASS
        self._layer: str | None = None
        self._cost: dict[str, float] = {}  # seconds the last run of each method took on this model
        self._stale = True
        view.set_methods([(m.name, m.title, _tooltip(m.name)) for m in METHODS.values()], self._method)
        state.input_changed.connect(self._on_input_changed)
        state.interventions_changed.connect(self.refresh)
        state.weights_changed.connect(self._on_weights_changed)
        state.session_replaced.connect(self._on_session_replaced)
        view.shown.connect(self._on_shown)
        view.methodChosen.connect(self.choose_method)
        view.targetChosen.connect(lambda target: self.choose(target=target))
        view.otherChosen.connect(lambda other: self.choose(other=other))
        view.layerChosen.connect(lambda layer: self.choose(layer=layer))
        view.cancelRequested.connect(self._task.cancel)
        self._task.finished.connect(self._show)
        self._task.failed.connect(lambda text: self.view.show_message(f"{METHODS[self._method].title}: {text}"))
        self._task.busyChanged.connect(self._on_busy)
        self._task.progressed.connect(view.set_progress)
        self._on_session_replaced()

    def choose_method(self, method: str) -> None:
        self._method = method
        self.view.set_method(method)
        self.refresh()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background run under way has ended (tests, scripts)."""
        return self._task.wait(timeout)

    def close(self) -> None:
        self._throttle.stop()
        self._pen_timer.stop()
        self._task.close()

    def refresh(self) -> None:
        """Recompute the heatmap for what is on show now (only while the tab is visible)."""
        self._pen_timer.stop()
        if not self.view.isVisible():
            self._stale = True
            self._task.cancel()
            return
        self._stale = False
        session, shown = self.state.session, self.state.input
        probabilities = session.probabilities()
        if shown.x is None or probabilities is None:
            self._task.cancel()
            self.view.show_message(NO_INPUT)
            return
        if not np.isfinite(probabilities).all():
            self._task.cancel()
            self.view.show_message("no attribution: the weights give NaN or infinity")
            return
        predicted = int(np.argmax(probabilities))
        target = predicted if self._target == PREDICTED else self._target
        other = None if self._other in (NO_CLASS, target) else self._other
        self.view.set_predicted(session.classes[predicted])
        self.view.set_picture(_image(shown.picture))
        request = (self._method, target, other, self._layer)
        options = {"baseline": black_baseline(session.normalization), "interventions": self.state.interventions}
        if self._method in FOLLOWS_PEN and self._cost.get(self._method, math.inf) < INLINE_SECONDS:
            self._task.cancel()
            try:
                result = explain(session.model, shown.x, *request, **options)
            except (ValueError, RuntimeError) as error:
                self.view.show_message(f"{METHODS[self._method].title}: {error}")
                return
            self._show(result)
            return
        self._task.start(_explain_in_worker, self._model_copy.get(), shown.x.copy(), request, options)

    def choose(self, target: int | None = None, other: int | None = None, layer: str | None = None) -> None:
        """The class to explain (PREDICTED follows the prediction), a second class to compare with
        (NO_CLASS for none), Grad-CAM's layer; None keeps a choice as it is."""
        self._target = self._target if target is None else target
        self._other = self._other if other is None else other
        self._layer = self._layer if layer is None else layer
        self.view.set_choices(self._target, self._other)
        self.refresh()

    # ----------------------------------------------------------------- internals

    def _on_input_changed(self) -> None:
        if not self.view.isVisible():
            self._stale = True
        elif not self._pen_timer.isActive():
            self._pen_timer.start()

    def _on_shown(self) -> None:
        if self._stale:
            self.refresh()

    def _on_weights_changed(self) -> None:
        if self.view.isVisible():
            self._throttle.request()
        else:
            self._stale = True

    def _on_session_replaced(self) -> None:
        session = self.state.session
        self._cost.clear()
        self._target, self._other, self._layer = PREDICTED, NO_CLASS, None
        self.view.set_classes(session.classes)
        self.view.set_choices(PREDICTED, NO_CLASS)
        try:
            default = last_conv_name(session.model)
        except InsightError:
            default = None
        layers = [row.name for row in session.layers if row.rf.spatial and len(row.output_shape) == 3]
        self.view.set_layers(layers, default)
        self.refresh()

    def _on_busy(self, busy: bool) -> None:
        self.view.set_busy(busy, f"{METHODS[self._method].title}: %v of %m forward passes")

    def _show(self, result: Explanation) -> None:
        self._cost[result.method] = result.seconds
        classes = self.state.session.classes
        method = METHODS[result.method]
        target = classes[result.target]
        title = f"{method.title} of class {target}"
        if result.other is not None:
            title = f"{method.title}: why {target} and not {classes[result.other]}"
        if result.layer is not None:
            title += f", at {result.layer}"
        peak = float(np.abs(result.heatmap).max())
        if not method.signed:
            scale = f"Scale 0 to {peak:.3g}."
        elif result.other is None:
            scale = f"Scale ±{peak:.3g}: red for {target}, blue against."
        else:
            scale = f"Scale ±{peak:.3g}: red for {target}, blue for {classes[result.other]}."
        self.view.set_heatmap(result.heatmap, method.signed, title, scale, f"{method.title}: {method.note}.")
        self.view.set_faithfulness(_faithfulness_text(result, classes))


def _explain_in_worker(progress: Progress, model, x: np.ndarray, request: tuple, options: dict) -> Explanation:
    return explain(model, x, *request, **options, progress=progress)


def _faithfulness_text(result: Explanation, classes: tuple[str, ...]) -> str:
    f = result.faithfulness
    name = classes[result.target]
    text = (
        f"Faithfulness: P({name}) {f.prob_original:.1%} → {f.prob_top_masked:.1%} with the top {f.fraction:.0%} "
        f"of this map masked, → {f.prob_random_masked:.1%} with {f.fraction:.0%} random pixels masked"
    )
    return text + (": the map points at what the network uses." if f.top_drop > f.random_drop else ": no better than random.")


def _tooltip(name: str) -> str:
    method = METHODS[name]
    when = "Follows the pen." if name in FOLLOWS_PEN else "Computed in the background (tens of forward passes)."
    return f"{method.title}: {method.note}. {when}"


def _image(picture: np.ndarray) -> np.ndarray:
    """A (C, H, W) picture as an (H, W) or (H, W, 3) image."""
    return picture[0] if picture.shape[0] == 1 else np.moveaxis(picture, 0, -1)
