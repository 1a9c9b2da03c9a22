"""Keeps the views in step with the ViewerState: each state event repaints exactly the views it touches,
and each view's user intent becomes one ViewerState call.

What each event repaints:
- input_changed: input pictures and caption, canvas (erased when the drawing is replaced), prediction,
  feature maps; the receptive-field overlay goes
- weights_changed: prediction, feature maps, filters, the confusion matrix's caption
- layer_changed: layer strip, feature maps, filters; the overlay goes
- session_replaced: all of the above, plus layer chips, the architecture text and table, curves, timeline
- history_changed: the curves, at most every HISTORY_REDRAW_MS
- timeline_changed: the look-back slider; evaluation_changed, browse_changed: the confusion matrix
- interventions_changed: prediction, feature maps (switched-off channels crossed out); the overlay goes

What the eye is on (chips, input, prediction, maps) is drawn at once; the rest of a new model or of new
weights follows one view per turn of the event loop (a DrawQueue), so input is answered in between.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.architecture import ArchitectureError, LayerInfo, layer_table, parse
from core.curves import latest, smooth
from core.insight import shape_formulas
from core.model_session import ModelSession
from core.trainer import evaluate
from core.viewer_state import LIVE, InputKind, ViewerState
from gui.background import BackgroundTask
from gui.concepts import TOOLTIPS, layer_concepts
from gui.draw_queue import DrawQueue
from gui.erf_text import erf_caption, unit_erf_stats
from gui.panels.architecture_editor import ArchitectureEditor
from gui.panels.confusion_view import ConfusionView
from gui.panels.draw_canvas import DrawCanvas
from gui.panels.feature_map_view import FeatureMapView
from gui.panels.filter_view import FilterView
from gui.panels.input_view import InputView
from gui.panels.layer_strip import LayerChip, LayerStrip
from gui.panels.prediction_view import PredictionView
from gui.panels.training_curves import TrainingCurves

HISTORY_REDRAW_MS = 100
NO_INPUT_HINT = "Draw a digit or pick a sample"


class ViewBinder(QObject):
    """Owns no state of its own beyond what a view needs to be drawn; ``error`` and ``message`` carry
    what the user should read."""

    error = Signal(str)
    message = Signal(str)

    def __init__(
        self,
        state: ViewerState,
        canvas: DrawCanvas,
        input_view: InputView,
        prediction: PredictionView,
        layer_strip: LayerStrip,
        feature_maps: FeatureMapView,
        filters: FilterView,
        confusion: ConfusionView,
        curves: TrainingCurves,
        editor: ArchitectureEditor,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.canvas = canvas
        self.input_view = input_view
        self.prediction = prediction
        self.layer_strip = layer_strip
        self.feature_maps = feature_maps
        self.filters = filters
        self.confusion = confusion
        self.curves = curves
        self.editor = editor
        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(HISTORY_REDRAW_MS)
        self._history_timer.timeout.connect(self._draw_history)
        self._later = DrawQueue(self)
        self._evaluation = BackgroundTask("evaluate", self)
        self._evaluation.finished.connect(lambda result: self._attempt(state.apply_evaluation, *result))
        self._evaluation.failed.connect(self.error)
        self._connect_state()
        self._connect_views()
        self._on_session_replaced()
        self._later.flush()  # the first picture is whole

    # ----------------------------------------------------------------- state -> views

    def _connect_state(self) -> None:
        state = self.state
        state.input_changed.connect(self._on_input_changed)
        state.weights_changed.connect(self._on_weights_changed)
        state.layer_changed.connect(self._on_layer_changed)
        state.session_replaced.connect(self._on_session_replaced)
        state.history_changed.connect(self._on_history_changed)
        state.timeline_changed.connect(self._draw_timeline)
        state.evaluation_changed.connect(self._draw_confusion)
        state.browse_changed.connect(self._draw_browse)
        state.interventions_changed.connect(self._on_interventions_changed)

    def _on_input_changed(self) -> None:
        shown = self.state.input
        if shown.kind != InputKind.DRAWING and not self.canvas.is_empty():
            self.canvas.erase()
        self.input_view.set_images(shown.original if shown.thumbnail is None else shown.thumbnail, shown.picture)
        self.input_view.set_caption(shown.caption)
        self.input_view.clear_receptive_field()
        self._draw_prediction()
        self._draw_maps()

    def _on_weights_changed(self) -> None:
        self.input_view.clear_receptive_field()
        self._draw_prediction()
        self._draw_maps()
        self._later.later(self._draw_filters, self._draw_confusion_caption)

    def _on_interventions_changed(self) -> None:
        self.input_view.clear_receptive_field()
        self._draw_prediction()
        self._draw_maps()

    def _on_layer_changed(self) -> None:
        self.layer_strip.set_current(self.state.layer_index, notify=False)
        self.input_view.clear_receptive_field()
        self._draw_maps()
        self._draw_filters()

    def _on_session_replaced(self) -> None:
        """Every view at once took 50-60 ms of the GUI thread on a quiet machine and over 100 ms while
        training shared the CPU: the chips and the input first, the rest one view per turn."""
        state = self.state
        self.layer_strip.set_layers([_chip(row) for row in state.session.layers], state.layer_index)
        self._on_input_changed()
        self._draw_timeline()  # the slider answers clicks
        self._later.later(self._draw_architecture, self._draw_filters, self._draw_evaluation, self._draw_history)

    def _draw_architecture(self) -> None:
        """The editor's text and table, and the chips' tooltips with each layer's size formula."""
        state = self.state
        layers, formulas = state.session.layers, _formulas(state.session)
        tooltips = [_tooltip(row, formulas.get(row.name)) for row in layers]
        self.layer_strip.set_tooltips(tooltips)
        if state.architecture_text is not None:
            self.editor.set_text(state.architecture_text)
            self.preview_architecture(state.architecture_text)
        else:
            self.editor.show_table([_table_row(row) for row in layers], tooltips)

    def _draw_evaluation(self) -> None:
        self._draw_confusion()
        self._draw_browse()

    @property
    def drawing(self) -> bool:
        """Views of the latest change are still to be drawn (on the event loop's next turns)."""
        return self._later.pending > 0

    @property
    def evaluating(self) -> bool:
        return self._evaluation.busy

    def close(self) -> None:
        """Stop redrawing and computing: the window is closing."""
        self._history_timer.stop()
        self._later.clear()
        self._evaluation.close()

    def _on_history_changed(self) -> None:
        if not self._history_timer.isActive():
            self._history_timer.start()

    def _draw_prediction(self) -> None:
        probabilities = self.state.session.probabilities()
        if probabilities is None:
            self.prediction.clear(NO_INPUT_HINT)
        elif not np.isfinite(probabilities).all():
            self.prediction.clear("no prediction: the weights give NaN or infinity")
        else:
            self.prediction.set_probabilities(probabilities, self.state.session.classes)

    def _draw_maps(self) -> None:
        layer = self.state.layer
        maps = self.state.session.activation(layer)
        if maps is None:
            self.feature_maps.show_message(f"{layer}: {NO_INPUT_HINT.lower()} to see its feature maps")
        else:
            self.feature_maps.set_maps(maps, layer)
            self.feature_maps.set_scaled_channels(self.state.interventions.get(layer, {}))

    def _draw_filters(self) -> None:
        session = self.state.session
        row = session.layer(self.state.layer)
        source = session.filter_source(row.name)
        if source is None:
            self.filters.show_message(
                f"{row.name} ({row.kind}) has {row.params:,} weights but no filters: "
                "each unit is a weighted sum of every input, not a small patch"
                if row.params
                else f"{row.name} has no weights, and no conv layer comes before it"
            )
            return
        title = source if source == row.name else f"{source} (its maps feed {row.name})"
        self.filters.set_filters(session.filters()[source], title, first_layer=source == session.first_conv())

    def _draw_history(self) -> None:
        h = self.state.history
        strength = self.curves.smoothing()
        loss, accuracy = (smooth(values, strength) if strength else values for values in (h.loss, h.accuracy))
        self.curves.set_history(
            np.asarray(h.steps, float), np.asarray(loss, float), np.asarray(accuracy, float),
            np.asarray(h.test_steps, float), np.asarray(h.test_accuracy, float),
        )
        self.curves.set_latest(latest(loss), latest(accuracy), latest(h.test_accuracy))

    def _draw_timeline(self) -> None:
        self.curves.set_timeline(self.state.timeline_steps, self.state.timeline_position)

    def _draw_confusion(self) -> None:
        evaluation = self.state.evaluation
        if evaluation is None:
            self.confusion.clear()
            return
        self.confusion.set_matrix(evaluation.matrix, evaluation.classes, "")
        self._draw_confusion_caption()

    def _draw_confusion_caption(self) -> None:
        evaluation = self.state.evaluation
        if evaluation is None:
            return
        caption = (
            f"accuracy {evaluation.accuracy:.1%} ({evaluation.correct}/{evaluation.total}) on the test set "
            f"with the weights of step {evaluation.step:,}."
        )
        shown = self.state.session.step
        if shown != evaluation.step:
            caption += f" The views now show step {shown:,}: evaluate again to compare."
        self.confusion.set_caption(caption + " Click a cell to browse its examples.")

    def _draw_browse(self) -> None:
        browse = self.state.browse
        self.confusion.set_browsing_cell(browse is not None)
        if browse is None:
            self.confusion.clear_selection()
        else:
            self.confusion.select_cell(browse.true, browse.predicted)

    # ----------------------------------------------------------------- views -> state

    def _connect_views(self) -> None:
        state = self.state
        self.canvas.drawingChanged.connect(lambda drawing: self._attempt(state.set_drawing, drawing))
        self.canvas.cleared.connect(state.clear_input)
        self.input_view.previousRequested.connect(lambda: self._attempt(state.step_sample, -1))
        self.input_view.nextRequested.connect(lambda: self._attempt(state.step_sample, 1))
        self.input_view.randomRequested.connect(lambda: self._attempt(state.show_random_sample))
        self.layer_strip.layerSelected.connect(state.select_layer)
        self.feature_maps.unitHovered.connect(self.show_unit_receptive_field)
        self.feature_maps.unitClicked.connect(self.show_unit_receptive_field)
        self.feature_maps.unitLeft.connect(self.input_view.clear_receptive_field)
        self.confusion.evaluateRequested.connect(self.evaluate)
        self.confusion.cellChosen.connect(lambda true, predicted: self._attempt(state.browse_cell, true, predicted))
        self.confusion.showAllRequested.connect(lambda: self._attempt(state.browse_all))
        self.curves.timelineMoved.connect(self.look_back)
        self.curves.smoothingChanged.connect(lambda _strength: self._draw_history())
        self.editor.architectureEdited.connect(self.preview_architecture)

    def evaluate(self) -> None:
        """The test set through the weights on show, off the GUI thread (a copy of the model)."""
        try:
            request = self.state.evaluation_request()
        except ValueError as exc:
            self.error.emit(str(exc))
            return
        self.confusion.set_caption(f"evaluating {len(request.samples):,} test examples…")
        self._evaluation.start(_evaluate, request)

    def show_unit_receptive_field(self, channel: int, row: int, col: int) -> None:
        if self.state.input.x is None:
            return
        unit = self.state.session.unit_receptive_field(self.state.layer, channel, row, col)
        self.input_view.show_receptive_field(unit.box, unit.full_box, unit.erf)
        try:
            caption = erf_caption(unit, unit_erf_stats(unit))
        except ValueError:  # e.g. weights that give NaN: no numbers to tell
            caption = ""
        self.input_view.set_receptive_field_caption(caption)

    def look_back(self, index: int) -> None:
        try:
            self.state.look_back(index)
        except ValueError as exc:  # a run folder's snapshot that went away meanwhile
            self.error.emit(str(exc))
            self._draw_timeline()
            return
        if index == LIVE:
            self.message.emit("showing the live weights")
        else:
            step = self.state.timeline_steps[index]
            self.message.emit(f"showing the weights of step {step:,}; the slider's right end is live")

    def preview_architecture(self, text: str) -> None:
        try:
            architecture = parse(text)
            rows = layer_table(architecture)
        except ArchitectureError as exc:
            self.editor.show_error(str(exc))
            return
        formulas = shape_formulas(architecture)
        self.editor.show_table([_table_row(row) for row in rows], [_tooltip(row, formulas.get(row.name)) for row in rows])

    def _attempt(self, intent, *args) -> None:
        """Carry out an intent; a refusal is shown, never raised into Qt."""
        try:
            intent(*args)
        except ValueError as exc:
            self.error.emit(str(exc))


