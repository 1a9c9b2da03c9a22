"""Keeps the Embedding tab in step with the ViewerState: a layer's activations over the test set in 2-D,
linked both ways to the input and to the confusion matrix.

Projections run in a BackgroundTask on a copy of the model (PCA takes a few hundred milliseconds,
t-SNE seconds). New weights (training, looking back) project again at most once a second, starting from
the last projection (`reference=`) so the picture moves instead of jumping, and a student can watch the
classes separate. A click on a point shows that sample and browses its confusion-matrix cell (the test
set is evaluated first if it was not); browsing a cell rings its points. Hidden, the tab computes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.data import DataError, Dataset
from core.insight import Embedding, EmbeddingCancelled, embed
from core.viewer_state import InputKind, ViewerState
from gui.background import BackgroundTask, Cancelled, Progress
from gui.insight_worker import ModelCopy
from gui.panels.embedding_view import FOLLOW, EmbeddingView
from gui.throttle import Throttle

WEIGHTS_INTERVAL_MS = 1000
TITLES = {"pca": "PCA", "tsne": "t-SNE"}


@dataclass(frozen=True)
class Projection:
    """An embedding and what it was made from."""

    embedding: Embedding
    step: int
    dataset: str
    session: int


class EmbeddingBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(self, state: ViewerState, view: EmbeddingView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view = view
        self._model_copy = ModelCopy(state)
        self._task = BackgroundTask("embedding", self)
        self._throttle = Throttle(WEIGHTS_INTERVAL_MS, self._on_weights_settled, self)
        self._shown: Projection | None = None
        self._method = "pca"
        self._chosen = FOLLOW
        self._stale = True
        self._again = False  # new weights came while a projection ran: project again when it ends
        state.session_replaced.connect(self._on_session_replaced)
        state.weights_changed.connect(self._on_weights_changed)
        state.layer_changed.connect(self._on_layer_changed)
        state.browse_changed.connect(self._draw_marks)
        state.input_changed.connect(self._on_input_changed)
        view.shown.connect(self._on_shown)
        view.layerChosen.connect(self.choose_layer)
        view.methodRequested.connect(self.choose_method)
        view.cancelRequested.connect(self.cancel)
        view.pointHovered.connect(self._show_thumbnail)
        view.pointClicked.connect(self.pick)
        self._task.finished.connect(self._on_finished)
        self._task.failed.connect(self._on_failed)
        self._task.busyChanged.connect(self._on_busy)
        self._task.progressed.connect(view.set_progress)
        self._on_session_replaced()

    @property
    def projection(self) -> Projection | None:
        return self._shown

    def layer(self) -> str:
        return self._chosen or self.state.layer

    def choose_layer(self, layer: str) -> None:
        self._chosen = layer
        self.project()

    def choose_method(self, method: str) -> None:
        self._method = method
        self.project()

    def cancel(self) -> None:
        self._task.cancel()
        self._again = False
        self._method = self._shown.embedding.method if self._shown is not None else "pca"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background run under way has ended (tests, scripts)."""
        return self._task.wait(timeout)

    def close(self) -> None:
        self._throttle.stop()
        self._task.close()

    def project(self, reference: Embedding | None = None) -> None:
        """Project the chosen layer with the chosen method (only while the tab is visible)."""
        if not self.view.isVisible():
            self._stale = True
            self._task.cancel()
            return
        self._stale = False
        self._again = False
        try:
            samples = self.state.samples()
        except (DataError, ValueError) as error:
            self.view.show_message(f"no embedding: {error}")
            return
        session = self.state.session
        self._task.start(
            _project_in_worker, self._model_copy.get(), samples, self.layer(), self._method, reference,
            session.step, self.state.dataset_source, session.id,
        )

    def pick(self, position: int) -> None:
        """A clicked point: its sample becomes the input, its confusion-matrix cell is browsed."""
        if self._shown is None or not 0 <= position < len(self._shown.embedding.indices):
            return
        if self.state.evaluation is None:
            try:
                self.state.evaluate()
            except ValueError as error:
                self.message.emit(f"no confusion matrix to link to: {error}")
        try:
            self.state.show_test_sample(int(self._shown.embedding.indices[position]))
        except ValueError as error:
            self.error.emit(str(error))

    # ----------------------------------------------------------------- state -> view

    def _on_session_replaced(self) -> None:
        self._shown, self._method, self._chosen = None, "pca", FOLLOW
        self.view.set_layers([row.name for row in self.state.session.layers], self.state.layer)
        self.view.show_message("")
        self.project()

    def _on_layer_changed(self) -> None:
        self.view.set_layers([row.name for row in self.state.session.layers], self.state.layer, self._chosen)
        if self._chosen == FOLLOW:
            self.project()

    def _on_weights_changed(self) -> None:
        if self.view.isVisible():
            self._throttle.request()
        else:
            self._stale = True

    def _on_weights_settled(self) -> None:
        if self._task.busy:
            self._again = True
        else:
            self.project(self._reference())

    def _on_input_changed(self) -> None:
        if self._shown is not None and self._shown.dataset != self.state.dataset_source:
            self.project()  # another data set: these points are not its samples
        elif self.view.isVisible():
            self._draw_current()

    def _on_shown(self) -> None:
        if self._stale:
            self.project(self._reference())
        else:
            self._draw_marks()

    def _on_busy(self, busy: bool) -> None:
        note = " (cannot stop once started: Cancel drops it)" if self._method == "tsne" else ""
        self.view.set_busy(busy, f"{TITLES[self._method]} of {self.layer()}: %p%{note}")

    def _on_finished(self, projection: Projection) -> None:
        self._shown = projection
        embedding = projection.embedding
        self.view.set_points(
            embedding.points, embedding.labels, embedding.misclassified, self.state.samples().classes,
            _caption(projection),
        )
        self._draw_marks()
        if self._again:
            self.project(self._reference())

    def _on_failed(self, text: str) -> None:
        self._shown = None
        self.view.show_message(f"no embedding of {self.layer()}: {text}")

    def _draw_marks(self) -> None:
        browse = self.state.browse
        if self._shown is None:
            return
        indices = self._shown.embedding.indices
        self.view.set_highlight(None if browse is None else np.isin(indices, browse.indices))
        self._draw_current()

    def _draw_current(self) -> None:
        shown = self.state.input
        if self._shown is None:
            return
        found = np.flatnonzero(self._shown.embedding.indices == shown.sample) if shown.kind == InputKind.SAMPLE else []
        self.view.set_current(int(found[0]) if len(found) else -1)

    def _show_thumbnail(self, position: int) -> None:
        if self._shown is None or position < 0:
            return
        embedding = self._shown.embedding
        index = int(embedding.indices[position])
        samples = self.state.samples()
        picture = samples.normalization.invert(samples.images[index])
        image = picture[0] if picture.shape[0] == 1 else np.moveaxis(picture, 0, -1)
        true, predicted = (_class_name(samples.classes, embedding.labels[position]),
                           _class_name(samples.classes, embedding.predicted[position]))
        self.view.show_thumbnail(image, f"test sample {index + 1}: true {true}, predicted {predicted}")

    def _reference(self) -> Embedding | None:
        """The projection on show, when the next one projects the same samples the same way."""
        shown = self._shown
        if shown is None or shown.session != self.state.session.id or shown.dataset != self.state.dataset_source:
            return None
        embedding = shown.embedding
        return embedding if (embedding.layer, embedding.method) == (self.layer(), self._method) else None


