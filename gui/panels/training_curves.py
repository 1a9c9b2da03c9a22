"""Loss and accuracy over the run, and the look-back slider over the kept weights."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from gui.concepts import TOOLTIPS

MAX_DRAWN_POINTS = 2000


class TrainingCurves(QWidget):
    timelineMoved = Signal(int)  # index into the kept steps, -1 for live

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingCurves")
        self._loss_plot = pg.PlotWidget(title="loss")
        self._loss_plot.setToolTip(TOOLTIPS["loss"])
        self._loss_plot.setLabel("bottom", "step")
        self._accuracy_plot = pg.PlotWidget(title="accuracy")
        self._accuracy_plot.setToolTip(TOOLTIPS["accuracy"])
        self._accuracy_plot.setLabel("bottom", "step")
        self._accuracy_plot.addLegend(offset=(-10, -10))
        for plot in (self._loss_plot, self._accuracy_plot):
            # Ranges are set from the data in set_history: pyqtgraph's auto-range with clip-to-view
            # fed back into itself and repainted forever during long runs, freezing the window.
            plot.disableAutoRange()
        self._accuracy_plot.setYRange(0.0, 1.02, padding=0)
        self._loss_curve = self._loss_plot.plot(pen=pg.mkPen("#ef6c00", width=1.5), connect="finite")
        self._accuracy_curve = self._accuracy_plot.plot(
            pen=pg.mkPen("#1e88e5", width=1.5), connect="finite", name="train (batch)"
        )
        self._test_points = self._accuracy_plot.plot(
            pen=None, symbol="o", symbolSize=8, symbolBrush="#43a047", name="test (epoch)"
        )
        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.addWidget(self._loss_plot)
        plots.addWidget(self._accuracy_plot)

        self._timeline_steps: list[int] = []
        self._timeline = QSlider(Qt.Orientation.Horizontal)
        self._timeline.setObjectName("lookBackSlider")
        self._timeline.setRange(0, 0)
        self._timeline.setEnabled(False)
        self._timeline.setToolTip(
            "Look back: drag left to see the filters, maps and prediction with the weights of an earlier "
            "epoch; the right end is live"
        )
        self._timeline.valueChanged.connect(self._on_timeline_moved)
        self._timeline_label = QLabel("live")
        self._timeline_label.setMinimumWidth(110)
        timeline = QHBoxLayout()
        timeline.addWidget(QLabel("Look back"))
        timeline.addWidget(self._timeline, 1)
        timeline.addWidget(self._timeline_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(plots, 1)
        layout.addLayout(timeline)

    # --- curves -----------------------------------------------------------------------------------

    def set_history(
        self,
        steps: np.ndarray,
        loss: np.ndarray,
        accuracy: np.ndarray,
        test_steps: np.ndarray,
        test_accuracy: np.ndarray,
    ) -> None:
        """Redraw the curves from the whole history (long ones as a min/max envelope)."""
        steps, loss, accuracy = (np.asarray(a, dtype=np.float64) for a in (steps, loss, accuracy))
        test_steps, test_accuracy = (np.asarray(a, dtype=np.float64) for a in (test_steps, test_accuracy))
        if not (steps.shape == loss.shape == accuracy.shape) or steps.ndim != 1:
            raise ValueError(
                "steps, loss and accuracy must be 1-D and equally long, "
                f"got {steps.shape}, {loss.shape}, {accuracy.shape}"
            )
        if test_steps.shape != test_accuracy.shape or test_steps.ndim != 1:
            raise ValueError(
                "test_steps and test_accuracy must be 1-D and equally long, "
                f"got {test_steps.shape}, {test_accuracy.shape}"
            )
        if len(steps) > 1 and np.any(np.diff(steps) < 0):
            order = np.argsort(steps, kind="stable")
            steps, loss, accuracy = steps[order], loss[order], accuracy[order]
        self._loss_curve.setData(*_envelope(steps, loss))
        self._accuracy_curve.setData(*_envelope(steps, accuracy))
        self._test_points.setData(test_steps, test_accuracy)
        all_steps = np.concatenate([steps, test_steps])
        if len(all_steps):
            low, high = float(all_steps.min()), float(all_steps.max())
            for plot in (self._loss_plot, self._accuracy_plot):
                plot.setXRange(low, max(high, low + 1), padding=0.02)
        finite = loss[np.isfinite(loss)]
        if len(finite):
            self._loss_plot.setYRange(0.0, max(float(finite.max()), 1e-6) * 1.05, padding=0)

    def loss_curve(self) -> pg.PlotDataItem:
        return self._loss_curve

    def accuracy_curve(self) -> pg.PlotDataItem:
        return self._accuracy_curve

    def test_accuracy_points(self) -> pg.PlotDataItem:
        return self._test_points

    # --- looking back -------------------------------------------------------------------------

    def set_timeline(self, steps: Sequence[int], position: int = -1) -> None:
        """Offer these kept steps with one chosen (-1: the right end, live), without emitting."""
        self._timeline_steps = list(steps)
        self._timeline.blockSignals(True)
        self._timeline.setRange(0, len(self._timeline_steps))
        self._timeline.setValue(len(self._timeline_steps) if position < 0 else position)
        self._timeline.blockSignals(False)
        self._timeline.setEnabled(bool(self._timeline_steps))
        self._update_timeline_label()

    def timeline_position(self) -> int:
        """The chosen kept step's index, or -1 for live."""
        value = self._timeline.value()
        return -1 if value >= len(self._timeline_steps) else value

    def set_timeline_position(self, index: int) -> None:
        """Move the slider as a user would: emits timelineMoved."""
        self._timeline.setValue(len(self._timeline_steps) if index < 0 else index)

    def _on_timeline_moved(self, _value: int) -> None:
        self._update_timeline_label()
        self.timelineMoved.emit(self.timeline_position())

    def _update_timeline_label(self) -> None:
        index = self.timeline_position()
        self._timeline_label.setText("live" if index < 0 else f"step {self._timeline_steps[index]:,}")


def _envelope(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_DRAWN_POINTS points that keep every spike: the min and max of each bin of steps."""
    if len(x) <= MAX_DRAWN_POINTS:
        return x, y
    size = math.ceil(len(x) / (MAX_DRAWN_POINTS // 2))
    bins = len(x) // size
    cut = bins * size
    blocks = y[:cut].reshape(bins, size)
    x_mid = x[:cut].reshape(bins, size)[:, size // 2]
    xs = np.repeat(x_mid, 2)
    ys = np.column_stack([np.fmin.reduce(blocks, axis=1), np.fmax.reduce(blocks, axis=1)]).ravel()
    return np.concatenate([xs, x[cut:]]), np.concatenate([ys, y[cut:]])