def _evaluate(_progress, request):
    """Worker thread: the request's own model copy, so the GUI's model is never touched."""
    return (request, *evaluate(request.model, request.samples))


def _table_row(row: LayerInfo) -> tuple[str, str, str, str, str]:
    """One row of the architecture table; units after the flatten see the whole input."""
    rf = f"{row.rf.size}x{row.rf.size_w}" if row.rf.spatial else "all"
    return row.name, row.kind, "x".join(map(str, row.output_shape)), f"{row.params:,}", rf


def _chip(row: LayerInfo) -> LayerChip:
    """A layer's chip; its tooltip gets the size formula a turn later (``_draw_architecture``)."""
    shape = "x".join(map(str, row.output_shape))
    rf = f"RF {row.rf.size}" if row.rf.spatial else "RF all"
    return LayerChip(name=row.name, kind=row.kind, shape=shape, rf=rf, tooltip=_tooltip(row, None))


def _tooltip(row: LayerInfo, formula: str | None) -> str:
    """A layer's chip and table row: its shape and why (the formula with its own numbers), then the
    concepts it is made of."""
    shape = "×".join(map(str, row.output_shape))
    lines = [f"{row.name}: output {shape}, {row.params:,} parameters"]
    if formula:
        lines.append(formula)
    if row.kind in ("conv", "maxpool", "avgpool"):
        lines.append("   the tutorials' (W − F + 2P)/S + 1: input size W, filter F, padding P, stride S")
    lines += layer_concepts(row.kind)
    if row.rf.spatial:
        lines.append(f"{TOOLTIPS['receptive field']} Here {row.rf.size}×{row.rf.size_w} pixels.")
        lines.append(f"{TOOLTIPS['jump']} Here {row.rf.jump} px.")
    else:
        lines.append("Receptive field: the whole input, as every unit after the flatten sees every pixel.")
    return "\n".join(lines)


def _formulas(session: ModelSession) -> dict[str, str]:
    """Each layer's output-size formula; none for a model that cannot run on zeros."""
    try:
        return shape_formulas(session.architecture or session.model, session.input_shape)
    except ValueError:
        return {}