def _project_in_worker(
    progress: Progress, model, samples: Dataset, layer: str, method: str, reference: Embedding | None,
    step: int, dataset: str, session: int,
) -> Projection:
    try:
        embedding = embed(
            model, samples, layer, method, reference=reference,
            progress=lambda fraction, _stage: progress(round(1000 * fraction), 1000),
            should_stop=lambda: progress.cancelled,
        )
    except EmbeddingCancelled:
        raise Cancelled() from None
    return Projection(embedding, step, dataset, session)


def _class_name(classes: tuple[str, ...], index: int) -> str:
    """A model from code may have more classes than the data set names."""
    return classes[index] if 0 <= index < len(classes) else str(int(index))


def _caption(projection: Projection) -> str:
    embedding = projection.embedding
    text = f"{TITLES[embedding.method]} of {embedding.layer}: {len(embedding.points):,} test samples, {embedding.features:,} values each"
    if embedding.pooled_from:
        text += f" (average-pooled from {'x'.join(map(str, embedding.pooled_from))})"
    if embedding.explained_variance is not None:
        first, second = embedding.explained_variance
        text += f"; the axes hold {first:.0%} and {second:.0%} of the variance"
    wrong = int(embedding.misclassified.sum())
    return (
        f"{text}. Weights of step {projection.step:,}; {wrong} misclassified (crosses). Hover a point for its "
        "picture; click it to show it and select its confusion-matrix cell."
    )
