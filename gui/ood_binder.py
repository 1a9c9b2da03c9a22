"""The out-of-domain hint under the prediction: is the input like anything the network was trained on?

An `OodDetector` is calibrated in a BackgroundTask on a copy of the model (about 0.4 s for LeNet) a
moment after start-up, for each new model, and when new weights have settled (training, looking back):
a calibration belongs to one set of weights, so while they keep changing no hint is shown. Then every
prediction gets its verdict from the activation the window's own forward already holds (a product with
the reference features: 0.4 ms on a quiet machine, 1.5 ms on a loaded one), once the pen has rested
for REST_MS: while the pen moves, its strokes cost the hint nothing. With channels switched off, the verdict comes from a forward without
them: the hint is about the input, not about the altered network.

Only layer-pattern models get the hint: they were trained here on the chosen data set, which is the
reference; for a model from the user's code the app does not know its training data.
"""
from __future__ import annotations

import time

import torch
from PySide6.QtCore import QObject, QTimer, Signal

from core.data import load_dataset
from core.insight import InsightError, OodDetector, OodVerdict
from core.insight.ood import MAX_SAMPLES
from core.viewer_state import ViewerState
from gui.background import BackgroundTask, Progress
from gui.insight_worker import ModelCopy
from gui.panels.prediction_view import PredictionView

SETTLE_MS = 1000
"""Calibrate this long after start-up, a new model, or the last of a run of new weights, once the input
has rested as long too: the calibration's half second of work never competes with a moving pen."""
MAX_CALIBRATION_SECONDS = 20.0
"""A model so large that calibrating would take longer (VGG-16 at 224x224: 15 minutes) gets no hint."""
PROBE_IMAGES = 8
REST_MS = 100
"""Judge the input this long after its last change (a pen stroke, a sample, a channel switch)."""


class OodBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(self, state: ViewerState, prediction: PredictionView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.prediction = prediction
        self._model_copy = ModelCopy(state)
        self._task = BackgroundTask("ood-calibration", self)
        self._detector: OodDetector | None = None
        self._calibrated_on = ""  # the data set of the detector's reference
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.calibrate)
        self._rest = QTimer(self)
        self._rest.setSingleShot(True)
        self._rest.setInterval(REST_MS)
        self._rest.timeout.connect(self.show_verdict)
        state.session_replaced.connect(self._on_weights_changed)
        state.weights_changed.connect(self._on_weights_changed)
        state.input_changed.connect(self._on_input_changed)
        state.interventions_changed.connect(self._rest.start)
        self._task.finished.connect(self._on_calibrated)
        self._task.failed.connect(lambda text: self.message.emit(f"no out-of-domain hint: {text}"))
        self._on_weights_changed()

    @property
    def detector(self) -> OodDetector | None:
        return self._detector

    def calibrate(self) -> None:
        """Calibrate for the model and weights on show, in the background."""
        self._settle.stop()
        session = self.state.session
        if session.architecture is None:
            return
        self._calibrated_on = self.state.dataset_source
        self._task.start(_calibrate_in_worker, self._model_copy.get(), self._calibrated_on, session.input_shape)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a calibration under way has run (tests and scripts); the hint follows on the next
        event loop turn."""
        return self._task.wait(timeout)

    def close(self) -> None:
        self._settle.stop()
        self._rest.stop()
        self._task.close()

    def show_verdict(self) -> None:
        """The hint for the input on show (after an input change, it comes when the input has rested)."""
        self._rest.stop()
        session, x = self.state.session, self.state.input.x
        if self._detector is not None and self._calibrated_on != self.state.dataset_source:
            self._on_weights_changed()  # another data set: calibrate against it
        if self._detector is None or x is None:
            self.prediction.set_hint("")
            return
        activation = None if self.state.interventions else session.activation(self._detector.layer)
        try:
            verdict = (
                self._detector.verdict(activation) if activation is not None else self._detector.check(session.model, x)
            )
        except ValueError as error:
            self.prediction.set_hint("")
            self.message.emit(f"no out-of-domain hint: {error}")
            return
        self.prediction.set_hint(_hint(verdict), verdict.out_of_domain, _tooltip(verdict, self.state.dataset_source))

    def _on_input_changed(self) -> None:
        self._rest.start()
        if self._settle.isActive():
            self._settle.start()  # wait for the pen to rest before calibrating

    def _on_weights_changed(self) -> None:
        """The calibration belonged to other weights: no hint until the new ones have settled."""
        self._detector = None
        self._task.cancel()
        self.prediction.set_hint("")
        self._settle.start()

    def _on_calibrated(self, detector: OodDetector) -> None:
        self._detector = detector
        self.show_verdict()


def _calibrate_in_worker(_progress: Progress, model, dataset: str, input_shape: tuple[int, int, int]) -> OodDetector:
    train, test = load_dataset(dataset, "train", input_shape), load_dataset(dataset, "test", input_shape)
    images = min(len(train), MAX_SAMPLES) + min(len(test), MAX_SAMPLES)
    probe = torch.from_numpy(test.images[:PROBE_IMAGES].copy())
    with torch.no_grad():
        model(probe)  # the first forward of a fresh copy pays for allocations: time the second
        started = time.perf_counter()
        model(probe)
    expected = (time.perf_counter() - started) / len(probe) * images
    if expected > MAX_CALIBRATION_SECONDS:
        took = f"{expected:.0f} s" if expected < 120 else f"{expected / 60:.0f} min"
        raise InsightError(f"calibrating on {images:,} test and training images would take about {took} with this model")
    return OodDetector.calibrate(model, train, test)


def _hint(verdict: OodVerdict) -> str:
    if verdict.out_of_domain:
        return f"⚠ Unlike the training data (distance {verdict.score:.2f} > {verdict.threshold:.2f}): the prediction may mean little"
    return f"Like the training data (distance {verdict.score:.2f} ≤ {verdict.threshold:.2f})"


def _tooltip(verdict: OodVerdict, dataset: str) -> str:
    return (
        f"{verdict.explanation}.\n\nMeasure: {verdict.measure} (deep nearest neighbours).\n"
        f"Calibration: {verdict.calibration}, on the {dataset} data set with the weights on show."
    )
